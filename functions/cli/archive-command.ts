import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Command, Option } from 'commander';
import { createShardSources } from '../adapters/mysql-archive-source';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { createMysqlProber, type TlsMode } from '../adapters/mysql-prober';
import { createS3ObjectStore } from '../adapters/s3-object-store';
import { SqlArchiveStore } from '../adapters/sql-archive-store';
import { SqlCatalog } from '../adapters/sql-catalog';
import { parseArchiveSettings, type ArchiveSettings } from '../archive/archive-config';
import { planArchiveItems, previewArchiveItem, type ItemPreview } from '../archive/archive-plan';
import { restoreArchivedRows } from '../archive/archive-restore';
import { archiveStatus } from '../archive/archive-status';
import { runArchiveLocally } from '../archive/local-runner';
import { shardLoadFromProber } from '../archive/shard-load';
import { requireShardMap } from '../catalog/shard-map-changes';
import { sqlDateTime } from '../core/archive-batch';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardMap } from '../core/shard-map-types';
import { createDailyGameLogs, createGameLogsTable, seedGameLogs } from '../local/game-logs';
import { localS3Client, SANDBOX_ARCHIVE_BUCKET, SANDBOX_S3_DIR, startLocalS3, type LocalS3 } from '../local/local-s3';
import type { ArchiveSource } from '../ports/archive-source';
import { systemClock } from '../ports/clock';
import type { AppEvent } from '../ports/event-publisher';
import { urlAccount, type NodeCredentials } from '../ports/node-credentials';
import type { ObjectStore } from '../ports/object-store';
import { AppError, ValidationError } from '../shared/errors';
import { cliNodeCredentials } from './node-credentials';
import { catalogUrl, explainCatalogFailure, print, type CliContext, type GlobalOptions } from './context';
import { bar, progressLine, table } from './format';

export interface ArchiveCliOptions extends GlobalOptions {
  config?: string;
  table?: string[];
  shard?: string[];
  bucket?: string;
  s3Endpoint?: string;
  nodeUser?: string;
  nodePassword?: string;
  tls?: TlsMode;
  now?: string;
}

const DAY_MS = 86_400_000;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;
/** With no --config: the chapter's game_logs, archived after 180 days. */
const DEFAULT_TABLES = [{ table: 'game_logs', timeColumn: 'created_at' }];

/** `--config` (or $SHARDKEEPER_ARCHIVE_CONFIG): a JSON list of tables, or `{ "tables": [...], "blackouts": [...] }` as in the deployment config. */
function loadSettings(context: CliContext, options: ArchiveCliOptions): ArchiveSettings {
  const file = options.config ?? context.env.SHARDKEEPER_ARCHIVE_CONFIG;
  if (!file) return parseArchiveSettings(DEFAULT_TABLES, 'default');
  if (!existsSync(file)) throw new ValidationError(`archive config ${file} does not exist`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ValidationError(`archive config ${file} is not JSON: ${(error as Error).message}`);
  }
  return parseArchiveSettings(raw, file);
}

/** Nodes without a secretRef default to the catalog URL's account. */
function nodeCredentials(context: CliContext, options: ArchiveCliOptions, catalog: string): NodeCredentials {
  return cliNodeCredentials(context, options, urlAccount(new URL(catalog)));
}

interface ArchiveServices {
  settings: ArchiveSettings;
  map: ShardMap;
  store: SqlArchiveStore;
  objects: ObjectStore;
  source(shard: Shard): Promise<ArchiveSource>;
  credentials: NodeCredentials;
  tls: TlsMode;
  /** Where objects go, for messages. */
  location: string;
}

