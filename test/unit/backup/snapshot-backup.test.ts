import {
  CopyDBClusterSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  DBClusterSnapshotNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  RDSClient,
  RestoreDBClusterToPointInTimeCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createRdsSnapshots } from '../../../functions/adapters/rds-snapshots';
import { DEFAULT_BACKUP_SETTINGS } from '../../../functions/backup/backup-deps';
import { planShardRecovery, runManagedRecovery } from '../../../functions/backup/recovery';
import { pollSnapshotBackup, recordRestoreWindow, startSnapshotBackup } from '../../../functions/backup/snapshot-backup';
import type { ManagedRecoveryPlan } from '../../../functions/core/backup-pitr';
import type { Shard } from '../../../functions/core/shard-map-types';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { MemoryBackupStore } from './memory-backup-store';

const rds = mockClient(RDSClient);
const NOW = Date.parse('2026-01-04T02:00:00Z');
const shard: Shard = {
  name: '-80',
  database: 'players',
  status: 'serving',
  kind: 'aurora',
  nodes: [{ id: 'w', role: 'primary', host: 'players-a.cluster-abc123.eu-west-1.rds.amazonaws.com', port: 3306 }],
};
const ARN = 'arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:sk-e20260104t020000z-v3-abc123-to80';

describe('Aurora snapshot backups through the RDS API', () => {
  let store: MemoryBackupStore;
  let events: AppEvent[];
  const deps = (copyRegion?: string) => ({
    store,
    snapshots: createRdsSnapshots({ clientFor: (region) => new RDSClient({ region: region ?? 'eu-west-1' }), homeRegion: 'eu-west-1' }),
    events: { publish: async (published: AppEvent[]) => void events.push(...published) },
    clock: { now: () => NOW },
    settings: DEFAULT_BACKUP_SETTINGS,
    copyRegion,
  });
  const request = { epochId: 'e20260104t020000z-v3-abc123', mapVersion: 3, shard };
  let snapshotStatus: string;
  let copyStatus: string | undefined;

  beforeEach(() => {
    store = new MemoryBackupStore();
    events = [];
    snapshotStatus = 'creating';
    copyStatus = undefined;
    rds.reset();
    rds.on(CreateDBClusterSnapshotCommand).callsFake((input) => ({ DBClusterSnapshot: { DBClusterSnapshotIdentifier: input.DBClusterSnapshotIdentifier, DBClusterSnapshotArn: ARN, Status: 'creating' } }));
    rds.on(DescribeDBClusterSnapshotsCommand).callsFake(async (input, getClient) => {
      const region = await (getClient() as RDSClient).config.region();
      const status = region === 'eu-west-1' ? snapshotStatus : copyStatus;
      if (status === undefined || (region === 'eu-west-1' && snapshotStatus === 'missing')) throw new DBClusterSnapshotNotFoundFault({ message: 'not found', $metadata: {} });
      return { DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: input.DBClusterSnapshotIdentifier, DBClusterSnapshotArn: region === 'eu-west-1' ? ARN : `${ARN}-copy`, Status: status }] };
    });
    rds.on(CopyDBClusterSnapshotCommand).callsFake(() => {
      copyStatus = 'copying';
      return { DBClusterSnapshot: { DBClusterSnapshotArn: `${ARN}-copy`, Status: 'copying' } };
    });
  });

  it('tags the snapshot with the epoch, shard, map version and retention class, and records it once available', async () => {
    snapshotStatus = 'missing';
    const backup = await startSnapshotBackup(deps(), request);
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)[0]!.args[0].input).toEqual({
      DBClusterIdentifier: 'players-a',
      DBClusterSnapshotIdentifier: 'sk-e20260104t020000z-v3-abc123-to80',
      Tags: [
        { Key: 'sk-epoch', Value: request.epochId },
        { Key: 'sk-shard', Value: '-80' },
        { Key: 'sk-map-version', Value: '3' },
        { Key: 'sk-retention', Value: 'monthly' },
      ],
    });
    snapshotStatus = 'creating';
    expect(await pollSnapshotBackup(deps(), backup.backupId)).toMatchObject({ state: 'pending', phase: 'snapshot' });
    snapshotStatus = 'available';
    expect(await pollSnapshotBackup(deps(), backup.backupId)).toMatchObject({ state: 'available', phase: 'done' });
    expect(await store.backup(backup.backupId)).toMatchObject({ status: 'succeeded', snapshotArn: ARN });
    expect(events.map((event) => event.detailType)).toEqual(['BackupStarted', 'BackupSucceeded']);
  });

  it('does not create a second snapshot when a retried start finds the epoch snapshot already there', async () => {
    await startSnapshotBackup(deps(), request);
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(0);
  });

  it('copies an available snapshot to the copy region and waits for the copy before succeeding', async () => {
    const backup = await startSnapshotBackup(deps('eu-central-1'), request);
    snapshotStatus = 'available';
    expect(await pollSnapshotBackup(deps('eu-central-1'), backup.backupId)).toMatchObject({ state: 'pending', phase: 'copy' });
    expect(rds.commandCalls(CopyDBClusterSnapshotCommand)[0]!.args[0].input).toMatchObject({ SourceDBClusterSnapshotIdentifier: ARN, TargetDBClusterSnapshotIdentifier: 'sk-e20260104t020000z-v3-abc123-to80' });
    copyStatus = 'available';
    expect(await pollSnapshotBackup(deps('eu-central-1'), backup.backupId)).toMatchObject({ state: 'available' });
    expect((await store.backup(backup.backupId))!.detail).toMatchObject({ copyRegion: 'eu-central-1', copyArn: `${ARN}-copy` });
  });

  it('reports a failed snapshot instead of waiting for it forever', async () => {
    const backup = await startSnapshotBackup(deps(), request);
    snapshotStatus = 'failed';
    await expect(pollSnapshotBackup(deps(), backup.backupId)).rejects.toThrow(/failed: failed/);
  });

  it('records the PITR window and plans the restore call within it', async () => {
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ EarliestRestorableTime: new Date(NOW - 86_400_000), LatestRestorableTime: new Date(NOW - 300_000) }] });
    rds.on(RestoreDBClusterToPointInTimeCommand).resolves({ DBCluster: { DBClusterArn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-pitr' } });
    await recordRestoreWindow(deps(), request);
    const plan = (await planShardRecovery(store, shard, NOW - 3_600_000, NOW)) as ManagedRecoveryPlan;
    expect(plan).toMatchObject({ kind: 'managed-pitr', sourceIdentifier: 'players-a', targetIdentifier: 'players-a-pitr-202601040200' });
    await expect(planShardRecovery(store, shard, NOW, NOW)).rejects.toThrow(/outside the cluster's restore window/);
    expect(await runManagedRecovery(deps().snapshots, plan)).toMatch(/cluster:players-a-pitr$/);
    expect(rds.commandCalls(RestoreDBClusterToPointInTimeCommand)[0]!.args[0].input).toMatchObject({ SourceDBClusterIdentifier: 'players-a', RestoreToTime: new Date(NOW - 3_600_000) });
  });
});
