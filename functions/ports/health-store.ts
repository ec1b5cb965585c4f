import type { NodeHealth, ShardFinding, ShardVerdict } from '../core/health';
import type { ProbeResult } from './node-prober';

export interface NodeKey {
  shard: string;
  nodeId: string;
}

/** One node's persisted health: the state machine's record plus the latest probe. */
export interface StoredNodeHealth extends NodeKey, NodeHealth {
  /** Omitted by loads that skip probes; null when never probed. */
  lastProbe?: ProbeResult | null;
  lastProbeAt?: number | null;
}

export interface StoredShardHealth {
  shard: string;
  verdict: ShardVerdict;
  findings: ShardFinding[];
  /** When the verdict last changed (ms since the epoch). */
  since: number;
  updatedAt: number;
}

export interface MonitorLease {
  name: string;
  owner: string;
  expiresAt: number;
}

export type LeaseAttempt = { acquired: true; lease: MonitorLease } | { acquired: false; holder: string; expiresAt: number };

export interface HealthChanges {
  /** Upserted whole; a record without `lastProbe` keeps the stored probe. */
  nodes: StoredNodeHealth[];
  shards: StoredShardHealth[];
  removedNodes: NodeKey[];
  removedShards: string[];
}

/** Node and shard health between monitor invocations, and the lease that keeps monitors from overlapping. */
export interface HealthStore {
  /** Takes the named lease if it is free or expired, or renews it for its owner; otherwise reports who holds it. */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt>;
  /** Ends the lease now so the next monitor need not wait for it to expire; a lease already lost is left alone. */
  releaseLease(lease: MonitorLease): Promise<void>;
  loadNodes(options?: { withProbes?: boolean }): Promise<StoredNodeHealth[]>;
  loadShards(): Promise<StoredShardHealth[]>;
  /** Writes atomically, and only while `lease` is still held by its owner: otherwise throws LeaseLostError and writes nothing. */
  save(lease: MonitorLease, changes: HealthChanges): Promise<void>;
}
