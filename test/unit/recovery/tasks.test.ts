import { describe, expect, it } from 'vitest';
import { runRecoveryTask } from '../../../functions/recovery/tasks';
import { RECOVERY_TASKS } from '../../../functions/recovery/workflow-contract';
import { primaryDownDetail, recoveryHarness, runbookDetail } from '../../workflows/helpers/recovery-fakes';

describe('runRecoveryTask', () => {
  it('runs the named use case on the workflow state', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-a', { up: false });
    const result = await runRecoveryTask(h.deps, { task: RECOVERY_TASKS.failoverPreCheck, input: { recoveryId: 'r1', trigger: primaryDownDetail('-80', 's0-a') } });
    expect(result).toMatchObject({ proceed: true });
  });

  it('rethrows AppErrors under their code, the Step Functions error name, and audits the failed step', async () => {
    const h = await recoveryHarness();
    await h.store.acquireLock('-80', 'other', 60_000);
    const locked = runRecoveryTask(h.deps, {
      task: RECOVERY_TASKS.removeReplica,
      input: {
        recoveryId: 'd2',
        trigger: { schemaVersion: 1, shard: '-80', verdict: 'DEGRADED', observedAt: '2025-03-01T12:00:00.000Z', reason: 'down', mapVersion: 1, node: 's0-b', role: 'replica', endpoint: 's0-b.db:3306', state: 'DOWN' },
      },
    });
    await expect(locked).rejects.toMatchObject({ name: 'RecoveryInProgress', message: expect.stringMatching(/other holds shard -80/) });
    expect(h.store.audits.at(-1)).toMatchObject({ recoveryId: 'd2', shard: '-80', step: 'remove', outcome: 'failed', detail: { error: 'RecoveryInProgress' } });
  });

  it('keeps the name of errors from outside the hierarchy', async () => {
    const h = await recoveryHarness();
    h.fleet.set('s0-a', { up: false });
    const state = { recoveryId: 'r1', trigger: primaryDownDetail('-80', 's0-a') };
    const preCheck = await runRecoveryTask(h.deps, { task: RECOVERY_TASKS.failoverPreCheck, input: state });
    const candidate = await runRecoveryTask(h.deps, { task: RECOVERY_TASKS.pickCandidate, input: { ...state, preCheck } });
    const boom = new RangeError('promotion exploded');
    h.fleet.failNext('promote', boom);
    await expect(runRecoveryTask(h.deps, { task: RECOVERY_TASKS.promote, input: { ...state, preCheck, candidate } })).rejects.toBe(boom);
  });

  it('refuses payloads that name no known task or no recovery id', async () => {
    const h = await recoveryHarness();
    await expect(runRecoveryTask(h.deps, { task: 'failover.explode', input: { recoveryId: 'x' } })).rejects.toThrow(/not a recovery task payload/);
    await expect(runRecoveryTask(h.deps, { task: RECOVERY_TASKS.promote, input: {} })).rejects.toThrow(/input.recoveryId must be a non-empty string/);
    await expect(runRecoveryTask(h.deps, null)).rejects.toThrow(/not a recovery task payload/);
  });

  it('requires the task token for the approval request', async () => {
    const h = await recoveryHarness();
    const input = { recoveryId: 'm1', detailType: 'QuorumLost', trigger: runbookDetail('QuorumLost', '-80', ['s0-a']) };
    await expect(runRecoveryTask(h.deps, { task: RECOVERY_TASKS.requestApproval, input })).rejects.toThrow(/needs taskToken/);
    await expect(runRecoveryTask(h.deps, { task: RECOVERY_TASKS.requestApproval, input, taskToken: 'tok' })).resolves.toEqual({ requested: true });
  });
});
