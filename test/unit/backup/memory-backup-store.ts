import type { ShardMap } from '../../../functions/core/shard-map-types';
import { RESTORABLE_STATUSES, type BackupFilter, type BackupObjectRecord, type BackupPatch, type BackupRecord, type BackupStore, type DumpProgress, type EpochRecord, type EpochStatus, type NewBackup } from '../../../functions/ports/backup-store';

/** The BackupStore in memory, for use cases and workflows under test. */
export class MemoryBackupStore implements BackupStore {
  readonly epochs = new Map<string, EpochRecord>();
  readonly backups = new Map<string, BackupRecord>();
  readonly objectsOf = new Map<string, BackupObjectRecord[]>();
  readonly maps = new Map<number, ShardMap>();

  async createEpoch(epoch: Omit<EpochRecord, 'finishedAt' | 'status'>): Promise<void> {
    if (!this.epochs.has(epoch.epochId)) this.epochs.set(epoch.epochId, { ...epoch, finishedAt: null, status: 'running' });
  }

  async finishEpoch(epochId: string, status: EpochStatus, finishedAt: number): Promise<void> {
    const epoch = this.epochs.get(epochId);
    if (epoch) this.epochs.set(epochId, { ...epoch, status, finishedAt });
  }

  async epoch(epochId: string) {
    return this.epochs.get(epochId);
  }

  async restorableShards(epochId: string) {
    return [...new Set([...this.backups.values()].filter((backup) => backup.epochId === epochId && RESTORABLE_STATUSES.includes(backup.status)).map((backup) => backup.shard))];
  }

  async listEpochs(limit: number) {
    return [...this.epochs.values()].sort((a, b) => b.startedAt - a.startedAt).slice(0, limit);
  }

  async createBackup(backup: NewBackup): Promise<void> {
    if (this.backups.has(backup.backupId)) return;
    this.backups.set(backup.backupId, {
      status: 'running',
      sourceNode: null,
      dumpMode: null,
      position: null,
      consistentAt: null,
      finishedAt: null,
      bytes: 0,
      rowCount: 0,
      manifestKey: null,
      manifestSha256: null,
      snapshotId: null,
      snapshotArn: null,
      baseBackupId: null,
      progress: null,
      error: null,
      verifiedAt: null,
      restoreSeconds: null,
      detail: {},
      ...backup,
    } as BackupRecord);
  }

  async backup(backupId: string) {
    const backup = this.backups.get(backupId);
    return backup && structuredClone(backup);
  }

  async listBackups(filter: BackupFilter) {
    return [...this.backups.values()]
      .filter((backup) => (filter.shard === undefined || backup.shard === filter.shard) && (filter.epochId === undefined || backup.epochId === filter.epochId))
      .filter((backup) => (!filter.kinds || filter.kinds.includes(backup.kind)) && (!filter.statuses || filter.statuses.includes(backup.status)))
      .sort((a, b) => b.startedAt - a.startedAt || b.backupId.localeCompare(a.backupId))
      .slice(0, filter.limit)
      .map((backup) => structuredClone(backup));
  }

  async updateBackup(backupId: string, patch: BackupPatch): Promise<void> {
    const backup = this.backups.get(backupId);
    if (!backup) return;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
    this.backups.set(backupId, { ...backup, ...defined });
  }

  async recordObject(backupId: string, object: BackupObjectRecord, progress?: DumpProgress): Promise<void> {
    const objects = (this.objectsOf.get(backupId) ?? []).filter((existing) => existing.seq !== object.seq);
    this.objectsOf.set(backupId, [...objects, object].sort((a, b) => a.seq - b.seq));
    if (progress) await this.updateBackup(backupId, { progress });
  }

  async objects(backupId: string) {
    return structuredClone(this.objectsOf.get(backupId) ?? []);
  }

  async clearObjects(backupId: string): Promise<void> {
    this.objectsOf.delete(backupId);
  }

  async expire(backupIds: string[], at: number): Promise<void> {
    for (const backupId of backupIds) {
      const backup = this.backups.get(backupId);
      if (backup) this.backups.set(backupId, { ...backup, status: 'expired', finishedAt: backup.finishedAt ?? at });
      this.objectsOf.delete(backupId);
    }
  }

  async shardMapAt(version: number) {
    return this.maps.get(version);
  }
}
