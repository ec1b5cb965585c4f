import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKUP_SETTINGS } from '../../../functions/backup/backup-deps';
import { backupObjectTags } from '../../../functions/backup/logical-backup';
import { pruneBackups } from '../../../functions/backup/retention';
import { nextBackupToTest } from '../../../functions/backup/verify-backup';
import { expiresAt } from '../../../functions/core/backup-retention';
import type { ObjectStore } from '../../../functions/ports/object-store';
import type { SnapshotService } from '../../../functions/ports/backup-snapshots';
import type { BackupKind, BackupStatus } from '../../../functions/ports/backup-store';
import { MemoryBackupStore } from './memory-backup-store';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-01T06:00:00Z');

function objectStore(keys: string[]): ObjectStore & { deleted: string[]; tags: Map<string, Record<string, string>> } {
  const deleted: string[] = [];
  const tags = new Map<string, Record<string, string>>();
  return {
    deleted,
    tags,
    async *list(prefix: string) {
      for (const key of keys.filter((candidate) => candidate.startsWith(prefix))) yield { key, size: 1 };
    },
    async delete(batch: string[]) {
      deleted.push(...batch);
    },
    async setTags(key: string, set: Record<string, string>) {
      tags.set(key, set);
    },
  } as unknown as ObjectStore & { deleted: string[]; tags: Map<string, Record<string, string>> };
}

async function seed(store: MemoryBackupStore, backupId: string, days: number, kind: BackupKind, options: { status?: BackupStatus; baseBackupId?: string; retention?: 'daily' | 'weekly' | 'monthly' } = {}) {
  const startedAt = NOW - days * DAY;
  const retentionClass = options.retention ?? 'daily';
  await store.createBackup({
    backupId,
    epochId: `e-${backupId}`,
    shard: '-80',
    database: 'players',
    kind,
    retentionClass,
    startedAt,
    expiresAt: expiresAt(startedAt, retentionClass, DEFAULT_BACKUP_SETTINGS.retention),
    status: options.status ?? 'succeeded',
    baseBackupId: options.baseBackupId,
    snapshotId: kind === 'snapshot' ? `sk-${backupId}` : undefined,
    detail: kind === 'snapshot' ? { managedKind: 'aurora' } : {},
  });
  await store.updateBackup(backupId, { finishedAt: startedAt + 60_000 });
  await store.recordObject(backupId, { seq: 0, role: kind === 'binlog' ? 'binlog' : 'schema', key: `${kind}/${backupId}/0`, bytes: 1, sha256: 'x', table: null, chunkIndex: null, rowCount: null, rowsSha256: null, lastKey: null, binlogFile: null, firstEventAt: null, lastEventAt: null, coveredUntil: null });
}

