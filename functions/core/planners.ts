import { ValidationError } from '../shared/errors';
import { keyspaceIdInto } from './hash';
import { boundProblem, boundValue, formatBound, KEYSPACE_SIZE, keyRangeName, parseKeyRange } from './key-range';
import type { ParsedKey, Uint64 } from './keys';
import { equalRangeNames } from './population';
import type { Router } from './router';
import { validateShardMap } from './shard-map';
import type { Shard, ShardMapDraft, StrategyConfig, StrategyKind } from './shard-map-types';
import { createLocator } from './strategies';

export interface SplitPlan {
  /** The shard being split. */
  shard: string;
  /** The two halves, lower then upper. */
  into: [lower: string, upper: string];
  /** Hex bound where the lower half ends and the upper half starts. */
  splitPoint: string;
  /** The half whose keys move once it gets nodes of its own (the upper); the lower keeps the parent's data. */
  moving: string;
  fractionOfKeyspaceMoving: number;
  fractionOfShardMoving: number;
  /** Override keys that were pinned to the split shard, now pinned to the lower half where their rows stay. */
  repinnedOverrides: string[];
  /** The map after the logical split: both halves keep the parent's database, kind, status and nodes. */
  next: ShardMapDraft;
}

/** Splits a keyspace shard at `at` (hex bound) or, by default, at the midpoint of its range. */
export function planSplit(draft: ShardMapDraft, shardName: string, at?: string): SplitPlan {
  validateShardMap(draft);
  if (draft.strategy.kind !== 'keyspace') {
    throw new ValidationError(`only keyspace shards can be split; this map uses the ${draft.strategy.kind} strategy`);
  }
  const parent = draft.shards.find((shard) => shard.name === shardName);
  if (parent === undefined) throw new ValidationError(`shard "${shardName}" is not in the map`);
  const { start, end } = parseKeyRange(parent.name);
  const point = at === undefined ? start + (end - start) / 2n : parseSplitPoint(at);
  if (point <= start || point >= end) {
    throw new ValidationError(
      at === undefined
        ? `shard ${parent.name} covers a single keyspace id and cannot be split`
        : `split point ${at} is not inside shard ${parent.name}`,
    );
  }
  const lower = keyRangeName(start, point);
  const upper = keyRangeName(point, end);
  const half = (name: string): Shard => ({ ...parent, name, nodes: parent.nodes.map((node) => ({ ...node })) });
  const repinnedOverrides = draft.overrides.filter((override) => override.shard === parent.name).map((override) => override.key);
  const next: ShardMapDraft = {
    keyType: draft.keyType,
    strategy: draft.strategy,
    shards: draft.shards.flatMap((shard) => (shard === parent ? [half(lower), half(upper)] : [shard])),
    overrides: draft.overrides.map((override) => (override.shard === parent.name ? { ...override, shard: lower } : override)),
  };
  validateShardMap(next);
  return {
    shard: parent.name,
    into: [lower, upper],
    splitPoint: formatBound(point),
    moving: upper,
    fractionOfKeyspaceMoving: Number(end - point) / Number(KEYSPACE_SIZE),
    fractionOfShardMoving: Number(end - point) / Number(end - start),
    repinnedOverrides,
    next,
  };
}

function parseSplitPoint(at: string): bigint {
  const problem = at === '' ? 'it is empty' : boundProblem(at);
  if (problem !== undefined) throw new ValidationError(`split point "${at}" is not a hex bound: ${problem}`);
  return boundValue(at);
}

export interface ShardFlow {
  from: string;
  to: string;
  keys: number;
}

export interface ResizePlan {
  strategy: StrategyKind;
  from: number;
  to: number;
  keys: number;
  movedKeys: number;
  movedFraction: number;
  /** |to - from| / max(to, from): what any scheme must move at least. */
  minimumFraction: number;
  /** Keys from each shard before to each shard after (shard i keeps its data), non-zero cells only. */
  flows: ShardFlow[];
}

/**
 * Measures resharding from `from` to `to` shards over a key population. Keyspace maps use equal
 * ranges before and after; ordinal strategies name shards "0", "1", ... like demoShardMap.
 */
export function planResize(strategy: StrategyConfig, from: number, to: number, keys: Iterable<ParsedKey> | ParsedKey[]): ResizePlan {
  if (strategy.kind === 'range') {
    throw new ValidationError('range maps are resized by changing upperBounds; plan it as splits of the affected ranges');
  }
  for (const count of [from, to]) {
    if (!Number.isSafeInteger(count) || count < 1) throw new ValidationError(`shard counts must be positive integers, got ${count}`);
  }
  const namesFor = (count: number) => (strategy.kind === 'keyspace' ? equalRangeNames(count) : Array.from({ length: count }, (_, i) => String(i)));
  const before = namesFor(from);
  const after = namesFor(to);
  const locateBefore = createLocator(strategy, before);
  const locateAfter = createLocator(strategy, after);
  const id: Uint64 = { hi: 0, lo: 0 };
  const cells = new Map<number, number>();
  let total = 0;
  let moved = 0;
  for (const key of keys) {
    keyspaceIdInto(key, id);
    const source = locateBefore.locate(key, id);
    const target = locateAfter.locate(key, id);
    const cell = source * to + target;
    cells.set(cell, (cells.get(cell) ?? 0) + 1);
    total++;
    if (source !== target) moved++;
  }
  if (total === 0) throw new ValidationError('a resize plan needs at least one key');
  const flows = [...cells.entries()]
    .sort(([a], [b]) => a - b)
    .map(([cell, count]) => ({ from: before[Math.floor(cell / to)]!, to: after[cell % to]!, keys: count }));
  return {
    strategy: strategy.kind,
    from,
    to,
    keys: total,
    movedKeys: moved,
    movedFraction: moved / total,
    minimumFraction: Math.abs(to - from) / Math.max(to, from),
    flows,
  };
}

export interface ShardShare {
  shard: string;
  keys: number;
  percent: number;
}

export interface DistributionReport {
  keys: number;
  shards: ShardShare[];
  /** Keys per shard. */
  mean: number;
  /** Population standard deviation of keys per shard. */
  stdDev: number;
  maxOverMean: number;
  minOverMean: number;
}

export function analyzeDistribution(router: Router, keys: Iterable<ParsedKey> | ParsedKey[]): DistributionReport {
  const { shards } = router.draft;
  const counts = new Float64Array(shards.length);
  let total = 0;
  for (const key of keys) {
    const index = router.shardIndexOf(key);
    counts[index] = counts[index]! + 1;
    total++;
  }
  if (total === 0) throw new ValidationError('a distribution analysis needs at least one key');
  const mean = total / shards.length;
  const variance = counts.reduce((sum, count) => sum + (count - mean) ** 2, 0) / shards.length;
  return {
    keys: total,
    shards: shards.map((shard, index) => ({ shard: shard.name, keys: counts[index]!, percent: (100 * counts[index]!) / total })),
    mean,
    stdDev: Math.sqrt(variance),
    maxOverMean: Math.max(...counts) / mean,
    minOverMean: Math.min(...counts) / mean,
  };
}
