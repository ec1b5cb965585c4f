import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKUP_SETTINGS, type LogicalBackupDeps } from '../../../functions/backup/backup-deps';
import { backupObjectTags, startLogicalBackup } from '../../../functions/backup/logical-backup';
import { verifyBackupObjects } from '../../../functions/backup/verify-backup';
import { expiresAt } from '../../../functions/core/backup-retention';
import type { BackupRecord } from '../../../functions/ports/backup-store';
import { MemoryObjectStore } from '../../workflows/backup-fakes';
import { MemoryBackupStore } from './memory-backup-store';

const FEB_1 = Date.parse('2026-02-01T00:00:00Z');
const shard = { name: '-80', database: 'game', status: 'serving' as const, kind: 'self-managed' as const, nodes: [{ id: 'p', role: 'primary' as const, host: 'h', port: 3306 }] };

describe('the retention class of a logical backup', () => {
  it('gives the month to the first backup that is not known to be broken: one that failed its restore test holds no period', async () => {
    const store = new MemoryBackupStore();
    let now = FEB_1;
    const deps = { store, clock: { now: () => now }, settings: DEFAULT_BACKUP_SETTINGS, events: { publish: async () => {} } } as unknown as LogicalBackupDeps;
    const first = await startLogicalBackup(deps, { epochId: 'e1', mapVersion: 1, shard, mode: 'snapshot' });
    expect(first.retentionClass).toBe('monthly');
    await store.updateBackup(first.backupId, { status: 'verification-failed' });

    now = FEB_1 + 10 * 3_600_000;
    const rerun = await startLogicalBackup(deps, { epochId: 'e2', mapVersion: 1, shard, mode: 'snapshot' });
    expect(rerun.retentionClass).toBe('monthly');
    await store.updateBackup(rerun.backupId, { status: 'succeeded' });
    now = FEB_1 + 20 * 3_600_000;
    expect((await startLogicalBackup(deps, { epochId: 'e3', mapVersion: 1, shard, mode: 'snapshot' })).retentionClass).toBe('daily');
  });

  it('hands the month of a monthly backup that fails verification to the next good backup of that month, re-tagging its objects to last as long', async () => {
    const store = new MemoryBackupStore();
    const objects = new MemoryObjectStore();
    let now = FEB_1;
    const deps = { store, objects, clock: { now: () => now }, settings: DEFAULT_BACKUP_SETTINGS, events: { publish: async () => {} } };
    /** A finished backup of one chunk object, tagged with its class as a dump tags it. */
    const finished = async (epochId: string, at: number): Promise<BackupRecord> => {
      now = at;
      const backup = await startLogicalBackup(deps as unknown as LogicalBackupDeps, { epochId, mapVersion: 1, shard, mode: 'snapshot' });
      const key = `logical/${backup.backupId}/chunk.sql.gz`;
      const stored = await objects.put(key, `-- ${epochId}`, { tags: backupObjectTags(backup.retentionClass, 'logical') });
      const chunk = { seq: 1, role: 'chunk' as const, key, bytes: stored.size, sha256: stored.checksumSha256!, table: 't', chunkIndex: 0, rowCount: 0, rowsSha256: null, lastKey: null, binlogFile: null, firstEventAt: null, lastEventAt: null, coveredUntil: null };
      await store.recordObject(backup.backupId, chunk);
      await store.updateBackup(backup.backupId, { status: 'succeeded' });
      return backup;
    };
    const monthly = await finished('e1', FEB_1);
    const daily = await finished('e2', FEB_1 + 10 * 3_600_000);
    const march = await finished('e3', Date.parse('2026-03-01T01:00:00Z'));
    expect([monthly.retentionClass, daily.retentionClass, march.retentionClass]).toEqual(['monthly', 'daily', 'monthly']);

    await objects.delete([`logical/${monthly.backupId}/chunk.sql.gz`]);
    expect((await verifyBackupObjects(deps, monthly.backupId)).ok).toBe(false);

    expect(await store.backup(daily.backupId)).toMatchObject({ retentionClass: 'monthly', expiresAt: expiresAt(daily.startedAt, 'monthly', DEFAULT_BACKUP_SETTINGS.retention) });
    expect(objects.objects.get(`logical/${daily.backupId}/chunk.sql.gz`)!.tags).toEqual(backupObjectTags('monthly', 'logical'));
    expect(await store.backup(march.backupId)).toMatchObject({ retentionClass: 'monthly', expiresAt: march.expiresAt });
  });
});
