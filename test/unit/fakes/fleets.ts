import type { ShardMapDraft } from '../../../functions/core/shard-map-types';

const node = (id: string, role: 'primary' | 'replica', host: string) => ({ id, role, host, port: 3306 });
const shard = (name: string, hostPrefix: string) => ({
  name,
  database: `sk_shard_${name.replace('-', '_') || 'all'}`,
  status: 'serving' as const,
  kind: 'self-managed' as const,
  nodes: [node(`${hostPrefix}-a`, 'primary', `${hostPrefix}-a.db`), node(`${hostPrefix}-b`, 'replica', `${hostPrefix}-b.db`)],
});

/** Four keyspace shards, each a primary and a replica; key 777 is pinned to c0- and moving. */
export const fourShards: ShardMapDraft = {
  keyType: 'uint64',
  strategy: { kind: 'keyspace' },
  shards: [shard('-40', 's0'), shard('40-80', 's1'), shard('80-c0', 's2'), shard('c0-', 's3')],
  overrides: [{ key: '777', shard: 'c0-', moving: true }],
};
