import { describe, expect, it } from 'vitest';
import { finishEpoch, restoreEpoch } from '../../../functions/backup/epochs';
import type { ShardMap } from '../../../functions/core/shard-map-types';
import type { RestoredDatabase, SnapshotService } from '../../../functions/ports/backup-snapshots';
import { NotFoundError } from '../../../functions/shared/errors';
import { MemoryBackupStore } from './memory-backup-store';

const EPOCH = 'e20260104t020000z-v3-abc123';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shard-admin-AbCdEf';
const MAP: ShardMap = {
  version: 3,
  updatedAt: '2026-01-04T01:00:00.000Z',
  keyType: 'uint64',
  strategy: { kind: 'keyspace' },
  overrides: [],
  shards: [
    { name: '-80', database: 'players', status: 'serving', kind: 'aurora', nodes: [{ id: 'players-a-1', role: 'primary', host: 'players-a.cluster-abc.eu-west-1.rds.amazonaws.com', port: 3306, secretRef: SECRET }] },
    { name: '80-', database: 'players', status: 'serving', kind: 'rds', nodes: [{ id: 'rds-players', role: 'primary', host: 'rds-players.abc.eu-west-1.rds.amazonaws.com', port: 3306 }] },
  ],
};

async function storeWithEpoch(): Promise<MemoryBackupStore> {
  const store = new MemoryBackupStore();
  store.maps.set(3, MAP);
  await store.createEpoch({ epochId: EPOCH, kind: 'full', mapVersion: 3, startedAt: 0, shards: ['-80', '80-'], requestedBy: 'test' });
  const snapshot = (shard: string, identifier: string, managedKind: 'aurora' | 'rds') =>
    store.createBackup({
      backupId: `b${shard}`,
      epochId: EPOCH,
      shard,
      database: 'players',
      kind: 'snapshot',
      retentionClass: 'weekly',
      startedAt: 0,
      expiresAt: Number.MAX_SAFE_INTEGER,
      sourceNode: identifier,
      snapshotId: `sk-${identifier}`,
      status: 'succeeded',
      detail: { mapVersion: 3, managedKind, identifier },
    });
  await snapshot('-80', 'players-a', 'aurora');
  await snapshot('80-', 'rds-players', 'rds');
  return store;
}

describe('restoring a whole epoch', () => {
  it('restores every snapshot like its source and points the epoch map at the restored writers it knows', async () => {
    const calls: unknown[][] = [];
    const snapshots = {
      async restoreFromSnapshot(kind, snapshotId, target, source): Promise<RestoredDatabase> {
        calls.push([kind, snapshotId, target, source]);
        return kind === 'aurora' ? { arn: `arn:cluster:${target}`, endpoint: { host: `${target}.cluster-xyz.eu-west-1.rds.amazonaws.com`, port: 3306 } } : { arn: `arn:db:${target}` };
      },
    } as SnapshotService;
    const result = await restoreEpoch({ store: await storeWithEpoch(), snapshots, objects: undefined!, restorer: undefined!, clock: { now: () => 0 } }, { epochId: EPOCH, suffix: '_restored', apply: true });
    expect(calls).toEqual([
      ['aurora', 'sk-players-a', 'players-a-restored', 'players-a'],
      ['rds', 'sk-rds-players', 'rds-players-restored', 'rds-players'],
    ]);
    expect(result.shardMap.shards[0]!.nodes).toEqual([{ id: 'players-a-restored', role: 'primary', host: 'players-a-restored.cluster-xyz.eu-west-1.rds.amazonaws.com', port: 3306, secretRef: SECRET }]);
    // The instance's endpoint appears once it is available: its entry still names the old one, and says so.
    expect(result.shardMap.shards[1]).toEqual(MAP.shards[1]);
    expect(result.shards[1]).toMatchObject({ kind: 'snapshot', restoredArn: 'arn:db:rds-players-restored' });
    expect(result.shards[1]!.endpoint).toBeUndefined();
  });

  it('only says what it would do without --apply', async () => {
    const result = await restoreEpoch({ store: await storeWithEpoch(), objects: undefined!, restorer: undefined!, clock: { now: () => 0 } }, { epochId: EPOCH, suffix: '_restored', apply: false });
    expect(result.applied).toBe(false);
    expect(result.shards.map((entry) => entry.targetIdentifier)).toEqual(['players-a-restored', 'rds-players-restored']);
    expect(result.shardMap).toEqual(MAP);
  });
});

describe('finishing an epoch from the catalog', () => {
  it('succeeds when every shard of the epoch has a restorable backup from it', async () => {
    const store = await storeWithEpoch();
    await store.updateBackup('b-80', { status: 'verified' });
    expect(await finishEpoch(store, EPOCH, 5)).toEqual({ status: 'succeeded', failedCount: 0, failed: [] });
    expect(await store.epoch(EPOCH)).toMatchObject({ status: 'succeeded', finishedAt: 5 });
  });

  it('is partial when a shard\'s backup failed, and failed when no shard has one', async () => {
    const store = await storeWithEpoch();
    await store.updateBackup('b80-', { status: 'failed' });
    expect(await finishEpoch(store, EPOCH, 5)).toEqual({ status: 'partial', failedCount: 1, failed: ['80-'] });
    await store.updateBackup('b-80', { status: 'running' });
    expect(await finishEpoch(store, EPOCH, 6)).toEqual({ status: 'failed', failedCount: 2, failed: ['-80', '80-'] });
    expect((await store.epoch(EPOCH))!.status).toBe('failed');
  });

  it('counts a shard whose branch failed before recording any backup as failed', async () => {
    const store = await storeWithEpoch();
    await store.createEpoch({ epochId: 'e2', kind: 'full', mapVersion: 3, startedAt: 0, shards: ['-80', '80-', 'c0-'], requestedBy: 'test' });
    await store.createBackup({ backupId: 'b2', epochId: 'e2', shard: '-80', database: 'players', kind: 'snapshot', retentionClass: 'weekly', startedAt: 0, expiresAt: 1, status: 'succeeded' });
    expect(await finishEpoch(store, 'e2', 5)).toEqual({ status: 'partial', failedCount: 2, failed: ['80-', 'c0-'] });
  });

  it('refuses an epoch the catalog does not hold', async () => {
    await expect(finishEpoch(new MemoryBackupStore(), 'e-missing', 5)).rejects.toThrow(NotFoundError);
  });
});
