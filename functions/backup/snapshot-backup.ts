import { randomBytes } from 'node:crypto';
import { backupId as newBackupId } from '../core/backup-epoch';
import { expiresAt, retentionClassFor } from '../core/backup-retention';
import { managedIdentifierOf, snapshotIdentifier } from '../core/backup-snapshot';
import type { Shard } from '../core/shard-map-types';
import type { SnapshotInfo, SnapshotService } from '../ports/backup-snapshots';
import type { BackupRecord, BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import { AppError, NodeNotReadyError, NotFoundError, ValidationError } from '../shared/errors';
import { BackupFailed, BackupStarted, BackupSucceeded, buildEvent } from '../shared/events';
import type { BackupSettings } from './backup-deps';
import { eventBase } from './logical-backup';

export interface SnapshotBackupDeps {
  store: BackupStore;
  snapshots: SnapshotService;
  events: EventPublisher;
  clock: Clock;
  settings: Pick<BackupSettings, 'retention' | 'timeZone'>;
  /** Copy every snapshot to this region once it is available (disaster recovery). */
  copyRegion?: string;
  copyKmsKeyId?: string;
}

interface SnapshotDetail {
  mapVersion: number;
  managedKind: 'aurora' | 'rds';
  identifier: string;
  phase: 'snapshot' | 'copy' | 'done';
  copyId?: string;
  copyRegion?: string;
  copyArn?: string;
}

export interface SnapshotProgress {
  backupId: string;
  /** available: recorded and done; pending: poll again after a wait. */
  state: 'pending' | 'available';
  phase: SnapshotDetail['phase'];
  status: string;
}

/** Starts a cluster (Aurora) or instance (RDS) snapshot tagged with the epoch, its shard and the map version. */
export async function startSnapshotBackup(deps: SnapshotBackupDeps, request: { epochId: string; mapVersion: number; shard: Shard }): Promise<BackupRecord> {
  const { shard, epochId, mapVersion } = request;
  const database = managedIdentifierOf(shard);
  const startedAt = deps.clock.now();
  const earlier = await deps.store.listBackups({ shard: shard.name, kinds: ['snapshot'], statuses: ['succeeded', 'verified', 'expired'], limit: 1000 });
  const retentionClass = retentionClassFor(startedAt, earlier.map((backup) => backup.startedAt), deps.settings.timeZone);
  const backupId = newBackupId(startedAt, randomBytes(4).toString('hex'));
  const snapshotId = snapshotIdentifier(epochId, shard.name);
  const detail: SnapshotDetail = { mapVersion, managedKind: database.kind, identifier: database.identifier, phase: 'snapshot' };
  await deps.store.createBackup({
    backupId,
    epochId,
    shard: shard.name,
    database: shard.database,
    kind: 'snapshot',
    retentionClass,
    startedAt,
    expiresAt: expiresAt(startedAt, retentionClass, deps.settings.retention),
    snapshotId,
    sourceNode: database.identifier,
    detail: detail as unknown as Record<string, unknown>,
  });
  await deps.events.publish([buildEvent(BackupStarted, { ...eventBase(backupId, epochId, shard.name, mapVersion, startedAt), kind: 'snapshot', sourceNode: database.identifier, mode: null })]);
  try {
    // A retried start finds the snapshot of the same epoch already there.
    const existing = await deps.snapshots.describeSnapshot(database.kind, snapshotId);
    const snapshot = existing ?? (await deps.snapshots.createSnapshot(database, snapshotId, snapshotTags(epochId, shard.name, mapVersion, retentionClass)));
    await deps.store.updateBackup(backupId, { snapshotArn: snapshot.arn });
  } catch (error) {
    // The caller never learns the backup id: fail it here so it does not stay running.
    await failSnapshotBackup(deps, backupId, error);
    throw error;
  }
  return (await deps.store.backup(backupId))!;
}

const snapshotTags = (epochId: string, shard: string, mapVersion: number, retentionClass: string) => ({
  'sk-epoch': epochId,
  'sk-shard': shard,
  'sk-map-version': String(mapVersion),
  'sk-retention': retentionClass,
});

/**
 * One look at a running snapshot backup: once the snapshot is available it is copied to the
 * copy region (when configured) and, once that copy is available too, recorded as succeeded.
 * A failed snapshot throws (the workflow reports it); a pending one returns `pending`.
 */
export async function pollSnapshotBackup(deps: SnapshotBackupDeps, backupId: string): Promise<SnapshotProgress> {
  const backup = await deps.store.backup(backupId);
  if (!backup) throw new NotFoundError(`backup ${backupId} is not in the catalog`);
  if (backup.kind !== 'snapshot' || !backup.snapshotId) throw new ValidationError(`backup ${backupId} is not a snapshot backup`);
  const detail = backup.detail as unknown as SnapshotDetail;
  if (backup.status !== 'running') return { backupId, state: 'available', phase: 'done', status: backup.status };

  const snapshot = await deps.snapshots.describeSnapshot(detail.managedKind, backup.snapshotId);
  if (!snapshot) throw new AppError(`snapshot ${backup.snapshotId} disappeared while it was being created`);
  if (snapshot.state === 'failed') throw new AppError(`snapshot ${backup.snapshotId} failed: ${snapshot.status}`);
  if (snapshot.state === 'creating') return { backupId, state: 'pending', phase: 'snapshot', status: snapshot.status };

  let copy: SnapshotInfo | undefined;
  if (deps.copyRegion) {
    const copyId = detail.copyId ?? backup.snapshotId;
    copy = await deps.snapshots.describeSnapshot(detail.managedKind, copyId, deps.copyRegion);
    if (!copy) {
      copy = await deps.snapshots.copySnapshot(
        detail.managedKind,
        snapshot,
        deps.copyRegion,
        copyId,
        snapshotTags(backup.epochId, backup.shard, detail.mapVersion, backup.retentionClass),
        deps.copyKmsKeyId,
      );
      await deps.store.updateBackup(backupId, { detail: { ...detail, phase: 'copy', copyId, copyRegion: deps.copyRegion, copyArn: copy.arn } as unknown as Record<string, unknown> });
    }
    if (copy.state === 'failed') throw new AppError(`the copy of snapshot ${backup.snapshotId} to ${deps.copyRegion} failed: ${copy.status}`);
    if (copy.state === 'creating') return { backupId, state: 'pending', phase: 'copy', status: copy.status };
  }

  const finishedAt = deps.clock.now();
  await deps.store.updateBackup(backupId, {
    status: 'succeeded',
    finishedAt,
    consistentAt: backup.startedAt,
    snapshotArn: snapshot.arn,
    detail: { ...detail, phase: 'done', ...(copy ? { copyId: copy.id, copyRegion: copy.region, copyArn: copy.arn } : {}) } as unknown as Record<string, unknown>,
  });
  await deps.events.publish([
    buildEvent(BackupSucceeded, {
      ...eventBase(backupId, backup.epochId, backup.shard, detail.mapVersion, finishedAt),
      kind: 'snapshot',
      retentionClass: backup.retentionClass,
      bytes: 0,
      rows: 0,
      objects: copy ? 2 : 1,
      durationMs: finishedAt - backup.startedAt,
      position: null,
    }),
  ]);
  return { backupId, state: 'available', phase: 'done', status: snapshot.status };
}

/** Polls until done, waiting `waitMs(attempt)` between looks (the CLI; the workflow waits in a Wait state). */
export async function waitForSnapshotBackup(deps: SnapshotBackupDeps, backupId: string, waitMs: (attempt: number) => number, maxAttempts = 120): Promise<SnapshotProgress> {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const progress = await pollSnapshotBackup(deps, backupId);
    if (progress.state === 'available') return progress;
    await new Promise((resolve) => setTimeout(resolve, waitMs(attempt)));
  }
  throw new NodeNotReadyError(`snapshot backup ${backupId} was not available after ${maxAttempts} looks`);
}

