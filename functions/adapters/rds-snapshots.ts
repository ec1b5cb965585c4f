import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DBClusterSnapshotNotFoundFault,
  DBSnapshotNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { ManagedRecoveryPlan } from '../core/backup-pitr';
import type { ManagedDatabase, SnapshotInfo, SnapshotService, SnapshotState } from '../ports/backup-snapshots';
import { AppError, NotFoundError } from '../shared/errors';

export interface RdsSnapshotsOptions {
  /** The client for a region (the home region when undefined); cross-region copies are created from the target region. */
  clientFor: (region?: string) => RDSClient;
  homeRegion: string;
}

function stateOf(status: string | undefined): SnapshotState {
  if (status === 'available') return 'available';
  if (status === 'failed' || status === 'incompatible-restore' || status === 'incompatible-parameters' || status === 'deleted') return 'failed';
  return 'creating';
}

const asTags = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

const isNotFound = (error: unknown) =>
  error instanceof DBClusterSnapshotNotFoundFault || error instanceof DBSnapshotNotFoundFault || /NotFound/.test((error as { name?: string }).name ?? '');

/** Aurora cluster snapshots and RDS instance snapshots through the RDS API. */
export function createRdsSnapshots({ clientFor, homeRegion }: RdsSnapshotsOptions): SnapshotService {
  const info = (id: string, arn: string | undefined, status: string | undefined, region: string): SnapshotInfo => ({
    id,
    arn: arn ?? '',
    state: stateOf(status),
    status: status ?? 'unknown',
    region,
  });

  return {
    async createSnapshot(database: ManagedDatabase, snapshotId: string, tags: Record<string, string>) {
      const client = clientFor();
      if (database.kind === 'aurora') {
        const { DBClusterSnapshot: snapshot } = await client.send(
          new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: database.identifier, DBClusterSnapshotIdentifier: snapshotId, Tags: asTags(tags) }),
        );
        return info(snapshotId, snapshot?.DBClusterSnapshotArn, snapshot?.Status, homeRegion);
      }
      const { DBSnapshot: snapshot } = await client.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: database.identifier, DBSnapshotIdentifier: snapshotId, Tags: asTags(tags) }));
      return info(snapshotId, snapshot?.DBSnapshotArn, snapshot?.Status, homeRegion);
    },

    async describeSnapshot(kind, snapshotId, region = homeRegion) {
      const client = clientFor(region === homeRegion ? undefined : region);
      try {
        if (kind === 'aurora') {
          const { DBClusterSnapshots: found = [] } = await client.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshotId }));
          return found[0] && info(snapshotId, found[0].DBClusterSnapshotArn, found[0].Status, region);
        }
        const { DBSnapshots: found = [] } = await client.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }));
        return found[0] && info(snapshotId, found[0].DBSnapshotArn, found[0].Status, region);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },

    async copySnapshot(kind, source, targetRegion, copyId, tags, kmsKeyId) {
      const client = clientFor(targetRegion);
      // Called in the target region with the source ARN; outside GovCloud no presigned URL is needed.
      if (kind === 'aurora') {
        const { DBClusterSnapshot: copy } = await client.send(
          new CopyDBClusterSnapshotCommand({
            SourceDBClusterSnapshotIdentifier: source.arn,
            TargetDBClusterSnapshotIdentifier: copyId,
            KmsKeyId: kmsKeyId,
            Tags: asTags(tags),
          }),
        );
        return info(copyId, copy?.DBClusterSnapshotArn, copy?.Status, targetRegion);
      }
      const { DBSnapshot: copy } = await client.send(
        new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: source.arn, TargetDBSnapshotIdentifier: copyId, KmsKeyId: kmsKeyId, Tags: asTags(tags) }),
      );
      return info(copyId, copy?.DBSnapshotArn, copy?.Status, targetRegion);
    },

    async deleteSnapshot(kind, snapshotId, region = homeRegion) {
      const client = clientFor(region === homeRegion ? undefined : region);
      try {
        if (kind === 'aurora') await client.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: snapshotId }));
        else await client.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },

    async restoreWindow(database: ManagedDatabase) {
      const client = clientFor();
      if (database.kind === 'aurora') {
        const { DBClusters: [cluster] = [] } = await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: database.identifier }));
        if (!cluster?.EarliestRestorableTime || !cluster.LatestRestorableTime) throw new NotFoundError(`cluster ${database.identifier} reports no restore window`);
        return { earliest: cluster.EarliestRestorableTime.getTime(), latest: cluster.LatestRestorableTime.getTime() };
      }
      const { DBInstances: [instance] = [] } = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: database.identifier }));
      const { DBInstanceAutomatedBackups: [automated] = [] } = await client.send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: database.identifier }));
      const earliest = automated?.RestoreWindow?.EarliestTime;
      if (!instance?.LatestRestorableTime || !earliest) throw new NotFoundError(`instance ${database.identifier} reports no restore window`);
      return { earliest: earliest.getTime(), latest: instance.LatestRestorableTime.getTime() };
    },

    async restoreFromSnapshot(kind, snapshotId, targetIdentifier) {
      const client = clientFor();
      if (kind === 'aurora') {
        const { DBCluster: cluster } = await client.send(
          new RestoreDBClusterFromSnapshotCommand({ SnapshotIdentifier: snapshotId, DBClusterIdentifier: targetIdentifier, Engine: 'aurora-mysql' }),
        );
        if (!cluster?.DBClusterArn) throw new AppError(`the restore of snapshot ${snapshotId} returned no cluster`);
        return cluster.DBClusterArn;
      }
      const { DBInstance: instance } = await client.send(new RestoreDBInstanceFromDBSnapshotCommand({ DBSnapshotIdentifier: snapshotId, DBInstanceIdentifier: targetIdentifier }));
      if (!instance?.DBInstanceArn) throw new AppError(`the restore of snapshot ${snapshotId} returned no instance`);
      return instance.DBInstanceArn;
    },

    async restoreToPointInTime(plan: ManagedRecoveryPlan) {
      const client = clientFor();
      const restoreTime = new Date(plan.targetTime);
      if (plan.call === 'RestoreDBClusterToPointInTime') {
        const { DBCluster: cluster } = await client.send(
          new RestoreDBClusterToPointInTimeCommand({ SourceDBClusterIdentifier: plan.sourceIdentifier, DBClusterIdentifier: plan.targetIdentifier, RestoreToTime: restoreTime }),
        );
        if (!cluster?.DBClusterArn) throw new AppError(`the restore of ${plan.sourceIdentifier} returned no cluster`);
        return cluster.DBClusterArn;
      }
      const { DBInstance: instance } = await client.send(
        new RestoreDBInstanceToPointInTimeCommand({ SourceDBInstanceIdentifier: plan.sourceIdentifier, TargetDBInstanceIdentifier: plan.targetIdentifier, RestoreTime: restoreTime }),
      );
      if (!instance?.DBInstanceArn) throw new AppError(`the restore of ${plan.sourceIdentifier} returned no instance`);
      return instance.DBInstanceArn;
    },
  };
}
