import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../functions/adapters/catalog-migrations';
import { createShardSources, type ShardSources } from '../../functions/adapters/mysql-archive-source';
import { createS3ObjectStore } from '../../functions/adapters/s3-object-store';
import { SqlArchiveStore } from '../../functions/adapters/sql-archive-store';
import { SqlCatalog } from '../../functions/adapters/sql-catalog';
import { parseArchiveSettings, type ArchiveSettings } from '../../functions/archive/archive-config';
import { runArchiveWorkflowLocally, synthesizeArchiveDefinition, type ArchiveWorkflowTasks } from '../../functions/archive/local-workflow';
import { createFailureTask, createPlanTask, createSliceTask, createSummaryTask } from '../../functions/archive/task-handlers';
import { bootstrapCatalog } from '../../functions/catalog/bootstrap';
import { archiveCutoff, sqlDateTime } from '../../functions/core/archive-batch';
import type { LoadSample } from '../../functions/core/archive-throttle';
import { demoShardMap } from '../../functions/core/population';
import { createGameLogsTable, seedGameLogs } from '../../functions/local/game-logs';
import { startLocalS3, type LocalS3 } from '../../functions/local/local-s3';
import type { AppEvent } from '../../functions/ports/event-publisher';
import { staticCredentials } from '../../functions/ports/node-credentials';
import { asStepFunctionsError, NodeUnreachableError } from '../../functions/shared/errors';
import { quoteIdentifier } from '../../functions/shared/identifiers';
import { createScratchDatabase, type ScratchDatabase } from '../integration/helpers/mariadb';
import { archiveLines, checksums, tableLines } from '../integration/archive/harness';

const START = '2024-07-10T03:00:00.000Z';
const DAY_MS = 86_400_000;
const CUTOFF = archiveCutoff(Date.parse(START), 30);
const BUCKET = 'sk-archive-workflow';

