import type { ShardNode } from '../core/shard-map-types';

/** Replication topology changes a recovery needs; one implementation per server flavor. */
export interface ReplicationAdmin {
  /** Stop replication on a replica and make it writable (read_only=OFF). */
  promote(node: ShardNode): Promise<void>;
  /** Point a replica at a new source (GTID auto-position) and start replication. */
  repoint(replica: ShardNode, source: ShardNode): Promise<void>;
  /** Make a node read-only (read_only=ON, super_read_only where supported); false when unreachable. */
  fence(node: ShardNode): Promise<boolean>;
  /** Write probe used after a failover: a row into a heartbeat table through the given node. */
  checkWrite(node: ShardNode, database: string): Promise<void>;
}
