import { describe, expect, it } from 'vitest';
import {
  completeFailover,
  failFailover,
  fenceOldPrimary,
  pickCandidate,
  postCheckWrite,
  preCheckFailover,
  promoteCandidate,
  repointReplicas,
  updateShardMap,
  type FailoverState,
} from '../../../functions/recovery/failover';
import { NoFailoverCandidateError, StaleMapVersionError } from '../../../functions/shared/errors';
import type { Shard } from '../../../functions/core/shard-map-types';
import { MAP_CHANGE_HOLDER } from '../../../functions/ports/recovery-store';
import { FakeClusterFailover, primaryDownDetail, recoveryHarness, threeNodeFleet, type RecoveryHarness } from '../../workflows/helpers/recovery-fakes';

const MINUTE = 60_000;

/** The fleet after `map split -80`: both halves on -80's servers until one is moved. */
function splitHalves() {
  const fleet = threeNodeFleet();
  const parent = fleet.shards[0]!;
  return { ...fleet, shards: [{ ...parent, name: '-40' }, { ...parent, name: '40-80' }, fleet.shards[1]!] };
}

function primaryDown(h: RecoveryHarness, shard = '-80', primary = 's0-a'): FailoverState {
  h.fleet.set(primary, { up: false });
  return { recoveryId: 'r1', trigger: primaryDownDetail(shard, primary, 1, ['s0-b', 's0-c']) };
}

/** Runs the steps of a happy failover up to (not including) `until`, as the state machine would. */
async function runSteps(h: RecoveryHarness, state: FailoverState, until?: string): Promise<FailoverState> {
  const steps = [
    ['preCheck', preCheckFailover],
    ['candidate', pickCandidate],
    ['promotion', promoteCandidate],
    ['repoint', repointReplicas],
    ['fence', fenceOldPrimary],
    ['map', updateShardMap],
    ['postCheck', postCheckWrite],
  ] as const;
  for (const [key, step] of steps) {
    if (key === until) break;
    (state as unknown as Record<string, unknown>)[key] = await step(h.deps, state);
  }
  return state;
}

