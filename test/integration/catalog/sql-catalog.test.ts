import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMysqlExecutor } from '../../../functions/adapters/mysql-executor';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import type { Shard, ShardMapDraft, StrategyConfig } from '../../../functions/core/shard-map-types';
import type { SqlExecutor, SqlParams } from '../../../functions/ports/sql';
import { StaleMapVersionError } from '../../../functions/shared/errors';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

function shard(name: string, index: number): Shard {
  return {
    name,
    database: `game_${index}`,
    status: index === 1 ? 'draining' : 'serving',
    kind: index === 2 ? 'aurora' : 'self-managed',
    nodes: [
      { id: `${name}-b`, role: 'replica', host: `10.0.${index}.12`, port: 3307 },
      { id: `${name}-a`, role: 'primary', host: `db-${index}.example.internal`, port: 3306, secretRef: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:shard-${index}` },
      { id: `${name}-c`, role: 'replica', host: `10.0.${index}.13`, port: 3306 },
    ],
  };
}

function draft(strategy: StrategyConfig, overrides: ShardMapDraft['overrides'] = []): ShardMapDraft {
  return { keyType: 'uint64', strategy, shards: ['-40', '40-80', '80-c0', 'c0-'].map(shard), overrides };
}

/** What loadShardMap returns for a draft: nodes primary first, then in their listed order. */
function asLoaded(map: ShardMapDraft) {
  return {
    ...map,
    shards: map.shards.map((s) => ({ ...s, nodes: [...s.nodes.filter((n) => n.role === 'primary'), ...s.nodes.filter((n) => n.role !== 'primary')] })),
  };
}

/** Passes everything through to `executor`, noting each statement. */
function recording(executor: SqlExecutor, log: { sql: string; params: SqlParams }[]): SqlExecutor {
  return {
    query: (sql, params = {}) => (log.push({ sql, params }), executor.query(sql, params)),
    execute: (sql, params = {}) => (log.push({ sql, params }), executor.execute(sql, params)),
    transaction: (work) => executor.transaction((tx) => work(recording(tx, log))),
  };
}

describe('SqlCatalog over mysql2 on MariaDB', () => {
  let scratch: ScratchDatabase;
  let catalog: SqlCatalog;
  let now: number;
  beforeEach(async () => {
    scratch = await createScratchDatabase();
    now = Date.parse('2025-06-01T12:00:00.125Z');
    catalog = new SqlCatalog(scratch.executor, { now: () => now });
    await catalog.migrate();
  });
  afterEach(async () => {
    await scratch.drop();
  });

  it('has no map and no version before the first commit', async () => {
    await expect(catalog.loadShardMap()).resolves.toBeUndefined();
    await expect(catalog.mapVersion()).resolves.toBeUndefined();
    await expect(catalog.mapHistory(10)).resolves.toEqual([]);
  });

  it.each<StrategyConfig>([
    { kind: 'keyspace' },
    { kind: 'modulo' },
    { kind: 'range', upperBounds: ['1000000', '9223372036854775807', '18446744073709551614'] },
    { kind: 'ring', virtualNodes: 150 },
    { kind: 'jump' },
  ])('round-trips a $kind map with its nodes and overrides', async (strategy) => {
    const committed = draft(strategy, [
      { key: '42', shard: 'c0-', moving: false },
      { key: '18446744073709551615', shard: '-40', moving: true },
      { key: '9007199254740993', shard: '40-80', moving: false },
    ]);
    const result = await catalog.commitShardMap(committed, 0, `bootstrap ${strategy.kind}`);
    expect(result).toEqual({ ...committed, version: 1, updatedAt: '2025-06-01T12:00:00.125Z' });

    const loaded = await catalog.loadShardMap();
    expect(loaded).toEqual({
      ...asLoaded(committed),
      // uint64 keys come back in numeric order, every digit intact.
      overrides: [
        { key: '42', shard: 'c0-', moving: false },
        { key: '9007199254740993', shard: '40-80', moving: false },
        { key: '18446744073709551615', shard: '-40', moving: true },
      ],
      version: 1,
      updatedAt: '2025-06-01T12:00:00.125Z',
    });
    expect(loaded?.shards.map((s) => s.nodes.map((n) => n.id))).toEqual(
      ['-40', '40-80', '80-c0', 'c0-'].map((name) => [`${name}-a`, `${name}-b`, `${name}-c`]),
    );
  });

  it('stores string keys byte for byte: emoji, case and trailing spaces stay distinct', async () => {
    const overrides = [
      { key: 'guild:🐉-dragons', shard: '40-80', moving: false },
      { key: 'Player', shard: '-40', moving: false },
      { key: 'player', shard: '80-c0', moving: false },
      { key: 'player ', shard: 'c0-', moving: true },
      { key: '🦄', shard: '-40', moving: false },
    ];
    await catalog.commitShardMap({ ...draft({ kind: 'keyspace' }, overrides), keyType: 'string' }, 0, 'string keys');
    const loaded = await catalog.loadShardMap();
    expect(loaded?.keyType).toBe('string');
    expect(loaded?.overrides).toEqual([...overrides].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key))));
  });

  it('bumps the version by exactly one per commit and keeps the history newest first', async () => {
    const v1 = await catalog.commitShardMap(draft({ kind: 'keyspace' }), 0, 'bootstrap');
    now += 1_000;
    const v2 = await catalog.commitShardMap(draft({ kind: 'keyspace' }, [{ key: '7', shard: '-40', moving: true }]), v1.version, 'move player 7');
    now += 1_000;
    const v3 = await catalog.commitShardMap(draft({ kind: 'keyspace' }, [{ key: '7', shard: '-40', moving: false }]), v2.version, 'player 7 moved');
    expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
    await expect(catalog.mapVersion()).resolves.toBe(3);
    await expect(catalog.mapHistory(2)).resolves.toEqual([
      { version: 3, summary: 'player 7 moved', changedAt: '2025-06-01T12:00:02.125Z' },
      { version: 2, summary: 'move player 7', changedAt: '2025-06-01T12:00:01.125Z' },
    ]);
    const [snapshot] = await scratch.executor.query('SELECT snapshot FROM sk_shard_map_versions WHERE version = 2');
    expect(JSON.parse(String(snapshot?.snapshot))).toEqual(v2);
  });

  it('applies the override diff across read pages: adds, changes and removes only what differs', async () => {
    // More overrides than one read page holds, with keys of several lengths so byte order is not numeric order.
    const initial = Array.from({ length: 4_500 }, (_, i) => ({ key: String((i + 1) * 7919), shard: '-40', moving: false }));
    const v1 = await catalog.commitShardMap(draft({ kind: 'keyspace' }, initial), 0, 'many overrides');
    const next = [
      ...initial.slice(10).map((o, i) => (i < 5 ? { ...o, shard: 'c0-', moving: true } : o)),
      { key: '18446744073709551615', shard: '80-c0', moving: false },
    ];
    const log: { sql: string; params: SqlParams }[] = [];
    await new SqlCatalog(recording(scratch.executor, log)).commitShardMap(draft({ kind: 'keyspace' }, next), v1.version, 'rebalance');

    const overrideWrites = log.filter(({ sql }) => /^(INSERT INTO|DELETE FROM) sk_key_overrides/.test(sql));
    expect(overrideWrites.map(({ sql, params }) => [sql.split(' ')[0], Object.keys(params).length])).toEqual([
      ['DELETE', 10],
      ['INSERT', 6 * 3],
    ]);
    const loaded = await catalog.loadShardMap();
    expect(loaded?.overrides).toEqual([...next].sort((a, b) => (BigInt(a.key) < BigInt(b.key) ? -1 : 1)));
  });

  it('refuses a writer holding an old version and writes nothing', async () => {
    const v1 = await catalog.commitShardMap(draft({ kind: 'keyspace' }), 0, 'bootstrap');
    const stale = catalog.commitShardMap(draft({ kind: 'jump' }), 0, 'late bootstrap');
    await expect(stale).rejects.toBeInstanceOf(StaleMapVersionError);
    await expect(stale).rejects.toMatchObject({ expected: 0, actual: 1 });
    await expect(catalog.loadShardMap()).resolves.toEqual({ ...asLoaded(draft({ kind: 'keyspace' })), version: 1, updatedAt: v1.updatedAt });
    await expect(catalog.mapHistory(10)).resolves.toHaveLength(1);
  });

  it('lets exactly one of two concurrent writers holding the same version win, with no lost update', async () => {
    const other = new SqlCatalog(createMysqlExecutor(scratch.openPool()), { now: () => now });
    let version = (await catalog.commitShardMap(draft({ kind: 'keyspace' }), 0, 'bootstrap')).version;
    for (let round = 0; round < 5; round += 1) {
      const mine = draft({ kind: 'keyspace' }, [{ key: String(round), shard: '-40', moving: false }]);
      const theirs = draft({ kind: 'modulo' }, [{ key: String(round), shard: 'c0-', moving: true }]);
      const results = await Promise.allSettled([catalog.commitShardMap(mine, version, 'mine'), other.commitShardMap(theirs, version, 'theirs')]);

      const won = results.flatMap((result, index) => (result.status === 'fulfilled' ? [{ index, map: result.value }] : []));
      const lost = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeInstanceOf(StaleMapVersionError);
      expect(lost[0]).toMatchObject({ expected: version, actual: version + 1 });

      const winner = won[0]!;
      expect(await catalog.loadShardMap()).toEqual({ ...asLoaded(winner.index === 0 ? mine : theirs), version: version + 1, updatedAt: winner.map.updatedAt });
      version = winner.map.version;
    }
    await expect(catalog.mapHistory(100)).resolves.toHaveLength(6);
  });

  it('keeps the previous map and version when a commit fails half-way', async () => {
    const v1 = await catalog.commitShardMap(draft({ kind: 'keyspace' }, [{ key: '5', shard: '-40', moving: false }]), 0, 'bootstrap');
    const broken = draft({ kind: 'modulo' }, [{ key: '6', shard: '40-80', moving: false }]);
    // A node listed twice in one shard: the node insert violates its primary key after the shards were replaced.
    broken.shards[0]!.nodes.push({ ...broken.shards[0]!.nodes[0]!, role: 'replica' });
    await expect(catalog.commitShardMap(broken, v1.version, 'broken')).rejects.toThrow(/Duplicate entry/);

    await expect(catalog.mapVersion()).resolves.toBe(1);
    await expect(catalog.loadShardMap()).resolves.toEqual({
      ...asLoaded(draft({ kind: 'keyspace' }, [{ key: '5', shard: '-40', moving: false }])),
      version: 1,
      updatedAt: v1.updatedAt,
    });
    await expect(catalog.mapHistory(10)).resolves.toEqual([{ version: 1, summary: 'bootstrap', changedAt: v1.updatedAt }]);
  });
});
