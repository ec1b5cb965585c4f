import { describe, expect, it } from 'vitest';
import { parseKey } from '../../../functions/core/keys';
import { analyzeDistribution, planResize, planSplit } from '../../../functions/core/planners';
import { chapterPopulation, chapterRangeStrategy, demoShardMap, randomUint64Keys } from '../../../functions/core/population';
import { createRouter } from '../../../functions/core/router';
import { ValidationError } from '../../../functions/shared/errors';

const keys = randomUint64Keys(20_000, 41).map((text) => parseKey(text, 'uint64'));

describe('planSplit', () => {
  it('splits a range at its midpoint into two halves that inherit the parent', () => {
    const draft = demoShardMap(4);
    const parent = draft.shards[1]!;
    const plan = planSplit(draft, '40-80');
    expect(plan).toMatchObject({
      shard: '40-80',
      into: ['40-60', '60-80'],
      splitPoint: '60',
      moving: '60-80',
      fractionOfKeyspaceMoving: 0.125,
      fractionOfShardMoving: 0.5,
      repinnedOverrides: [],
    });
    expect(plan.next.shards.map((shard) => shard.name)).toEqual(['-40', '40-60', '60-80', '80-c0', 'c0-']);
    for (const half of plan.next.shards.slice(1, 3)) {
      expect(half).toEqual({ ...parent, name: half.name });
      expect(half.nodes).not.toBe(parent.nodes);
    }
    expect(draft.shards).toHaveLength(4);
  });

  it('splits at a given point and sizes the moving half from it', () => {
    const plan = planSplit(demoShardMap(4), '40-80', '70');
    expect(plan).toMatchObject({ into: ['40-70', '70-80'], fractionOfKeyspaceMoving: 0.0625, fractionOfShardMoving: 0.25 });
    expect(planSplit(demoShardMap(1), '-')).toMatchObject({ into: ['-80', '80-'], fractionOfKeyspaceMoving: 0.5 });
    expect(planSplit(demoShardMap(3), '-5555555555555555').splitPoint).toBe('2aaaaaaaaaaaaaaa');
  });

  it('moves only the keys of the upper half', () => {
    const draft = demoShardMap(16);
    const plan = planSplit(draft, 'a0-b0');
    const [before, after] = [createRouter(draft), createRouter(plan.next)];
    let moved = 0;
    for (const key of keys) {
      const [was, is] = [before.route(key).shard.name, after.route(key).shard.name];
      if (was !== 'a0-b0') expect(is).toBe(was);
      else expect(plan.into).toContain(is);
      if (is === plan.moving) moved++;
    }
    expect(moved / keys.length).toBeCloseTo(plan.fractionOfKeyspaceMoving, 2);
  });

  it('re-pins overrides of the split shard to the lower half, which keeps its data', () => {
    const draft = { ...demoShardMap(4), overrides: [{ key: '9', shard: '40-80', moving: false }, { key: '10', shard: 'c0-', moving: true }] };
    const plan = planSplit(draft, '40-80');
    expect(plan.repinnedOverrides).toEqual(['9']);
    expect(plan.next.overrides).toEqual([{ key: '9', shard: '40-60', moving: false }, { key: '10', shard: 'c0-', moving: true }]);
  });

  it('hands back a draft, not the catalog fields of a versioned map', () => {
    const plan = planSplit({ ...demoShardMap(2), version: 7, updatedAt: '2025-01-01T00:00:00Z' } as never, '-80');
    expect(Object.keys(plan.next).sort()).toEqual(['keyType', 'overrides', 'shards', 'strategy']);
  });

  it.each([
    ['40-80', '90', 'split point 90 is not inside shard 40-80'],
    ['40-80', '40', 'split point 40 is not inside shard 40-80'],
    ['40-80', '6', 'split point "6" is not a hex bound: bound "6" has an odd number of hex digits'],
    ['50-60', undefined, 'shard "50-60" is not in the map'],
  ])('rejects splitting %s at %s', (shard, at, message) => {
    expect(() => planSplit(demoShardMap(4), shard, at)).toThrow(ValidationError);
    expect(() => planSplit(demoShardMap(4), shard, at)).toThrow(message);
  });

  it('refuses to split a range too small to halve, and maps of other strategies', () => {
    const draft = { ...demoShardMap(2), shards: [] as ReturnType<typeof demoShardMap>['shards'] };
    const template = demoShardMap(2).shards[0]!;
    draft.shards = ['-4000000000000000', '4000000000000000-4000000000000001', '4000000000000001-'].map((name) => ({ ...template, name }));
    expect(() => planSplit(draft, '4000000000000000-4000000000000001')).toThrow('covers a single keyspace id');
    expect(() => planSplit(demoShardMap(4, { strategy: { kind: 'jump' } }), '0')).toThrow('only keyspace shards can be split');
  });
});

