import { randomBytes } from 'node:crypto';
import type { RestoreConnector } from '../ports/backup-mysql';
import { RESTORABLE_STATUSES, type BackupRecord, type BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';
import { NotFoundError, ValidationError } from '../shared/errors';
import { BackupVerificationFailed, BackupVerified, buildEvent } from '../shared/events';
import { eventBase } from './logical-backup';
import { checkObjects } from './object-checks';
import { loadManifest, restoreLogicalBackup, type RestoreReport } from './restore-backup';

export interface VerifyDeps {
  store: BackupStore;
  objects: ObjectStore;
  events: EventPublisher;
  clock: Clock;
}

export interface ObjectVerification {
  backupId: string;
  objects: number;
  ok: boolean;
  problems: string[];
}

const VERIFIABLE = [...RESTORABLE_STATUSES, 'verification-failed'] as const;

async function verifiableBackup(store: BackupStore, backupId: string): Promise<BackupRecord> {
  const backup = await store.backup(backupId);
  if (!backup) throw new NotFoundError(`backup ${backupId} is not in the catalog`);
  if (!(VERIFIABLE as readonly string[]).includes(backup.status)) throw new ValidationError(`backup ${backupId} is ${backup.status}; only finished backups can be verified`);
  return backup;
}

const mapVersionOf = (backup: BackupRecord) => Number((backup.detail as { mapVersion?: number }).mapVersion ?? 0);

/**
 * Checks every object a finished backup recorded (its manifest included) for existence, size and
 * SHA-256. A failure marks the backup verification-failed and raises BackupVerificationFailed.
 */
export async function verifyBackupObjects(deps: VerifyDeps, backupId: string): Promise<ObjectVerification> {
  const backup = await verifiableBackup(deps.store, backupId);
  const objects = await deps.store.objects(backupId);
  const problems = await checkObjects(deps.objects, objects);
  if (problems.length > 0) {
    const at = deps.clock.now();
    await deps.store.updateBackup(backupId, { status: 'verification-failed', error: problems.join('; ') });
    await deps.events.publish([
      buildEvent(BackupVerificationFailed, { ...eventBase(backupId, backup.epochId, backup.shard, mapVersionOf(backup), at), kind: backup.kind, check: 'objects', problems }),
    ]);
  }
  return { backupId, objects: objects.length, ok: problems.length === 0, problems };
}

export interface RestoreTestDeps extends VerifyDeps {
  restorer: RestoreConnector;
}

/**
 * The shard whose newest restorable logical backup was verified least recently (never first):
 * weekly restore tests rotate through the fleet.
 */
export async function nextBackupToTest(store: BackupStore, shards: readonly string[]): Promise<BackupRecord | undefined> {
  const latest: BackupRecord[] = [];
  for (const shard of shards) {
    const [backup] = await store.listBackups({ shard, kinds: ['logical'], statuses: [...RESTORABLE_STATUSES], limit: 1 });
    if (backup) latest.push(backup);
  }
  return latest.sort((a, b) => (a.verifiedAt ?? 0) - (b.verifiedAt ?? 0) || a.startedAt - b.startedAt)[0];
}

/**
 * Restores a logical backup into a scratch database, compares every table with the manifest,
 * records the outcome and the restore duration (RTO evidence), and drops the scratch database.
 */
export async function restoreTest(deps: RestoreTestDeps, backupId: string, scratchPrefix = 'sk_restore_test_'): Promise<RestoreReport> {
  const backup = await verifiableBackup(deps.store, backupId);
  if (backup.kind !== 'logical') throw new ValidationError(`backup ${backupId} is a ${backup.kind} backup; restore tests load logical dumps`);
  const scratch = `${scratchPrefix}${randomBytes(4).toString('hex')}`;
  let report: RestoreReport;
  try {
    const manifest = await loadManifest(deps.objects, backup);
    report = await restoreLogicalBackup({ objects: deps.objects, restorer: deps.restorer, clock: deps.clock }, { manifest, database: scratch, replace: true });
  } catch (error) {
    report = {
      backupId,
      shard: backup.shard,
      database: scratch,
      tables: [],
      rows: 0,
      bytes: 0,
      seconds: 0,
      verified: false,
      ok: false,
      problems: [error instanceof Error ? error.message : String(error)],
    };
  } finally {
    const connection = await deps.restorer.connect();
    await connection.dropDatabase(scratch).finally(() => connection.close());
  }

  const at = deps.clock.now();
  const base = { ...eventBase(backupId, backup.epochId, backup.shard, mapVersionOf(backup), at), kind: backup.kind };
  if (report.ok) {
    await deps.store.updateBackup(backupId, { status: 'verified', verifiedAt: at, restoreSeconds: report.seconds, error: null });
    await deps.events.publish([buildEvent(BackupVerified, { ...base, restoreSeconds: report.seconds, tables: report.tables.length, rows: report.rows })]);
  } else {
    await deps.store.updateBackup(backupId, { status: 'verification-failed', verifiedAt: at, error: report.problems.join('; ') });
    await deps.events.publish([buildEvent(BackupVerificationFailed, { ...base, check: 'restore', problems: report.problems })]);
  }
  return report;
}
