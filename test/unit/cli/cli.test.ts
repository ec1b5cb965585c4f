import { describe, expect, it } from 'vitest';
import { cli } from './run-cli';

describe('shardkeeper CLI', () => {
  it('analyzes the chapter population for every strategy as JSON', async () => {
    const run = await cli('analyze', '--preset', 'chapter', '--strategy', 'all', '--shards', '8', '--add', '1', '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.out);
    expect(result.keys).toBe(82_020);
    expect(result.distributions.map((d: { strategy: string }) => d.strategy)).toEqual(['keyspace', 'modulo', 'range', 'ring', 'jump']);
    for (const distribution of result.distributions) {
      expect(distribution.shards.reduce((sum: number, share: { keys: number }) => sum + share.keys, 0)).toBe(82_020);
    }
    const range = result.distributions.find((d: { strategy: string }) => d.strategy === 'range');
    // The chapter's range layout piles the 50,000 sequential sign-ups onto shard 0 and every burst onto the last.
    expect(range.shards[0].keys).toBeGreaterThan(50_000);
    expect(range.shards[0].keys).toBeLessThan(52_000);
    expect(range.shards[7].keys).toBeGreaterThan(2_020);
    expect(result.movements.map((m: { strategy: string }) => m.strategy)).toEqual(['keyspace', 'modulo', 'ring', 'jump']);
    const jump = result.movements.find((m: { strategy: string }) => m.strategy === 'jump');
    expect(jump.minimumFraction).toBeCloseTo(1 / 9);
    expect(Math.abs(jump.movedFraction - 1 / 9)).toBeLessThan(0.01);
  });

  it('draws a bar per shard and a movement table for humans', async () => {
    const run = await cli('analyze', '--strategy', 'ring', '--shards', '4', '--keys', '20000', '--add', '2');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/ring: 20000 keys over 4 shards/);
    expect(run.out.match(/█/g)?.length).toBeGreaterThan(40);
    expect(run.out).toMatch(/adding 2 shard\(s\): 4 → 6/);
    expect(run.out).toMatch(/theoretical minimum/);
  });

  it.each([
    [['analyze', '--shards', 'abc'], /--shards must be a non-negative integer/],
    [['analyze', '--shards', '0'], /--shards must be between 1 and 4096/],
    [['analyze', '--keys', '0'], /--keys must be between/],
    [['analyze', '--strategy', 'zigzag'], /Allowed choices are keyspace, modulo, range, ring, jump, all/],
    [['analyze', '--preset', 'mmo'], /Allowed choices are chapter/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['route'], /missing required argument 'key'/],
    [['map', 'split'], /missing required argument 'shard'/],
  ])('exits 2 with a clear message for %j', async (argv, message) => {
    const run = await cli(...argv);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(run.err).not.toMatch(/\n\s+at /);
  });

  it('reports errors as JSON with --json', async () => {
    const run = await cli('analyze', '--shards', '0', '--json');
    expect(run.code).toBe(2);
    expect(JSON.parse(run.err)).toEqual({ error: 'ValidationError', message: '--shards must be between 1 and 4096' });
  });
});
