import { InvalidKeyError, ShardMapError } from '../shared/errors';
import { keyspaceCoverageProblems, parseKeyRange, type KeyRange } from './key-range';
import { parseKey } from './keys';
import type { Shard, ShardMapDraft, ShardNode } from './shard-map-types';

/** Throws ShardMapError listing every problem when the draft cannot be served. */
export function validateShardMap(draft: ShardMapDraft): void {
  const problems = shardMapProblems(draft);
  if (problems.length > 0) {
    throw new ShardMapError(`invalid shard map: ${problems.join('; ')}`, { details: { problems } });
  }
}

/** Semantic problems of a structurally valid draft (see shard-map-schema for the structure). */
export function shardMapProblems(draft: ShardMapDraft): string[] {
  if (draft.shards.length === 0) return ['the map has no shards'];
  return [...shardProblems(draft), ...strategyProblems(draft), ...overrideProblems(draft)];
}

function shardProblems({ shards }: ShardMapDraft): string[] {
  const problems = duplicates(shards.map((shard) => shard.name)).map((name) => `shard name "${name}" is used more than once`);
  for (const shard of shards) {
    for (const id of duplicates(shard.nodes.map((node) => node.id))) {
      problems.push(`shard ${shard.name}: node id "${id}" is used more than once`);
    }
    const primaries = shard.nodes.filter((node) => node.role === 'primary');
    if (primaries.length > 1) {
      problems.push(`shard ${shard.name}: ${primaries.length} primaries (${primaries.map((node) => node.id).join(', ')}); at most one is allowed`);
    }
  }
  return problems;
}

function strategyProblems({ strategy, shards, keyType }: ShardMapDraft): string[] {
  switch (strategy.kind) {
    case 'keyspace': {
      const problems: string[] = [];
      const ranges: KeyRange[] = [];
      for (const shard of shards) {
        try {
          ranges.push(parseKeyRange(shard.name));
        } catch (error) {
          problems.push((error as Error).message);
        }
      }
      return problems.length > 0 ? problems : keyspaceCoverageProblems(ranges);
    }
    case 'range':
      return rangeBoundProblems(strategy.upperBounds, shards.length, keyType);
    case 'ring':
      return Number.isInteger(strategy.virtualNodes) && strategy.virtualNodes >= 1
        ? []
        : [`ring strategy: virtualNodes must be a positive integer, got ${strategy.virtualNodes}`];
    case 'modulo':
    case 'jump':
      return [];
  }
}

function rangeBoundProblems(upperBounds: readonly string[], shardCount: number, keyType: ShardMapDraft['keyType']): string[] {
  if (keyType !== 'uint64') return [`range strategy: routes raw numeric ids, so keyType must be uint64, not ${keyType}`];
  if (upperBounds.length !== shardCount - 1) {
    return [`range strategy: ${shardCount} shards need ${shardCount - 1} upper bounds (the last shard is open-ended), got ${upperBounds.length}`];
  }
  const problems: string[] = [];
  let previous: bigint | undefined;
  for (const [index, bound] of upperBounds.entries()) {
    try {
      parseKey(bound, 'uint64');
    } catch (error) {
      problems.push(`range strategy: upper bound ${index + 1}: ${(error as Error).message}`);
      continue;
    }
    const value = BigInt(bound);
    if (previous !== undefined && value <= previous) {
      problems.push(`range strategy: upper bounds must increase strictly, but ${bound} follows ${previous}`);
    }
    previous = value;
  }
  return problems;
}

function overrideProblems({ overrides, shards, keyType }: ShardMapDraft): string[] {
  const names = new Set(shards.map((shard) => shard.name));
  const problems = duplicates(overrides.map((override) => override.key)).map((key) => `override for key "${key}" appears more than once`);
  for (const override of overrides) {
    // parseKey accepts canonical text only (no sign, spaces or leading zeros)
    try {
      parseKey(override.key, keyType);
    } catch (error) {
      if (!(error instanceof InvalidKeyError)) throw error;
      problems.push(`override: ${error.message}`);
    }
    if (!names.has(override.shard)) problems.push(`override for key "${override.key}" names shard "${override.shard}", which is not in the map`);
  }
  return problems;
}

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const value of values) (seen.has(value) ? repeated : seen).add(value);
  return [...repeated];
}

/** The shard's primary node, if the map names one. */
export function primaryOf(shard: Shard): ShardNode | undefined {
  return shard.nodes.find((node) => node.role === 'primary');
}
