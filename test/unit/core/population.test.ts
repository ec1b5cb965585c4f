import { describe, expect, it } from 'vitest';
import { parseKey } from '../../../functions/core/keys';
import { chapterPopulation, chapterRangeStrategy, demoShardMap, equalRangeNames, randomUint64Keys, splitMix64 } from '../../../functions/core/population';
import { ValidationError } from '../../../functions/shared/errors';

describe('splitMix64', () => {
  it('reproduces the reference sequence for seed 0', () => {
    const next = splitMix64(0);
    expect([next(), next(), next()].map((value) => value.toString(16))).toEqual(['e220a8397b1dcdaf', '6e789e6aa1b965f4', '6c45d188009454f']);
  });
});

describe('randomUint64Keys', () => {
  it('is deterministic per seed and spans the whole uint64 range', () => {
    const keys = randomUint64Keys(1000, 9);
    expect(randomUint64Keys(1000, 9)).toEqual(keys);
    expect(randomUint64Keys(1000, 10)).not.toEqual(keys);
    for (const key of keys) expect(parseKey(key, 'uint64').text).toBe(key);
    expect(keys.some((key) => BigInt(key) >= 2n ** 63n)).toBe(true);
    expect(keys.some((key) => BigInt(key) < 2n ** 63n)).toBe(true);
  });
});

describe('chapterPopulation', () => {
  const keys = chapterPopulation();

  it('holds sequential players, seeded random ids and event bursts', () => {
    expect(keys).toHaveLength(50_000 + 30_000 + 101 * 20);
    expect(keys.slice(0, 3)).toEqual(['1', '2', '3']);
    expect(keys[49_999]).toBe('50000');
    const random = keys.slice(50_000, 80_000).map(Number);
    expect(random.every((id) => id >= 100_000 && id <= 999_999)).toBe(true);
    expect(new Set(random).size).toBeGreaterThan(29_000);
    expect(keys.slice(80_000, 80_021)).toEqual([...Array.from({ length: 20 }, (_, i) => String(1_000_000 + i)), '1000100']);
    expect(keys.at(-1)).toBe('1010019');
  });

  it('is the same every time', () => {
    expect(chapterPopulation()).toEqual(keys);
  });

  it('comes with the chapter range layout of 125,000 ids per shard', () => {
    expect(chapterRangeStrategy()).toEqual({ kind: 'range', upperBounds: ['124999', '249999', '374999', '499999', '624999', '749999', '874999'] });
  });
});

describe('equalRangeNames', () => {
  it('names power-of-two splits by their leading bytes', () => {
    expect(equalRangeNames(1)).toEqual(['-']);
    expect(equalRangeNames(4)).toEqual(['-40', '40-80', '80-c0', 'c0-']);
    const sixteen = equalRangeNames(16);
    expect([sixteen[0], sixteen[1], sixteen[15]]).toEqual(['-10', '10-20', 'f0-']);
    expect(equalRangeNames(512).slice(0, 2)).toEqual(['-0080', '0080-01']);
  });

  it('uses floor(i * 2^64 / n) boundaries for other counts', () => {
    expect(equalRangeNames(3)).toEqual(['-5555555555555555', '5555555555555555-aaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaa-']);
    expect(equalRangeNames(5)[1]).toBe('3333333333333333-6666666666666666');
  });

  it('rejects counts that are not positive integers', () => {
    expect(() => equalRangeNames(0)).toThrow(ValidationError);
    expect(() => equalRangeNames(2.5)).toThrow(ValidationError);
  });
});

describe('demoShardMap', () => {
  it('builds one primary per equal range on the local MySQL by default', () => {
    const draft = demoShardMap(4);
    expect(draft).toMatchObject({ keyType: 'uint64', strategy: { kind: 'keyspace' }, overrides: [] });
    expect(draft.shards[1]).toEqual({
      name: '40-80',
      database: 'sk_shard_40_80',
      status: 'serving',
      kind: 'self-managed',
      nodes: [{ id: 'sk_shard_40_80-primary', role: 'primary', host: '127.0.0.1', port: 3306 }],
    });
    expect(draft.shards.map((shard) => shard.database)).toEqual(['sk_shard_00_40', 'sk_shard_40_80', 'sk_shard_80_c0', 'sk_shard_c0_ff']);
  });

  it('takes a host, port, strategy and key type', () => {
    const draft = demoShardMap(3, { host: 'db.local', port: 3307, strategy: { kind: 'jump' }, keyType: 'string' });
    expect(draft.shards.map((shard) => [shard.name, shard.database])).toEqual([['0', 'sk_shard_0'], ['1', 'sk_shard_1'], ['2', 'sk_shard_2']]);
    expect(draft.shards[2]!.nodes[0]).toMatchObject({ host: 'db.local', port: 3307 });
    expect(draft.keyType).toBe('string');
  });

  it('prefixes every shard database so demo fleets can share a server', () => {
    expect(demoShardMap(2, { databasePrefix: 'sk_t1_' }).shards.map((shard) => shard.database)).toEqual(['sk_t1_shard_00_80', 'sk_t1_shard_80_ff']);
  });

  it('refuses options that make an invalid map', () => {
    expect(() => demoShardMap(4, { strategy: { kind: 'range', upperBounds: ['1'] } })).toThrow('4 shards need 3 upper bounds');
  });
});