describe('pruning backups by the GFS policy', () => {
  const deps = (store: MemoryBackupStore, objects: ObjectStore, snapshots?: SnapshotService) => ({ store, objects, snapshots, clock: { now: () => NOW }, settings: DEFAULT_BACKUP_SETTINGS });

  it('expires in the catalog before deleting, keeps GFS representatives, and drops binary logs no kept full backup comes before', async () => {
    const calls: string[] = [];
    const store = new (class extends MemoryBackupStore {
      override async expire(ids: string[], at: number) {
        calls.push(`expire ${ids.join(',')}`);
        await super.expire(ids, at);
      }
    })();
    await seed(store, 'old-daily', 12, 'logical');
    await seed(store, 'recent', 1, 'logical');
    await seed(store, 'binlog-of-old', 6, 'binlog', { baseBackupId: 'old-daily' });
    await seed(store, 'binlog-of-recent', 0.5, 'binlog', { baseBackupId: 'recent' });
    await seed(store, 'failed-long-ago', 5, 'logical', { status: 'failed' });
    const objects = objectStore([`logical/shard=-80/epoch=e-old-daily/old-daily/data/t/000000.sql.gz`]);
    objects.delete = async (keys) => void calls.push(`delete ${keys.length}`);

    const report = await pruneBackups(deps(store, objects), ['-80']);
    expect(report.expired.map((entry) => [entry.backupId, entry.reason])).toEqual([
      ['failed-long-ago', 'failed'],
      ['binlog-of-old', 'no kept full backup comes before it'],
      ['old-daily', 'past its lifecycle expiry'],
    ]);
    expect(calls[0]).toMatch(/^expire /);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.slice(1).every((call) => call.startsWith('delete'))).toBe(true);
    expect((await store.backup('old-daily'))!.status).toBe('expired');
    expect(await store.objects('old-daily')).toEqual([]);
    expect(report.kept).toBe(2);
  });

  it('gives the GFS slot of a backup that failed its restore test to the next good one, and keeps the failed one until its expiry', async () => {
    const store = new MemoryBackupStore();
    await seed(store, 'broken-first-of-day', 1, 'logical', { status: 'verification-failed', retention: 'monthly' });
    await seed(store, 'rerun', 0.75, 'logical', { retention: 'monthly' });
    await seed(store, 'today', 0.1, 'logical');
    const report = await pruneBackups(deps(store, objectStore([])), ['-80']);
    expect(report.expired).toEqual([]);
    expect(report.kept).toBe(3);
  });

  it('promotes the backup that holds a month once the month\'s first failed verification: its objects re-tagged, then its class and expiry', async () => {
    const store = new MemoryBackupStore();
    // 1 March 02:00 would be the month's first, but its restore test failed.
    await seed(store, 'broken-first-of-month', 4 / 24, 'logical', { status: 'verification-failed', retention: 'monthly' });
    await seed(store, 'next', 2 / 24, 'logical');
    const objects = objectStore([]);
    const report = await pruneBackups(deps(store, objects), ['-80']);
    expect(report.promoted).toEqual([{ backupId: 'next', shard: '-80', from: 'daily', to: 'monthly' }]);
    expect(objects.tags.get('logical/next/0')).toEqual(backupObjectTags('monthly', 'logical'));
    const next = (await store.backup('next'))!;
    expect(next).toMatchObject({ retentionClass: 'monthly', expiresAt: expiresAt(next.startedAt, 'monthly', DEFAULT_BACKUP_SETTINGS.retention) });
    expect((await pruneBackups(deps(store, objects), ['-80'])).promoted).toEqual([]);
  });

  it('prunes every shard even when a promotion fails, then reports the failure so the next run retries it', async () => {
    const store = new MemoryBackupStore();
    await seed(store, 'next', 2 / 24, 'logical');
    await seed(store, 'expired-daily', 12, 'logical');
    // A second shard, pruned after the failed promotion on the first.
    await seed(store, 'other-expired', 12, 'logical');
    await store.createBackup({ ...(await store.backup('other-expired'))!, backupId: 'other-expired-2', shard: '80-' });
    await store.updateBackup('other-expired-2', { status: 'succeeded' });
    const objects = objectStore([]);
    objects.setTags = async () => {
      throw new Error('AccessDenied');
    };
    await expect(pruneBackups(deps(store, objects), ['-80', '80-'])).rejects.toThrow(/promoting backup next of shard -80 to monthly: AccessDenied/);
    expect((await store.backup('expired-daily'))!.status).toBe('expired');
    expect((await store.backup('other-expired-2'))!.status).toBe('expired');
    expect((await store.backup('next'))!.retentionClass).toBe('daily');
  });

  it('keeps the binary logs archived after a pruned full backup while an earlier full backup is kept, since its recovery replays them', async () => {
    const store = new MemoryBackupStore();
    await seed(store, 'first-of-day', 1, 'logical');
    // A second full backup the same day: GFS keeps only the first, but its logs extend the first one too.
    await seed(store, 'second-of-day', 0.75, 'logical');
    await seed(store, 'today', 0.1, 'logical');
    await seed(store, 'binlog-after-second', 0.5, 'binlog', { baseBackupId: 'second-of-day' });
    const report = await pruneBackups(deps(store, objectStore([])), ['-80']);
    expect(report.expired.map((entry) => entry.backupId)).toEqual(['second-of-day']);
    expect((await store.backup('binlog-after-second'))!.status).toBe('succeeded');
  });

  it('deletes a pruned snapshot and its cross-region copy', async () => {
    const store = new MemoryBackupStore();
    await seed(store, 'snap-old', 40, 'snapshot', { retention: 'weekly' });
    await store.updateBackup('snap-old', { detail: { managedKind: 'aurora', copyId: 'sk-snap-old', copyRegion: 'eu-central-1' } });
    await seed(store, 'snap-new', 1, 'snapshot');
    const deleted: string[] = [];
    const snapshots = { deleteSnapshot: async (kind: string, id: string, region?: string) => void deleted.push(`${kind} ${id} ${region ?? 'home'}`) } as unknown as SnapshotService;
    await pruneBackups(deps(store, objectStore([]), snapshots), ['-80']);
    expect(deleted).toEqual(['aurora sk-snap-old home', 'aurora sk-snap-old eu-central-1']);
  });
});

describe('restore test rotation', () => {
  it('picks the shard whose newest backup was verified least recently, never-verified first', async () => {
    const store = new MemoryBackupStore();
    for (const [shard, verifiedAt] of [['-40', NOW - DAY], ['40-80', null], ['80-', NOW - 3 * DAY]] as const) {
      await store.createBackup({ backupId: `b${shard}`, epochId: 'e', shard, database: 'p', kind: 'logical', retentionClass: 'daily', startedAt: NOW - 2 * DAY, expiresAt: NOW + DAY, status: 'succeeded' });
      if (verifiedAt) await store.updateBackup(`b${shard}`, { status: 'verified', verifiedAt });
    }
    expect((await nextBackupToTest(store, ['-40', '40-80', '80-']))!.shard).toBe('40-80');
    await store.updateBackup('b40-80', { status: 'verified', verifiedAt: NOW });
    expect((await nextBackupToTest(store, ['-40', '40-80', '80-']))!.shard).toBe('80-');
  });
});
