import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { Command, Option } from 'commander';
import { createBinlogReplayer, createBinlogSource } from '../adapters/binlog-archiver';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { createMysqlDumpConnector, type TlsMode } from '../adapters/mysql-dumper';
import { createMysqlRestoreConnector } from '../adapters/mysql-restorer';
import { createRdsSnapshots } from '../adapters/rds-snapshots';
import { createS3ObjectStore } from '../adapters/s3-object-store';
import { SqlBackupStore } from '../adapters/sql-backup-store';
import { SqlCatalog } from '../adapters/sql-catalog';
import { DEFAULT_BACKUP_SETTINGS, type BackupSettings } from '../backup/backup-deps';
import { archiveBinlogs } from '../backup/binlog-archive';
import { beginEpoch, finishEpoch, shardOfTask, type ShardTask } from '../backup/epochs';
import { runLogicalBackup } from '../backup/logical-backup';
import { pruneBackups } from '../backup/retention';
import { recordRestoreWindow, startSnapshotBackup, waitForSnapshotBackup } from '../backup/snapshot-backup';
import { restoreTest, verifyBackupObjects } from '../backup/verify-backup';
import { isTimeZone, RETENTION_LIMITS, type RetentionPolicy } from '../core/backup-retention';
import type { DumpMode } from '../core/backup-manifest';
import type { ShardNode } from '../core/shard-map-types';
import { localS3Client, SANDBOX_BACKUP_BUCKET, SANDBOX_S3_DIR, startLocalS3 } from '../local/local-s3';
import type { BackupKind, BackupStatus } from '../ports/backup-store';
import { systemClock } from '../ports/clock';
import { urlCredentials, type NodeCredentials } from '../ports/node-credentials';
import { ValidationError } from '../shared/errors';
import { cliNodeCredentials } from './node-credentials';
import { catalogUrl, explainCatalogFailure, print, type CliContext, type GlobalOptions } from './context';
import { table } from './format';

export interface BackupCliOptions extends GlobalOptions {
  bucket?: string;
  s3Endpoint?: string;
  nodeUser?: string;
  nodePassword?: string;
  tls?: TlsMode;
  target?: string;
  timeZone?: string;
  retention?: string;
}

/** Everything a backup or restore command runs against, opened for one command and closed after it. */
export interface BackupServices {
  store: SqlBackupStore;
  catalog: SqlCatalog;
  objects: ReturnType<typeof createS3ObjectStore>;
  credentials: NodeCredentials;
  tls: TlsMode;
  settings: BackupSettings;
  restoreTarget: ShardNode;
  restoreCredentials: NodeCredentials;
  region: string | undefined;
  /** The CLI's PATH, where the binary log tools are looked for after the standard folders. */
  searchPath: string | undefined;
}

const DEFAULT_RESTORE_TARGET = 'mysql://root@127.0.0.1:3306';

/** Nodes without a secretRef default to root with no password. */
function nodeCredentials(context: CliContext, options: BackupCliOptions): NodeCredentials {
  return cliNodeCredentials(context, options, { user: 'root', password: '' });
}

function nodeFromUrl(url: string, id: string): { node: ShardNode; credentials: NodeCredentials } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(`${JSON.stringify(url)} is not a URL like mysql://user:password@host:3306`);
  }
  return {
    node: { id, role: 'primary', host: parsed.hostname, port: Number(parsed.port || 3306) },
    credentials: urlCredentials(parsed),
  };
}

