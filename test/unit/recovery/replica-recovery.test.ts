import { describe, expect, it } from 'vitest';
import { failReplicaRecovery, removeReplica, restoreReplica, watchRemovedReplica } from '../../../functions/recovery/replica-recovery';
import { NodeNotReadyError, RecoveryInProgressError } from '../../../functions/shared/errors';
import { nodeEventDetail, recoveryHarness } from '../../workflows/helpers/recovery-fakes';

const readers = (h: Awaited<ReturnType<typeof recoveryHarness>>) =>
  h.catalog.map!.shards[0]!.nodes.filter((node) => node.role === 'replica').map((node) => node.id);

describe('replica down', () => {
  it('takes the replica out of the shard readers and remembers it', async () => {
    const h = await recoveryHarness();
    const result = await removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') });
    expect(result).toMatchObject({ action: 'removed', node: 's0-b', mapVersion: 2 });
    expect(readers(h)).toEqual(['s0-c']);
    expect((await h.store.removedNodes('-80')).map((entry) => [entry.node.id, entry.reason])).toEqual([['s0-b', 'replica-down']]);
    expect(h.events.events).toMatchObject([{ detailType: 'ShardReplicaRemoved', detail: { node: 's0-b', recoveryId: 'd1', mapVersion: 2 } }]);
    expect(h.store.locks.size).toBe(0);
  });

  it('leaves primaries to the failover workflow', async () => {
    const h = await recoveryHarness();
    const result = await removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-a', 'primary', 'DOWN') });
    expect(result.action).toBe('none');
    expect(h.catalog.map!.version).toBe(1);
  });

  it('does nothing on a disabled shard', async () => {
    const h = await recoveryHarness();
    await h.store.setEnabled('-80', false, 'alice');
    expect((await removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') })).action).toBe('none');
    expect(readers(h)).toEqual(['s0-b', 's0-c']);
  });

  it('waits (RecoveryInProgress, retried) while a failover holds the shard', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', 'failover-1', 60_000);
    await expect(removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') })).rejects.toThrow(RecoveryInProgressError);
    expect(readers(h)).toEqual(['s0-b', 's0-c']);
  });

  it('is a no-op for a replica that already left the map', async () => {
    const h = await recoveryHarness();
    await removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') });
    expect((await removeReplica(h.deps, { recoveryId: 'd2', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') })).action).toBe('none');
    expect(h.catalog.map!.version).toBe(2);
  });
});

describe('replica recovered', () => {
  async function removed() {
    const h = await recoveryHarness();
    h.fleet.set('s0-b', { up: false });
    await removeReplica(h.deps, { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') });
    h.fleet.set('s0-b', { up: true });
    return h;
  }

  it('puts a caught-up replica back among the readers and forgets the removal', async () => {
    const h = await removed();
    const result = await restoreReplica(h.deps, { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'ONLINE', 2) });
    expect(result).toMatchObject({ action: 'restored', node: 's0-b', mapVersion: 3 });
    expect(readers(h)).toEqual(['s0-c', 's0-b']);
    expect(await h.store.removedNodes()).toEqual([]);
    expect(h.events.types()).toEqual(['ShardReplicaRemoved', 'ShardReplicaRestored']);
  });

  it('waits (NodeNotReady, retried) while the replica lags beyond the limit', async () => {
    const h = await removed();
    h.fleet.set('s0-b', { lagSeconds: 60 });
    await expect(restoreReplica(h.deps, { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'ONLINE', 2) })).rejects.toThrow(/lag 60s/);
    expect(readers(h)).toEqual(['s0-c']);
    expect(h.store.locks.size).toBe(0);
  });

  it('repoints a replica still following a replaced primary before it may return', async () => {
    const h = await removed();
    // A failover happened while s0-b was down: s0-c is the primary now.
    const map = h.catalog.map!;
    await h.catalog.commitShardMap(
      { ...map, shards: map.shards.map((shard) => (shard.name === '-80' ? { ...shard, nodes: [{ ...shard.nodes.find((n) => n.id === 's0-c')!, role: 'primary' as const }] } : shard)) },
      map.version,
      'failover',
    );
    h.fleet.set('s0-c', { source: null, writable: true });
    const state = { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'ONLINE', 3) };
    await expect(restoreReplica(h.deps, state)).rejects.toThrow(NodeNotReadyError);
    expect(h.fleet.calls).toContain('repoint s0-b -> s0-c');
    const result = await restoreReplica(h.deps, state);
    expect(result.action).toBe('restored');
    expect(h.catalog.map!.shards[0]!.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['s0-c:primary', 's0-b:replica']);
  });

  it('leaves a former primary to an operator', async () => {
    const h = await recoveryHarness();
    await h.store.addRemovedNode({ shard: '-80', node: { id: 'old', role: 'primary', host: 'old.db', port: 3306 }, reason: 'failed-primary', recoveryId: 'f1' });
    const result = await restoreReplica(h.deps, { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 'old', 'primary', 'ONLINE') });
    expect(result).toMatchObject({ action: 'none', reason: expect.stringMatching(/failed-primary; rejoin it by hand/) });
  });

  it('ignores nodes no recovery removed', async () => {
    const h = await recoveryHarness();
    expect((await restoreReplica(h.deps, { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 's0-c', 'replica', 'ONLINE') })).action).toBe('none');
  });

  it('audits a failure and releases a lock it held', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', 'u1', 60_000);
    await failReplicaRecovery(h.deps, { recoveryId: 'u1', detailType: 'ShardNodeRecovered', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'ONLINE'), error: { Error: 'NodeNotReady', Cause: 'lag' } });
    expect(h.store.locks.size).toBe(0);
    expect(h.store.steps('u1')).toEqual(['fail:failed']);
  });
});

describe('watching a removed replica', () => {
  it('reports when the removed replica answers again, which the workflow follows with a restore', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-b', { up: false });
    const state = { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') };
    await removeReplica(h.deps, state);
    expect(await watchRemovedReplica(h.deps, state)).toEqual({ checks: 1, answers: false, giveUp: false });
    h.fleet.set('s0-b', { up: true });
    const watch = await watchRemovedReplica(h.deps, { ...state, watch: { checks: 1, answers: false, giveUp: false } });
    expect(watch).toEqual({ checks: 2, answers: true, giveUp: false });
    expect((await restoreReplica(h.deps, { ...state, watch })).action).toBe('restored');
  });

  it('gives up after the configured number of checks, and stops at once if the node was restored elsewhere', async () => {
    const h = await recoveryHarness();
    h.deps.policy.replicaWatchChecks = 3;
    h.fleet.set('s0-b', { up: false });
    const state = { recoveryId: 'd1', detailType: 'ShardNodeDown', trigger: nodeEventDetail('-80', 's0-b', 'replica', 'DOWN') };
    await removeReplica(h.deps, state);
    expect(await watchRemovedReplica(h.deps, { ...state, watch: { checks: 2, answers: false, giveUp: false } })).toEqual({ checks: 3, answers: false, giveUp: true });
    expect(h.store.steps('d1').at(-1)).toBe('watchReplica:failed');
    await h.store.forgetRemovedNode('-80', 's0-b');
    expect(await watchRemovedReplica(h.deps, state)).toEqual({ checks: 1, answers: false, giveUp: true });
  });
});
