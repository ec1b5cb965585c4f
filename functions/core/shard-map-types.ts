/** Shapes of the shard map, shared by the core, the catalog and every edge. */

/** How keys are interpreted: unsigned 64-bit player ids (decimal strings) or opaque string ids. */
export type KeyType = 'uint64' | 'string';

export type StrategyConfig =
  /** Default: hash to a 64-bit keyspace id; shards own contiguous hex ranges (`-40`, `40-80`, ...). */
  | { kind: 'keyspace' }
  /** keyspace id mod shard count, shards in list order. */
  | { kind: 'modulo' }
  /** Raw numeric id against sorted inclusive upper bounds (decimal strings), one per shard but the last, which is open. */
  | { kind: 'range'; upperBounds: string[] }
  /** Consistent-hash ring with `virtualNodes` points per shard. */
  | { kind: 'ring'; virtualNodes: number }
  /** Jump consistent hash over the keyspace id, shards in list order. */
  | { kind: 'jump' };

export type StrategyKind = StrategyConfig['kind'];

export type NodeRole = 'primary' | 'replica';

export interface ShardNode {
  /** Stable id unique within the map, e.g. `40-80-a`. */
  id: string;
  role: NodeRole;
  host: string;
  port: number;
  /** Secrets Manager ARN or name holding this node's credentials; never the secret itself. */
  secretRef?: string;
}

export type ShardStatus = 'serving' | 'draining' | 'readonly';

/** How the shard is operated; later capabilities pick backup/failover paths by it. */
export type ShardKind = 'self-managed' | 'aurora' | 'rds';

export interface Shard {
  /** Keyspace strategy: the hex range (`40-80`). Other strategies: any name, position = ordinal. */
  name: string;
  database: string;
  status: ShardStatus;
  kind: ShardKind;
  nodes: ShardNode[];
}

export interface KeyOverride {
  /** Canonical key text (decimal for uint64 keys). */
  key: string;
  shard: string;
  /** Set while the key's rows are being moved, so writers can pause. */
  moving: boolean;
}

/** What a writer submits; the catalog assigns the version. */
export interface ShardMapDraft {
  keyType: KeyType;
  strategy: StrategyConfig;
  shards: Shard[];
  overrides: KeyOverride[];
}

export interface ShardMap extends ShardMapDraft {
  version: number;
  updatedAt: string;
}