export async function failSnapshotBackup(deps: SnapshotBackupDeps, backupId: string, error: unknown): Promise<void> {
  const backup = await deps.store.backup(backupId);
  if (!backup || backup.status !== 'running') return;
  const message = error instanceof Error ? error.message : String(error);
  const at = deps.clock.now();
  await deps.store.updateBackup(backupId, { status: 'failed', finishedAt: at, error: message });
  const detail = backup.detail as unknown as SnapshotDetail;
  await deps.events.publish([buildEvent(BackupFailed, { ...eventBase(backupId, backup.epochId, backup.shard, detail.mapVersion, at), kind: 'snapshot', error: message })]);
}

/** The incremental run of a managed shard: the service's point-in-time window, recorded for recovery plans. */
export async function recordRestoreWindow(deps: Omit<SnapshotBackupDeps, 'copyRegion' | 'copyKmsKeyId'>, request: { epochId: string; mapVersion: number; shard: Shard }): Promise<BackupRecord> {
  const { shard, epochId, mapVersion } = request;
  const database = managedIdentifierOf(shard);
  const window = await deps.snapshots.restoreWindow(database);
  const at = deps.clock.now();
  const backupId = newBackupId(at, randomBytes(4).toString('hex'));
  await deps.store.createBackup({
    backupId,
    epochId,
    shard: shard.name,
    database: shard.database,
    kind: 'pitr-window',
    retentionClass: 'daily',
    startedAt: at,
    expiresAt: expiresAt(at, 'daily', deps.settings.retention),
    status: 'succeeded',
    consistentAt: window.latest,
    sourceNode: database.identifier,
    detail: { mapVersion, managedKind: database.kind, identifier: database.identifier, earliest: window.earliest, latest: window.latest },
  });
  return (await deps.store.backup(backupId))!;
}