export async function withBackupServices<T>(context: CliContext, options: BackupCliOptions, work: (services: BackupServices) => Promise<T>): Promise<T> {
  const named = options.bucket ?? context.env.SHARDKEEPER_BACKUP_BUCKET;
  const endpoint = options.s3Endpoint ?? context.env.SHARDKEEPER_S3_ENDPOINT;
  const timeZone = options.timeZone ?? context.env.SHARDKEEPER_BACKUP_TIME_ZONE ?? 'UTC';
  if (!isTimeZone(timeZone)) throw new ValidationError(`${JSON.stringify(timeZone)} is not an IANA time zone`);
  const retention = retentionPolicy(options.retention ?? context.env.SHARDKEEPER_BACKUP_RETENTION, options.retention === undefined ? '$SHARDKEEPER_BACKUP_RETENTION' : '--retention');
  // Checked before the local S3 starts: nothing may be left running after bad input.
  const url = catalogUrl(context, options);
  const target = nodeFromUrl(options.target ?? context.env.SHARDKEEPER_RESTORE_TARGET ?? DEFAULT_RESTORE_TARGET, 'restore-target');
  // No bucket named: the sandbox's local S3, kept on disk so later restores find the backups.
  const localS3 = named ? undefined : await startLocalS3({ directory: SANDBOX_S3_DIR, buckets: [SANDBOX_BACKUP_BUCKET] });
  const bucket = named ?? SANDBOX_BACKUP_BUCKET;
  const client = localS3?.client ?? (endpoint ? localS3Client(endpoint) : new S3Client({}));
  const pool = createMysqlPool({ url, connectionLimit: 4 });
  try {
    const executor = createMysqlExecutor(pool);
    // Reached first, so a catalog that cannot be used is told apart from a shard that cannot.
    await executor.query('SELECT 1').catch((error: unknown) => {
      throw explainCatalogFailure(error, url);
    });
    return await work({
      store: new SqlBackupStore(executor),
      catalog: new SqlCatalog(executor),
      objects: createS3ObjectStore({ client, bucket }),
      credentials: nodeCredentials(context, options),
      tls: options.tls ?? 'off',
      settings: { ...DEFAULT_BACKUP_SETTINGS, timeZone, retention },
      restoreTarget: target.node,
      restoreCredentials: target.credentials,
      region: context.env.AWS_REGION,
      searchPath: context.env.PATH,
    });
  } finally {
    client.destroy();
    await localS3?.stop();
    await pool.end();
  }
}

const events = { publish: async () => {} };

export function snapshotServiceFor(services: BackupServices) {
  return createRdsSnapshots({ clientFor: (region) => new RDSClient(region ? { region } : {}), homeRegion: services.region ?? 'us-east-1' });
}

export function restorerFor(services: BackupServices) {
  return createMysqlRestoreConnector({ credentials: services.restoreCredentials, tls: services.tls, target: services.restoreTarget });
}

export function replayerFor(services: BackupServices) {
  return createBinlogReplayer({ credentials: services.restoreCredentials, tls: services.tls, target: services.restoreTarget, searchPath: services.searchPath });
}

interface ShardOutcome {
  shard: string;
  kind: BackupKind;
  backupId: string | null;
  status: BackupStatus | 'failed';
  rows: number;
  bytes: number;
  seconds: number;
  error?: string;
}

async function backupShard(services: BackupServices, task: ShardTask, mode: DumpMode | 'auto'): Promise<ShardOutcome> {
  const started = systemClock.now();
  const shard = await shardOfTask(services.store, task, services.catalog);
  const common = { store: services.store, events, clock: systemClock, settings: services.settings };
  const done = async (backupId: string): Promise<ShardOutcome> => {
    const backup = (await services.store.backup(backupId))!;
    return { shard: shard.name, kind: backup.kind, backupId, status: backup.status, rows: backup.rowCount, bytes: backup.bytes, seconds: (systemClock.now() - started) / 1000 };
  };
  if (shard.kind === 'self-managed') {
    if (task.kind === 'incremental') {
      const backup = await archiveBinlogs({ ...common, objects: services.objects, binlogs: createBinlogSource({ credentials: services.credentials, tls: services.tls }) }, { ...task, shard });
      return done(backup.backupId);
    }
    const manifest = await runLogicalBackup(
      { ...common, objects: services.objects, dumper: createMysqlDumpConnector({ credentials: services.credentials, tls: services.tls }) },
      { epochId: task.epochId, mapVersion: task.mapVersion, shard, mode },
    );
    return done(manifest.backupId);
  }
  const snapshots = snapshotServiceFor(services);
  if (task.kind === 'incremental') return done((await recordRestoreWindow({ ...common, snapshots }, { ...task, shard })).backupId);
  const backup = await startSnapshotBackup({ ...common, snapshots }, { ...task, shard });
  await waitForSnapshotBackup({ ...common, snapshots }, backup.backupId, (attempt) => Math.min(60_000, 5_000 * 2 ** attempt));
  return done(backup.backupId);
}

