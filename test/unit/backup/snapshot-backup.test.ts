import {
  CopyDBClusterSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBInstanceAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createRdsSnapshots, FALLBACK_INSTANCE_CLASS } from '../../../functions/adapters/rds-snapshots';
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
/** The backed-up cluster and its writer, whose settings a restore copies. */
const SOURCE_CLUSTER = {
  DBClusterIdentifier: 'players-a',
  DBSubnetGroup: 'shards-private',
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-shards', Status: 'active' }],
  DBClusterParameterGroup: 'players-cluster-params',
  DBClusterMembers: [
    { DBInstanceIdentifier: 'players-a-2', IsClusterWriter: false },
    { DBInstanceIdentifier: 'players-a-1', IsClusterWriter: true },
  ],
};
const SOURCE_WRITER = { DBInstanceIdentifier: 'players-a-1', DBInstanceClass: 'db.r7g.xlarge', DBParameterGroups: [{ DBParameterGroupName: 'players-instance-params' }] };

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
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ ...SOURCE_CLUSTER, EarliestRestorableTime: new Date(NOW - 86_400_000), LatestRestorableTime: new Date(NOW - 300_000) }] });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [SOURCE_WRITER] });
    rds.on(RestoreDBClusterToPointInTimeCommand).resolves({
      DBCluster: { DBClusterArn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-pitr', DBClusterIdentifier: 'players-a-pitr-202601040200', Endpoint: 'players-a-pitr.cluster-xyz.eu-west-1.rds.amazonaws.com', Port: 3306 },
    });
    rds.on(CreateDBInstanceCommand).resolves({});
    await recordRestoreWindow(deps(), request);
    const plan = (await planShardRecovery(store, shard, NOW - 3_600_000, NOW)) as ManagedRecoveryPlan;
    expect(plan).toMatchObject({ kind: 'managed-pitr', sourceIdentifier: 'players-a', targetIdentifier: 'players-a-pitr-202601040200' });
    await expect(planShardRecovery(store, shard, NOW, NOW)).rejects.toThrow(/outside the cluster's restore window/);
    expect(await runManagedRecovery(deps().snapshots, plan)).toEqual({
      arn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-pitr',
      endpoint: { host: 'players-a-pitr.cluster-xyz.eu-west-1.rds.amazonaws.com', port: 3306 },
    });
    expect(rds.commandCalls(RestoreDBClusterToPointInTimeCommand)[0]!.args[0].input).toMatchObject({
      SourceDBClusterIdentifier: 'players-a',
      RestoreToTime: new Date(NOW - 3_600_000),
      DBSubnetGroupName: 'shards-private',
      VpcSecurityGroupIds: ['sg-shards'],
      DBClusterParameterGroupName: 'players-cluster-params',
    });
    expect(rds.commandCalls(CreateDBInstanceCommand)[0]!.args[0].input).toEqual({
      DBInstanceIdentifier: 'players-a-pitr-202601040200-writer',
      DBClusterIdentifier: 'players-a-pitr-202601040200',
      Engine: 'aurora-mysql',
      DBInstanceClass: 'db.r7g.xlarge',
      DBParameterGroupName: 'players-instance-params',
    });
  });
});