/** Opens the catalog (migrated), the shard map, the shards and the archive bucket for one command, and closes them after it. */
async function withArchiveServices<T>(context: CliContext, options: ArchiveCliOptions, work: (services: ArchiveServices) => Promise<T>): Promise<T> {
  const settings = loadSettings(context, options);
  const bucket = options.bucket ?? context.env.SHARDKEEPER_ARCHIVE_BUCKET;
  const endpoint = options.s3Endpoint ?? context.env.SHARDKEEPER_S3_ENDPOINT;
  if (options.s3Endpoint && !bucket) throw new ValidationError('--s3-endpoint names the S3 that holds --bucket: pass the bucket too, or neither for the sandbox S3');
  const url = catalogUrl(context, options);
  const credentials = nodeCredentials(context, options, url);
  const pool = createMysqlPool({ url, connectionLimit: 4 });
  let localS3: LocalS3 | undefined;
  let client: S3Client;
  if (bucket) client = endpoint ? localS3Client(endpoint) : new S3Client({});
  else {
    // No bucket named: the sandbox's own S3, kept on disk so restores find what runs archived.
    localS3 = await startLocalS3({ directory: SANDBOX_S3_DIR, buckets: [SANDBOX_ARCHIVE_BUCKET] });
    client = localS3.client;
  }
  let sources: ReturnType<typeof createShardSources> | undefined;
  try {
    const executor = createMysqlExecutor(pool);
    const catalog = new SqlCatalog(executor);
    await catalog.migrate().catch((error: unknown) => {
      throw explainCatalogFailure(error, url);
    });
    const map = await requireShardMap(catalog);
    const tls = options.tls ?? (map.shards.every((shard) => shard.nodes.every((node) => LOOPBACK.test(node.host))) ? 'off' : 'required');
    sources = createShardSources({ credentials, tls });
    const opened = sources;
    return await work({
      settings,
      map,
      store: new SqlArchiveStore(executor),
      objects: createS3ObjectStore({ client, bucket: bucket ?? SANDBOX_ARCHIVE_BUCKET }),
      source: (shard) => opened.source(shard),
      credentials,
      tls,
      location: bucket ? `s3://${bucket}` : `local S3 in ${SANDBOX_S3_DIR}`,
    });
  } finally {
    await sources?.close();
    if (localS3) await localS3.stop();
    else client.destroy();
    await pool.end();
  }
}

function nowOf(options: ArchiveCliOptions): number {
  if (!options.now) return systemClock.now();
  const now = Date.parse(options.now);
  if (Number.isNaN(now)) throw new ValidationError(`--now ${JSON.stringify(options.now)} is not an ISO time`);
  return now;
}

const shardOf = (map: ShardMap, name: string) => map.shards.find((shard) => shard.name === name)!;
const tableOf = (settings: ArchiveSettings, name: string) => settings.tables.find((candidate) => candidate.table === name)!;
const count = (value: number) => Math.round(value).toLocaleString('en-US');

export async function archivePlanCommand(context: CliContext, options: ArchiveCliOptions): Promise<void> {
  await withArchiveServices(context, options, async ({ settings, map, store, source }) => {
    const now = nowOf(options);
    const items = planArchiveItems(settings.tables, map.shards.map((shard) => shard.name), { now, runId: 'plan', tables: options.table, shards: options.shard });
    const previews: ItemPreview[] = [];
    for (const item of items) {
      previews.push(await previewArchiveItem(tableOf(settings, item.table), item, { source: await source(shardOf(map, item.shard)), store, now, blackouts: settings.blackouts }));
    }
    print(context, options, previews, () =>
      table(
        ['table', 'shard', 'layout', 'cutoff', 'to archive', 'create ahead', 'blackout until', 'open batches', 'problem'],
        previews.map((preview) => [
          preview.table,
          preview.shard,
          preview.layout,
          sqlDateTime(Date.parse(preview.cutoff)),
          preview.eligibleRows !== undefined ? `${count(preview.eligibleRows)} rows` : [...preview.detachedInProgress, ...preview.pastRetention].join(', ') || '-',
          preview.createAhead.join(', ') || '-',
          preview.blackoutUntil ?? '-',
          preview.unfinishedBatches,
          preview.problem ?? '',
        ]),
      ),
    );
  });
}