describe('the archive workflow, synthesized and run locally with the real task functions', () => {
  let definition: StateMachineDefinition;
  let catalog: ScratchDatabase;
  let s3: LocalS3;
  let directory: string;
  let shardDatabases: string[];
  let original: Map<string, string[]>;
  let execution = 0;

  beforeAll(async () => {
    definition = synthesizeArchiveDefinition({ archive: { tables: [{ table: 'game_logs', timeColumn: 'created_at' }] } });
    catalog = await createScratchDatabase();
    await migrate(catalog.executor);
    const map = demoShardMap(2, { databasePrefix: `${catalog.database}_` });
    await bootstrapCatalog(new SqlCatalog(catalog.executor), map);
    shardDatabases = map.shards.map((shard) => shard.database);
    for (const database of shardDatabases) await catalog.pool.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    directory = mkdtempSync(join(tmpdir(), 'sk-archive-wf-'));
    s3 = await startLocalS3({ directory, buckets: [BUCKET] });
  });
  afterAll(async () => {
    for (const database of shardDatabases) await catalog.pool.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
    await catalog.drop();
  });

  beforeEach(async () => {
    for (const table of ['sk_archive_batches', 'sk_archive_cursors', 'sk_archive_runs', 'sk_archive_units', 'sk_archive_leases']) await catalog.pool.query(`DELETE FROM ${table}`);
    const keys: string[] = [];
    for await (const object of objects().list('')) keys.push(object.key);
    await objects().delete(keys);
    original = new Map();
    for (const [index, database] of shardDatabases.entries()) {
      await catalog.pool.query(`DROP TABLE IF EXISTS ${quoteIdentifier(database)}.game_logs`);
      await createGameLogsTable(catalog.pool, database);
      await seedGameLogs(catalog.pool, database, 'game_logs', { from: CUTOFF - 2 * DAY_MS, to: CUTOFF + DAY_MS, rows: 600, players: 30, seed: index + 1 });
      original.set(database, await tableLines(catalog.pool, database, 'game_logs'));
    }
  });

  const objects = () => createS3ObjectStore({ client: s3.client, bucket: BUCKET });

  interface Setup {
    settings?: ArchiveSettings;
    load?: (shard: string) => LoadSample;
    /** Called before each Archive invocation; may throw to fail it. */
    beforeSlice?: (input: { shard: string }, call: number) => void;
    /** Each Archive invocation's time budget. */
    budgetMs?: number;
  }

  /**
   * The task functions over the catalog, the shards and the local S3, as the Lambda handlers
   * wire them in AWS. Each shard's invocations see their own clock, which a Wait state moves on.
   */
  function tasks(setup: Setup, events: AppEvent[], sources: ShardSources): ArchiveWorkflowTasks & { slices: Array<{ shard: string; status: string; rows: number; startedAt: number }> } {
    const settings = setup.settings ?? parseArchiveSettings([{ table: 'game_logs', timeColumn: 'created_at', retentionDays: 30, batchSize: 100 }], 'test');
    const start = { now: () => Date.parse(START) };
    const store = new SqlArchiveStore(catalog.executor, start);
    const publisher = { publish: async (published: AppEvent[]) => void events.push(...published) };
    const clocks = new Map<string, { now: number }>();
    const sliceFor = (shard: string) => {
      const clock = clocks.get(shard) ?? { now: Date.parse(START) };
      clocks.set(shard, clock);
      const slice = createSliceTask({
        settings,
        catalog: new SqlCatalog(catalog.executor),
        store,
        objects: objects(),
        events: publisher,
        clock: { now: () => clock.now },
        sleep: async () => {},
        source: (target) => sources.source(target),
        ...(setup.load ? { load: (target) => ({ sample: async () => setup.load!(target.name) }) } : {}),
      });
      return { slice, clock };
    };
    const slices: Array<{ shard: string; status: string; rows: number; startedAt: number }> = [];
    let calls = 0;
    return {
      slices,
      plan: createPlanTask({ settings, catalog: new SqlCatalog(catalog.executor) }),
      archive: async (input) => {
        try {
          setup.beforeSlice?.(input as { shard: string }, ++calls);
          const { slice, clock } = sliceFor((input as { shard: string }).shard);
          const startedAt = clock.now;
          const result = await slice(input, { deadline: startedAt + (setup.budgetMs ?? 60_000) });
          slices.push({ shard: result.shard, status: result.status, rows: result.rows, startedAt });
          // The Wait states are skipped locally; the shard's time moves on as if they had waited.
          if (result.status === 'blackout') clock.now = Date.parse(result.resumeAt);
          if (result.status === 'throttled') clock.now += result.waitSeconds * 1000;
          return result;
        } catch (error) {
          throw asStepFunctionsError(error);
        }
      },
      reportFailure: createFailureTask({ store, events: publisher, clock: start }),
      summarize: createSummaryTask({ store }),
    };
  }

  async function run(setup: Setup = {}) {
    const events: AppEvent[] = [];
    const sources = createShardSources({ credentials: staticCredentials('root', ''), tls: 'off' });
    try {
      const bound = tasks(setup, events, sources);
      const result = await runArchiveWorkflowLocally(definition, bound, { tables: ['game_logs'] }, { executionName: `wf-${++execution}`, startTime: START, retryDelayMs: 0, waitMs: 0 });
      return { ...result, events, slices: bound.slices };
    } finally {
      await sources.close();
    }
  }

  async function expectAllArchivedOnce(): Promise<void> {
    const archived = (await archiveLines(objects())).map(({ line }) => line);
    const onShards = (await Promise.all(shardDatabases.map((database) => tableLines(catalog.pool, database, 'game_logs')))).flat();
    const everything = [...original.values()].flat();
    expect({ onShards: onShards.length, archived: archived.length }).toEqual({ onShards: 400, archived: 800 });
    expect(checksums([...onShards, ...archived])).toEqual(checksums(everything));
    expect(onShards.every((line) => (JSON.parse(line) as { created_at: string }).created_at >= sqlDateTime(CUTOFF))).toBe(true);
    expect(new Set(archived).size).toBe(archived.length);
  }

  it('loops the Archive state across several invocations until every shard is done', async () => {
    const result = await run({ budgetMs: 0 });
    expect(result.status).toBe('succeeded');
    expect(result.states.slice(0, 3)).toEqual(['Plan', 'AnythingToArchive?', 'ArchiveItems']);
    expect(result.states.slice(-3)).toEqual(['Summarize', 'AnyFailed?', 'Archived']);
    expect((result.output as { summary: unknown }).summary).toEqual({
      runId: expect.stringMatching(/^wf-\d+$/),
      planned: 2,
      done: 2,
      failed: 0,
      unfinished: 0,
      notStarted: 0,
      rows: 800,
      batches: 8,
      bytes: expect.any(Number),
      anyFailed: false,
    });
    // 400 old rows per shard in batches of 100; a spent budget still finishes the batches in flight: several invocations each.
    for (const shard of ['-80', '80-']) {
      const statuses = result.slices.filter((slice) => slice.shard === shard).map((slice) => slice.status);
      expect(statuses.at(-1)).toBe('done');
      expect(statuses.slice(0, -1).length).toBeGreaterThanOrEqual(1);
      expect(new Set(statuses.slice(0, -1))).toEqual(new Set(['more']));
    }
    expect(result.slices.filter((slice) => slice.status === 'done').map((slice) => slice.shard).sort()).toEqual(['-80', '80-']);
    expect(result.events.map((event) => event.detailType).sort()).toEqual(['ArchiveCompleted', 'ArchiveCompleted', 'ArchiveStarted', 'ArchiveStarted']);
    await expectAllArchivedOnce();
  });

  it('waits while a shard is throttled and archives it afterwards', async () => {
    let samples = 0;
    const result = await run({ load: (shard) => ({ threadsRunning: shard === '-80' && ++samples <= 2 ? 60 : 1, replicas: [] }) });
    expect(result.status).toBe('succeeded');
    expect(result.states.filter((state) => state === 'WaitWhileThrottled')).toHaveLength(2);
    expect(result.slices.filter((slice) => slice.status === 'throttled').every((slice) => slice.shard === '-80')).toBe(true);
    await expectAllArchivedOnce();
  });

  it('waits out a blackout window without touching the shards, then archives', async () => {
    const settings = parseArchiveSettings(
      { tables: [{ table: 'game_logs', timeColumn: 'created_at', retentionDays: 30, batchSize: 100 }], blackouts: [{ start: '2024-07-10T00:00:00Z', end: '2024-07-10T06:00:00Z', reason: 'summer event' }] },
      'test',
    );
    const result = await run({ settings });
    expect(result.status).toBe('succeeded');
    expect(result.states.filter((state) => state === 'WaitOutBlackout')).toHaveLength(2);
    const blackoutEnd = Date.parse('2024-07-10T06:00:00Z');
    expect(result.slices.filter((slice) => slice.startedAt < blackoutEnd).every((slice) => slice.status === 'blackout' && slice.rows === 0)).toBe(true);
    expect(result.slices.filter((slice) => slice.rows > 0).every((slice) => slice.startedAt >= blackoutEnd)).toBe(true);
    await expectAllArchivedOnce();
  });

  it('retries a transient failure of the Archive task and finishes the run', async () => {
    const result = await run({
      beforeSlice: (_input, call) => {
        if (call === 1) throw new NodeUnreachableError('shard primary failing over');
      },
    });
    expect(result.status).toBe('succeeded');
    expect(result.retries).toContain('Archive');
    await expectAllArchivedOnce();
  });

  it('leaves a shard another run is archiving to that run and still succeeds', async () => {
    await new SqlArchiveStore(catalog.executor).tryLease('game_logs', '80-', 'an-earlier-run', 60 * 60_000);
    const result = await run();
    expect(result.status).toBe('succeeded');
    expect(result.slices.filter((slice) => slice.shard === '80-').map((slice) => slice.status)).toEqual(['busy']);
    expect((result.output as { summary: unknown }).summary).toMatchObject({ planned: 2, done: 1, failed: 0, notStarted: 1, rows: 400, anyFailed: false });
  });

  it('reports a permanent failure as ArchiveFailed, finishes the other shards and fails the execution', async () => {
    const result = await run({
      beforeSlice: (input) => {
        if (input.shard === '80-') {
          throw Object.assign(new (class extends Error {})('game_logs has no usable unique key'), { name: 'ValidationError' });
        }
      },
    });
    expect(result.status).toBe('failed');
    expect(result.error?.name).toBe('ArchiveFailed');
    expect(result.retries).not.toContain('Archive');
    expect(result.states).toContain('ReportFailure');
    const failed = result.events.filter((event) => event.detailType === 'ArchiveFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.detail).toMatchObject({ shard: '80-', table: 'game_logs', errorCode: 'ValidationError', error: 'game_logs has no usable unique key', rows: 0 });
    expect(result.slices.find((slice) => slice.shard === '-80' && slice.status === 'done')).toBeDefined();
    const [runs] = (await catalog.pool.query("SELECT shard_name, status FROM sk_archive_runs ORDER BY shard_name")) as unknown as [Array<{ shard_name: string; status: string }>];
    expect(runs).toEqual([expect.objectContaining({ shard_name: '-80', status: 'done' }), expect.objectContaining({ shard_name: '80-', status: 'failed' })]);
  });
});
