import { describe, expect, it } from 'vitest';
import { boundValue, formatBound, KEYSPACE_SIZE, keyRangeName, keyspaceCoverageProblems, parseKeyRange } from '../../../functions/core/key-range';
import { ShardMapError } from '../../../functions/shared/errors';

const ranges = (...names: string[]) => names.map(parseKeyRange);

describe('parseKeyRange', () => {
  it('reads bounds as the leading bytes of the 64-bit keyspace id', () => {
    expect(parseKeyRange('40-80')).toEqual({ name: '40-80', start: 0x4000000000000000n, end: 0x8000000000000000n });
    expect(parseKeyRange('-40')).toMatchObject({ start: 0n, end: 0x4000000000000000n });
    expect(parseKeyRange('c0-')).toMatchObject({ start: 0xc000000000000000n, end: KEYSPACE_SIZE });
    expect(parseKeyRange('-')).toMatchObject({ start: 0n, end: KEYSPACE_SIZE });
    expect(parseKeyRange('0123456789abcdef-fedcba9876543210')).toMatchObject({ start: 0x0123456789abcdefn, end: 0xfedcba9876543210n });
    expect(parseKeyRange('4080-41')).toMatchObject({ start: 0x4080000000000000n, end: 0x4100000000000000n });
  });

  it.each([
    ['40', 'expected <start>-<end>'],
    ['40-80-c0', 'expected <start>-<end>'],
    ['4-80', 'bound "4" has an odd number of hex digits'],
    ['40-8g', 'bound "8g" contains "g", which is not a hex digit'],
    ['C0-', 'bound "C0" has uppercase hex digits'],
    ['-0123456789abcdef01', 'bound "0123456789abcdef01" has more than 16 hex digits'],
    ['80-40', 'its start 80 is not below its end 40'],
    ['40-4000', 'its start 40 is not below its end 4000'],
  ])('rejects %j naming the problem', (name, problem) => {
    expect(() => parseKeyRange(name)).toThrow(ShardMapError);
    expect(() => parseKeyRange(name)).toThrow(problem);
  });
});

describe('bounds', () => {
  it('formats the shortest name, trailing zero bytes trimmed', () => {
    expect(formatBound(0x4000000000000000n)).toBe('40');
    expect(formatBound(0x0f00000000000000n)).toBe('0f');
    expect(formatBound(0x5555555555555555n)).toBe('5555555555555555');
    expect(formatBound(0x4080000000000000n)).toBe('4080');
    expect(formatBound(0n)).toBe('');
    expect(formatBound(KEYSPACE_SIZE)).toBe('');
    expect(keyRangeName(0n, 0x40n << 56n)).toBe('-40');
  });

  it('reads a bound as the leading bytes of the id', () => {
    expect(boundValue('60')).toBe(0x6000000000000000n);
    expect(boundValue('0123456789abcdef')).toBe(0x0123456789abcdefn);
    expect(boundValue('')).toBe(0n);
  });
});

describe('keyspaceCoverageProblems', () => {
  it('accepts ranges that tile the keyspace in any order', () => {
    expect(keyspaceCoverageProblems(ranges('c0-', '-40', '80-c0', '40-80'))).toEqual([]);
    expect(keyspaceCoverageProblems(ranges('-'))).toEqual([]);
  });

  it('names a gap between two ranges precisely', () => {
    expect(keyspaceCoverageProblems(ranges('-40', '40-80', '90-c0', 'c0-'))).toEqual([
      'keyspace gap between 40-80 and 90-c0: 80..90 is not owned by any shard',
    ]);
  });

  it('names an overlap precisely, also for a range inside another', () => {
    expect(keyspaceCoverageProblems(ranges('-40', '40-90', '80-c0', 'c0-'))).toEqual([
      'keyspace overlap between 40-90 and 80-c0: 80..90 is owned by both',
    ]);
    expect(keyspaceCoverageProblems(ranges('-80', '40-60', '80-'))).toEqual(['keyspace overlap between -80 and 40-60: 40..60 is owned by both']);
  });

  it('names gaps at the start and at the end of the keyspace', () => {
    expect(keyspaceCoverageProblems(ranges('40-80', '80-c0'))).toEqual([
      'keyspace gap at the start: ..40 is not owned by any shard (the first range is 40-80)',
      'keyspace gap at the end: c0.. is not owned by any shard (the last range is 80-c0)',
    ]);
  });

  it('reports an empty keyspace', () => {
    expect(keyspaceCoverageProblems([])).toEqual(['the keyspace has no shards']);
  });
});