/** Run ids as the catalog keeps them (VARCHAR(128)) and as logs and events show them. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export async function archiveRunCommand(context: CliContext, options: ArchiveCliOptions & { runId?: string; wait?: boolean }): Promise<void> {
  if (options.runId !== undefined && !RUN_ID.test(options.runId)) {
    throw new ValidationError(`--run-id ${JSON.stringify(options.runId)} must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`);
  }
  await withArchiveServices(context, options, async (services) => {
    const { settings, map, store, objects } = services;
    const now = nowOf(options);
    const runId = options.runId ?? `cli-${new Date(now).toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
    const items = planArchiveItems(settings.tables, map.shards.map((shard) => shard.name), { now, runId, tables: options.table, shards: options.shard });
    const events: AppEvent[] = [];
    const prober = createMysqlProber({ credentials: services.credentials, tls: services.tls });
    const eligible = new Map<string, number>();
    const itemKey = (item: { table: string; shard: string }) => `${item.table}@${item.shard}`;
    try {
      if (!options.json) {
        for (const item of items) {
          const config = tableOf(settings, item.table);
          if (config.layout !== 'rows') continue;
          const source = await services.source(shardOf(map, item.shard));
          eligible.set(itemKey(item), await source.countEligible(config.table, config.timeColumn, sqlDateTime(item.cutoff), config.filter).catch(() => 0));
        }
        context.err(`archive run ${runId}: ${items.length} table/shard item(s) to ${services.location}\n`);
      }
      const progress = progressLine(context.err, { interactive: context.interactive === true });
      const outcomes = await runArchiveLocally(
        items,
        settings.tables,
        map.shards,
        {
          store,
          objects,
          events: { publish: async (published) => void events.push(...published) },
          clock: systemClock,
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          source: services.source,
          load: (shard) => shardLoadFromProber(prober, shard),
          onBatch: (item, { runRows, alreadyArchived, rowsPerSecond }) => {
            if (options.json) return;
            const key = itemKey(item);
            const total = eligible.get(key);
            // Restored rows deleted again leave the shard too, without a new object.
            const gone = runRows + alreadyArchived;
            const done = total ? ` ${bar(gone, total, 24).padEnd(24)} ${Math.min(100, Math.round((gone / total) * 100))}%` : '';
            const restored = alreadyArchived > 0 ? ` (+${count(alreadyArchived)} restored rows the archive holds)` : '';
            progress.update(key, `${key}${done} ${count(runRows)} rows${restored}, ${count(rowsPerSecond)} rows/s`);
          },
          onProgress: (item, { result }) => {
            if (options.json) return;
            if (result.status !== 'throttled' && result.status !== 'blackout') return;
            progress.end();
            if (result.status === 'throttled') context.err(`${itemKey(item)}: throttled (${result.reason}); waiting ${result.waitSeconds}s\n`);
            else context.err(`${itemKey(item)}: blackout (${result.reason}) until ${result.resumeAt}\n`);
          },
        },
        { blackouts: settings.blackouts, waitOutBlackouts: options.wait === true },
      );
      progress.end();
      const value = { runId, location: services.location, items: outcomes, events: events.map((event) => ({ detailType: event.detailType, detail: event.detail })) };
      print(context, options, value, () =>
        [
          table(
            ['table', 'shard', 'status', 'rows', 'run rows', 'batches', 'rows/s', 'throttled', 'seconds', 'error'],
            outcomes.map((outcome) => [
              outcome.table,
              outcome.shard,
              outcome.status,
              outcome.rows,
              outcome.runRows,
              outcome.batches,
              Math.round(outcome.rowsPerSecond),
              outcome.throttleWaits,
              Number((outcome.elapsedMs / 1000).toFixed(1)),
              outcome.error ?? (outcome.resumeAt ? `resume at ${outcome.resumeAt}` : ''),
            ]),
          ),
          `objects in ${services.location}`,
        ].join('\n'),
      );
      const failed = outcomes.filter((outcome) => outcome.status === 'failed');
      // The table above already shows them; the error makes the exit code 1.
      if (failed.length > 0) throw new AppError(`${failed.length} item(s) failed: ${failed.map((outcome) => `${outcome.table}@${outcome.shard}: ${outcome.error}`).join('; ')}`);
    } finally {
      await prober.close();
    }
  });
}

export async function archiveStatusCommand(context: CliContext, options: ArchiveCliOptions & { limit: number }): Promise<void> {
  await withArchiveServices(context, options, async ({ settings, map, store }) => {
    const tables = options.table ?? settings.tables.map((candidate) => candidate.table);
    const shards = options.shard ?? map.shards.map((shard) => shard.name);
    const status = await archiveStatus(store, { tables, shards, limit: options.limit });
    print(context, options, status, () =>
      [
        table(
          ['table', 'shard', 'run', 'status', 'cutoff', 'rows', 'batches', 'MB zst', 'ratio', 'started', 'error'],
          status.runs.map((run) => [
            run.table,
            run.shard,
            run.runId,
            run.status,
            sqlDateTime(run.cutoff),
            run.rows,
            run.batches,
            Number((run.bytes / 1_048_576).toFixed(2)),
            run.bytes > 0 ? Number((run.rawBytes / run.bytes).toFixed(1)) : null,
            sqlDateTime(run.startedAt),
            run.error ?? '',
          ]),
        ),
        status.unfinished.length ? `\n${status.unfinished.length} unfinished batch(es), finished by the next run: ${status.unfinished.map((batch) => `${batch.objectKey} (${batch.state})`).join(', ')}` : '',
        status.detached.length ? `\ndetached, being archived: ${status.detached.map((unit) => `${unit.detachedTable} on ${unit.shard} (${unit.state})`).join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  });
}

export async function archiveRestoreCommand(
  context: CliContext,
  options: ArchiveCliOptions & { from: string; to: string; player?: string; into?: string; tableName: string; shardName: string },
): Promise<void> {
  const from = Date.parse(options.from);
  const to = Date.parse(options.to);
  if (Number.isNaN(from) || Number.isNaN(to)) throw new ValidationError('--from and --to must be ISO dates or times, e.g. 2024-01-15 or 2024-01-15T12:00:00Z');
  await withArchiveServices(context, options, async ({ settings, map, store, objects, source }) => {
    const config = settings.tables.find((candidate) => candidate.table === options.tableName);
    if (!config) throw new ValidationError(`table ${options.tableName} is not configured for archiving`);
    const shard = map.shards.find((candidate) => candidate.name === options.shardName);
    if (!shard) throw new ValidationError(`shard ${options.shardName} is not in the shard map`);
    const progress = progressLine(context.err, { interactive: context.interactive === true });
    const result = await restoreArchivedRows(
      config,
      { shard: shard.name, from, to, player: options.player, into: options.into },
      {
        source: await source(shard),
        store,
        objects,
        onObject: (done, total) => {
          if (!options.json) progress.update('objects', `${bar(done, total, 24).padEnd(24)} ${done}/${total} object(s)`);
        },
      },
    );
    progress.end();
    print(context, options, result, () =>
      `restored ${result.inserted} row(s) into ${shard.database}.${result.target} from ${result.objects} object(s); ${result.skipped} of ${result.matched} matching row(s) were already there`,
    );
  });
}

/** Demo data for the sandbox: game_logs in every shard, spanning the last --days days. */
export async function archiveSeedCommand(context: CliContext, options: ArchiveCliOptions & { days: number; rows: number; layout: 'rows' | 'partitioned' | 'daily-tables' }): Promise<void> {
  await withArchiveServices(context, options, async ({ map, credentials, tls }) => {
    const now = nowOf(options);
    const from = Math.floor((now - options.days * DAY_MS) / DAY_MS) * DAY_MS;
    const seeded: Array<{ shard: string; database: string; rows: number }> = [];
    for (const shard of map.shards) {
      const primary = primaryOf(shard);
      if (!primary) continue;
      const { user, password } = await credentials.credentialsFor(primary);
      const pool = createMysqlPool({ host: primary.host, port: primary.port, user, password, database: shard.database, ...(tls === 'required' ? { ssl: { rejectUnauthorized: true } } : {}) });
      try {
        const perShard = Math.ceil(options.rows / map.shards.length);
        if (options.layout === 'daily-tables') {
          const days = Math.max(1, options.days);
          await createDailyGameLogs(pool, shard.database, 'game_logs', { from, to: now, rowsPerDay: Math.ceil(perShard / days) });
        } else {
          await createGameLogsTable(pool, shard.database, 'game_logs', options.layout === 'partitioned' ? { unit: 'day', from, to: now + DAY_MS } : undefined);
          await seedGameLogs(pool, shard.database, 'game_logs', { from, to: now, rows: perShard });
        }
        seeded.push({ shard: shard.name, database: shard.database, rows: perShard });
      } finally {
        await pool.end();
      }
    }
    print(context, options, seeded, () => table(['shard', 'database', 'rows'], seeded.map((entry) => [entry.shard, entry.database, entry.rows])));
  });
}

