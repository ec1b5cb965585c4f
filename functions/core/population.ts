import { ValidationError } from '../shared/errors';
import { KEYSPACE_SIZE, keyRangeName } from './key-range';
import { validateShardMap } from './shard-map';
import type { KeyType, ShardMapDraft, StrategyConfig } from './shard-map-types';

const UINT64_MASK = (1n << 64n) - 1n;

/** SplitMix64 (Steele, Lea & Flood): tiny, seedable, and easy to reproduce in any language. */
export function splitMix64(seed: number): () => bigint {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ValidationError(`seed must be a non-negative integer, got ${seed}`);
  let state = BigInt(seed);
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & UINT64_MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & UINT64_MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & UINT64_MASK;
    return z ^ (z >> 31n);
  };
}

/** `count` uniformly random uint64 keys as decimal strings, the same for the same seed. */
export function randomUint64Keys(count: number, seed: number): string[] {
  const next = splitMix64(seed);
  return Array.from({ length: count }, () => next().toString());
}

const CHAPTER_SEED = 42;

/**
 * The chapter's key population (82,020 keys): players 1..50,000 signed up in order, 30,000 random
 * ids in 100,000..999,999 (SplitMix64, seed 42; repeats kept), and event bursts: from every
 * base 1,000,000..1,010,000 in steps of 100, 20 consecutive ids.
 */
export function chapterPopulation(): string[] {
  const keys: string[] = [];
  for (let id = 1; id <= 50_000; id++) keys.push(String(id));
  const next = splitMix64(CHAPTER_SEED);
  for (let i = 0; i < 30_000; i++) keys.push(String(100_000n + (next() % 900_000n)));
  for (let base = 1_000_000; base <= 1_010_000; base += 100) {
    for (let offset = 0; offset < 20; offset++) keys.push(String(base + offset));
  }
  return keys;
}

/** The chapter's raw-id range layout: 8 shards of 125,000 ids each ([0, 124999], ...), the last open-ended. */
export function chapterRangeStrategy(): StrategyConfig {
  return { kind: 'range', upperBounds: Array.from({ length: 7 }, (_, i) => String((i + 1) * 125_000 - 1)) };
}

/** n equal keyspace ranges with boundaries floor(i * 2^64 / n): `-40`, `40-80`, `80-c0`, `c0-` for n = 4. */
export function equalRangeNames(n: number): string[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new ValidationError(`shard count must be a positive integer, got ${n}`);
  const boundary = (i: number) => (BigInt(i) * KEYSPACE_SIZE) / BigInt(n);
  return Array.from({ length: n }, (_, i) => keyRangeName(boundary(i), boundary(i + 1)));
}

export interface DemoShardMapOptions {
  host?: string;
  port?: number;
  strategy?: StrategyConfig;
  keyType?: KeyType;
  /** Prefix of every shard database, so several demo fleets can share one server. */
  databasePrefix?: string;
}

/** `-40` → `00_40`, `c0-` → `c0_ff`, `40-80` → `40_80`; ordinal names stay as they are. */
function databaseSuffix(name: string): string {
  if (!name.includes('-')) return name;
  const [start, end] = name.split('-');
  return `${start || '00'}_${end || 'ff'}`;
}

/**
 * A demo fleet of n shards, one primary each (127.0.0.1:3306 by default). Keyspace shards are named by
 * equal ranges, other strategies' shards by ordinal ("0", "1", ...); databases `sk_shard_00_40`, `sk_shard_0`, ...
 */
export function demoShardMap(n: number, options: DemoShardMapOptions = {}): ShardMapDraft {
  const { host = '127.0.0.1', port = 3306, strategy = { kind: 'keyspace' }, keyType = 'uint64', databasePrefix = 'sk_' } = options;
  const names = strategy.kind === 'keyspace' ? equalRangeNames(n) : Array.from({ length: n }, (_, i) => String(i));
  const draft: ShardMapDraft = {
    keyType,
    strategy,
    shards: names.map((name) => {
      const database = `${databasePrefix}shard_${databaseSuffix(name)}`;
      return { name, database, status: 'serving', kind: 'self-managed', nodes: [{ id: `${database}-primary`, role: 'primary', host, port }] };
    }),
    overrides: [],
  };
  validateShardMap(draft);
  return draft;
}
