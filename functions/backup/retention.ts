import { backupPrefix } from '../core/backup-manifest';
import type { RetentionClass } from '../core/backup-manifest';
import { expiresAt, outlivedBy, planRetention, type RetentionDecision } from '../core/backup-retention';
import type { SnapshotService } from '../ports/backup-snapshots';
import type { BackupKind, BackupRecord, BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { ObjectStore } from '../ports/object-store';
import { AppError } from '../shared/errors';
import type { BackupSettings } from './backup-deps';
import { backupObjectTags } from './logical-backup';

export interface RetentionDeps {
  store: BackupStore;
  objects: ObjectStore;
  /** Needed only when the fleet has Aurora or RDS shards. */
  snapshots?: SnapshotService;
  clock: Clock;
  settings: Pick<BackupSettings, 'retention' | 'timeZone'>;
}

export interface PrunedBackup {
  backupId: string;
  shard: string;
  kind: BackupKind;
  reason: string;
}

export interface PromotedBackup {
  backupId: string;
  shard: string;
  from: RetentionClass;
  to: RetentionClass;
}

export interface RetentionReport {
  kept: number;
  expired: PrunedBackup[];
  promoted: PromotedBackup[];
}

/** A failed backup's partial objects are kept this long for diagnosis, then removed. */
const FAILED_GRACE_MS = 2 * 86_400_000;

const CANDIDATE_STATUSES = ['succeeded', 'verified', 'verification-failed', 'failed'] as const;

/**
 * Applies the GFS policy per shard and kind. Catalog first: a pruned backup is marked expired
 * (and its object records dropped) before a single object or snapshot is deleted, so the catalog
 * never offers a backup whose data may already be gone. Binary log archives live as long as
 * their lifecycle class while a kept full backup comes before them; only the newest PITR window
 * record is kept. A kept backup that represents a longer period than its class (the month's first
 * backup failed verification, so the next one holds the month) is promoted: its objects re-tagged
 * first, then its class and expiry in the catalog. A promotion that fails is retried by the next
 * run and reported once every shard has been pruned.
 */
export async function pruneBackups(deps: RetentionDeps, shards: readonly string[]): Promise<RetentionReport> {
  const now = deps.clock.now();
  const expired: PrunedBackup[] = [];
  const promoted: PromotedBackup[] = [];
  const failures: string[] = [];
  let kept = 0;
  for (const shard of shards) {
    const all = await deps.store.listBackups({ shard, statuses: [...CANDIDATE_STATUSES], limit: 10_000 });
    const decisions = new Map<string, string>();
    const holds = new Map<string, RetentionClass>();
    const decide = (backups: readonly BackupRecord[], plan: (backups: readonly BackupRecord[]) => RetentionDecision[]) => {
      for (const decision of plan(backups)) {
        if (!decision.keep) decisions.set(decision.id, decision.reasons.join(', '));
        else if (decision.holds) holds.set(decision.id, decision.holds);
      }
    };
    const gfs = (backups: readonly BackupRecord[]) => planRetention(backups.map(({ backupId: id, startedAt, expiresAt }) => ({ id, startedAt, expiresAt })), deps.settings.retention, now, deps.settings.timeZone);

    for (const backup of all.filter((candidate) => candidate.status === 'failed' && now - (candidate.finishedAt ?? candidate.startedAt) > FAILED_GRACE_MS)) {
      decisions.set(backup.backupId, 'failed');
    }
    const good = all.filter((backup) => backup.status !== 'failed');
    // A backup that failed its restore test holds no GFS slot; it stays until its lifecycle expiry, for a second look.
    const restorable = good.filter((backup) => backup.status !== 'verification-failed');
    for (const backup of good.filter((candidate) => candidate.status === 'verification-failed' && candidate.expiresAt <= now)) decisions.set(backup.backupId, 'past its lifecycle expiry');
    decide(restorable.filter((backup) => backup.kind === 'logical'), gfs);
    decide(restorable.filter((backup) => backup.kind === 'snapshot'), gfs);
    // A kept full backup's recovery replays every log after it, whichever full was newest when a log was archived.
    const oldestKeptFull = Math.min(...restorable.filter((backup) => backup.kind === 'logical' && !decisions.has(backup.backupId)).map((backup) => backup.startedAt));
    for (const backup of good.filter((candidate) => candidate.kind === 'binlog')) {
      if (backup.expiresAt <= now) decisions.set(backup.backupId, 'past its lifecycle expiry');
      else if ((backup.consistentAt ?? backup.startedAt) < oldestKeptFull) decisions.set(backup.backupId, 'no kept full backup comes before it');
    }
    for (const backup of good.filter((candidate) => candidate.kind === 'pitr-window').slice(1)) decisions.set(backup.backupId, 'a newer restore window is on record');

    for (const backup of restorable) {
      const needed = holds.get(backup.backupId);
      if (!outlivedBy(backup.retentionClass, needed)) continue;
      try {
        await promote(deps, backup, needed);
        promoted.push({ backupId: backup.backupId, shard, from: backup.retentionClass, to: needed });
      } catch (error) {
        failures.push(`promoting backup ${backup.backupId} of shard ${shard} to ${needed}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }

    const pruned = all.filter((backup) => decisions.has(backup.backupId));
    kept += all.length - pruned.length;
    if (pruned.length === 0) continue;
    const objectKeys = new Map<string, string[]>();
    for (const backup of pruned) objectKeys.set(backup.backupId, (await deps.store.objects(backup.backupId)).map((object) => object.key));
    await deps.store.expire(pruned.map((backup) => backup.backupId), now);
    for (const backup of pruned) {
      await deleteData(deps, backup, objectKeys.get(backup.backupId) ?? []);
      expired.push({ backupId: backup.backupId, shard, kind: backup.kind, reason: decisions.get(backup.backupId)! });
    }
  }
  if (failures.length > 0) throw new AppError(`backups were pruned, but ${failures.length} promotion(s) failed and are retried by the next run: ${failures.join('; ')}`);
  return { kept, expired, promoted };
}

/** The longer class for a backup that now holds a longer period: S3 objects re-tagged first (a logical dump), then the catalog. */
async function promote(deps: RetentionDeps, backup: BackupRecord, to: RetentionClass): Promise<void> {
  if (backup.kind === 'logical') {
    for (const object of await deps.store.objects(backup.backupId)) await deps.objects.setTags(object.key, backupObjectTags(to, 'logical'));
  }
  await deps.store.updateBackup(backup.backupId, { retentionClass: to, expiresAt: expiresAt(backup.startedAt, to, deps.settings.retention) });
}

async function deleteData(deps: RetentionDeps, backup: BackupRecord, recordedKeys: string[]): Promise<void> {
  if (backup.kind === 'logical') {
    // By prefix: a dump that restarted may have left objects it no longer recorded.
    const keys = new Set(recordedKeys);
    for await (const object of deps.objects.list(backupPrefix(backup.shard, backup.epochId, backup.backupId))) keys.add(object.key);
    await deps.objects.delete([...keys]);
  } else if (backup.kind === 'binlog') {
    await deps.objects.delete(recordedKeys);
  } else if (backup.kind === 'snapshot' && backup.snapshotId && deps.snapshots) {
    const kind = (backup.detail as { managedKind?: 'aurora' | 'rds' }).managedKind ?? 'aurora';
    await deps.snapshots.deleteSnapshot(kind, backup.snapshotId);
    const copy = backup.detail as { copyId?: string; copyRegion?: string };
    if (copy.copyId && copy.copyRegion) await deps.snapshots.deleteSnapshot(kind, copy.copyId, copy.copyRegion);
  }
}
