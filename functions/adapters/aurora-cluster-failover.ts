import { DescribeDBClustersCommand, FailoverDBClusterCommand, type DBCluster, type RDSClient } from '@aws-sdk/client-rds';
import { systemClock, type Clock } from '../ports/clock';
import type { ClusterFailover } from '../ports/cluster-failover';
import { NodeNotReadyError, NotFoundError, ValidationError } from '../shared/errors';

export interface AuroraClusterFailoverOptions {
  client: RDSClient;
  /** How long one call waits for the new writer; Aurora usually takes 30-60 s. @default 120 s */
  waitMs?: number;
  /** @default 2 s */
  pollIntervalMs?: number;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
}

/** `arn:aws:rds:eu-west-1:111122223333:cluster:shard-40-80` → `shard-40-80`. */
export function clusterIdFromArn(arn: string): string {
  const match = /^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:([A-Za-z][A-Za-z0-9-]{0,62})$/.exec(arn);
  if (!match) throw new ValidationError(`not an RDS cluster ARN: ${arn}`);
  return match[1]!;
}

/** Aurora failover through the RDS API: FailoverDBCluster, then DescribeDBClusters until another instance writes. */
export class AuroraClusterFailover implements ClusterFailover {
  private readonly waitMs: number;
  private readonly pollIntervalMs: number;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: AuroraClusterFailoverOptions) {
    this.waitMs = options.waitMs ?? 120_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 2_000;
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async currentWriter(clusterId: string): Promise<string> {
    const writer = writerOf(await this.describe(clusterId));
    if (!writer) throw new NodeNotReadyError(`Aurora cluster ${clusterId} has no writer instance right now`);
    return writer;
  }

  async failover(clusterId: string, fromWriter: string): Promise<string> {
    const before = await this.describe(clusterId);
    // Only an available cluster still led by the old writer needs the call; otherwise it already happened or is running.
    if (writerOf(before) === fromWriter && before.Status === 'available') {
      await this.options.client.send(new FailoverDBClusterCommand({ DBClusterIdentifier: clusterId }));
    }
    const deadline = this.clock.now() + this.waitMs;
    for (;;) {
      const cluster = await this.describe(clusterId);
      const writer = writerOf(cluster);
      if (writer && writer !== fromWriter && cluster.Status === 'available') return writer;
      if (this.clock.now() >= deadline) {
        throw new NodeNotReadyError(`Aurora cluster ${clusterId} has no new writer after ${this.waitMs} ms (status ${cluster.Status ?? 'unknown'}, writer ${writer ?? 'none'})`);
      }
      await this.sleep(this.pollIntervalMs);
    }
  }

  private async describe(clusterId: string): Promise<DBCluster> {
    const { DBClusters } = await this.options.client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: clusterId }));
    const cluster = DBClusters?.[0];
    if (!cluster) throw new NotFoundError(`Aurora cluster ${clusterId} not found`);
    return cluster;
  }
}

function writerOf(cluster: DBCluster): string | undefined {
  return cluster.DBClusterMembers?.find((member) => member.IsClusterWriter)?.DBInstanceIdentifier;
}
