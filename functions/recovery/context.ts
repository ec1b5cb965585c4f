import { requireShardMap } from '../catalog/shard-map-changes';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardMap, ShardMapDraft, ShardNode } from '../core/shard-map-types';
import type { Catalog } from '../ports/catalog';
import type { Clock } from '../ports/clock';
import type { ClusterFailover } from '../ports/cluster-failover';
import type { EventPublisher } from '../ports/event-publisher';
import type { NodeProber } from '../ports/node-prober';
import type { AuditOutcome, RecoveryStore } from '../ports/recovery-store';
import type { ReplicationAdmin } from '../ports/replication-admin';
import { ConfigError, NotFoundError } from '../shared/errors';

export interface RecoveryPolicy {
  /** A second failover of a shard within this window is blocked unless acknowledged (30 min). */
  antiFlapMs: number;
  /** A replica lagging more than this is not promoted. */
  maxCandidateLagSeconds: number;
  /** How long a failover may hold the shard's lock; the state machine times out before it expires. */
  failoverLockMs: number;
  /** How long a replica removal or restore may hold it. */
  replicaLockMs: number;
  /** How long a manual runbook holds it while waiting for an operator. */
  runbookLockMs: number;
  /** Probes of a removed replica (one per minute in the workflow) before leaving it to an operator. */
  replicaWatchChecks: number;
  /** Commits of one map change that lost to a concurrent writer before the step gives up (and Step Functions retries it). */
  mapCommitAttempts: number;
}

export const DEFAULT_RECOVERY_POLICY: Readonly<RecoveryPolicy> = Object.freeze({
  antiFlapMs: 30 * 60_000,
  maxCandidateLagSeconds: 5,
  failoverLockMs: 15 * 60_000,
  replicaLockMs: 2 * 60_000,
  runbookLockMs: 25 * 60 * 60_000,
  replicaWatchChecks: 24 * 60,
  mapCommitAttempts: 5,
});

/** Everything a recovery step works with; the Lambda handler builds it from AWS clients, tests from fakes. */
export interface RecoveryDeps {
  catalog: Catalog;
  store: RecoveryStore;
  prober: NodeProber;
  admin: ReplicationAdmin;
  events: EventPublisher;
  clock: Clock;
  policy: RecoveryPolicy;
  /** For Aurora shards: the cluster's own failover, and each shard's cluster identifier. */
  clusterFailover?: ClusterFailover;
  auroraClusters: Readonly<Record<string, string>>;
}

export interface Located {
  map: ShardMap;
  shard: Shard;
}

export async function locateShard(catalog: Catalog, name: string): Promise<Located> {
  const map = await requireShardMap(catalog);
  const shard = map.shards.find((candidate) => candidate.name === name);
  if (!shard) throw new NotFoundError(`shard ${name} is not in the shard map (version ${map.version})`);
  return { map, shard };
}

/** The map with some shards' nodes replaced (by shard name), as a draft to commit against `map.version`. */
export function withShardNodes(map: ShardMap, nodesOf: ReadonlyMap<string, ShardNode[]>): ShardMapDraft {
  return {
    keyType: map.keyType,
    strategy: map.strategy,
    overrides: map.overrides,
    shards: map.shards.map((shard) => {
      const nodes = nodesOf.get(shard.name);
      return nodes ? { ...shard, nodes } : shard;
    }),
  };
}

/** A node as the server it is: shards list the same server under their own node ids. */
export const serverOf = (node: Pick<ShardNode, 'host' | 'port'>) => `${node.host}:${node.port}`;

/**
 * The shards whose writer is the same server as `shard`'s, `shard` included: the halves of a split
 * not yet moved, or shard databases sharing a server. They fail over together.
 */
export function shardsOnPrimary(map: Pick<ShardMap, 'shards'>, shard: Shard): Shard[] {
  const writer = primaryOf(shard);
  if (!writer) return [shard];
  return map.shards.filter((other) => other.name === shard.name || (primaryOf(other) && serverOf(primaryOf(other)!) === serverOf(writer)));
}

/**
 * The name a shard's recovery lock is taken under: the first name among the shards on its writer's
 * server, so no two recoveries act on the same servers at once.
 */
export function recoveryLockName(map: Pick<ShardMap, 'shards'>, shardName: string): string {
  const shard = map.shards.find((candidate) => candidate.name === shardName);
  if (!shard) return shardName;
  return shardsOnPrimary(map, shard).map((other) => other.name).sort()[0] ?? shardName;
}

export function auroraClusterOf(deps: RecoveryDeps, shard: string): { failover: ClusterFailover; clusterId: string } {
  const clusterId = deps.auroraClusters[shard];
  if (!deps.clusterFailover || !clusterId) {
    throw new ConfigError(`shard ${shard} is an Aurora shard but no Aurora cluster is configured for it (recovery.auroraClusters in the deployment config)`);
  }
  return { failover: deps.clusterFailover, clusterId };
}

/** One audit row; `detail` should say enough to reconstruct the decision. */
export async function audit(deps: RecoveryDeps, recoveryId: string, shard: string, step: string, outcome: AuditOutcome, detail: Record<string, unknown> = {}): Promise<void> {
  await deps.store.appendAudit({ recoveryId, shard, step, outcome, detail });
}

export const isoNow = (deps: RecoveryDeps) => new Date(deps.clock.now()).toISOString();
