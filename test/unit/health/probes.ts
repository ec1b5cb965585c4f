import type { ShardNode } from '../../../functions/core/shard-map-types';
import type { NodeObservation, ProbeResult, ReplicationStatus } from '../../../functions/ports/node-prober';

/** A healthy, idle MariaDB node; `overrides` shape the case under test. */
export function observation(overrides: Partial<NodeObservation> = {}): NodeObservation {
  return {
    flavor: 'mariadb',
    version: '10.11.6-MariaDB',
    readOnly: false,
    superReadOnly: false,
    writer: true,
    replication: null,
    threadsRunning: 2,
    connections: 10,
    maxConnections: 151,
    connectionsPercent: 6.6,
    bufferPoolUsedPercent: 40,
    bufferPoolHitRatio: 0.99,
    uptimeSeconds: 3600,
    gtidPosition: '0-1-100',
    ...overrides,
  };
}

export function replication(overrides: Partial<ReplicationStatus> = {}): ReplicationStatus {
  return {
    sourceHost: '127.0.0.1',
    sourcePort: 3306,
    ioRunning: true,
    ioState: 'yes',
    sqlRunning: true,
    lagSeconds: 0,
    gtidExecuted: '0-1-100',
    gtidReceived: null,
    relayLogApplied: true,
    lastError: null,
    ...overrides,
  };
}

/** A read-only replica replicating from its primary. */
export function replicaObservation(replicationOverrides: Partial<ReplicationStatus> = {}, overrides: Partial<NodeObservation> = {}): NodeObservation {
  return observation({ readOnly: true, writer: false, replication: replication(replicationOverrides), ...overrides });
}

export function ok(shard: string, node: Pick<ShardNode, 'id'>, observed: NodeObservation, latencyMs = 3): ProbeResult {
  return { ok: true, shard, nodeId: node.id, latencyMs, observation: observed };
}

export function failed(shard: string, node: Pick<ShardNode, 'id'>, error = 'connect ECONNREFUSED', timedOut = false): ProbeResult {
  return { ok: false, shard, nodeId: node.id, latencyMs: timedOut ? 2000 : 1, error, timedOut };
}
