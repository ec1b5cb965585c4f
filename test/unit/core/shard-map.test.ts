import { describe, expect, it } from 'vitest';
import { demoShardMap } from '../../../functions/core/population';
import { shardMapProblems, validateShardMap } from '../../../functions/core/shard-map';
import type { ShardMapDraft, StrategyConfig } from '../../../functions/core/shard-map-types';
import { ShardMapError } from '../../../functions/shared/errors';

const withChanges = (change: (draft: ShardMapDraft) => void, base = demoShardMap(4)): ShardMapDraft => {
  const draft = structuredClone(base);
  change(draft);
  return draft;
};

describe('validateShardMap', () => {
  it.each<StrategyConfig>([
    { kind: 'keyspace' },
    { kind: 'modulo' },
    { kind: 'jump' },
    { kind: 'ring', virtualNodes: 150 },
    { kind: 'range', upperBounds: ['100', '200', '300'] },
  ])('accepts a well-formed %o map', (strategy) => {
    expect(() => validateShardMap(demoShardMap(4, { strategy }))).not.toThrow();
  });

  it('rejects a keyspace gap with a ShardMapError naming it', () => {
    const draft = withChanges((d) => {
      d.shards[1]!.name = '40-70';
    });
    expect(() => validateShardMap(draft)).toThrow(ShardMapError);
    expect(() => validateShardMap(draft)).toThrow('keyspace gap between 40-70 and 80-c0: 70..80 is not owned by any shard');
  });

  it('reports malformed range names instead of coverage', () => {
    expect(shardMapProblems(withChanges((d) => void (d.shards[0]!.name = 'shard-a')))).toEqual([
      'shard "shard-a" is not a keyspace range: bound "shard" contains "s", which is not a hex digit',
    ]);
  });

  it('lists every problem in one error', () => {
    const draft = withChanges((d) => {
      d.shards[1]!.name = d.shards[0]!.name;
      d.overrides.push({ key: '7', shard: 'nowhere', moving: false });
    });
    try {
      validateShardMap(draft);
      expect.unreachable();
    } catch (error) {
      const problems = (error as ShardMapError).details?.problems as string[];
      expect(problems).toContain('shard name "-40" is used more than once');
      expect(problems).toContain('override for key "7" names shard "nowhere", which is not in the map');
      expect(problems.some((problem) => problem.startsWith('keyspace'))).toBe(true);
      expect((error as ShardMapError).code).toBe('InvalidShardMap');
    }
  });

  it('rejects repeated node ids and more than one primary in a shard', () => {
    const draft = withChanges((d) => {
      const primary = d.shards[0]!.nodes[0]!;
      d.shards[0]!.nodes.push({ ...primary }, { ...primary, id: 'second' });
    });
    const id = draft.shards[0]!.nodes[0]!.id;
    expect(shardMapProblems(draft)).toEqual([
      `shard -40: node id "${id}" is used more than once`,
      `shard -40: 3 primaries (${id}, ${id}, second); at most one is allowed`,
    ]);
  });

  it('allows the same node id in different shards', () => {
    const draft = withChanges((d) => {
      d.shards[1]!.nodes[0]!.id = d.shards[0]!.nodes[0]!.id;
    });
    expect(shardMapProblems(draft)).toEqual([]);
  });

  it('rejects overrides with non-canonical, invalid or repeated keys', () => {
    const draft = withChanges((d) => {
      d.overrides.push(
        { key: '007', shard: '-40', moving: false },
        { key: '-3', shard: '-40', moving: false },
        { key: '5', shard: '-40', moving: false },
        { key: '5', shard: '40-80', moving: true },
      );
    });
    expect(shardMapProblems(draft)).toEqual([
      'override for key "5" appears more than once',
      'override: key "007" has leading zeros; write it without them',
      'override: key "-3" is negative; player ids are unsigned 64-bit integers',
    ]);
  });

  it('checks range bounds: count, order, form, and uint64 keys', () => {
    const range = (upperBounds: string[], keyType: 'uint64' | 'string' = 'uint64') =>
      shardMapProblems({ ...demoShardMap(4, { strategy: { kind: 'modulo' } }), keyType, strategy: { kind: 'range', upperBounds } });
    expect(range(['100', '200'])).toEqual(['range strategy: 4 shards need 3 upper bounds (the last shard is open-ended), got 2']);
    expect(range(['100', '300', '300'])).toEqual(['range strategy: upper bounds must increase strictly, but 300 follows 300']);
    expect(range(['100', '0200', '300'])[0]).toContain('upper bound 2: key "0200" has leading zeros');
    expect(range(['1', '2', '3'], 'string')).toEqual(['range strategy: routes raw numeric ids, so keyType must be uint64, not string']);
  });

  it('rejects a ring without virtual nodes and a map without shards', () => {
    expect(shardMapProblems(demoShardMap(2, { strategy: { kind: 'ring', virtualNodes: 1 } }))).toEqual([]);
    const ring = withChanges((d) => void (d.strategy = { kind: 'ring', virtualNodes: 0 }), demoShardMap(2, { strategy: { kind: 'jump' } }));
    expect(shardMapProblems(ring)).toEqual(['ring strategy: virtualNodes must be a positive integer, got 0']);
    expect(() => validateShardMap({ ...demoShardMap(1), shards: [] })).toThrow('the map has no shards');
  });
});
