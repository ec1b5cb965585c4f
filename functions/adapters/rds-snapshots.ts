import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBSnapshotCommand,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBInstanceAlreadyExistsFault,
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
  type Tag,
} from '@aws-sdk/client-rds';
import type { ManagedRecoveryPlan } from '../core/backup-pitr';
import type { ManagedDatabase, RestoredDatabase, SnapshotInfo, SnapshotService, SnapshotState } from '../ports/backup-snapshots';
import { AppError, ConflictError, NotFoundError } from '../shared/errors';

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

/** Marks what a restore created, so a retry recognises its own cluster or instance. */
const RESTORED_FROM_TAG = 'shardkeeper:restored-from';

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
      const tags = asTags({ [RESTORED_FROM_TAG]: snapshotId });
      if (kind === 'aurora') {
        const cluster = await unlessExisting(
          async () =>
            (
              await client.send(
                new RestoreDBClusterFromSnapshotCommand({
                  SnapshotIdentifier: snapshotId,
                  DBClusterIdentifier: targetIdentifier,
                  Engine: 'aurora-mysql',
                  DBSubnetGroupName: source.DBSubnetGroupName,
                  VpcSecurityGroupIds: source.VpcSecurityGroupIds,
                  DBClusterParameterGroupName: source.clusterParameterGroup,
                  Tags: tags,
                }),
              )
            ).DBCluster,
          async () => {
            const { DBClusters: [existing] = [] } = await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: targetIdentifier }));
            return earlierRestore(existing, existing && { tags: existing.TagList, status: existing.Status }, snapshotId, `cluster ${targetIdentifier}`);
          },
        );
        return withWriter(client, cluster, source, `the restore of snapshot ${snapshotId}`);
      }
      const instance = await unlessExisting(
        async () =>
          (
            await client.send(
              new RestoreDBInstanceFromDBSnapshotCommand({
                DBSnapshotIdentifier: snapshotId,
                DBInstanceIdentifier: targetIdentifier,
                DBInstanceClass: source.instanceClass,
                DBSubnetGroupName: source.DBSubnetGroupName,
                VpcSecurityGroupIds: source.VpcSecurityGroupIds,
                DBParameterGroupName: source.instanceParameterGroup,
                Tags: tags,
              }),
            )
          ).DBInstance,
        async () => {
          const { DBInstances: [existing] = [] } = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: targetIdentifier }));
          return earlierRestore(existing, existing && { tags: existing.TagList, status: existing.DBInstanceStatus }, snapshotId, `instance ${targetIdentifier}`);
        },
      );
      if (!instance?.DBInstanceArn) throw new AppError(`the restore of snapshot ${snapshotId} returned no instance`);
      const endpoint = instance.Endpoint?.Address ? { endpoint: { host: instance.Endpoint.Address, port: instance.Endpoint.Port ?? 3306 } } : {};
      return { arn: instance.DBInstanceArn, ...endpoint };
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

/** `create()`, or `existing()` when RDS says what it would create already exists. */
async function unlessExisting<T>(create: () => Promise<T>, existing: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (error) {
    if (!(error instanceof DBClusterAlreadyExistsFault || error instanceof DBInstanceAlreadyExistsFault)) throw error;
    return existing();
  }
}

/** States a restored cluster or instance does not come back from by itself. */
const DEAD_END = /^(deleting|failed|restore-error|incompatible-.*|inaccessible-.*)$/;

/**
 * The cluster or instance a retried restore found under its target name: an earlier attempt's when
 * tagged as restored from the same snapshot and not on its way out, which the retry goes on with;
 * anything else is refused.
 */
function earlierRestore<T>(existing: T | undefined, seen: { tags?: Tag[]; status?: string } | undefined, snapshotId: string, what: string): T {
  if (!existing || !seen?.tags?.some((tag) => tag.Key === RESTORED_FROM_TAG && tag.Value === snapshotId)) {
    throw new ConflictError(`${what} already exists and was not restored from snapshot ${snapshotId}; choose another --suffix or delete it`);
  }
  if (DEAD_END.test(seen.status ?? '')) throw new ConflictError(`${what}, restored from snapshot ${snapshotId} before, is ${seen.status}; once it is deleted, restore again`);
  return existing;
}

/** A restored Aurora cluster has no instances: it gets a writer like the source's, so it can serve (a retry finds the one it made). */
async function withWriter(client: RDSClient, cluster: DBCluster | undefined, source: SourceSettings, what: string): Promise<RestoredDatabase> {
  if (!cluster?.DBClusterArn || !cluster.DBClusterIdentifier) throw new AppError(`${what} returned no cluster`);
  const identifier = cluster.DBClusterIdentifier;
  const writer = `${identifier.slice(0, 56)}-writer`;
  await unlessExisting(
    async () => {
      await client.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: writer,
          DBClusterIdentifier: identifier,
          Engine: 'aurora-mysql',
          DBInstanceClass: source.instanceClass ?? FALLBACK_INSTANCE_CLASS,
          DBParameterGroupName: source.instanceParameterGroup,
        }),
      );
    },
    async () => {
      const { DBInstances: [existing] = [] } = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: writer }));
      if (existing?.DBClusterIdentifier !== identifier) throw new ConflictError(`instance ${writer} already exists in ${existing?.DBClusterIdentifier ?? 'no cluster'}, not in ${identifier}; delete it or choose another --suffix`);
    },
  );
  return { arn: cluster.DBClusterArn, ...(cluster.Endpoint ? { endpoint: { host: cluster.Endpoint, port: cluster.Port ?? 3306 } } : {}) };
}
