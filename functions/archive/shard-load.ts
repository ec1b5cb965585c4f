import type { LoadSample } from '../core/archive-throttle';
import type { Shard } from '../core/shard-map-types';
import type { ShardLoadProbe } from '../ports/archive-source';
import type { NodeProber } from '../ports/node-prober';

/** The throttle's view of a shard through the health prober: the primary's Threads_running and every replica's lag. */
export function shardLoadFromProber(prober: NodeProber, shard: Shard): ShardLoadProbe {
  return {
    async sample(): Promise<LoadSample> {
      const results = await Promise.all(shard.nodes.map(async (node) => ({ node, result: await prober.probe({ shard: shard.name, node }) })));
      const primary = results.find(({ node }) => node.role === 'primary')?.result;
      return {
        threadsRunning: primary?.ok ? primary.observation.threadsRunning : null,
        replicas: results
          .filter(({ node }) => node.role === 'replica')
          .map(({ node, result }) => ({ node: node.id, lagSeconds: result.ok ? (result.observation.replication?.lagSeconds ?? null) : null })),
      };
    },
  };
}
