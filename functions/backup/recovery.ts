import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_REPLAY_RATES,
  planBinlogRecovery,
  planManagedRecovery,
  type ArchivedBinlog,
  type FullBackupCandidate,
  type ManagedRecoveryPlan,
  type ReplayRates,
  type SelfManagedRecoveryPlan,
} from '../core/backup-pitr';
import { managedIdentifierOf } from '../core/backup-snapshot';
import type { Shard } from '../core/shard-map-types';
import type { BinlogReplayer } from '../ports/backup-binlog';
import type { RestoreConnector } from '../ports/backup-mysql';
import type { RestoredDatabase, SnapshotService } from '../ports/backup-snapshots';
import { RESTORABLE_STATUSES, type BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { ObjectStore } from '../ports/object-store';
import { BackupIntegrityError, NotFoundError } from '../shared/errors';
import { downloadHashed } from './object-checks';
import { loadManifest, restoreLogicalBackup, type RestoreReport } from './restore-backup';

export type RecoveryPlan = SelfManagedRecoveryPlan | ManagedRecoveryPlan;

/** Restore throughput measured by the shard's restore tests, when it has any: estimates follow the fleet's real speed. */
async function measuredRates(store: BackupStore, shard: string): Promise<ReplayRates> {
  const verified = (await store.listBackups({ shard, kinds: ['logical'], statuses: ['verified'], limit: 5 })).filter((backup) => backup.restoreSeconds && backup.bytes > 0);
  if (verified.length === 0) return DEFAULT_REPLAY_RATES;
  const bytes = verified.reduce((sum, backup) => sum + backup.bytes, 0);
  const seconds = verified.reduce((sum, backup) => sum + backup.restoreSeconds!, 0);
  return { ...DEFAULT_REPLAY_RATES, restoreBytesPerSecond: bytes / seconds };
}

/**
 * How to bring a shard back to `target`: for a self-managed shard the newest full backup before it
 * and the archived binary logs to replay; for Aurora and RDS the service's PITR call, checked
 * against the restore window the last incremental run recorded.
 */
export async function planShardRecovery(store: BackupStore, shard: Shard, target: number, now: number): Promise<RecoveryPlan> {
  if (shard.kind !== 'self-managed') {
    const [window] = await store.listBackups({ shard: shard.name, kinds: ['pitr-window'], statuses: [...RESTORABLE_STATUSES], limit: 1 });
    if (!window) throw new NotFoundError(`no restore window of shard ${shard.name} is on record; run an incremental backup first`);
    const { earliest, latest } = window.detail as { earliest: number; latest: number };
    const source = managedIdentifierOf(shard);
    const suffix = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 12);
    return planManagedRecovery(target, { earliest, latest }, source, `${source.identifier}-pitr-${suffix}`.slice(0, 63));
  }
  const fulls: FullBackupCandidate[] = (await store.listBackups({ shard: shard.name, kinds: ['logical'], statuses: [...RESTORABLE_STATUSES], limit: 100 })).map((backup) => ({
    backupId: backup.backupId,
    consistentAt: backup.consistentAt ?? backup.startedAt,
    position: backup.position,
    bytes: backup.bytes,
  }));
  const binlogs: ArchivedBinlog[] = [];
  for (const backup of await store.listBackups({ shard: shard.name, kinds: ['binlog'], statuses: [...RESTORABLE_STATUSES], limit: 1000 })) {
    for (const object of await store.objects(backup.backupId)) {
      if (object.role !== 'binlog' || !object.binlogFile) continue;
      binlogs.push({
        file: object.binlogFile,
        objectKey: object.key,
        bytes: object.bytes,
        sha256: object.sha256,
        firstEventAt: object.firstEventAt,
        lastEventAt: object.lastEventAt,
        coveredUntil: object.coveredUntil ?? 0,
      });
    }
  }
  return planBinlogRecovery(target, fulls, binlogs, await measuredRates(store, shard.name));
}

export interface BinlogRecoveryDeps {
  store: BackupStore;
  objects: ObjectStore;
  restorer: RestoreConnector;
  replayer: BinlogReplayer;
  clock: Clock;
}

export interface BinlogRecoveryReport {
  plan: SelfManagedRecoveryPlan;
  database: string;
  base: RestoreReport;
  replayed: string[];
  seconds: number;
}

/**
 * Restores the plan's base backup into `database` (verified against its manifest), then replays
 * the archived binary logs, each checked against its recorded SHA-256, up to the plan's stop time.
 */
export async function runBinlogRecovery(deps: BinlogRecoveryDeps, plan: SelfManagedRecoveryPlan, options: { database: string; replace?: boolean }): Promise<BinlogRecoveryReport> {
  const started = deps.clock.now();
  const base = await deps.store.backup(plan.base.backupId);
  if (!base) throw new NotFoundError(`backup ${plan.base.backupId} is not in the catalog`);
  const manifest = await loadManifest(deps.objects, base);

  const workDir = await mkdtemp(join(tmpdir(), 'sk-replay-'));
  try {
    // Every log is fetched and checked before the base is restored: a missing or altered one stops the recovery before it writes anything.
    const files: string[] = [];
    for (const binlog of plan.binlogs) {
      const path = join(workDir, binlog.file);
      const { sha256 } = await downloadHashed(deps.objects, binlog.objectKey, path);
      if (sha256 !== binlog.sha256) throw new BackupIntegrityError(`archived binary log ${binlog.objectKey} was altered (SHA-256 ${sha256}, recorded ${binlog.sha256})`);
      files.push(path);
    }
    // Claimed through the replay, and marked unfinished until it is done: a recovery cut off part-way is never taken for whole.
    const guard = await deps.restorer.connect();
    try {
      await guard.claimDatabase(options.database);
      const restored = await restoreLogicalBackup(deps, { manifest, database: options.database, replace: options.replace, alreadyClaimed: true, leaveUnfinished: true });
      try {
        if (!restored.ok) throw new BackupIntegrityError(`the base backup ${base.backupId} did not restore cleanly: ${restored.problems.join('; ')}`);
        await deps.replayer.replay({
          files,
          startPosition: plan.startPosition,
          stopDatetime: plan.stopDatetime,
          sourceDatabase: manifest.database,
          targetDatabase: options.database,
        });
        await guard.markFinished(options.database);
      } catch (error) {
        // The database stands at some point before the target: not a recovery anyone should use. Dropped on a
        // session of its own, since the guard's may be what failed; the replay's error is the one reported.
        const cleanup = await deps.restorer.connect();
        const dropped = await cleanup.dropDatabase(options.database).then(
          () => 'was dropped',
          (dropError: unknown) => `could not be dropped (${dropError instanceof Error ? dropError.message : String(dropError)}): drop it by hand`,
        );
        await cleanup.close();
        if (error instanceof Error) error.message += `; the partly recovered database ${options.database} ${dropped}`;
        throw error;
      }
      return { plan, database: options.database, base: restored, replayed: plan.binlogs.map((binlog) => binlog.file), seconds: (deps.clock.now() - started) / 1000 };
    } finally {
      await guard.close();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Starts the Aurora/RDS point-in-time restore of a plan (an Aurora cluster gets a writer); returns what it created. */
export async function runManagedRecovery(snapshots: SnapshotService, plan: ManagedRecoveryPlan): Promise<RestoredDatabase> {
  return snapshots.restoreToPointInTime(plan);
}
