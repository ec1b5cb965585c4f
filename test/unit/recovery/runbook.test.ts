import { describe, expect, it } from 'vitest';
import type { TaskCallbacks } from '../../../functions/ports/task-callbacks';
import { acknowledgeFailover, decideRecovery, setRecoveryEnabled } from '../../../functions/recovery/operator';
import { applyRunbook, closeRunbook, preCheckRunbook, requestApproval, type RunbookState } from '../../../functions/recovery/runbook';
import { ConflictError } from '../../../functions/shared/errors';
import { InMemoryRecoveryStore, recoveryHarness, runbookDetail } from '../../workflows/helpers/recovery-fakes';
import { ManualClock } from '../fakes/in-memory-catalog';

const corruption = (tables = ['players', 'inventory'], note = 'checksums differ since 11:40'): RunbookState => ({
  recoveryId: 'c1',
  detailType: 'DataCorruptionReported',
  trigger: { schemaVersion: 1, shard: '-80', tables, reportedBy: 'alice', note, observedAt: '2025-03-01T12:00:00.000Z' },
});

const splitBrain = (): RunbookState => ({ recoveryId: 'm1', detailType: 'SplitBrainSuspected', trigger: runbookDetail('SplitBrainSuspected', '-80', ['s0-a', 's0-b']) });

class RecordingCallbacks implements TaskCallbacks {
  sent: unknown[][] = [];
  failWith: Error | undefined;
  async succeed(taskToken: string, output: Record<string, unknown>) {
    if (this.failWith) throw this.failWith;
    this.sent.push(['succeed', taskToken, output]);
  }
  async fail(taskToken: string, error: string, cause: string) {
    if (this.failWith) throw this.failWith;
    this.sent.push(['fail', taskToken, error, cause]);
  }
}

describe('manual runbooks', () => {
  it('holds the shard, records the task token as a pending approval and notifies operators', async () => {
    const h = await recoveryHarness();
    const state = splitBrain();
    state.preCheck = await preCheckRunbook(h.deps, state);
    expect(state.preCheck).toMatchObject({ proceed: true, kind: 'split-brain' });
    expect(h.store.locks.get('-80')?.recoveryId).toBe('m1');

    await requestApproval(h.deps, state, 'token-1');
    expect(await h.store.approval('m1')).toMatchObject({ shard: '-80', kind: 'split-brain', taskToken: 'token-1', decision: null });
    expect(h.events.events).toMatchObject([
      { detailType: 'RecoveryApprovalRequested', detail: { recoveryId: 'm1', runbook: 'split-brain', nodes: ['s0-a', 's0-b'], reason: expect.stringMatching(/shardkeeper recovery approve m1/) } },
    ]);
  });

  it('does nothing for a disabled shard or one another recovery holds', async () => {
    const h = await recoveryHarness();
    await h.store.setEnabled('-80', false, 'alice');
    expect(await preCheckRunbook(h.deps, splitBrain())).toMatchObject({ proceed: false, reason: expect.stringMatching(/disabled/) });
    await h.store.setEnabled('-80', true, 'alice');
    await h.store.acquireLock('-80', 'failover-1', 60_000);
    expect(await preCheckRunbook(h.deps, splitBrain())).toMatchObject({ proceed: false, reason: expect.stringMatching(/failover-1 already holds/) });
  });

  it('after approval of a split brain, fences every writable node but the map primary', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-b', { writable: true });
    const state = { ...splitBrain(), decision: { decision: 'approved' as const, decidedBy: 'alice' } };
    expect(await applyRunbook(h.deps, state)).toEqual({ fenced: ['s0-b'], unreachable: [] });
    expect(h.fleet.node('s0-a').writable).toBe(true);
    expect(h.fleet.node('s0-b').writable).toBe(false);
  });

  it('after approval of a split brain, fences a primary a failover took out of the map that came back writable', async () => {
    const h = await recoveryHarness();
    const map = h.catalog.map!;
    const [old, promoted, ...rest] = map.shards[0]!.nodes;
    await h.catalog.commitShardMap({ ...map, shards: [{ ...map.shards[0]!, nodes: [{ ...promoted!, role: 'primary' }, ...rest] }, ...map.shards.slice(1)] }, map.version, 'failover');
    await h.store.addRemovedNode({ shard: '-80', node: old!, reason: 'failed-primary', recoveryId: 'f1' });
    h.fleet.set('s0-b', { writable: true, source: null });
    const state = { ...splitBrain(), decision: { decision: 'approved' as const, decidedBy: 'alice' } };
    expect(await applyRunbook(h.deps, state)).toEqual({ fenced: ['s0-a'], unreachable: [] });
    expect(h.fleet.node('s0-a').writable).toBe(false);
    expect(h.fleet.node('s0-b').writable).toBe(true);
  });

  it('after approval of a lost quorum, changes nothing: the operator restored the shard', async () => {
    const h = await recoveryHarness();
    const state: RunbookState = { recoveryId: 'q1', detailType: 'QuorumLost', trigger: runbookDetail('QuorumLost', '-80', ['s0-b', 's0-c']), decision: { decision: 'approved', decidedBy: 'bob' } };
    expect(await applyRunbook(h.deps, state)).toEqual({ fenced: [], unreachable: [] });
    expect(h.fleet.calls).toEqual([]);
  });

  it('closes as rejected or failed from the caught error, releasing the shard', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', 'm1', 60_000);
    expect(await closeRunbook(h.deps, { ...splitBrain(), error: { Error: 'RecoveryRejected', Cause: 'rejected by bob' } })).toEqual({ outcome: 'rejected' });
    expect(h.store.locks.size).toBe(0);
    expect(await closeRunbook(h.deps, { ...splitBrain(), error: { Error: 'States.Timeout' } })).toEqual({ outcome: 'failed' });
  });

  it('for reported corruption, tells the operator the restore steps and holds the shard; approving changes nothing', async () => {
    const h = await recoveryHarness();
    const state = corruption();
    state.preCheck = await preCheckRunbook(h.deps, state);
    expect(state.preCheck).toMatchObject({ proceed: true, kind: 'data-corruption' });
    const { reason } = state.preCheck;
    expect(reason).toMatch(/^data corruption on shard -80 \(tables players, inventory\) reported by alice: checksums differ since 11:40/);
    expect(reason).toMatch(/isolate the affected tables/);
    expect(reason).toMatch(/shardkeeper restore plan --shard -80 --to <time>.*shardkeeper restore run --shard -80 --to <time>/);
    expect(reason).toMatch(/verify the restored data.*replay.*verify the application's data/);
    expect(reason).toMatch(/approve to release the shard back to automatic recovery/);
    expect(h.store.locks.get('-80')?.recoveryId).toBe('c1');

    await requestApproval(h.deps, state, 'token-c1');
    expect(await h.store.approval('c1')).toMatchObject({ kind: 'data-corruption', taskToken: 'token-c1', reason });
    // No health verdict describes reported corruption; the map version is the current one.
    const [requested] = h.events.events;
    expect(requested).toMatchObject({ detailType: 'RecoveryApprovalRequested', detail: { recoveryId: 'c1', runbook: 'data-corruption', mapVersion: 1 } });
    expect(requested!.detail).not.toHaveProperty('verdict');

    expect(await applyRunbook(h.deps, { ...state, decision: { decision: 'approved', decidedBy: 'bob' } })).toEqual({ fenced: [], unreachable: [] });
    expect(h.fleet.calls).toEqual([]);
  });

  it('says so when the reporter does not know the tables, and refuses a report missing its reporter', async () => {
    const h = await recoveryHarness();
    expect((await preCheckRunbook(h.deps, corruption([], ''))).reason).toMatch(/^data corruption on shard -80 \(unknown tables\) reported by alice; 1\) isolate/);
    const anonymous = corruption();
    anonymous.trigger = { ...(anonymous.trigger as object), reportedBy: '' };
    await expect(preCheckRunbook(h.deps, { ...anonymous, recoveryId: 'c2' })).rejects.toThrow(/invalid DataCorruptionReported detail: reportedBy/);
  });

  it('refuses an event it has no runbook for', async () => {
    const h = await recoveryHarness();
    await expect(preCheckRunbook(h.deps, { recoveryId: 'x', detailType: 'LoadHigh', trigger: {} })).rejects.toThrow(/no manual runbook for LoadHigh/);
  });
});