function withArchiveOptions(command: Command): Command {
  return command
    .option('--config <file>', 'archive table config JSON (default: $SHARDKEEPER_ARCHIVE_CONFIG, else game_logs by created_at, 180 days)')
    .option('--bucket <name>', 'archive bucket (default: $SHARDKEEPER_ARCHIVE_BUCKET, else a local S3 in .sandbox/s3)')
    .option('--s3-endpoint <url>', 'S3 endpoint for --bucket, e.g. a local S3 (default: $SHARDKEEPER_S3_ENDPOINT, else AWS)')
    .option('--node-user <user>', 'account on the shard nodes (default: each node secret, else the catalog account)')
    .option('--node-password <password>', 'password of --node-user (prefer $SHARDKEEPER_NODE_PASSWORD)')
    .addOption(new Option('--tls <mode>', 'TLS to the nodes (default: off for loopback nodes, else required)').choices(['required', 'off']))
    .option('--now <iso>', 'pretend it is this time (cutoffs, blackouts, partitions ahead)');
}

const scope = (command: Command) => command.option('--table <name...>', 'only these tables').option('--shard <name...>', 'only these shards');

export function registerArchiveCommands(program: Command, context: CliContext, integer: (name: string) => (value: string) => number): void {
  const archive = program.command('archive').description('move old rows (game logs, chat, telemetry) from the shards to S3, exactly once');
  withArchiveOptions(scope(archive.command('plan').description('what a run would archive, create and drop now, per table and shard'))).action((_options, command: Command) =>
    archivePlanCommand(context, command.optsWithGlobals()),
  );
  withArchiveOptions(
    scope(archive.command('run').description('archive every configured table on every shard, with progress and rows/s'))
      .option('--run-id <id>', 'resume this run (default: a new run)')
      .option('--wait', 'wait for blackout windows to end instead of stopping'),
  ).action((_options, command: Command) => archiveRunCommand(context, command.optsWithGlobals()));
  withArchiveOptions(scope(archive.command('status').description('recent runs, unfinished batches and detached partitions')).option('--limit <n>', 'how many runs', integer('--limit'), 20)).action(
    (_options, command: Command) => archiveStatusCommand(context, command.optsWithGlobals()),
  );
  withArchiveOptions(
    archive
      .command('restore')
      .description('copy archived rows back (original keys; rows already present are skipped)')
      .requiredOption('--table <name>', 'archived table')
      .requiredOption('--shard <name>', 'shard the rows were archived from')
      .requiredOption('--from <iso>', 'first time to restore (inclusive)')
      .requiredOption('--to <iso>', 'end of the range (exclusive)')
      .option('--player <id>', "only this player's rows")
      .option('--into <table>', 'restore into this table (created like the original if missing)'),
  ).action((_options, command: Command) => {
    const options = command.optsWithGlobals() as ArchiveCliOptions & { from: string; to: string; player?: string; into?: string; table: unknown; shard: unknown };
    return archiveRestoreCommand(context, { ...options, table: undefined, shard: undefined, tableName: String(options.table), shardName: String(options.shard) });
  });
  withArchiveOptions(
    archive
      .command('seed')
      .description('create and fill game_logs in every shard of the sandbox (demo data)')
      .option('--days <n>', 'days of logs up to now', integer('--days'), 200)
      .option('--rows <n>', 'rows across all shards', integer('--rows'), 100_000)
      .addOption(new Option('--layout <layout>', 'plain table, daily RANGE partitions, or game_logs_YYYYMMDD tables').choices(['rows', 'partitioned', 'daily-tables']).default('rows')),
  ).action((_options, command: Command) => archiveSeedCommand(context, command.optsWithGlobals()));
}
