import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { restoreEpoch } from '../backup/epochs';
import { restorePlayer, type PlayerTable } from '../backup/player-restore';
import { planShardRecovery, runBinlogRecovery, runManagedRecovery } from '../backup/recovery';
import { loadManifest, restoreLogicalBackup } from '../backup/restore-backup';
import type { Shard } from '../core/shard-map-types';
import { systemClock } from '../ports/clock';
import { NoShardMapError, NotFoundError, ValidationError } from '../shared/errors';
import { replayerFor, restorerFor, snapshotServiceFor, withBackupOptions, withBackupServices, type BackupCliOptions, type BackupServices } from './backup-command';
import { print, type CliContext } from './context';
import { table } from './format';

function parseTime(text: string, option: string): number {
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at)) throw new ValidationError(`${option} must be an ISO 8601 time such as 2026-01-05T14:30:00Z, got ${JSON.stringify(text)}`);
  // Without a zone a time of day would be read in this machine's zone, not the shard's.
  if (/\d:\d{2}/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(text)) throw new ValidationError(`${option} needs a time zone (Z or ±hh:mm), such as 2026-01-05T14:30:00Z; got ${JSON.stringify(text)}`);
  return at;
}

async function shardNamed(services: BackupServices, name: string): Promise<Shard> {
  const map = await services.catalog.loadShardMap();
  if (!map) throw new NoShardMapError('the catalog holds no shard map');
  const shard = map.shards.find((candidate) => candidate.name === name);
  if (!shard) throw new NotFoundError(`shard ${name} is not in the shard map (version ${map.version})`);
  return shard;
}

const restoreDeps = (services: BackupServices) => ({ store: services.store, objects: services.objects, restorer: restorerFor(services), clock: systemClock });

async function restorePlanCommand(context: CliContext, options: BackupCliOptions & { shard: string; to: string }): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const plan = await planShardRecovery(services.store, await shardNamed(services, options.shard), parseTime(options.to, '--to'), systemClock.now());
    print(context, options, plan, () =>
      plan.kind === 'binlog-replay'
        ? [
            `recover shard ${options.shard} to ${plan.targetTime} (replay stops before ${plan.stopDatetime} UTC, whole seconds)`,
            `base: backup ${plan.base.backupId}, consistent at ${plan.base.consistentAt}, position ${plan.base.position.file}:${plan.base.position.position}`,
            table(['binary log', 'bytes', 'object'], plan.binlogs.map((binlog) => [binlog.file, binlog.bytes, binlog.objectKey])),
            `estimated duration: ${plan.estimatedSeconds} s (${plan.estimateBasis})`,
          ].join('\n')
        : [
            `recover shard ${options.shard} to ${plan.targetTime}: ${plan.call} ${plan.sourceIdentifier} → ${plan.targetIdentifier}`,
            `restore window on record: ${plan.restoreWindow.earliest} .. ${plan.restoreWindow.latest}`,
            `estimated duration: ${plan.estimatedSeconds} s (${plan.estimateBasis})`,
          ].join('\n'),
    );
  });
}

async function restoreRunCommand(context: CliContext, options: BackupCliOptions & { shard: string; to?: string; backup?: string; database?: string; replace?: boolean }): Promise<void> {
  if ((options.to === undefined) === (options.backup === undefined)) throw new ValidationError('give exactly one of --to <time> or --backup <id>');
  await withBackupServices(context, options, async (services) => {
    const shard = await shardNamed(services, options.shard);
    if (options.backup) {
      const backup = await services.store.backup(options.backup);
      if (!backup || backup.shard !== shard.name) throw new NotFoundError(`backup ${options.backup} of shard ${shard.name} is not in the catalog`);
      const database = requireDatabase(options.database);
      const report = await restoreLogicalBackup(restoreDeps(services), { manifest: await loadManifest(services.objects, backup), database, replace: options.replace });
      print(context, options, report, () => restoredSummary(report.ok, database, report.tables.length, report.rows, report.seconds, report.problems));
      if (!report.ok) throw new Error('the restored data does not match the backup');
      return;
    }
    const plan = await planShardRecovery(services.store, shard, parseTime(options.to!, '--to'), systemClock.now());
    if (plan.kind === 'managed-pitr') {
      const restored = await runManagedRecovery(snapshotServiceFor(services), plan);
      const where = restored.endpoint ? `, writer at ${restored.endpoint.host}:${restored.endpoint.port}` : '';
      print(context, options, { plan, restoredArn: restored.arn, endpoint: restored.endpoint ?? null }, () => `${plan.call} started: ${restored.arn}${where} (point the shard map at it once it is available)`);
      return;
    }
    const database = requireDatabase(options.database);
    const report = await runBinlogRecovery({ ...restoreDeps(services), replayer: replayerFor(services) }, plan, { database, replace: options.replace });
    print(context, options, report, () =>
      [
        restoredSummary(report.base.ok, database, report.base.tables.length, report.base.rows, report.base.seconds, report.base.problems),
        `replayed ${report.replayed.length} binary log(s) up to ${plan.stopDatetime} UTC; total ${report.seconds.toFixed(1)} s`,
      ].join('\n'),
    );
  });
}

function requireDatabase(database: string | undefined): string {
  if (!database) throw new ValidationError('name the database to restore into with --database');
  return database;
}

function restoredSummary(ok: boolean, database: string, tables: number, rows: number, seconds: number, problems: string[]): string {
  return ok
    ? `restored ${tables} table(s), ${rows} row(s) into ${database} in ${seconds.toFixed(2)} s; every table matches the manifest`
    : `restored into ${database}, but verification FAILED:\n  ${problems.join('\n  ')}`;
}

