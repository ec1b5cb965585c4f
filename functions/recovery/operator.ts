import type { ApprovalDecision, PendingApproval, RecoveryStore } from '../ports/recovery-store';
import type { TaskCallbacks } from '../ports/task-callbacks';
import { RECOVERY_REJECTED } from './workflow-contract';

/** Operator actions on recovery (the `shardkeeper recovery` commands); each one is audited. */

/** Audit rows of operator actions carry this instead of a recovery id. */
export const OPERATOR_ACTION = 'operator';

/** Task tokens the local runner hands out; their decisions travel through the catalog, not Step Functions. */
export const LOCAL_TASK_TOKEN_PREFIX = 'local:';

export const isLocalTaskToken = (token: string) => token.startsWith(LOCAL_TASK_TOKEN_PREFIX);

export async function setRecoveryEnabled(store: RecoveryStore, shard: string, enabled: boolean, by: string): Promise<void> {
  await store.setEnabled(shard, enabled, by);
  await store.appendAudit({ recoveryId: OPERATOR_ACTION, shard, step: enabled ? 'enable' : 'disable', outcome: 'succeeded', detail: { by } });
}

/** Lifts the anti-flap block: the operator has looked at the last failover. */
export async function acknowledgeFailover(store: RecoveryStore, shard: string, by: string): Promise<{ lastFailoverAt: number | null }> {
  const { lastFailoverAt } = await store.settings(shard);
  await store.acknowledge(shard, by);
  await store.appendAudit({ recoveryId: OPERATOR_ACTION, shard, step: 'ack', outcome: 'succeeded', detail: { by, lastFailoverAt } });
  return { lastFailoverAt };
}

/**
 * Approves or rejects a waiting runbook. The decision is recorded first, with its audit entry (so
 * two operators cannot both decide, and a runner acting on it finds it audited), then sent to the
 * workflow; if sending fails the decision is undone, audited as failed, and the error surfaces.
 * `callbacksFor` returns undefined for tokens whose runner reads decisions from the catalog itself
 * (the local runner).
 */
export async function decideRecovery(
  store: RecoveryStore,
  callbacksFor: (taskToken: string) => TaskCallbacks | undefined,
  recoveryId: string,
  decision: ApprovalDecision,
  by: string,
): Promise<PendingApproval> {
  const approval = await store.decideApproval(recoveryId, decision, by);
  const callbacks = callbacksFor(approval.taskToken);
  try {
    if (decision === 'approved') await callbacks?.succeed(approval.taskToken, { decision, decidedBy: by });
    else await callbacks?.fail(approval.taskToken, RECOVERY_REJECTED, `rejected by ${by}`);
  } catch (error) {
    await store.reopenApproval(recoveryId, `not delivered to the workflow: ${(error as Error).message}`);
    throw error;
  }
  return approval;
}
