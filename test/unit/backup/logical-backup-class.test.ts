import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKUP_SETTINGS, type LogicalBackupDeps } from '../../../functions/backup/backup-deps';
import { startLogicalBackup } from '../../../functions/backup/logical-backup';
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
});
