import { describe, expect, it } from 'vitest';
import { runLocalWorkflow } from '../../functions/recovery/local-workflows';
import { NodeUnreachableError, ReplicationChangeError } from '../../functions/shared/errors';
import { busEvent, demoRecoveryDefinitions } from './helpers/definitions';
import { primaryDownDetail, recoveryHarness, type RecoveryHarness } from './helpers/recovery-fakes';

const HAPPY_PATH = ['Describe', 'PreCheck', 'Proceed?', 'PickCandidate', 'Promote', 'RepointReplicas', 'FenceOldPrimary', 'UpdateShardMap', 'PostCheckWrite', 'Complete', 'FailedOver'];

async function primaryDown(h: RecoveryHarness, executionName = 'exec-1') {
  h.fleet.set('s0-a', { up: false });
  return runLocalWorkflow(demoRecoveryDefinitions().failover, h.deps, busEvent('ShardPrimaryDown', primaryDownDetail('-80', 's0-a', 1, ['s0-b', 's0-c'])), {
    executionName,
    retryDelayMs: 0,
  });
}

describe('failover state machine (synthesized definition, local use cases)', () => {
  it('fails a shard over end to end: promotes, repoints, moves the writer in the map and announces it', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-c', { gtid: '0-1-130' });
    const run = await primaryDown(h);

    expect(run.status).toBe('succeeded');
    expect(run.states).toEqual(HAPPY_PATH);
    expect(run.output).toMatchObject({ recoveryId: 'exec-1', candidate: { node: { id: 's0-c' } }, map: { changed: true, version: 2 } });
    expect(h.catalog.map!.shards[0]!.nodes.map((node) => `${node.id}:${node.role}`)).toEqual(['s0-c:primary', 's0-b:replica']);
    expect(h.fleet.node('s0-b').source).toBe('s0-c');
    expect(h.events.types()).toEqual(['ShardFailoverStarted', 'ShardFailoverCompleted']);
    expect(h.store.locks.size).toBe(0);
    expect(h.store.steps('exec-1').every((step) => !step.endsWith(':failed'))).toBe(true);
  });

  it('retries a transient failure with backoff and then carries on', async () => {
    const h = await recoveryHarness();
    h.fleet.failNext('promote', new NodeUnreachableError('connection reset'), new NodeUnreachableError('connection reset'));
    const run = await primaryDown(h);
    expect(run.status).toBe('succeeded');
    expect(run.retries).toEqual(['Promote', 'Promote']);
    expect(h.fleet.calls.filter((call) => call.startsWith('promote'))).toHaveLength(3);
    expect(h.store.steps('exec-1').filter((step) => step === 'promote:failed')).toHaveLength(2);
  });

  it('sends a permanent failure to the failure path: ShardFailoverFailed, lock released, execution failed', async () => {
    const h = await recoveryHarness();
    h.fleet.failNext('promote', new ReplicationChangeError('read_only cannot be switched off'));
    const run = await primaryDown(h);
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ name: 'ReplicationChangeFailed', message: 'read_only cannot be switched off' });
    expect(run.states.slice(-3)).toEqual(['Promote', 'RecordFailure', 'FailoverFailed']);
    expect(run.retries).toEqual([]);
    expect(h.events.events.at(-1)).toMatchObject({ detailType: 'ShardFailoverFailed', detail: { step: 'promote', error: 'ReplicationChangeFailed' } });
    expect(h.store.locks.size).toBe(0);
    expect(h.catalog.map!.version).toBe(1);
  });

  it('gives up on a transient failure that outlasts its retries', async () => {
    const h = await recoveryHarness();
    h.fleet.failNext('promote', ...Array.from({ length: 4 }, () => new NodeUnreachableError('still unreachable')));
    const run = await primaryDown(h);
    expect(run.status).toBe('failed');
    expect(run.error?.name).toBe('NodeUnreachable');
    expect(run.retries).toEqual(['Promote', 'Promote', 'Promote']);
  });

  it('reports a shard without a promotable replica as blocked', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-b', { up: false });
    h.fleet.set('s0-c', { source: null });
    const run = await primaryDown(h);
    expect(run.status).toBe('failed');
    expect(run.error?.name).toBe('NoFailoverCandidate');
    expect(h.events.events.at(-1)).toMatchObject({ detailType: 'ShardFailoverBlocked', detail: { blockedBy: 'no-candidate' } });
  });

  it('blocks a second failover inside the anti-flap window and changes nothing', async () => {
    const h = await recoveryHarness();
    await h.store.recordFailover('-80');
    h.clock.advance(10 * 60_000);
    const run = await primaryDown(h);
    expect(run.status).toBe('succeeded');
    expect(run.states).toEqual(['Describe', 'PreCheck', 'Proceed?', 'NoFailover']);
    expect(h.events.events).toMatchObject([{ detailType: 'ShardFailoverBlocked', detail: { blockedBy: 'anti-flap' } }]);
    expect(h.fleet.calls.filter((call) => !call.startsWith('probe'))).toEqual([]);
    expect(h.catalog.map!.version).toBe(1);
  });

  it('takes no action at all on a disabled shard', async () => {
    const h = await recoveryHarness();
    await h.store.setEnabled('-80', false, 'alice');
    const run = await primaryDown(h);
    expect(run.states).toEqual(['Describe', 'PreCheck', 'Proceed?', 'NoFailover']);
    expect(h.fleet.calls).toEqual([]);
    expect(h.catalog.map!.version).toBe(1);
  });

  it('lets only one of two concurrent failovers of a shard act', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-a', { up: false });
    const definition = demoRecoveryDefinitions().failover;
    const event = busEvent('ShardPrimaryDown', primaryDownDetail('-80', 's0-a'));
    const runs = await Promise.all(['exec-a', 'exec-b'].map((executionName) => runLocalWorkflow(definition, h.deps, event, { executionName, retryDelayMs: 0 })));
    expect(runs.map((run) => run.states.at(-1)).sort()).toEqual(['FailedOver', 'NoFailover']);
    expect(h.fleet.calls.filter((call) => call.startsWith('promote'))).toHaveLength(1);
    expect(h.catalog.map!.version).toBe(2);
  });
});
