import { describe, expect, it } from 'vitest';
import { runLocalWorkflow } from '../../functions/recovery/local-workflows';
import { busEvent, demoRecoveryDefinitions } from './helpers/definitions';
import { nodeEventDetail, recoveryHarness } from './helpers/recovery-fakes';

const readers = (h: Awaited<ReturnType<typeof recoveryHarness>>) =>
  h.catalog.map!.shards[0]!.nodes.filter((node) => node.role === 'replica').map((node) => node.id);

describe('replica state machine (synthesized definition, local use cases)', () => {
  it('removes a DOWN replica from the readers, watches it, and puts it back once it answers', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-b', { up: false });
    let watched = 0;
    const probe = h.fleet.probe.bind(h.fleet);
    h.deps.prober = {
      probe: async (target) => {
        // The replica comes back after the workflow has looked at it twice.
        if (target.node.id === 's0-b' && ++watched === 3) h.fleet.set('s0-b', { up: true });
        return probe(target);
      },
    };
    const run = await runLocalWorkflow(demoRecoveryDefinitions().replica, h.deps, busEvent('ShardNodeDown', nodeEventDetail('-80', 's0-b', 'replica', 'DOWN')), {
      executionName: 'd1',
      retryDelayMs: 0,
      waitMs: 0,
    });
    expect(run.status).toBe('succeeded');
    expect(run.states.filter((state) => state === 'WatchReplica')).toHaveLength(3);
    expect(run.states.slice(-2)).toEqual(['RestoreReplica', 'Done']);
    expect(readers(h)).toEqual(['s0-c', 's0-b']);
    expect(h.events.types()).toEqual(['ShardReplicaRemoved', 'ShardReplicaRestored']);
    expect(h.catalog.history.map((entry) => entry.version)).toEqual([3, 2, 1]);
  });

  it('leaves a replica that never comes back to an operator', async () => {
    const h = await recoveryHarness();
    h.deps.policy.replicaWatchChecks = 4;
    h.fleet.set('s0-b', { up: false });
    const run = await runLocalWorkflow(demoRecoveryDefinitions().replica, h.deps, busEvent('ShardNodeDown', nodeEventDetail('-80', 's0-b', 'replica', 'DOWN')), {
      executionName: 'd1',
      retryDelayMs: 0,
      waitMs: 0,
    });
    expect(run.states.slice(-2)).toEqual(['Answers?', 'LeftToOperator']);
    expect(run.states.filter((state) => state === 'WatchReplica')).toHaveLength(4);
    expect(readers(h)).toEqual(['s0-c']);
  });

  it('restores from a ShardNodeRecovered event, waiting out a failover that holds the shard', async () => {
    const h = await recoveryHarness();
    await h.store.addRemovedNode({ shard: '-80', node: { id: 's0-b', role: 'replica', host: 's0-b.db', port: 3306 }, reason: 'replica-down', recoveryId: 'd0' });
    const map = h.catalog.map!;
    await h.catalog.commitShardMap({ ...map, shards: map.shards.map((shard) => (shard.name === '-80' ? { ...shard, nodes: shard.nodes.filter((node) => node.id !== 's0-b') } : shard)) }, 1, 'removed');
    await h.store.acquireLock('-80', 'failover-1', 60_000);
    let attempts = 0;
    const acquire = h.store.acquireLock.bind(h.store);
    h.store.acquireLock = async (shard, recoveryId, ttl) => {
      if (recoveryId === 'u1' && ++attempts === 3) await h.store.releaseLock('-80', 'failover-1');
      return acquire(shard, recoveryId, ttl);
    };
    const run = await runLocalWorkflow(demoRecoveryDefinitions().replica, h.deps, busEvent('ShardNodeRecovered', nodeEventDetail('-80', 's0-b', 'replica', 'ONLINE', 2)), {
      executionName: 'u1',
      retryDelayMs: 0,
    });
    expect(run.status).toBe('succeeded');
    expect(run.retries).toEqual(['RestoreReplica', 'RestoreReplica']);
    expect(readers(h)).toEqual(['s0-c', 's0-b']);
  });

  it('records a failure it cannot recover from and fails the execution', async () => {
    const h = await recoveryHarness();
    const run = await runLocalWorkflow(
      demoRecoveryDefinitions().replica,
      h.deps,
      busEvent('ShardNodeDown', { ...nodeEventDetail('-80', 's0-b', 'replica', 'DOWN'), shard: 'no-such-shard' }),
      { executionName: 'd1', retryDelayMs: 0 },
    );
    expect(run.status).toBe('failed');
    expect(run.error?.name).toBe('NotFound');
    expect(run.states.slice(-2)).toEqual(['RecordFailure', 'ReplicaRecoveryFailed']);
    expect(h.store.steps('d1')).toEqual(['remove:failed', 'fail:failed']);
  });
});
