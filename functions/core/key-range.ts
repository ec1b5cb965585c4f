import { ShardMapError } from '../shared/errors';

/**
 * Keyspace ranges named Vitess-style: `40-80` owns keyspace ids in [0x4000000000000000, 0x8000000000000000).
 * A bound is an even number (at most 16) of lowercase hex digits read as the leading bytes of the
 * 64-bit id; an empty start is 0 and an empty end is 2^64. Bounds are BigInt: validation and planning only.
 */
export const KEYSPACE_SIZE = 1n << 64n;

export interface KeyRange {
  name: string;
  /** Inclusive. */
  start: bigint;
  /** Exclusive; KEYSPACE_SIZE for the last range. */
  end: bigint;
}

/** Why `hex` is not a well-formed bound, or undefined when it is. */
export function boundProblem(hex: string): string | undefined {
  if (hex.length > 16) return `bound "${hex}" has more than 16 hex digits`;
  const foreign = /[^0-9a-f]/.exec(hex)?.[0];
  if (foreign !== undefined) {
    return /[A-F]/.test(foreign)
      ? `bound "${hex}" has uppercase hex digits; write them in lowercase`
      : `bound "${hex}" contains "${foreign}", which is not a hex digit`;
  }
  if (hex.length % 2 !== 0) return `bound "${hex}" has an odd number of hex digits`;
  return undefined;
}

/** The value of a well-formed bound (see boundProblem); '' is 0. */
export function boundValue(hex: string): bigint {
  return BigInt(`0x${hex.padEnd(16, '0')}`);
}

/** Shortest name of a bound: trailing zero bytes trimmed, '' for 0 and for 2^64. */
export function formatBound(value: bigint): string {
  if (value === 0n || value === KEYSPACE_SIZE) return '';
  return value.toString(16).padStart(16, '0').replace(/(00)+$/, '');
}

export function keyRangeName(start: bigint, end: bigint): string {
  return `${formatBound(start)}-${formatBound(end)}`;
}

export function parseKeyRange(name: string): KeyRange {
  const parts = name.split('-');
  if (parts.length !== 2) {
    throw new ShardMapError(`shard "${name}" is not a keyspace range: expected <start>-<end> in hex, like 40-80, -40 or c0-`);
  }
  const [startHex = '', endHex = ''] = parts;
  for (const hex of [startHex, endHex]) {
    const problem = boundProblem(hex);
    if (problem !== undefined) throw new ShardMapError(`shard "${name}" is not a keyspace range: ${problem}`);
  }
  const start = boundValue(startHex);
  const end = endHex === '' ? KEYSPACE_SIZE : boundValue(endHex);
  if (start >= end) throw new ShardMapError(`shard "${name}" is not a keyspace range: its start ${startHex} is not below its end ${endHex}`);
  return { name, start, end };
}

/**
 * Problems that keep `ranges` from tiling [0, 2^64) exactly once, each naming the ids concerned,
 * e.g. `keyspace gap between 40-80 and 90-c0: 80..90 is not owned by any shard`. Empty when they tile.
 */
export function keyspaceCoverageProblems(ranges: readonly KeyRange[]): string[] {
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  const problems: string[] = [];
  const first = sorted[0];
  if (first === undefined) return ['the keyspace has no shards'];
  if (first.start > 0n) {
    problems.push(`keyspace gap at the start: ..${formatBound(first.start)} is not owned by any shard (the first range is ${first.name})`);
  }
  // `reach` is the furthest end so far, owned by `reacher`; a range contained in another still overlaps it.
  let reacher = first;
  for (const range of sorted.slice(1)) {
    if (range.start > reacher.end) {
      problems.push(
        `keyspace gap between ${reacher.name} and ${range.name}: ${formatBound(reacher.end)}..${formatBound(range.start)} is not owned by any shard`,
      );
    } else if (range.start < reacher.end) {
      const overlapEnd = range.end < reacher.end ? range.end : reacher.end;
      problems.push(
        `keyspace overlap between ${reacher.name} and ${range.name}: ${formatBound(range.start)}..${formatBound(overlapEnd)} is owned by both`,
      );
    }
    if (range.end > reacher.end) reacher = range;
  }
  if (reacher.end < KEYSPACE_SIZE) {
    problems.push(`keyspace gap at the end: ${formatBound(reacher.end)}.. is not owned by any shard (the last range is ${reacher.name})`);
  }
  return problems;
}
