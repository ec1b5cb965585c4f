import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DBClusterNotFoundFault,
  DBInstanceNotFoundFault,
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
  type DBCluster,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { ManagedRecoveryPlan } from '../core/backup-pitr';
import type { ManagedDatabase, RestoredDatabase, SnapshotInfo, SnapshotService, SnapshotState } from '../ports/backup-snapshots';
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
  error instanceof DBClusterSnapshotNotFoundFault ||
  error instanceof DBSnapshotNotFoundFault ||
  error instanceof DBClusterNotFoundFault ||
  error instanceof DBInstanceNotFoundFault ||
  /NotFound/.test((error as { name?: string }).name ?? '');

/** The instance class a restored cluster's writer gets when the backed-up cluster is gone. */
export const FALLBACK_INSTANCE_CLASS = 'db.r6g.large';

/** Where and how the backed-up database ran, so its restore lands in the same network with the same settings. */
interface SourceSettings {
  DBSubnetGroupName?: string;
  VpcSecurityGroupIds?: string[];
  instanceClass?: string;
  instanceParameterGroup?: string;
  clusterParameterGroup?: string;
}

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

    async restoreFromSnapshot(kind, snapshotId, targetIdentifier, sourceIdentifier) {
      const client = clientFor();
      const source = await sourceSettings(client, kind, sourceIdentifier);
      if (kind === 'aurora') {
        const { DBCluster: cluster } = await client.send(
          new RestoreDBClusterFromSnapshotCommand({
            SnapshotIdentifier: snapshotId,
            DBClusterIdentifier: targetIdentifier,
            Engine: 'aurora-mysql',
            DBSubnetGroupName: source.DBSubnetGroupName,
            VpcSecurityGroupIds: source.VpcSecurityGroupIds,
            DBClusterParameterGroupName: source.clusterParameterGroup,
            Tags: asTags({ 'shardkeeper:restored-from': snapshotId }),
          }),
        );
        return withWriter(client, cluster, source, `the restore of snapshot ${snapshotId}`);
      }
      const { DBInstance: instance } = await client.send(
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBSnapshotIdentifier: snapshotId,
          DBInstanceIdentifier: targetIdentifier,
          DBInstanceClass: source.instanceClass,
          DBSubnetGroupName: source.DBSubnetGroupName,
          VpcSecurityGroupIds: source.VpcSecurityGroupIds,
          DBParameterGroupName: source.instanceParameterGroup,
          Tags: asTags({ 'shardkeeper:restored-from': snapshotId }),
        }),
      );
      if (!instance?.DBInstanceArn) throw new AppError(`the restore of snapshot ${snapshotId} returned no instance`);
      return { arn: instance.DBInstanceArn };
    },

    async restoreToPointInTime(plan: ManagedRecoveryPlan) {
      const client = clientFor();
      const restoreTime = new Date(plan.targetTime);
      const aurora = plan.call === 'RestoreDBClusterToPointInTime';
      const source = await sourceSettings(client, aurora ? 'aurora' : 'rds', plan.sourceIdentifier);
      if (aurora) {
        const { DBCluster: cluster } = await client.send(
          new RestoreDBClusterToPointInTimeCommand({
            SourceDBClusterIdentifier: plan.sourceIdentifier,
            DBClusterIdentifier: plan.targetIdentifier,
            RestoreToTime: restoreTime,
            DBSubnetGroupName: source.DBSubnetGroupName,
            VpcSecurityGroupIds: source.VpcSecurityGroupIds,
            DBClusterParameterGroupName: source.clusterParameterGroup,
          }),
        );
        return withWriter(client, cluster, source, `the restore of ${plan.sourceIdentifier}`);
      }
      const { DBInstance: instance } = await client.send(
        new RestoreDBInstanceToPointInTimeCommand({
          SourceDBInstanceIdentifier: plan.sourceIdentifier,
          TargetDBInstanceIdentifier: plan.targetIdentifier,
          RestoreTime: restoreTime,
          DBInstanceClass: source.instanceClass,
          DBSubnetGroupName: source.DBSubnetGroupName,
          VpcSecurityGroupIds: source.VpcSecurityGroupIds,
          DBParameterGroupName: source.instanceParameterGroup,
        }),
      );
      if (!instance?.DBInstanceArn) throw new AppError(`the restore of ${plan.sourceIdentifier} returned no instance`);
      return { arn: instance.DBInstanceArn };
    },
  };
}

const groupIds = (groups: { VpcSecurityGroupId?: string }[] | undefined) => groups?.flatMap((group) => (group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : []));

/** The backed-up cluster's or instance's network and parameter settings; empty when it no longer exists. */
async function sourceSettings(client: RDSClient, kind: ManagedDatabase['kind'], identifier: string): Promise<SourceSettings> {
  try {
    if (kind === 'aurora') {
      const { DBClusters: [cluster] = [] } = await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }));
      if (!cluster) return {};
      const writer = cluster.DBClusterMembers?.find((member) => member.IsClusterWriter)?.DBInstanceIdentifier;
      const { DBInstances: [instance] = [] } = writer ? await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: writer })) : {};
      return {
        DBSubnetGroupName: cluster.DBSubnetGroup,
        VpcSecurityGroupIds: groupIds(cluster.VpcSecurityGroups),
        clusterParameterGroup: cluster.DBClusterParameterGroup,
        instanceClass: instance?.DBInstanceClass,
        instanceParameterGroup: instance?.DBParameterGroups?.[0]?.DBParameterGroupName,
      };
    }
    const { DBInstances: [instance] = [] } = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
    if (!instance) return {};
    return {
      DBSubnetGroupName: instance.DBSubnetGroup?.DBSubnetGroupName,
      VpcSecurityGroupIds: groupIds(instance.VpcSecurityGroups),
      instanceClass: instance.DBInstanceClass,
      instanceParameterGroup: instance.DBParameterGroups?.[0]?.DBParameterGroupName,
    };
  } catch (error) {
    if (isNotFound(error)) return {};
    throw error;
  }
}

/** A restored Aurora cluster has no instances: it gets a writer like the source's, so it can serve. */
async function withWriter(client: RDSClient, cluster: DBCluster | undefined, source: SourceSettings, what: string): Promise<RestoredDatabase> {
  if (!cluster?.DBClusterArn || !cluster.DBClusterIdentifier) throw new AppError(`${what} returned no cluster`);
  await client.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: `${cluster.DBClusterIdentifier.slice(0, 56)}-writer`,
      DBClusterIdentifier: cluster.DBClusterIdentifier,
      Engine: 'aurora-mysql',
      DBInstanceClass: source.instanceClass ?? FALLBACK_INSTANCE_CLASS,
      DBParameterGroupName: source.instanceParameterGroup,
    }),
  );
  return { arn: cluster.DBClusterArn, ...(cluster.Endpoint ? { endpoint: { host: cluster.Endpoint, port: cluster.Port ?? 3306 } } : {}) };
}