describe('operator decisions', () => {
  async function pending() {
    const store = new InMemoryRecoveryStore(new ManualClock());
    await store.addApproval({ recoveryId: 'm1', shard: '-80', kind: 'split-brain', taskToken: 'token-1', reason: 'two writers' });
    return store;
  }

  it('approval sends SendTaskSuccess with who decided', async () => {
    const store = await pending();
    const callbacks = new RecordingCallbacks();
    await decideRecovery(store, () => callbacks, 'm1', 'approved', 'alice');
    expect(callbacks.sent).toEqual([['succeed', 'token-1', { decision: 'approved', decidedBy: 'alice' }]]);
    expect(store.steps('m1')).toEqual(['approve:succeeded']);
  });

  it('rejection sends SendTaskFailure with the RecoveryRejected error the runbook catches', async () => {
    const store = await pending();
    const callbacks = new RecordingCallbacks();
    await decideRecovery(store, () => callbacks, 'm1', 'rejected', 'bob');
    expect(callbacks.sent).toEqual([['fail', 'token-1', 'RecoveryRejected', 'rejected by bob']]);
  });

  it('a second decision is refused', async () => {
    const store = await pending();
    await decideRecovery(store, () => new RecordingCallbacks(), 'm1', 'approved', 'alice');
    await expect(decideRecovery(store, () => new RecordingCallbacks(), 'm1', 'rejected', 'bob')).rejects.toThrow(ConflictError);
  });

  it('a decision that cannot be delivered is undone, so it can be taken again', async () => {
    const store = await pending();
    const callbacks = new RecordingCallbacks();
    callbacks.failWith = new Error('TaskTimedOut');
    await expect(decideRecovery(store, () => callbacks, 'm1', 'approved', 'alice')).rejects.toThrow('TaskTimedOut');
    expect((await store.approval('m1'))?.decision).toBeNull();
    expect(store.steps('m1')).toEqual(['approve:succeeded', 'approve:failed']);
    expect((await store.auditLog({ recoveryId: 'm1', limit: 1 }))[0]?.detail).toMatchObject({ by: 'alice', reason: 'not delivered to the workflow: TaskTimedOut' });
  });

  it('switching recovery and acknowledging a failover are audited', async () => {
    const clock = new ManualClock();
    const store = new InMemoryRecoveryStore(clock);
    await setRecoveryEnabled(store, '-80', false, 'alice');
    await store.recordFailover('-80');
    clock.advance(10);
    expect(await acknowledgeFailover(store, '-80', 'bob')).toEqual({ lastFailoverAt: clock.now() - 10 });
    expect(await store.settings('-80')).toMatchObject({ enabled: false, acknowledgedAt: clock.now() });
    expect(store.steps('operator')).toEqual(['disable:succeeded', 'ack:succeeded']);
  });
});
