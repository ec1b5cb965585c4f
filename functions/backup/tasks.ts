import type { DumpMode } from '../core/backup-manifest';
import type { BinlogSource } from '../ports/backup-binlog';
import type { RestoreConnector } from '../ports/backup-mysql';
import type { SnapshotService } from '../ports/backup-snapshots';
import { RESTORABLE_STATUSES, type BackupRecord } from '../ports/backup-store';
import type { Catalog } from '../ports/catalog';
import { AppError, asStepFunctionsError, ConfigError, ValidationError } from '../shared/errors';
import { writeMapItems, type MapItemsOutput } from '../shared/map-items';
import type { LogicalBackupDeps } from './backup-deps';
import { archiveBinlogs } from './binlog-archive';
import { beginEpoch, finishEpoch, shardOfTask, type ShardTask } from './epochs';
import { continueLogicalBackup, failLogicalBackup, finishLogicalBackup, startLogicalBackup } from './logical-backup';
import { pruneBackups } from './retention';
import { failSnapshotBackup, pollSnapshotBackup, recordRestoreWindow, startSnapshotBackup } from './snapshot-backup';
import { nextBackupToTest, restoreTest } from './verify-backup';

/**
 * The steps of the backup workflow, each one Lambda invocation: `{ task, input }` in, a small JSON
 * result out. The Lambda handler, the local workflow runner and the tests all call runBackupTask.
 */

export const BACKUP_TASKS = {
  beginEpoch: 'backup.beginEpoch',
  startDump: 'backup.startDump',
  continueDump: 'backup.continueDump',
  finishDump: 'backup.finishDump',
  startSnapshot: 'backup.startSnapshot',
  pollSnapshot: 'backup.pollSnapshot',
  archiveBinlogs: 'backup.archiveBinlogs',
  recordWindow: 'backup.recordWindow',
  failShard: 'backup.failShard',
  finishEpoch: 'backup.finishEpoch',
  prune: 'backup.prune',
  restoreTest: 'backup.restoreTest',
} as const;

export type BackupTaskName = (typeof BACKUP_TASKS)[keyof typeof BACKUP_TASKS];

/** Errors that pass by themselves; the workflow retries them with backoff. Everything else fails the shard. */
export const TRANSIENT_BACKUP_ERRORS = ['CatalogUnavailable', 'NodeUnreachable', 'ObjectStoreUnavailable', 'EventPublishFailed'] as const;

export interface BackupTaskDeps extends LogicalBackupDeps {
  catalog: Pick<Catalog, 'loadShardMap'>;
  binlogs?: BinlogSource;
  snapshots?: SnapshotService;
  restorer?: RestoreConnector;
  dumpMode?: DumpMode | 'auto';
  copyRegion?: string;
  copyKmsKeyId?: string;
  /** With a Distributed Map: where BeginEpoch writes the shard tasks, instead of returning them. */
  itemsOutput?: MapItemsOutput;
}

export interface BackupTaskPayload {
  task: BackupTaskName;
  input?: Record<string, unknown>;
}

/** How one shard's branch of a run ended (FinishEpoch reads the same from the catalog). */
export interface ShardOutcome {
  shard: string;
  ok: boolean;
  backupId: string | null;
  error?: string;
}

/** Snapshot polls back off from 30 s to 15 min between looks, and give up after about 12 hours. */
export const snapshotWaitSeconds = (attempt: number) => Math.min(900, 30 * 2 ** attempt);
const MAX_SNAPSHOT_POLLS = 52;

type Task = (deps: BackupTaskDeps, input: Record<string, unknown>, deadline: number) => Promise<unknown>;

const text = (input: Record<string, unknown>, name: string): string => {
  const value = input[name];
  if (typeof value !== 'string' || value === '') throw new ValidationError(`input.${name} must be a non-empty string`);
  return value;
};

function shardTask(input: Record<string, unknown>): ShardTask {
  const kind = input.kind;
  if (kind !== 'full' && kind !== 'incremental') throw new ValidationError('input.kind must be full or incremental');
  if (!Number.isInteger(input.mapVersion)) throw new ValidationError('input.mapVersion must be an integer');
  return { epochId: text(input, 'epochId'), mapVersion: input.mapVersion as number, kind, shard: text(input, 'shard'), shardKind: text(input, 'shardKind') as ShardTask['shardKind'] };
}

const snapshotDeps = (deps: BackupTaskDeps) => {
  if (!deps.snapshots) throw new ConfigError('snapshot backups need the RDS API (no snapshot service configured)');
  return { ...deps, snapshots: deps.snapshots };
};

/** The branch's answer from the backup record the step has just read back. */
const outcome = (backup: BackupRecord): ShardOutcome => ({ shard: backup.shard, ok: RESTORABLE_STATUSES.includes(backup.status), backupId: backup.backupId });