async function backupRunCommand(context: CliContext, options: BackupCliOptions & { shard?: string[]; kind: 'full' | 'incremental'; mode: DumpMode | 'auto' }): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const epoch = await beginEpoch({ store: services.store, catalog: services.catalog, clock: systemClock }, { kind: options.kind, shards: options.shard, requestedBy: 'cli' });
    const outcomes: ShardOutcome[] = [];
    for (const task of epoch.tasks) {
      try {
        outcomes.push(await backupShard(services, task, options.mode));
      } catch (error) {
        outcomes.push({ shard: task.shard, kind: task.shardKind === 'self-managed' ? (task.kind === 'full' ? 'logical' : 'binlog') : 'snapshot', backupId: null, status: 'failed', rows: 0, bytes: 0, seconds: 0, error: (error as Error).message });
      }
    }
    const { status, failedCount } = await finishEpoch(services.store, epoch.epochId, systemClock.now());
    print(context, options, { epochId: epoch.epochId, mapVersion: epoch.mapVersion, status, shards: outcomes }, () =>
      [
        `epoch ${epoch.epochId} (${options.kind}, shard map version ${epoch.mapVersion}): ${status}`,
        table(
          ['shard', 'kind', 'backup', 'status', 'rows', 'bytes', 'seconds'],
          outcomes.map((outcome) => [outcome.shard, outcome.kind, outcome.backupId ?? '-', outcome.error ? `failed: ${outcome.error}` : outcome.status, outcome.rows, outcome.bytes, Number(outcome.seconds.toFixed(1))]),
        ),
      ].join('\n'),
    );
    if (status !== 'succeeded') throw new Error(`${failedCount} shard backup(s) failed`);
  });
}

async function backupListCommand(context: CliContext, options: BackupCliOptions & { shard?: string; kind?: BackupKind; limit: number }): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const backups = await services.store.listBackups({ shard: options.shard, kinds: options.kind ? [options.kind] : undefined, limit: options.limit });
    print(context, options, backups, () =>
      table(
        ['backup', 'epoch', 'shard', 'kind', 'status', 'class', 'started', 'position', 'rows', 'bytes', 'restore s'],
        backups.map((backup) => [
          backup.backupId,
          backup.epochId,
          backup.shard,
          backup.kind,
          backup.status,
          backup.retentionClass,
          new Date(backup.startedAt).toISOString(),
          backup.position ? `${backup.position.file}:${backup.position.position}` : '-',
          backup.rowCount,
          backup.bytes,
          backup.restoreSeconds === null ? '-' : Number(backup.restoreSeconds.toFixed(2)),
        ]),
      ),
    );
  });
}

async function backupVerifyCommand(context: CliContext, options: BackupCliOptions & { restore?: boolean }, backupId: string): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const deps = { store: services.store, objects: services.objects, events, clock: systemClock };
    const objects = await verifyBackupObjects(deps, backupId);
    const restore = options.restore && objects.ok ? await restoreTest({ ...deps, restorer: restorerFor(services) }, backupId) : undefined;
    print(context, options, { objects, restore }, () =>
      [
        objects.ok ? `${objects.objects} object(s) present with their recorded size and SHA-256` : `object check FAILED:\n  ${objects.problems.join('\n  ')}`,
        restore
          ? restore.ok
            ? `restore test passed: ${restore.tables.length} table(s), ${restore.rows} row(s) matched the manifest in ${restore.seconds.toFixed(2)} s`
            : `restore test FAILED:\n  ${restore.problems.join('\n  ')}`
          : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
    if (!objects.ok || (restore && !restore.ok)) throw new Error(`backup ${backupId} failed verification`);
  });
}

async function backupPruneCommand(context: CliContext, options: BackupCliOptions): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const map = await services.catalog.loadShardMap();
    const shards = map?.shards.map((shard) => shard.name) ?? [];
    const needsSnapshots = map?.shards.some((shard) => shard.kind !== 'self-managed') ?? false;
    const report = await pruneBackups(
      { store: services.store, objects: services.objects, snapshots: needsSnapshots ? snapshotServiceFor(services) : undefined, clock: systemClock, settings: services.settings },
      shards,
    );
    print(context, options, report, () =>
      [
        `kept ${report.kept} backup(s); expired ${report.expired.length}; promoted ${report.promoted.length}`,
        report.expired.length ? table(['backup', 'shard', 'kind', 'why'], report.expired.map((entry) => [entry.backupId, entry.shard, entry.kind, entry.reason])) : '',
        report.promoted.length ? table(['backup', 'shard', 'from', 'to'], report.promoted.map((entry) => [entry.backupId, entry.shard, entry.from, entry.to])) : '',
      ]
        .filter(Boolean)
        .join('\n'),
    );
  });
}

