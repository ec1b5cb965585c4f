import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveTableConfig } from '../../../functions/archive/archive-config';
import { previewArchiveItem } from '../../../functions/archive/archive-plan';
import { archiveCutoff, sqlDateTime } from '../../../functions/core/archive-batch';
import { createDailyGameLogs, createGameLogsTable, seedGameLogs } from '../../../functions/local/game-logs';
import { ValidationError } from '../../../functions/shared/errors';
import { archiveLines, checksums, DAY_MS, runToCompletion, startArchiveHarness, tableConfig, tableLines, type ArchiveHarness, type ArchiverProcess } from './harness';

const NOW = Date.UTC(2024, 6, 10, 12);
const RETENTION_DAYS = 5;
const CUTOFF = archiveCutoff(NOW, RETENTION_DAYS);

class Killed extends Error {}

describe('partition maintenance on MariaDB', () => {
  let harness: ArchiveHarness;
  /** The process `archive plan` runs in (a preview describes the table afresh). */
  let planner: ArchiverProcess | undefined;
  let run = 0;

  beforeAll(async () => {
    harness = await startArchiveHarness();
  });
  afterAll(async () => harness.close());
  beforeEach(async () => {
    await harness.reset();
    planner = undefined;
    const [tables] = (await harness.shard.pool.query('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()')) as unknown as [Array<{ name: string }>];
    for (const { name } of tables) await harness.shard.pool.query(`DROP TABLE \`${name}\``);
  });

  const request = (table: string) => ({ table, shard: '-80', runId: `run-${++run}`, cutoff: CUTOFF });

  /** What `archive plan` shows for the table now. */
  const preview = (config: ArchiveTableConfig) => {
    const { source, store } = (planner ??= harness.process());
    return previewArchiveItem(config, request(config.table), { source, store, now: NOW });
  };

  async function partitionNames(table: string): Promise<string[]> {
    const [rows] = (await harness.shard.pool.query(
      'SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION',
      [table],
    )) as unknown as [Array<{ name: string }>];
    return rows.map((row) => row.name);
  }

  async function tableNames(): Promise<string[]> {
    const [rows] = (await harness.shard.pool.query('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME')) as unknown as [
      Array<{ name: string }>,
    ];
    return rows.map((row) => row.name);
  }

  async function expectExactlyOnce(original: string[], remainingTables: string[]): Promise<void> {
    const onShard = (await Promise.all(remainingTables.map((table) => tableLines(harness.shard.pool, harness.shard.database, table)))).flat();
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums([...onShard, ...archived])).toEqual(checksums(original));
    const onShardSet = new Set(onShard);
    expect(archived.filter((line) => onShardSet.has(line))).toEqual([]);
    expect(onShard.every((line) => (JSON.parse(line) as { created_at: string }).created_at >= sqlDateTime(CUTOFF))).toBe(true);
  }

  it('creates daily partitions a week ahead and drops whole old partitions once their rows are archived', async () => {
    await createGameLogsTable(harness.shard.pool, harness.shard.database, 'game_logs', { unit: 'day', from: NOW - 10 * DAY_MS, to: NOW + DAY_MS });
    await seedGameLogs(harness.shard.pool, harness.shard.database, 'game_logs', { from: NOW - 10 * DAY_MS, to: NOW + 12 * 3_600_000, rows: 2_000, players: 40 });
    const original = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const config = tableConfig({ table: 'game_logs', layout: 'partitioned', timeColumn: 'created_at', retentionDays: RETENTION_DAYS, batchSize: 150 });
    // `archive plan` names what the run then does: the partitions it creates ahead and those it archives and drops.
    expect(await preview(config)).toMatchObject({
      createAhead: ['p20240712', 'p20240713', 'p20240714', 'p20240715', 'p20240716', 'p20240717'],
      pastRetention: ['p20240630', 'p20240701', 'p20240702', 'p20240703', 'p20240704'],
    });

    const results = await runToCompletion(harness, harness.process(), config, request('game_logs'), { now: NOW });

    expect(results.at(-1)?.status).toBe('done');
    expect(await preview(config)).toMatchObject({ createAhead: [], pastRetention: [], detachedInProgress: [], unfinishedBatches: 0 });
    const partitions = await partitionNames('game_logs');
    expect(partitions[0]).toBe('p20240705');
    expect(partitions.slice(-2)).toEqual(['p20240717', 'pmax']);
    expect(await tableNames()).toEqual(['game_logs']);
    await expectExactlyOnce(original, ['game_logs']);
    const [units] = (await harness.catalog.pool.query("SELECT unit_name, state, row_count FROM sk_archive_units ORDER BY unit_name")) as unknown as [
      Array<{ unit_name: string; state: string; row_count: string }>,
    ];
    expect(units.map((unit) => unit.unit_name)).toEqual(['game_logs.p20240630', 'game_logs.p20240701', 'game_logs.p20240702', 'game_logs.p20240703', 'game_logs.p20240704']);
    expect(units.every((unit) => unit.state === 'dropped')).toBe(true);
    const [modes] = (await harness.catalog.pool.query('SELECT DISTINCT delete_mode FROM sk_archive_batches')) as unknown as [Array<{ delete_mode: string }>];
    expect(modes.map((row) => row.delete_mode)).toEqual(['none']);
  });

  it('keeps a detached partition until a crashed run is re-run, then archives it exactly once', async () => {
    await createGameLogsTable(harness.shard.pool, harness.shard.database, 'game_logs', { unit: 'day', from: NOW - 8 * DAY_MS, to: NOW + DAY_MS });
    await seedGameLogs(harness.shard.pool, harness.shard.database, 'game_logs', { from: NOW - 8 * DAY_MS, to: NOW, rows: 1_200, players: 40 });
    const original = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const config = tableConfig({ table: 'game_logs', layout: 'partitioned', timeColumn: 'created_at', retentionDays: RETENTION_DAYS, batchSize: 100 });
    const retried = request('game_logs');
    let verified = 0;
    const first = harness.process();
    await expect(
      runToCompletion(harness, first, config, retried, {
        now: NOW,
        onStep: (step) => {
          if (step === 'verified' && ++verified === 3) throw new Killed();
        },
      }),
    ).rejects.toThrow(Killed);
    await first.stop();
    expect((await tableNames()).filter((name) => name.startsWith('sk_archiving_'))).not.toEqual([]);

    const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    expect(await tableNames()).toEqual(['game_logs']);
    await expectExactlyOnce(original, ['game_logs']);
  });

  it('exchanges monthly RANGE COLUMNS partitions under a write lock where CONVERT PARTITION is not used', async () => {
    const now = Date.UTC(2024, 6, 10);
    const cutoff = archiveCutoff(now, 40);
    await createGameLogsTable(harness.shard.pool, harness.shard.database, 'game_logs', { unit: 'month', from: Date.UTC(2024, 2, 1), to: Date.UTC(2024, 7, 1) });
    await seedGameLogs(harness.shard.pool, harness.shard.database, 'game_logs', { from: Date.UTC(2024, 2, 1), to: now, rows: 1_000, players: 40 });
    const original = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const config = tableConfig({ table: 'game_logs', layout: 'partitioned', timeColumn: 'created_at', retentionDays: 40, batchSize: 200, partitions: { unit: 'month' } });

    const results = await runToCompletion(harness, harness.process({ detachStrategy: 'exchange' }), config, { ...request('game_logs'), cutoff }, { now });

    expect(results.at(-1)?.status).toBe('done');
    // March and April end before the cutoff (2024-05-31); May straddles it and stays; two months ahead of July are added.
    expect(await partitionNames('game_logs')).toEqual(['p202405', 'p202406', 'p202407', 'p202408', 'p202409', 'pmax']);
    expect(await tableNames()).toEqual(['game_logs']);
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums([...onShard, ...archived])).toEqual(checksums(original));
    expect(archived.length).toBeGreaterThan(0);
    expect(archived.every((line) => (JSON.parse(line) as { created_at: string }).created_at < '2024-05-01')).toBe(true);
  });

  it('creates tomorrow\'s date-named table and archives and drops whole old ones', async () => {
    const tables = await createDailyGameLogs(harness.shard.pool, harness.shard.database, 'game_logs', { from: NOW - 8 * DAY_MS, to: NOW, rowsPerDay: 120 });
    const original = (await Promise.all(tables.map((table) => tableLines(harness.shard.pool, harness.shard.database, table)))).flat();
    const config = tableConfig({ table: 'game_logs', layout: 'daily-tables', timeColumn: 'created_at', retentionDays: RETENTION_DAYS, batchSize: 50 });
    expect(await preview(config)).toMatchObject({ createAhead: ['game_logs_20240711'], pastRetention: ['game_logs_20240702', 'game_logs_20240703', 'game_logs_20240704'] });

    const results = await runToCompletion(harness, harness.process(), config, request('game_logs'), { now: NOW });

    expect(results.at(-1)?.status).toBe('done');
    expect(await preview(config)).toMatchObject({ createAhead: [], pastRetention: [] });
    expect(await tableNames()).toEqual(['game_logs_20240705', 'game_logs_20240706', 'game_logs_20240707', 'game_logs_20240708', 'game_logs_20240709', 'game_logs_20240710', 'game_logs_20240711']);
    await expectExactlyOnce(original, (await tableNames()));
    const keys = (await archiveLines(harness.objects)).map(({ key }) => key);
    expect(new Set(keys.map((key) => key.split('/')[2]))).toEqual(new Set(['dt=2024-07-02', 'dt=2024-07-03', 'dt=2024-07-04']));
    expect(keys.every((key) => /\/game_logs_2024070[234]\.\d+-\d+\.jsonl\.zst$/.test(key))).toBe(true);
  });

  it('refuses a table without a usable unique key with a clear error', async () => {
    await harness.shard.pool.query('CREATE TABLE chat_log (player_id BIGINT NOT NULL, said_at DATETIME NOT NULL, message TEXT, KEY (said_at))');
    const config = tableConfig({ table: 'chat_log', timeColumn: 'said_at', keyColumns: ['player_id'] });
    const attempt = runToCompletion(harness, harness.process(), config, request('chat_log'), { now: NOW });
    await expect(attempt).rejects.toThrow(ValidationError);
    await expect(runToCompletion(harness, harness.process(), config, request('chat_log'), { now: NOW })).rejects.toThrow(/has no usable unique key over \(player_id\).*Unique indexes: none/);
  });
});