describe('failover pre-check', () => {
  it('proceeds on an enabled shard whose primary is still down, taking the lock and announcing the start', async () => {
    const h = await recoveryHarness();
    const result = await preCheckFailover(h.deps, primaryDown(h));
    expect(result).toMatchObject({ proceed: true, outcome: 'proceed', shard: '-80', oldPrimary: { id: 's0-a' } });
    expect(h.store.locks.get('-80')?.recoveryId).toBe('r1');
    expect(h.events.types()).toEqual(['ShardFailoverStarted']);
    expect(h.events.events[0]?.detail).toMatchObject({ recoveryId: 'r1', shard: '-80', node: 's0-a', verdict: 'PRIMARY_DOWN' });
  });

  it('does nothing on a disabled shard but say so', async () => {
    const h = await recoveryHarness();
    await h.store.setEnabled('-80', false, 'alice');
    const result = await preCheckFailover(h.deps, primaryDown(h));
    expect(result).toMatchObject({ proceed: false, outcome: 'disabled' });
    expect(h.store.locks.size).toBe(0);
    expect(h.fleet.calls).toEqual([]);
    expect(h.events.events.map((event) => [event.detailType, (event.detail as { blockedBy: string }).blockedBy])).toEqual([['ShardFailoverBlocked', 'recovery-disabled']]);
    expect(h.store.steps('r1')).toEqual(['preCheck:blocked']);
  });

  it('blocks a second failover within 30 minutes and names the way out', async () => {
    const h = await recoveryHarness();
    await h.store.recordFailover('-80');
    h.clock.advance(29 * MINUTE);
    const result = await preCheckFailover(h.deps, primaryDown(h));
    expect(result).toMatchObject({ proceed: false, outcome: 'anti-flap', blockedUntil: h.clock.now() + MINUTE });
    expect((h.events.events[0]?.detail as { reason: string }).reason).toMatch(/shardkeeper recovery ack -80/);
  });

  it('lets the failover through once the last one was acknowledged, or the window passed', async () => {
    const h = await recoveryHarness();
    await h.store.recordFailover('-80');
    h.clock.advance(MINUTE);
    await h.store.acknowledge('-80', 'alice');
    expect((await preCheckFailover(h.deps, primaryDown(h))).outcome).toBe('proceed');

    const later = await recoveryHarness();
    await later.store.recordFailover('-80');
    later.clock.advance(30 * MINUTE);
    expect((await preCheckFailover(later.deps, primaryDown(later))).outcome).toBe('proceed');
  });

  it('stands back while another recovery holds the shard', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', 'other', 60_000);
    const result = await preCheckFailover(h.deps, primaryDown(h));
    expect(result.outcome).toBe('locked');
    expect(h.store.locks.get('-80')?.recoveryId).toBe('other');
    expect((h.events.events[0]?.detail as { blockedBy: string }).blockedBy).toBe('recovery-in-progress');
  });

  it('waits for a map change holding the shard instead of standing back: the step fails as retryable, and tells no one', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', `${MAP_CHANGE_HOLDER}split-1`, 30_000);
    await expect(preCheckFailover(h.deps, primaryDown(h))).rejects.toMatchObject({ code: 'RecoveryInProgress' });
    expect(h.events.events).toEqual([]);
    await h.store.releaseLock('-80', `${MAP_CHANGE_HOLDER}split-1`);
    expect((await preCheckFailover(h.deps, primaryDown(h))).outcome).toBe('proceed');
  });

  it('skips a failover whose shard was split while it waited: the halves fail over on their own', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    await h.catalog.commitShardMap(splitHalves(), 1, 'split -80');
    expect(await preCheckFailover(h.deps, state)).toMatchObject({ proceed: false, outcome: 'shard-gone' });
    expect(h.store.locks.size).toBe(0);
    expect(h.store.steps('r1')).toEqual(['preCheck:skipped']);
  });

  it('skips when the primary answers and writes again, releasing the lock', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    h.fleet.set('s0-a', { up: true });
    expect((await preCheckFailover(h.deps, state)).outcome).toBe('primary-reachable');
    expect(h.store.locks.size).toBe(0);
    expect(h.events.events).toEqual([]);
  });

  it('skips a stale trigger whose node is no longer the map primary', async () => {
    const h = await recoveryHarness();
    const state = { recoveryId: 'r1', trigger: primaryDownDetail('-80', 's0-b') };
    expect((await preCheckFailover(h.deps, state)).outcome).toBe('primary-replaced');
    expect(h.store.locks.size).toBe(0);
  });

  it('rejects a trigger that does not match the ShardPrimaryDown contract', async () => {
    const h = await recoveryHarness();
    await expect(preCheckFailover(h.deps, { recoveryId: 'r1', trigger: { shard: '-80' } })).rejects.toThrow(/invalid ShardPrimaryDown detail/);
  });
});

