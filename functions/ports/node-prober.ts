import type { ShardNode } from '../core/shard-map-types';

export type ServerFlavor = 'mysql' | 'aurora-mysql' | 'mariadb';

/** What the source of a replica looks like from the replica. */
export interface ReplicationStatus {
  sourceHost: string | null;
  sourcePort: number | null;
  /** IO thread connected to its source (MySQL `Replica_IO_Running = Yes`, MariaDB `Slave_IO_Running = Yes`). */
  ioRunning: boolean;
  /** 'Connecting' means the IO thread lost its source and keeps retrying. */
  ioState: 'yes' | 'connecting' | 'no';
  sqlRunning: boolean;
  lagSeconds: number | null;
  /** Executed GTID set (MySQL) or gtid_slave_pos / gtid_current_pos (MariaDB). */
  gtidExecuted: string | null;
  /** Received from the source, applied or not (MySQL Retrieved_Gtid_Set, MariaDB Gtid_IO_Pos); null when not reported. */
  gtidReceived: string | null;
  /** Relay log fully applied (retrieved == executed), so promotion loses nothing. */
  relayLogApplied: boolean;
  lastError: string | null;
}

/** One successful probe of one node. */
export interface NodeObservation {
  flavor: ServerFlavor;
  version: string;
  readOnly: boolean;
  superReadOnly: boolean;
  /** Aurora: the instance is the cluster writer; others: not read_only. */
  writer: boolean;
  replication: ReplicationStatus | null;
  threadsRunning: number;
  connections: number;
  maxConnections: number;
  connectionsPercent: number;
  bufferPoolUsedPercent: number;
  bufferPoolHitRatio: number | null;
  uptimeSeconds: number;
  /** Own GTID position (MySQL gtid_executed, MariaDB gtid_current_pos). */
  gtidPosition: string | null;
}

export type ProbeResult =
  | { ok: true; nodeId: string; shard: string; latencyMs: number; observation: NodeObservation }
  | { ok: false; nodeId: string; shard: string; latencyMs: number; error: string; timedOut: boolean };

export interface ProbeTarget {
  shard: string;
  node: ShardNode;
}

/** Probes one node with connect and query timeouts; never throws for an unreachable node. */
export interface NodeProber {
  probe(target: ProbeTarget): Promise<ProbeResult>;
}
