import { describe, expect, it } from 'vitest';
import { LocalTaskTokens, runLocalWorkflow } from '../../functions/recovery/local-workflows';
import { decideRecovery, isLocalTaskToken } from '../../functions/recovery/operator';
import { EVENT_SOURCES } from '../../functions/shared/events';
import { busEvent, demoRecoveryDefinitions } from './helpers/definitions';
import { recoveryHarness, runbookDetail, type RecoveryHarness } from './helpers/recovery-fakes';

/** Starts the split-brain runbook and resolves once its approval is pending (the run is wrapped: awaiting a bare promise would wait for the end). */
async function splitBrainWaiting(h: RecoveryHarness, tokens: LocalTaskTokens) {
  h.fleet.set('s0-b', { writable: true });
  const run = runLocalWorkflow(demoRecoveryDefinitions().runbook, h.deps, busEvent('SplitBrainSuspected', runbookDetail('SplitBrainSuspected', '-80', ['s0-a', 's0-b'])), {
    executionName: 'm1',
    tokens,
    retryDelayMs: 0,
  });
  for (let i = 0; i < 200 && tokens.pending().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(tokens.pending()).toEqual(['local:m1']);
  return { run };
}

/** Starts the runbook for a corruption report and resolves once its approval is pending. */
async function corruptionWaiting(h: RecoveryHarness, tokens: LocalTaskTokens) {
  const detail = { schemaVersion: 1, shard: '-80', tables: ['players'], reportedBy: 'alice', note: 'bad balances', observedAt: '2025-03-01T12:00:00.000Z' };
  const run = runLocalWorkflow(demoRecoveryDefinitions().runbook, h.deps, busEvent('DataCorruptionReported', detail, EVENT_SOURCES.recovery), { executionName: 'c1', tokens, retryDelayMs: 0 });
  for (let i = 0; i < 200 && tokens.pending().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(tokens.pending()).toEqual(['local:c1']);
  return { run };
}

describe('manual runbook state machine (waitForTaskToken)', () => {
  it('waits for an operator, then on approval fences the extra writer and releases the shard', async () => {
    const h = await recoveryHarness();
    const tokens = new LocalTaskTokens();
    const { run } = await splitBrainWaiting(h, tokens);
    expect(await h.store.approval('m1')).toMatchObject({ kind: 'split-brain', taskToken: 'local:m1', decision: null });
    expect(h.events.types()).toEqual(['RecoveryApprovalRequested']);
    expect(h.store.locks.get('-80')?.recoveryId).toBe('m1');
    expect(h.fleet.node('s0-b').writable).toBe(true);

    await decideRecovery(h.store, () => tokens, 'm1', 'approved', 'alice');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.states).toEqual(['Describe', 'PreCheck', 'Proceed?', 'RequestApproval', 'ApplyRunbook', 'CloseApproved', 'Applied']);
    expect(result.output).toMatchObject({ decision: { decision: 'approved', decidedBy: 'alice' }, applied: { fenced: ['s0-b'] } });
    expect(h.fleet.node('s0-b').writable).toBe(false);
    expect(h.fleet.node('s0-a').writable).toBe(true);
    expect(h.store.locks.size).toBe(0);
  });

  it('stops on rejection without touching any node', async () => {
    const h = await recoveryHarness();
    const tokens = new LocalTaskTokens();
    const { run } = await splitBrainWaiting(h, tokens);
    await decideRecovery(h.store, () => tokens, 'm1', 'rejected', 'bob');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.states.slice(-3)).toEqual(['RequestApproval', 'CloseAfterRejection', 'Rejected']);
    expect(result.output).toMatchObject({ error: { Error: 'RecoveryRejected', Cause: 'rejected by bob' }, closed: { outcome: 'rejected' } });
    expect(h.fleet.calls.filter((call) => call.startsWith('fence'))).toEqual([]);
    expect(h.store.locks.size).toBe(0);
  });

  it('picks up a decision another process recorded in the catalog (the CLI against the sandbox)', async () => {
    const h = await recoveryHarness();
    const tokens = new LocalTaskTokens();
    const { run } = await splitBrainWaiting(h, tokens);
    // The CLI sends nothing for a local token: it records the decision, and the runner reads it.
    await decideRecovery(h.store, (token) => (isLocalTaskToken(token) ? undefined : tokens), 'm1', 'approved', 'carol');
    expect(tokens.pending()).toEqual(['local:m1']);
    expect(await tokens.deliverDecisions(h.store)).toBe(1);
    expect((await run).states.at(-1)).toBe('Applied');
  });

  it('holds a shard reported corrupt until approved, then releases it without touching any node', async () => {
    const h = await recoveryHarness();
    const tokens = new LocalTaskTokens();
    const { run } = await corruptionWaiting(h, tokens);
    expect(await h.store.approval('c1')).toMatchObject({ kind: 'data-corruption', taskToken: 'local:c1', decision: null, reason: expect.stringMatching(/restore plan --shard -80/) });
    expect(h.events.types()).toEqual(['RecoveryApprovalRequested']);
    expect(h.store.locks.get('-80')?.recoveryId).toBe('c1');

    await decideRecovery(h.store, () => tokens, 'c1', 'approved', 'bob');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.states).toEqual(['Describe', 'PreCheck', 'Proceed?', 'RequestApproval', 'ApplyRunbook', 'CloseApproved', 'Applied']);
    expect(result.output).toMatchObject({ decision: { decidedBy: 'bob' }, applied: { fenced: [], unreachable: [] }, closed: { outcome: 'approved' } });
    expect(h.fleet.calls).toEqual([]);
    expect(h.store.locks.size).toBe(0);
  });

  it('closes a corruption runbook on rejection and releases the shard', async () => {
    const h = await recoveryHarness();
    const tokens = new LocalTaskTokens();
    const { run } = await corruptionWaiting(h, tokens);
    await decideRecovery(h.store, () => tokens, 'c1', 'rejected', 'carol');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(result.states.slice(-3)).toEqual(['RequestApproval', 'CloseAfterRejection', 'Rejected']);
    expect(result.output).toMatchObject({ error: { Error: 'RecoveryRejected', Cause: 'rejected by carol' }, closed: { outcome: 'rejected' } });
    expect(h.fleet.calls).toEqual([]);
    expect(h.store.locks.size).toBe(0);
  });

  it('does not ask anybody when the shard is disabled', async () => {
    const h = await recoveryHarness();
    await h.store.setEnabled('-80', false, 'alice');
    const result = await runLocalWorkflow(demoRecoveryDefinitions().runbook, h.deps, busEvent('QuorumLost', runbookDetail('QuorumLost', '-80', ['s0-a'])), {
      executionName: 'q1',
      tokens: new LocalTaskTokens(),
      retryDelayMs: 0,
    });
    expect(result.states).toEqual(['Describe', 'PreCheck', 'Proceed?', 'NoAction']);
    expect(h.events.events).toEqual([]);
  });
});