describe('failover of a self-managed shard', () => {
  it('promotes the most advanced replica, repoints the other, fences nothing unreachable and moves the writer in the map', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    h.fleet.set('s0-b', { gtid: '0-1-140' });
    h.fleet.set('s0-c', { gtid: '0-1-150' });
    await runSteps(h, state);

    expect(state.candidate).toMatchObject({ kind: 'replica', node: { id: 's0-c' }, gtid: '0-1-150', transactions: 150 });
    expect(h.fleet.node('s0-c')).toMatchObject({ writable: true, source: null });
    expect(h.fleet.node('s0-b').source).toBe('s0-c');
    expect(state.repoint).toEqual({ repointed: ['s0-b'], failed: [] });
    expect(state.fence).toEqual({ fenced: false });
    expect(state.map).toMatchObject({ changed: true, version: 2 });

    const shard = h.catalog.map!.shards.find((candidate) => candidate.name === '-80')!;
    expect(shard.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['s0-c:primary', 's0-b:replica']);
    expect(h.catalog.map!.shards.find((candidate) => candidate.name === '80-')!.nodes.map((node) => node.id)).toEqual(['s1-a', 's1-b', 's1-c']);
    expect(h.catalog.history[0]?.summary).toMatch(/failover of -80: s0-a -> s0-c \(recovery r1\)/);
    expect(h.fleet.writes).toEqual([{ node: 's0-c', database: 'sk_s0' }]);
    expect((await h.store.removedNodes('-80')).map((entry) => [entry.node.id, entry.reason])).toEqual([['s0-a', 'failed-primary']]);
    expect((await h.store.settings('-80')).lastFailoverAt).toBe(h.clock.now());
  });

  it('completes by announcing the new primary, releasing the lock and auditing every step', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h));
    h.clock.advance(4_000);
    expect(await completeFailover(h.deps, state)).toEqual({ completedAt: h.clock.now(), durationMs: 4_000 });
    expect(h.store.locks.size).toBe(0);
    expect(h.events.types()).toEqual(['ShardFailoverStarted', 'ShardFailoverCompleted']);
    expect(h.events.events[1]?.detail).toMatchObject({ node: 's0-a', newPrimary: 's0-b', durationMs: 4_000, mapVersion: 2 });
    expect(h.store.steps('r1')).toEqual([
      'preCheck:succeeded',
      'pickCandidate:succeeded',
      'promote:succeeded',
      'repointReplicas:succeeded',
      'fenceOldPrimary:skipped',
      'updateShardMap:succeeded',
      'postCheckWrite:succeeded',
      'complete:succeeded',
    ]);
  });

  it('fences an old primary that still answers, read-only but reachable', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    state.preCheck = await preCheckFailover(h.deps, state);
    state.candidate = await pickCandidate(h.deps, state);
    h.fleet.set('s0-a', { up: true, writable: true });
    expect(await fenceOldPrimary(h.deps, state)).toEqual({ fenced: true });
    expect(h.fleet.node('s0-a').writable).toBe(false);
  });

  it('takes a replica that cannot follow the new primary out of the map instead of failing the failover', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    h.fleet.set('s0-b', { gtid: '0-1-101' });
    h.fleet.failNext('repoint', new Error('Access denied for CHANGE MASTER'));
    await runSteps(h, state);
    expect(state.repoint).toEqual({ repointed: [], failed: [{ nodeId: 's0-c', error: 'Access denied for CHANGE MASTER' }] });
    expect(h.catalog.map!.shards[0]!.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['s0-b:primary']);
    expect((await h.store.removedNodes('-80')).map((entry) => [entry.node.id, entry.reason]).sort()).toEqual([
      ['s0-a', 'failed-primary'],
      ['s0-c', 'repoint-failed'],
    ]);
  });

  it('refuses to promote when no replica is fit', async () => {
    const h = await recoveryHarness();
    const state = primaryDown(h);
    h.fleet.set('s0-b', { up: false });
    h.fleet.set('s0-c', { source: null });
    state.preCheck = await preCheckFailover(h.deps, state);
    await expect(pickCandidate(h.deps, state)).rejects.toThrow(NoFailoverCandidateError);
  });
});

/** Another writer commits `change` of the map's shards once, just before the next commit. */
function interferingOnce(h: RecoveryHarness, change: (shard: Shard, index: number) => Shard): void {
  const commit = h.catalog.commitShardMap.bind(h.catalog);
  let interfered = false;
  h.catalog.commitShardMap = async (draft, expected, summary) => {
    if (!interfered) {
      interfered = true;
      const current = h.catalog.map!;
      await commit({ ...current, shards: current.shards.map(change) }, current.version, 'concurrent change');
    }
    return commit(draft, expected, summary);
  };
}

