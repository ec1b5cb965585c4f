import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import { migrate } from '../../../functions/adapters/catalog-migrations';
import { createArchivePool, createMysqlArchiveSource, type MysqlArchiveSourceOptions } from '../../../functions/adapters/mysql-archive-source';
import { createMysqlExecutor, createMysqlPool } from '../../../functions/adapters/mysql-executor';
import { createS3ObjectStore } from '../../../functions/adapters/s3-object-store';
import { SqlArchiveStore } from '../../../functions/adapters/sql-archive-store';
import { parseArchiveTables, type ArchiveTableConfig, type ArchiveTableInput } from '../../../functions/archive/archive-config';
import { runArchiveSlice, type SliceDependencies, type SliceRequest, type SliceResult } from '../../../functions/archive/archive-slice';
import { encodeRow, batchLines, type SourceRow } from '../../../functions/core/archive-batch';
import { createGameLogsTable, seedGameLogs } from '../../../functions/local/game-logs';
import { startLocalS3, type LocalS3 } from '../../../functions/local/local-s3';
import type { ArchiveSource } from '../../../functions/ports/archive-source';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import type { ObjectStore } from '../../../functions/ports/object-store';
import { systemClock, type Clock } from '../../../functions/ports/clock';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

export const BUCKET = 'sk-archive-test';
export const DAY_MS = 86_400_000;

/** One archiver "process": its own pools, so a kill can drop them mid-run. */
export interface ArchiverProcess {
  store: SqlArchiveStore;
  source: ArchiveSource;
  shardPool: Pool;
  catalogPool: Pool;
  /** Ends the pools, as a process exit would. */
  stop(): Promise<void>;
}

/** A catalog, a shard database and a local S3, shared by the tests of one file. */
export interface ArchiveHarness {
  catalog: ScratchDatabase;
  shard: ScratchDatabase;
  s3: LocalS3;
  objects: ObjectStore;
  events: AppEvent[];
  /** A fresh archiver process against the shard database. */
  process(options?: MysqlArchiveSourceOptions): ArchiverProcess;
  /** Stops the processes started so far, and empties the bucket and the archive tables of the catalog. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export async function startArchiveHarness(): Promise<ArchiveHarness> {
  const catalog = await createScratchDatabase();
  const shard = await createScratchDatabase();
  await migrate(catalog.executor);
  const directory = mkdtempSync(join(tmpdir(), 'sk-archive-s3-'));
  const s3 = await startLocalS3({ directory, buckets: [BUCKET] });
  const objects = createS3ObjectStore({ client: s3.client, bucket: BUCKET });
  const events: AppEvent[] = [];
  const processes: ArchiverProcess[] = [];
  return {
    catalog,
    shard,
    s3,
    objects,
    events,
    process(options) {
      const catalogPool = createMysqlPool({ url: mysqlUrl(), database: catalog.database });
      const shardPool = createArchivePool({ url: mysqlUrl(), database: shard.database });
      const started: ArchiverProcess = {
        store: new SqlArchiveStore(createMysqlExecutor(catalogPool)),
        source: createMysqlArchiveSource(shardPool, shard.database, options),
        shardPool,
        catalogPool,
        async stop() {
          await Promise.all([catalogPool.end().catch(() => {}), shardPool.end().catch(() => {})]);
        },
      };
      processes.push(started);
      return started;
    },
    async reset() {
      // Each process's pools hold connections until stopped: a whole file's worth would exceed the server's limit.
      await Promise.all(processes.splice(0).map((process) => process.stop()));
      const keys: string[] = [];
      for await (const object of objects.list('')) keys.push(object.key);
      await objects.delete(keys);
      for (const table of ['sk_archive_batches', 'sk_archive_cursors', 'sk_archive_runs', 'sk_archive_units', 'sk_archive_leases', 'sk_archive_restored']) {
        await catalog.pool.query(`DELETE FROM ${table}`);
      }
      events.length = 0;
    },
    async close() {
      await Promise.all(processes.map((process) => process.stop()));
      await s3.stop();
      rmSync(directory, { recursive: true, force: true });
      await catalog.drop();
      await shard.drop();
    },
  };
}

export function tableConfig(input: ArchiveTableInput): ArchiveTableConfig {
  return parseArchiveTables([input], 'test')[0]!;
}

export interface RunOptions {
  now?: number;
  /** Instead of `now`: a clock that moves. */
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  runId?: string;
  onStep?: SliceDependencies['onStep'];
  objects?: ObjectStore;
  source?: ArchiveSource;
  store?: SliceDependencies['store'];
  load?: SliceDependencies['load'];
  /** Stop after this many slices even if not done. */
  maxSlices?: number;
  /** Per-slice budget; small budgets force several slices. */
  budgetMs?: number;
}

/** Runs slices the way the workflow loops them (without waiting out throttles) until the run is done. */
export async function runToCompletion(harness: ArchiveHarness, process: ArchiverProcess, config: ArchiveTableConfig, request: SliceRequest, options: RunOptions = {}): Promise<SliceResult[]> {
  const results: SliceResult[] = [];
  for (let slice = 0; slice < (options.maxSlices ?? 1_000); slice++) {
    const result = await runArchiveSlice(
      config,
      request,
      {
        store: options.store ?? process.store,
        objects: options.objects ?? harness.objects,
        source: options.source ?? process.source,
        load: options.load,
        events: { publish: async (events) => void harness.events.push(...events) },
        clock: options.clock ?? (options.now === undefined ? systemClock : { now: () => options.now! }),
        sleep: options.sleep ?? (async () => {}),
        onStep: options.onStep,
      },
      { deadline: Date.now() + (options.budgetMs ?? 60_000) },
    );
    results.push(result);
    if (result.status === 'done' || result.status === 'busy' || result.status === 'blackout') return results;
  }
  return results;
}

/** Resets the harness, recreates a seeded `game_logs` (dropping `alsoDrop` too) and returns its rows as lines. */
export async function freshGameLogs(harness: ArchiveHarness, seed: Parameters<typeof seedGameLogs>[3], alsoDrop: readonly string[] = []): Promise<string[]> {
  const { pool, database } = harness.shard;
  await harness.reset();
  for (const table of ['game_logs', ...alsoDrop]) await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await createGameLogsTable(pool, database);
  await seedGameLogs(pool, database, 'game_logs', seed);
  return tableLines(pool, database, 'game_logs');
}

/** Every row of a table as its canonical archived line. */
export async function tableLines(pool: Pool, database: string, table: string): Promise<string[]> {
  const [columns] = (await pool.query('SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [database, table])) as unknown as [
    Array<{ name: string }>,
  ];
  const names = columns.map((column) => column.name);
  const [rows] = (await pool.query(`SELECT * FROM ${quoteIdentifier(database)}.${quoteIdentifier(table)}`)) as unknown as [SourceRow[]];
  return rows.map((row) => encodeRow(row, names));
}

/** Every line of every object in the bucket, with the object it came from. */
export async function archiveLines(objects: ObjectStore): Promise<Array<{ key: string; line: string }>> {
  const found: Array<{ key: string; line: string }> = [];
  for await (const object of objects.list('')) {
    for (const line of batchLines(await objects.getBuffer(object.key))) found.push({ key: object.key, line });
  }
  return found;
}

export const lineChecksum = (line: string) => createHash('sha256').update(line).digest('hex');

/** A multiset of lines as sorted checksums: equal multisets give equal arrays. */
export const checksums = (lines: readonly string[]) => lines.map(lineChecksum).sort();
