import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlBackupStore } from '../../../functions/adapters/sql-backup-store';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import type { BackupStatus } from '../../../functions/ports/backup-store';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

describe('SqlBackupStore on MariaDB', () => {
  let catalog: ScratchDatabase;
  let store: SqlBackupStore;

  beforeAll(async () => {
    catalog = await createScratchDatabase();
    await new SqlCatalog(catalog.executor).migrate();
    store = new SqlBackupStore(catalog.executor);
  });
  afterAll(async () => {
    await catalog.drop();
  });

  it('names each shard with a restorable backup of the epoch once, whatever its other backups', async () => {
    const backup = async (backupId: string, epochId: string, shard: string, status: BackupStatus) => {
      await store.createBackup({ backupId, epochId, shard, database: 'players', kind: 'logical', retentionClass: 'daily', startedAt: 0, expiresAt: 1 });
      await store.updateBackup(backupId, { status });
    };
    await backup('b1', 'e1', 's0', 'failed');
    await backup('b2', 'e1', 's0', 'succeeded');
    await backup('b3', 'e1', 's1', 'verified');
    await backup('b4', 'e1', 's2', 'verification-failed');
    await backup('b5', 'e1', 's3', 'running');
    await backup('b6', 'e2', 's2', 'succeeded');
    expect((await store.restorableShards('e1')).sort()).toEqual(['s0', 's1']);
    expect(await store.restorableShards('e2')).toEqual(['s2']);
    expect(await store.restorableShards('e3')).toEqual([]);
  });
});