describe('shard map update', () => {
  it('reloads and commits again when another writer changed the map meanwhile', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'map');
    // Someone else commits (a split of the other shard's status, say) between our load and our commit.
    interferingOnce(h, (shard) => (shard.name === '80-' ? { ...shard, status: 'readonly' as const } : shard));
    const result = await updateShardMap(h.deps, state);
    expect(result).toMatchObject({ changed: true, version: 3 });
    expect(h.catalog.map!.shards.find((shard) => shard.name === '80-')!.status).toBe('readonly');
    expect(h.catalog.map!.shards[0]!.nodes[0]).toMatchObject({ id: 's0-b', role: 'primary' });
    expect(h.store.audits.at(-1)?.detail).toMatchObject({ attempts: 2 });
  });

  it('stops for an operator when another writer changed the shard\'s primary meanwhile, instead of writing over it', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'map');
    // An operator's switchover to s0-c lands between our load and our commit.
    interferingOnce(h, (shard, index) =>
      index === 0 ? { ...shard, nodes: shard.nodes.map((node) => ({ ...node, role: node.id === 's0-c' ? ('primary' as const) : ('replica' as const) })) } : shard,
    );
    await expect(updateShardMap(h.deps, state)).rejects.toThrow(/primary changed to s0-c since the failover began \(it was s0-a\); s0-b was promoted: an operator must reconcile/);
    expect(h.catalog.map!.shards[0]!.nodes.find((node) => node.role === 'primary')!.id).toBe('s0-c');
  });

  it('gives up after the configured attempts with StaleMapVersion, which Step Functions retries', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'map');
    h.catalog.commitShardMap = async (_draft, expected) => {
      throw new StaleMapVersionError(expected, expected + 1);
    };
    await expect(updateShardMap(h.deps, state)).rejects.toThrow(StaleMapVersionError);
  });

  it('changes nothing when run again after a commit whose answer was lost', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'postCheck');
    expect(await updateShardMap(h.deps, state)).toMatchObject({ changed: false, version: 2 });
    expect(h.catalog.map!.version).toBe(2);
  });
});

describe('failover of an Aurora shard', () => {
  it('lets Aurora fail over and keeps the map, whose cluster endpoint follows the writer', async () => {
    const cluster = new FakeClusterFailover('shard0-instance-1', ['shard0-instance-1', 'shard0-instance-2']);
    const h = await recoveryHarness(threeNodeFleet('aurora'), { clusterFailover: cluster, auroraClusters: { '-80': 'shard0' } });
    const state = await runSteps(h, primaryDown(h), 'postCheck');
    // The cluster endpoint answers writes again once the new writer is up.
    h.fleet.set('s0-a', { up: true, writable: true });
    await postCheckWrite(h.deps, state);
    expect(h.fleet.writes).toEqual([{ node: 's0-a', database: 'sk_s0' }]);
    expect(state.candidate).toEqual({ kind: 'aurora', clusterId: 'shard0', writerBefore: 'shard0-instance-1' });
    expect(state.promotion).toMatchObject({ writerInstance: 'shard0-instance-2' });
    expect(cluster.failovers).toBe(1);
    expect(state.map).toMatchObject({ changed: false, version: 1 });
    expect(h.fleet.calls.filter((call) => /^(promote|repoint|fence)/.test(call))).toEqual([]);
    expect(await promoteCandidate(h.deps, state)).toMatchObject({ writerInstance: 'shard0-instance-2' });
    expect(cluster.failovers).toBe(1);
  });

  it('fails with a configuration error when the Aurora shard has no cluster configured', async () => {
    const h = await recoveryHarness(threeNodeFleet('aurora'));
    const state = primaryDown(h);
    state.preCheck = await preCheckFailover(h.deps, state);
    await expect(pickCandidate(h.deps, state)).rejects.toThrow(/no Aurora cluster is configured/);
  });
});

describe('failover failure path', () => {
  it('publishes ShardFailoverFailed naming the failed step, and releases the lock', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'candidate');
    await h.store.appendAudit({ recoveryId: 'r1', shard: '-80', step: 'promote', outcome: 'failed', detail: {} });
    state.error = { Error: 'Error', Cause: 'read_only could not be switched off' };
    expect(await failFailover(h.deps, state)).toEqual({ failedStep: 'promote', error: 'Error' });
    expect(h.store.locks.size).toBe(0);
    expect(h.events.events.at(-1)).toMatchObject({ detailType: 'ShardFailoverFailed', detail: { step: 'promote', error: 'Error', recoveryId: 'r1' } });
  });

  it('reports a shard without a promotable replica as blocked, not failed', async () => {
    const h = await recoveryHarness();
    const state = await runSteps(h, primaryDown(h), 'candidate');
    state.error = { Error: 'NoFailoverCandidate', Cause: 'no replica can be promoted' };
    await failFailover(h.deps, state);
    expect(h.events.events.at(-1)).toMatchObject({ detailType: 'ShardFailoverBlocked', detail: { blockedBy: 'no-candidate' } });
  });
});

