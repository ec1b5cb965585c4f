import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { bootstrapCatalog } from '../../../functions/catalog/bootstrap';
import { demoShardMap } from '../../../functions/core/population';
import { startLocalS3, type LocalS3 } from '../../../functions/local/local-s3';
import { withDatabase } from '../../../functions/local/sandbox';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { cli, replacingOption } from '../../unit/cli/run-cli';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';
import { freePortBlock } from '../helpers/ports';

const NOW = '2024-07-10T12:00:00Z';

describe('shardkeeper archive against the sandbox fleet', () => {
  let scratch: ScratchDatabase;
  let s3: LocalS3;
  let directory: string;
  let shardDatabases: string[];
  let args: string[];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    const map = demoShardMap(2, { databasePrefix: `${scratch.database}_` });
    await bootstrapCatalog(new SqlCatalog(scratch.executor), map);
    shardDatabases = map.shards.map((shard) => shard.database);
    for (const database of shardDatabases) await scratch.pool.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    directory = mkdtempSync(join(tmpdir(), 'sk-archive-cli-'));
    s3 = await startLocalS3({ directory: join(directory, 's3'), buckets: ['cli-archive'] });
    const config = join(directory, 'archive.json');
    writeFileSync(config, JSON.stringify({ tables: [{ table: 'game_logs', timeColumn: 'created_at', retentionDays: 5, batchSize: 300 }], blackouts: [] }));
    args = ['--catalog', withDatabase(mysqlUrl(), scratch.database), '--config', config, '--bucket', 'cli-archive', '--s3-endpoint', s3.endpoint, '--now', NOW];
  });
  afterAll(async () => {
    for (const database of shardDatabases) await scratch.pool.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
    await scratch.drop();
  });

  it('seeds, plans, runs, reports and restores', async () => {
    const seeded = await cli('archive', 'seed', '--days', '10', '--rows', '2000', '--json', ...args);
    expect(seeded.code, seeded.err).toBe(0);
    expect(JSON.parse(seeded.out)).toEqual([expect.objectContaining({ shard: '-80', rows: 1000 }), expect.objectContaining({ shard: '80-', rows: 1000 })]);

    const plan = await cli('archive', 'plan', '--json', ...args);
    expect(plan.code, plan.err).toBe(0);
    const previews = JSON.parse(plan.out) as Array<{ shard: string; eligibleRows: number; cutoff: string }>;
    expect(previews.map((preview) => preview.cutoff)).toEqual(['2024-07-05T00:00:00.000Z', '2024-07-05T00:00:00.000Z']);
    const eligible = previews.reduce((sum, preview) => sum + preview.eligibleRows, 0);
    expect(eligible).toBeGreaterThan(800);

    const run = await cli('archive', 'run', '--json', ...args);
    expect(run.code, run.err).toBe(0);
    const outcome = JSON.parse(run.out) as { items: Array<{ status: string; runRows: number; rowsPerSecond: number }>; events: Array<{ detailType: string }> };
    expect(outcome.items.map((item) => item.status)).toEqual(['done', 'done']);
    expect(outcome.items.reduce((sum, item) => sum + item.runRows, 0)).toBe(eligible);
    expect(outcome.items.every((item) => item.rowsPerSecond > 0)).toBe(true);
    expect(outcome.events.map((event) => event.detailType)).toEqual(['ArchiveStarted', 'ArchiveCompleted', 'ArchiveStarted', 'ArchiveCompleted']);

    const human = await cli('archive', 'status', ...args);
    expect(human.code, human.err).toBe(0);
    expect(human.out).toMatch(/game_logs\s+-80\s+cli-\S+\s+done/);

    const replan = JSON.parse((await cli('archive', 'plan', '--json', ...args)).out) as Array<{ eligibleRows: number }>;
    expect(replan.map((preview) => preview.eligibleRows)).toEqual([0, 0]);

    const restoreArgs = ['archive', 'restore', '--table', 'game_logs', '--shard', '-80', '--from', '2024-06-30', '--to', '2024-07-05', '--json', ...args];
    const restored = await cli(...restoreArgs);
    expect(restored.code, restored.err).toBe(0);
    const first = JSON.parse(restored.out) as { inserted: number; skipped: number; matched: number };
    expect(first.inserted).toBe(previews[0]!.eligibleRows);
    expect(JSON.parse((await cli(...restoreArgs)).out)).toMatchObject({ inserted: 0, skipped: first.matched });
  });

  it('logs progress lines with rows/s when stderr is not a terminal, then a summary table', async () => {
    const seeded = await cli('archive', 'seed', '--days', '10', '--rows', '2000', ...args);
    expect(seeded.code, seeded.err).toBe(0);
    const run = await cli('archive', 'run', ...args);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toMatch(/table\s+shard\s+status\s+rows/);
    expect(run.err).toMatch(/archive run cli-/);
    // The test before restored -80's rows into the live table: they leave again without a new object.
    expect(run.err).toMatch(/^game_logs@-80 \S* 100% [\d,]+ rows \(\+[\d,]+ restored rows the archive holds\), [\d,]+ rows\/s$/m);
    expect(run.err).toMatch(/^game_logs@80- \S* 100% [\d,]+ rows, [\d,]+ rows\/s$/m);
    expect(run.err).not.toContain('\r');
  });

  it('rejects bad usage with exit code 2', async () => {
    const missing = await cli('archive', 'restore', '--shard', '-80', '--from', '2024-01-01', '--to', '2024-01-02', ...args);
    expect(missing.code).toBe(2);
    const badDates = await cli('archive', 'restore', '--table', 'game_logs', '--shard', '-80', '--from', 'yesterday', '--to', '2024-01-02', ...args);
    expect(badDates.code).toBe(2);
    expect(badDates.err).toMatch(/ISO dates/);
    const unknownTable = await cli('archive', 'plan', '--table', 'nope', ...args);
    expect(unknownTable.code).toBe(2);
    expect(unknownTable.err).toMatch(/not configured/);
    const badRunId = await cli('archive', 'run', '--run-id', 'run 7; drop', ...args);
    expect(badRunId.code).toBe(2);
    expect(badRunId.err).toMatch(/--run-id "run 7; drop" must be 1 to 128 letters/);
    const withoutBucket = args.filter((arg, index) => arg !== '--bucket' && args[index - 1] !== '--bucket');
    const endpointAlone = await cli('archive', 'status', ...withoutBucket);
    expect(endpointAlone.code).toBe(2);
    expect(endpointAlone.err).toMatch(/--s3-endpoint names the S3 that holds --bucket/);
  });

  const replacing = (option: string, value: string) => replacingOption(args, option, value);

  it('says what is wrong with the config file, the clock and the names given, with exit code 2', async () => {
    const notJson = join(directory, 'broken.json');
    writeFileSync(notJson, '{"tables": [');
    for (const [argv, message] of [
      [['archive', 'plan', ...replacing('--config', join(directory, 'absent.json'))], /archive config \S+absent\.json does not exist/],
      [['archive', 'plan', ...replacing('--config', notJson)], /archive config \S+broken\.json is not JSON/],
      [['archive', 'plan', ...replacing('--now', 'tomorrow')], /--now "tomorrow" is not an ISO time/],
      [['archive', 'restore', '--table', 'game_logs', '--shard', '99-', '--from', '2024-06-30', '--to', '2024-07-05', ...args], /shard 99- is not in the shard map/],
    ] as const) {
      const result = await cli(...argv);
      expect(result.code, result.err).toBe(2);
      expect(result.err).toMatch(message);
      expect(result.err).not.toMatch(/\n\s+at /);
    }
  });

  it('tells how to reach the catalog when it cannot be used, with exit code 1', async () => {
    const closed = await freePortBlock();
    const result = await cli('archive', 'status', ...replacing('--catalog', `mysql://root@127.0.0.1:${closed}/sk_nowhere`));
    expect(result.code).toBe(1);
    expect(result.err).toBe(`error: cannot use the catalog at 127.0.0.1:${closed}/sk_nowhere (ECONNREFUSED); start the sandbox with npm start or pass --catalog\n`);
  });
});