describe('restoring snapshots through the RDS API', () => {
  const snapshots = () => createRdsSnapshots({ clientFor: () => new RDSClient({ region: 'eu-west-1' }), homeRegion: 'eu-west-1' });

  beforeEach(() => {
    rds.reset();
    rds.on(CreateDBInstanceCommand).resolves({});
    rds.on(RestoreDBClusterFromSnapshotCommand).callsFake((input) => ({
      DBCluster: { DBClusterArn: `arn:aws:rds:eu-west-1:111122223333:cluster:${input.DBClusterIdentifier}`, DBClusterIdentifier: input.DBClusterIdentifier, Endpoint: `${input.DBClusterIdentifier}.cluster-xyz.eu-west-1.rds.amazonaws.com`, Port: 3306 },
    }));
  });

  it('restores an Aurora snapshot into the source cluster\'s network with its settings, and gives the cluster a writer like the source\'s', async () => {
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'players-a' }).resolves({ DBClusters: [SOURCE_CLUSTER] });
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'players-a-1' }).resolves({ DBInstances: [SOURCE_WRITER] });
    const restored = await snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a');
    expect(restored).toEqual({ arn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-restored', endpoint: { host: 'players-a-restored.cluster-xyz.eu-west-1.rds.amazonaws.com', port: 3306 } });
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0]!.args[0].input).toMatchObject({
      SnapshotIdentifier: 'sk-snap',
      DBClusterIdentifier: 'players-a-restored',
      Engine: 'aurora-mysql',
      DBSubnetGroupName: 'shards-private',
      VpcSecurityGroupIds: ['sg-shards'],
      DBClusterParameterGroupName: 'players-cluster-params',
    });
    expect(rds.commandCalls(CreateDBInstanceCommand)[0]!.args[0].input).toMatchObject({ DBClusterIdentifier: 'players-a-restored', DBInstanceClass: 'db.r7g.xlarge' });
  });

  it('still restores when the backed-up cluster is gone, with a default writer class', async () => {
    rds.on(DescribeDBClustersCommand).rejects(new DBClusterNotFoundFault({ message: 'gone', $metadata: {} }));
    await snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a');
    expect(rds.commandCalls(RestoreDBClusterFromSnapshotCommand)[0]!.args[0].input.DBSubnetGroupName).toBeUndefined();
    expect(rds.commandCalls(CreateDBInstanceCommand)[0]!.args[0].input.DBInstanceClass).toBe(FALLBACK_INSTANCE_CLASS);
  });

  it('goes on with the cluster and writer an earlier attempt restored from the same snapshot', async () => {
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'players-a' }).resolves({ DBClusters: [SOURCE_CLUSTER] });
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'players-a-1' }).resolves({ DBInstances: [SOURCE_WRITER] });
    rds.on(RestoreDBClusterFromSnapshotCommand).rejects(new DBClusterAlreadyExistsFault({ message: 'exists', $metadata: {} }));
    rds.on(CreateDBInstanceCommand).rejects(new DBInstanceAlreadyExistsFault({ message: 'exists', $metadata: {} }));
    const earlier = (snapshot: string) => ({
      DBClusters: [
        {
          DBClusterArn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-restored',
          DBClusterIdentifier: 'players-a-restored',
          Endpoint: 'players-a-restored.cluster-xyz.eu-west-1.rds.amazonaws.com',
          Port: 3306,
          TagList: [{ Key: 'shardkeeper:restored-from', Value: snapshot }],
        },
      ],
    });
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'players-a-restored' }).resolves(earlier('sk-snap'));
    const writerIn = (cluster: string) => rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'players-a-restored-writer' }).resolves({ DBInstances: [{ DBClusterIdentifier: cluster }] });
    writerIn('players-a-restored');
    expect(await snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a')).toEqual({
      arn: 'arn:aws:rds:eu-west-1:111122223333:cluster:players-a-restored',
      endpoint: { host: 'players-a-restored.cluster-xyz.eu-west-1.rds.amazonaws.com', port: 3306 },
    });

    writerIn('players-a-restored-2');
    await expect(snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a')).rejects.toThrow(
      /instance players-a-restored-writer already exists in players-a-restored-2, not in players-a-restored/,
    );
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'players-a-restored' }).resolves(earlier('another-snap'));
    await expect(snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a')).rejects.toThrow(
      /cluster players-a-restored already exists and was not restored from snapshot sk-snap/,
    );
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'players-a-restored' }).resolves({ DBClusters: [{ ...earlier('sk-snap').DBClusters[0]!, Status: 'deleting' }] });
    await expect(snapshots().restoreFromSnapshot('aurora', 'sk-snap', 'players-a-restored', 'players-a')).rejects.toThrow(
      /cluster players-a-restored, restored from snapshot sk-snap before, is deleting; once it is deleted, restore again/,
    );
  });

  it('goes on with the instance an earlier attempt restored from the same snapshot, with its endpoint once it has one', async () => {
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'rds-players' }).resolves({ DBInstances: [{ DBInstanceClass: 'db.m7g.large' }] });
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).rejects(new DBInstanceAlreadyExistsFault({ message: 'exists', $metadata: {} }));
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'rds-players-restored' }).resolves({
      DBInstances: [
        {
          DBInstanceArn: 'arn:aws:rds:eu-west-1:111122223333:db:rds-players-restored',
          Endpoint: { Address: 'rds-players-restored.xyz.eu-west-1.rds.amazonaws.com', Port: 3306 },
          TagList: [{ Key: 'shardkeeper:restored-from', Value: 'sk-snap' }],
        },
      ],
    });
    expect(await snapshots().restoreFromSnapshot('rds', 'sk-snap', 'rds-players-restored', 'rds-players')).toEqual({
      arn: 'arn:aws:rds:eu-west-1:111122223333:db:rds-players-restored',
      endpoint: { host: 'rds-players-restored.xyz.eu-west-1.rds.amazonaws.com', port: 3306 },
    });
  });

  it('restores an RDS instance snapshot with the source instance\'s class and network; its endpoint comes later', async () => {
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'rds-players' }).resolves({
      DBInstances: [{ DBInstanceClass: 'db.m7g.large', DBSubnetGroup: { DBSubnetGroupName: 'shards-private' }, VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-shards' }], DBParameterGroups: [{ DBParameterGroupName: 'mysql-params' }] }],
    });
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceArn: 'arn:aws:rds:eu-west-1:111122223333:db:rds-players-restored' } });
    expect(await snapshots().restoreFromSnapshot('rds', 'sk-snap', 'rds-players-restored', 'rds-players')).toEqual({ arn: 'arn:aws:rds:eu-west-1:111122223333:db:rds-players-restored' });
    expect(rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0]!.args[0].input).toMatchObject({
      DBInstanceClass: 'db.m7g.large',
      DBSubnetGroupName: 'shards-private',
      VpcSecurityGroupIds: ['sg-shards'],
      DBParameterGroupName: 'mysql-params',
    });
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(0);
  });
});