const TASKS: Record<BackupTaskName, Task> = {
  [BACKUP_TASKS.beginEpoch]: async (deps, input) => {
    const epoch = await beginEpoch(deps, {
      kind: input.kind === 'incremental' ? 'incremental' : 'full',
      shards: Array.isArray(input.shards) ? input.shards.map(String) : undefined,
      requestedBy: typeof input.requestedBy === 'string' ? input.requestedBy : 'schedule',
    });
    if (!deps.itemsOutput) return epoch;
    const { tasks, ...begun } = epoch;
    return { ...begun, count: tasks.length, itemsKey: await writeMapItems(deps.itemsOutput, epoch.epochId, tasks) };
  },

  [BACKUP_TASKS.startDump]: async (deps, input) => {
    const task = shardTask(input);
    const backup = await startLogicalBackup(deps, { epochId: task.epochId, mapVersion: task.mapVersion, shard: await shardOfTask(deps.store, task, deps.catalog), mode: deps.dumpMode });
    return { backupId: backup.backupId, done: false };
  },
  [BACKUP_TASKS.continueDump]: (deps, input, deadline) => continueLogicalBackup(deps, text(input, 'backupId'), deadline),
  [BACKUP_TASKS.finishDump]: async (deps, input) => {
    const manifest = await finishLogicalBackup(deps, text(input, 'backupId'));
    return { shard: manifest.shard, ok: true, backupId: manifest.backupId } satisfies ShardOutcome;
  },

  [BACKUP_TASKS.startSnapshot]: async (deps, input) => {
    const task = shardTask(input);
    const backup = await startSnapshotBackup({ ...snapshotDeps(deps) }, { epochId: task.epochId, mapVersion: task.mapVersion, shard: await shardOfTask(deps.store, task, deps.catalog) });
    return { backupId: backup.backupId, state: 'pending', attempt: 0, waitSeconds: snapshotWaitSeconds(0) };
  },
  [BACKUP_TASKS.pollSnapshot]: async (deps, input) => {
    const attempt = Number(input.attempt ?? 0) + 1;
    if (attempt > MAX_SNAPSHOT_POLLS) throw new AppError(`snapshot backup ${String(input.backupId)} was not available after ${MAX_SNAPSHOT_POLLS} looks (about 12 hours)`);
    const progress = await pollSnapshotBackup(snapshotDeps(deps), text(input, 'backupId'));
    return { ...progress, attempt, waitSeconds: snapshotWaitSeconds(attempt) };
  },

  [BACKUP_TASKS.archiveBinlogs]: async (deps, input) => {
    const task = shardTask(input);
    if (!deps.binlogs) throw new ConfigError('binary log archiving needs the binlog tools (no binlog source configured)');
    const backup = await archiveBinlogs({ ...deps, binlogs: deps.binlogs }, { epochId: task.epochId, mapVersion: task.mapVersion, shard: await shardOfTask(deps.store, task, deps.catalog) });
    return outcome(backup);
  },
  [BACKUP_TASKS.recordWindow]: async (deps, input) => {
    const task = shardTask(input);
    const backup = await recordRestoreWindow(snapshotDeps(deps), { epochId: task.epochId, mapVersion: task.mapVersion, shard: await shardOfTask(deps.store, task, deps.catalog) });
    return outcome(backup);
  },

  /** The Catch path of a shard: whatever the branch had started is failed (a paused replica resumed) and reported. */
  [BACKUP_TASKS.failShard]: async (deps, input) => {
    const failure = (input.error ?? {}) as { Error?: string; Cause?: string };
    const message = `${failure.Error ?? 'Error'}: ${causeMessage(failure.Cause)}`;
    const dump = input.dump as { backupId?: string } | undefined;
    const snapshot = input.snapshot as { backupId?: string } | undefined;
    if (dump?.backupId) await failLogicalBackup(deps, dump.backupId, new AppError(message));
    if (snapshot?.backupId) await failSnapshotBackup(snapshotDeps(deps), snapshot.backupId, new AppError(message));
    return { shard: String(input.shard), ok: false, backupId: dump?.backupId ?? snapshot?.backupId ?? null, error: message } satisfies ShardOutcome;
  },

  [BACKUP_TASKS.finishEpoch]: (deps, input) => finishEpoch(deps.store, text(input, 'epochId'), deps.clock.now()),

  [BACKUP_TASKS.prune]: async (deps) => {
    const map = await deps.catalog.loadShardMap();
    return pruneBackups(deps, map?.shards.map((shard) => shard.name) ?? []);
  },
  [BACKUP_TASKS.restoreTest]: async (deps) => {
    if (!deps.restorer) throw new ConfigError('restore tests need a restore target (none configured)');
    const map = await deps.catalog.loadShardMap();
    const backup = await nextBackupToTest(deps.store, map?.shards.map((shard) => shard.name) ?? []);
    if (!backup) return { tested: false, reason: 'no restorable logical backup yet' };
    const report = await restoreTest({ ...deps, restorer: deps.restorer }, backup.backupId);
    return { tested: true, backupId: backup.backupId, shard: backup.shard, ok: report.ok, seconds: report.seconds, problems: report.problems };
  },
};

/** A Lambda error's Cause is the JSON of the error; its message is what an operator wants to read. */
function causeMessage(cause: string | undefined): string {
  if (!cause) return 'no detail';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    return parsed.errorMessage ?? cause;
  } catch {
    return cause;
  }
}

const isTaskName = (name: unknown): name is BackupTaskName => typeof name === 'string' && Object.hasOwn(TASKS, name);

/** Runs one workflow step; `deadline` (ms since the epoch) bounds dump steps to the invocation's time. */
export async function runBackupTask(deps: BackupTaskDeps, payload: unknown, deadline: number): Promise<unknown> {
  const candidate = payload as Partial<BackupTaskPayload> | null;
  if (typeof candidate !== 'object' || candidate === null || !isTaskName(candidate.task)) {
    throw new ValidationError(`not a backup task payload; expected { task: one of ${Object.keys(TASKS).join(', ')}, input }`);
  }
  try {
    return await TASKS[candidate.task](deps, (candidate.input ?? {}) as Record<string, unknown>, deadline);
  } catch (error) {
    throw asStepFunctionsError(error);
  }
}