describe('failing over the halves of a split', () => {
  it('takes one lock for both halves and moves both to the promoted replica in one map change', async () => {
    const h = await recoveryHarness(splitHalves());
    const upper = await runSteps(h, primaryDown(h, '40-80'), 'postCheck');
    expect(upper.preCheck).toMatchObject({ proceed: true, lock: '-40' });
    // The other half's own trigger finds the servers taken, and waits (the workflow retries it).
    const lower = { recoveryId: 'r2', trigger: primaryDownDetail('-40', 's0-a', 1, ['s0-b', 's0-c']) };
    await expect(preCheckFailover(h.deps, lower)).rejects.toMatchObject({ code: 'RecoveryInProgress' });
    expect((await h.store.settings('-40')).lastFailoverAt).not.toBeNull();

    const map = (await h.catalog.loadShardMap())!;
    const writers = map.shards.map((shard) => [shard.name, shard.nodes.find((node) => node.role === 'primary')?.id]);
    expect(writers).toEqual([
      ['-40', upper.candidate!.kind === 'replica' ? upper.candidate!.node.id : ''],
      ['40-80', upper.candidate!.kind === 'replica' ? upper.candidate!.node.id : ''],
      ['80-', 's1-a'],
    ]);
    expect((await h.store.removedNodes()).map((removed) => [removed.shard, removed.node.id, removed.reason])).toEqual([
      ['-40', 's0-a', 'failed-primary'],
      ['40-80', 's0-a', 'failed-primary'],
    ]);
    await completeFailover(h.deps, upper);
    expect(h.store.locks.size).toBe(0);
  });

  it('lets go of the shared lock when a step fails before the state recorded which lock it took', async () => {
    const h = await recoveryHarness(splitHalves());
    const state = primaryDown(h, '40-80');
    const crashing = { ...h.deps, prober: { probe: async () => Promise.reject(new Error('probe crashed')) } } as unknown as typeof h.deps;
    await expect(preCheckFailover(crashing, state)).rejects.toThrow('probe crashed');
    expect(h.store.locks.get('-40')?.recoveryId).toBe('r1');
    await failFailover(h.deps, { ...state, error: { Error: 'Error', Cause: 'probe crashed' } });
    expect(h.store.locks.size).toBe(0);
  });

  it('moves a half whose servers the failover covered, even once a replica has left it', async () => {
    const fleet = splitHalves();
    fleet.shards[1] = { ...fleet.shards[1]!, nodes: fleet.shards[1]!.nodes.filter((node) => node.id !== 's0-c') };
    const h = await recoveryHarness(fleet);
    const lower = await runSteps(h, primaryDown(h, '-40'), 'postCheck');
    expect(lower.preCheck).toMatchObject({ proceed: true, lock: '-40' });
    const map = (await h.catalog.loadShardMap())!;
    expect(map.shards.slice(0, 2).map((shard) => [shard.name, shard.nodes.map((node) => `${node.id}:${node.role}`)])).toEqual([
      ['-40', ['s0-b:primary', 's0-c:replica']],
      ['40-80', ['s0-b:primary']],
    ]);
  });

  it('moves shard databases that share the failed server under their own node ids', async () => {
    const fleet = threeNodeFleet();
    const neighbour = { ...fleet.shards[0]!, name: '40-80', database: 'sk_other', nodes: fleet.shards[0]!.nodes.map((node) => ({ ...node, id: `other-${node.id}` })) };
    const h = await recoveryHarness({ ...fleet, shards: [{ ...fleet.shards[0]!, name: '-40' }, neighbour, fleet.shards[1]!] });
    await runSteps(h, primaryDown(h, '-40'), 'postCheck');
    const map = (await h.catalog.loadShardMap())!;
    expect(map.shards.find((shard) => shard.name === '40-80')!.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['other-s0-b:primary', 'other-s0-c:replica']);
    expect((await h.store.removedNodes('40-80')).map((removed) => [removed.node.id, removed.reason])).toEqual([['other-s0-a', 'failed-primary']]);
  });

  it('leaves a shard on the failed server with replicas of its own to its own failover, which waits until this one has moved the map', async () => {
    const fleet = threeNodeFleet();
    const own = (id: string, role: 'primary' | 'replica', host = `${id}.db`) => ({ id, role, host, port: 3306 });
    const neighbour = { ...fleet.shards[0]!, name: '40-80', database: 'sk_other', nodes: [own('b-a', 'primary', 's0-a.db'), own('b-x', 'replica'), own('b-y', 'replica')] };
    const h = await recoveryHarness({ ...fleet, shards: [{ ...fleet.shards[0]!, name: '-40' }, neighbour, fleet.shards[1]!] });
    h.fleet.set('b-a', { up: false });
    const first = await runSteps(h, primaryDown(h, '-40'), 'map');
    const other = { recoveryId: 'r2', trigger: primaryDownDetail('40-80', 'b-a', 1, ['b-x', 'b-y']) };
    await expect(preCheckFailover(h.deps, other)).rejects.toMatchObject({ code: 'RecoveryInProgress' });

    first.map = await updateShardMap(h.deps, first);
    expect((await h.catalog.loadShardMap())!.shards.find((shard) => shard.name === '40-80')!.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['b-a:primary', 'b-x:replica', 'b-y:replica']);
    expect(h.store.audits.find((entry) => entry.step === 'updateShardMap')?.detail).toMatchObject({ shards: ['-40'] });
    // Its servers are its own from here on.
    expect(await preCheckFailover(h.deps, other)).toMatchObject({ proceed: true, oldPrimary: { id: 'b-a' } });
  });

  it('does not move a shard on the failed servers whose recovery is disabled, and tells operators it stays behind', async () => {
    const h = await recoveryHarness(splitHalves());
    await h.store.setEnabled('-40', false, 'alice');
    await runSteps(h, primaryDown(h, '40-80'), 'postCheck');
    const map = (await h.catalog.loadShardMap())!;
    expect(map.shards.slice(0, 2).map((shard) => [shard.name, shard.nodes.find((node) => node.role === 'primary')?.id])).toEqual([
      ['-40', 's0-a'],
      ['40-80', 's0-b'],
    ]);
    const blocked = h.events.events.find((event) => event.detailType === 'ShardFailoverBlocked');
    expect(blocked?.detail).toMatchObject({ shard: '-40', blockedBy: 'sibling-not-moved', reason: expect.stringMatching(/its recovery is disabled.*stays on s0-a/) });
  });

  it('takes the servers it promoted or repointed from a shard on the failed server that has servers of its own, which then fails over by itself', async () => {
    const fleet = splitHalves();
    fleet.shards[0] = { ...fleet.shards[0]!, nodes: [...fleet.shards[0]!.nodes, { id: 'x', role: 'replica' as const, host: 'x.db', port: 3306 }] };
    const h = await recoveryHarness(fleet);
    await runSteps(h, primaryDown(h, '40-80'), 'postCheck');
    const map = (await h.catalog.loadShardMap())!;
    expect(map.shards.slice(0, 2).map((shard) => [shard.name, shard.nodes.map((node) => `${node.id}:${node.role}`)])).toEqual([
      ['-40', ['s0-a:primary', 'x:replica']],
      ['40-80', ['s0-b:primary', 's0-c:replica']],
    ]);
    expect((await h.store.removedNodes('-40')).map((removed) => [removed.node.id, removed.reason])).toEqual([
      ['s0-b', 'repoint-failed'],
      ['s0-c', 'repoint-failed'],
    ]);
    await h.store.releaseLocksOf('r1');
    const own = await preCheckFailover(h.deps, { recoveryId: 'r2', trigger: primaryDownDetail('-40', 's0-a', 1, ['x']) });
    expect(own).toMatchObject({ proceed: true, lock: '-40' });
    expect(await pickCandidate(h.deps, { recoveryId: 'r2', trigger: primaryDownDetail('-40', 's0-a', 1, ['x']), preCheck: own })).toMatchObject({ kind: 'replica', node: { id: 'x' } });
  });

  it('does not wait for a runbook holding the shared lock while it awaits an operator: it stands back as before', async () => {
    const h = await recoveryHarness(splitHalves());
    await h.store.acquireLock('-40', 'quorum-1', 60 * MINUTE);
    await h.store.addApproval({ recoveryId: 'quorum-1', shard: '-40', kind: 'quorum-lost', taskToken: 't', reason: 'quorum lost' });
    expect(await preCheckFailover(h.deps, primaryDown(h, '40-80'))).toMatchObject({ proceed: false, outcome: 'locked' });
  });
});