function parseTables(text: string): PlayerTable[] {
  return text.split(',').map((entry) => {
    const [tableName, column] = entry.split(':');
    if (!tableName || !column) throw new ValidationError(`--tables entries are table:player_id_column, got ${JSON.stringify(entry)}`);
    return { table: tableName, column };
  });
}

async function restorePlayerCommand(
  context: CliContext,
  options: BackupCliOptions & { shard: string; from: string; tables: string; intoDatabase?: string; sqlFile?: string },
  playerId: string,
): Promise<void> {
  if (!/^\d+$/.test(playerId) && playerId.length > 255) throw new ValidationError('a player id is a decimal number or a string of at most 255 characters');
  if ((options.intoDatabase === undefined) === (options.sqlFile === undefined)) throw new ValidationError('give exactly one of --into-database <name> or --sql-file <path>');
  await withBackupServices(context, options, async (services) => {
    const from = /^b\d{8}t/.test(options.from) ? { backupId: options.from } : { time: parseTime(options.from, '--from') };
    const result = await restorePlayer(
      { ...restoreDeps(services), replayer: replayerFor(services) },
      { shard: await shardNamed(services, options.shard), playerId, tables: parseTables(options.tables), from, into: options.intoDatabase ? { database: options.intoDatabase } : { sql: true } },
    );
    if (options.sqlFile) await writeFile(options.sqlFile, result.sql ?? '');
    print(context, options, { ...result, sql: undefined, sqlFile: options.sqlFile }, () =>
      [
        `player ${playerId} from ${result.from}:`,
        table(['table', 'rows'], result.tables.map((entry) => [entry.table, entry.rows])),
        options.sqlFile ? `written to ${options.sqlFile}` : `copied into ${options.intoDatabase}`,
      ].join('\n'),
    );
  });
}

async function restoreEpochCommand(context: CliContext, options: BackupCliOptions & { suffix: string; apply?: boolean }, epochId: string): Promise<void> {
  await withBackupServices(context, options, async (services) => {
    const needsSnapshots = options.apply === true;
    const result = await restoreEpoch(
      { ...restoreDeps(services), snapshots: needsSnapshots ? snapshotServiceFor(services) : undefined },
      { epochId, suffix: options.suffix, apply: options.apply === true },
    );
    print(context, options, result, () =>
      [
        `epoch ${epochId}: shard map version ${result.epoch.mapVersion}, ${result.shards.length} shard(s)${result.applied ? '' : ' (dry run; add --apply)'}`,
        table(
          ['shard', 'backup', 'kind', 'restore to', 'result'],
          result.shards.map((entry) => [
            entry.shard,
            entry.backupId ?? '-',
            entry.kind,
            entry.kind === 'snapshot' ? entry.targetIdentifier : entry.database,
            entry.report ? (entry.report.ok ? `ok, ${entry.report.rows} rows` : `FAILED: ${entry.report.problems.join('; ')}`) : entry.restoredArn ?? '-',
          ]),
        ),
        'the shard map of the epoch, pointing at the restored databases and clusters, is in the --json output',
      ].join('\n'),
    );
    if (result.shards.some((entry) => entry.kind === 'missing' || entry.report?.ok === false)) throw new Error('the epoch could not be restored whole');
  });
}

export function registerRestoreCommands(program: Command, context: CliContext): void {
  const restore = program.command('restore').description('plan and run recoveries: a backup, a point in time, one player, a whole epoch');
  withBackupOptions(
    restore
      .command('plan')
      .description('the base backup and binary logs to replay (self-managed) or the PITR call (Aurora, RDS), with an estimated duration')
      .requiredOption('--shard <name>', 'the shard to recover')
      .requiredOption('--to <time>', 'ISO 8601 target time'),
  ).action((_options, command: Command) => restorePlanCommand(context, command.optsWithGlobals()));
  withBackupOptions(
    restore
      .command('run')
      .description('restore a backup (--backup) or recover to a time (--to) into --database on the restore target, verified against the manifest')
      .requiredOption('--shard <name>', 'the shard to recover')
      .option('--to <time>', 'ISO 8601 target time')
      .option('--backup <id>', 'a logical backup to restore as it is')
      .option('--database <name>', 'database to restore into (self-managed shards)')
      .option('--replace', 'drop and recreate --database if it holds tables'),
  ).action((_options, command: Command) => restoreRunCommand(context, command.optsWithGlobals()));
  withBackupOptions(
    restore
      .command('player')
      .description("one player's rows from a backup or a point in time, into a schema or an SQL file")
      .argument('<player-id>', 'the player id')
      .requiredOption('--shard <name>', 'the shard holding the player')
      .requiredOption('--from <backup-or-time>', 'a backup id or an ISO 8601 time')
      .option('--tables <list>', 'table:player_id_column pairs, comma-separated', 'players:player_id')
      .option('--into-database <name>', 'copy the rows into this schema (created if missing)')
      .option('--sql-file <path>', 'write the rows as INSERT statements to this file'),
  ).action((playerId: string, _options, command: Command) => restorePlayerCommand(context, command.optsWithGlobals(), playerId));
  withBackupOptions(
    restore
      .command('epoch')
      .description('the whole fleet as of one backup run, plus the shard map of that run')
      .argument('<epoch-id>', 'the backup epoch')
      .option('--suffix <text>', 'appended to each restored database name', '_restored')
      .option('--apply', 'restore (without it: show what would be restored)'),
  ).action((epochId: string, _options, command: Command) => restoreEpochCommand(context, command.optsWithGlobals(), epochId));
}