describe('planResize', () => {
  it('moves about the theoretical minimum with jump hash, only into the new shard', () => {
    const plan = planResize({ kind: 'jump' }, 16, 17, keys);
    expect(plan.minimumFraction).toBeCloseTo(1 / 17, 10);
    expect(plan.movedFraction).toBeCloseTo(1 / 17, 2);
    expect(plan.keys).toBe(keys.length);
    expect(plan.flows.filter((flow) => flow.from !== flow.to).every((flow) => flow.to === '16')).toBe(true);
    expect(plan.flows.reduce((sum, flow) => sum + flow.keys, 0)).toBe(keys.length);
  });

  it('moves close to the minimum on a ring and most keys with modulo', () => {
    const ring = planResize({ kind: 'ring', virtualNodes: 150 }, 16, 17, keys);
    expect(ring.movedFraction).toBeLessThan(0.08);
    expect(ring.flows.filter((flow) => flow.from !== flow.to).every((flow) => flow.to === '16')).toBe(true);
    expect(planResize({ kind: 'modulo' }, 16, 17, keys).movedFraction).toBeGreaterThan(0.9);
  });

  it('measures equal keyspace ranges by shard position, with range names as shard names', () => {
    const plan = planResize({ kind: 'keyspace' }, 2, 4, keys);
    // shard 0 keeps -40 and shard 1 (80-) becomes 40-80, so 80- loses everything and -80 a half
    expect(plan.movedFraction).toBeCloseTo(0.75, 1);
    expect(plan.flows.map((flow) => `${flow.from}>${flow.to}`)).toEqual(['-80>-40', '-80>40-80', '80->80-c0', '80->c0-']);
    expect(plan).toMatchObject({ strategy: 'keyspace', from: 2, to: 4, minimumFraction: 0.5 });
  });

  it('moves nothing when the shard count stays', () => {
    expect(planResize({ kind: 'modulo' }, 8, 8, keys)).toMatchObject({ movedKeys: 0, minimumFraction: 0 });
  });

  it('rejects range maps, bad counts and an empty population', () => {
    expect(() => planResize(chapterRangeStrategy(), 8, 9, keys)).toThrow(ValidationError);
    expect(() => planResize({ kind: 'jump' }, 0, 2, keys)).toThrow('positive integers');
    expect(() => planResize({ kind: 'jump' }, 2, 3, [])).toThrow('at least one key');
  });
});

describe('analyzeDistribution', () => {
  it('counts keys per shard with mean, standard deviation and extremes', () => {
    const router = createRouter(demoShardMap(2, { strategy: { kind: 'range', upperBounds: ['10'] } }));
    const report = analyzeDistribution(router, ['1', '2', '3', '11'].map((text) => parseKey(text, 'uint64')));
    expect(report).toEqual({
      keys: 4,
      shards: [
        { shard: '0', keys: 3, percent: 75 },
        { shard: '1', keys: 1, percent: 25 },
      ],
      mean: 2,
      stdDev: 1,
      maxOverMean: 1.5,
      minOverMean: 0.5,
    });
  });

  it('shows the chapter population balanced by keyspace ranges and skewed by raw id ranges', () => {
    const population = chapterPopulation().map((text) => parseKey(text, 'uint64'));
    const hashed = analyzeDistribution(createRouter(demoShardMap(8)), population);
    const ranged = analyzeDistribution(createRouter(demoShardMap(8, { strategy: chapterRangeStrategy() })), population);
    expect(hashed.maxOverMean).toBeLessThan(1.05);
    expect(ranged.maxOverMean).toBeGreaterThan(4);
    expect(ranged.shards[0]!.keys).toBe(population.filter((key) => Number(key.text) <= 124_999).length);
    expect(ranged.shards[0]!.keys).toBeGreaterThan(50_000);
  });

  it('rejects an empty population', () => {
    expect(() => analyzeDistribution(createRouter(demoShardMap(2)), [])).toThrow(ValidationError);
  });
});