/**
 * The GFS counts as `dailies,weeklies,monthlies`: the deployment's, so that pruning and promotion
 * from the CLI keep and expire what the deployed cleanup would.
 */
function retentionPolicy(text: string | undefined, source: string): RetentionPolicy {
  if (text === undefined) return DEFAULT_BACKUP_SETTINGS.retention;
  const counts = text.split(',').map((part) => part.trim());
  const [dailies, weeklies, monthlies] = counts.map(Number) as [number, number, number];
  const { dailies: maxDailies, weeklies: maxWeeklies, monthlies: maxMonthlies } = RETENTION_LIMITS;
  if (counts.length !== 3 || !counts.every((count) => /^\d{1,4}$/.test(count)) || dailies > maxDailies || weeklies > maxWeeklies || monthlies > maxMonthlies) {
    throw new ValidationError(`${source} must be three counts, dailies,weeklies,monthlies (at most ${maxDailies},${maxWeeklies},${maxMonthlies}; e.g. 7,4,12), got ${JSON.stringify(text)}`);
  }
  return { dailies, weeklies, monthlies };
}

/** Options every backup and restore command shares: where backups live and how nodes are reached. */
export function withBackupOptions(command: Command): Command {
  return command
    .option('--bucket <name>', 'backup bucket (default: $SHARDKEEPER_BACKUP_BUCKET, else the sandbox\'s local S3 in .sandbox/s3)')
    .option('--s3-endpoint <url>', 'S3 endpoint, e.g. a local S3 (default: $SHARDKEEPER_S3_ENDPOINT, else AWS)')
    .option('--node-user <user>', 'account on the shard nodes (default: each node secret, else root)')
    .option('--node-password <password>', 'password of --node-user (prefer $SHARDKEEPER_NODE_PASSWORD)')
    .addOption(new Option('--tls <mode>', 'TLS to the nodes and the restore target').choices(['required', 'off']).default('off'))
    .option('--target <mysql-url>', `server restores and restore tests go to (default: $SHARDKEEPER_RESTORE_TARGET, else ${DEFAULT_RESTORE_TARGET})`)
    .option('--time-zone <iana>', 'zone of GFS days, weeks and months (default: $SHARDKEEPER_BACKUP_TIME_ZONE, else UTC)')
    .option('--retention <d,w,m>', 'GFS dailies,weeklies,monthlies as deployed (default: $SHARDKEEPER_BACKUP_RETENTION, else 7,4,12)');
}

export function registerBackupCommands(program: Command, context: CliContext, integer: (name: string) => (value: string) => number): void {
  const backup = program.command('backup').description('back up shards to S3, list and verify backups, apply retention');
  withBackupOptions(
    backup
      .command('run')
      .description('back up every shard (or --shard ones) as one epoch: dumps or snapshots (full), binary logs or the PITR window (incremental)')
      .option('--shard <name...>', 'only these shards')
      .addOption(new Option('--kind <kind>', 'full or incremental').choices(['full', 'incremental']).default('full'))
      .addOption(new Option('--mode <mode>', 'logical dumps: from a paused replica, a snapshot of the primary, or auto').choices(['auto', 'paused-replica', 'snapshot']).default('auto')),
  ).action((_options, command: Command) => backupRunCommand(context, command.optsWithGlobals()));
  withBackupOptions(
    backup
      .command('list')
      .description('backups in the catalog, newest first')
      .option('--shard <name>', 'only this shard')
      .addOption(new Option('--kind <kind>', 'only this kind').choices(['logical', 'snapshot', 'binlog', 'pitr-window']))
      .option('--limit <n>', 'how many', integer('--limit'), 20),
  ).action((_options, command: Command) => backupListCommand(context, command.optsWithGlobals()));
  withBackupOptions(
    backup
      .command('verify')
      .description("check a backup's objects (size, SHA-256); --restore also restores it into a scratch database and compares every table")
      .argument('<backup-id>', 'the backup to verify')
      .option('--restore', 'run a restore test too'),
  ).action((backupId: string, _options, command: Command) => backupVerifyCommand(context, command.optsWithGlobals(), backupId));
  withBackupOptions(backup.command('prune').description('apply the GFS retention policy: expire backups in the catalog, then delete their objects and snapshots')).action(
    (_options, command: Command) => backupPruneCommand(context, command.optsWithGlobals()),
  );
}
