import { asStepFunctionsError, ValidationError } from '../shared/errors';
import type { RecoveryDeps } from './context';
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
} from './failover';
import { failReplicaRecovery, removeReplica, restoreReplica, watchRemovedReplica, type ReplicaState } from './replica-recovery';
import { applyRunbook, closeRunbook, preCheckRunbook, requestApproval, type RunbookState } from './runbook';
import { RECOVERY_TASKS, type RecoveryTaskName, type RecoveryTaskPayload } from './workflow-contract';

type Task = (deps: RecoveryDeps, payload: RecoveryTaskPayload) => Promise<unknown>;

const failover = (step: (deps: RecoveryDeps, state: FailoverState) => Promise<unknown>): Task => (deps, payload) => step(deps, payload.input as FailoverState);
const replica = (step: (deps: RecoveryDeps, state: ReplicaState) => Promise<unknown>): Task => (deps, payload) => step(deps, payload.input as ReplicaState);
const runbook = (step: (deps: RecoveryDeps, state: RunbookState) => Promise<unknown>): Task => (deps, payload) => step(deps, payload.input as RunbookState);

const TASKS: Record<RecoveryTaskName, Task> = {
  [RECOVERY_TASKS.failoverPreCheck]: failover(preCheckFailover),
  [RECOVERY_TASKS.pickCandidate]: failover(pickCandidate),
  [RECOVERY_TASKS.promote]: failover(promoteCandidate),
  [RECOVERY_TASKS.repointReplicas]: failover(repointReplicas),
  [RECOVERY_TASKS.fenceOldPrimary]: failover(fenceOldPrimary),
  [RECOVERY_TASKS.updateShardMap]: failover(updateShardMap),
  [RECOVERY_TASKS.postCheckWrite]: failover(postCheckWrite),
  [RECOVERY_TASKS.completeFailover]: failover(completeFailover),
  [RECOVERY_TASKS.failFailover]: failover(failFailover),
  [RECOVERY_TASKS.removeReplica]: replica(removeReplica),
  [RECOVERY_TASKS.watchReplica]: replica(watchRemovedReplica),
  [RECOVERY_TASKS.restoreReplica]: replica(restoreReplica),
  [RECOVERY_TASKS.failReplica]: replica(failReplicaRecovery),
  [RECOVERY_TASKS.runbookPreCheck]: runbook(preCheckRunbook),
  [RECOVERY_TASKS.requestApproval]: (deps, payload) => {
    if (!payload.taskToken) throw new ValidationError(`${payload.task} runs as a .waitForTaskToken task and needs taskToken`);
    return requestApproval(deps, payload.input as RunbookState, payload.taskToken);
  },
  [RECOVERY_TASKS.applyRunbook]: runbook(applyRunbook),
  [RECOVERY_TASKS.closeRunbook]: runbook(closeRunbook),
};

const isTaskName = (name: unknown): name is RecoveryTaskName => typeof name === 'string' && Object.hasOwn(TASKS, name);

function parsePayload(payload: unknown): RecoveryTaskPayload {
  const candidate = payload as Partial<RecoveryTaskPayload> | null;
  if (typeof candidate !== 'object' || candidate === null || !isTaskName(candidate.task)) {
    throw new ValidationError(`not a recovery task payload; expected { task: one of ${Object.keys(TASKS).join(', ')}, input }`);
  }
  const recoveryId = (candidate.input as { recoveryId?: unknown } | undefined)?.recoveryId;
  if (typeof recoveryId !== 'string' || recoveryId === '') throw new ValidationError(`${candidate.task}: input.recoveryId must be a non-empty string`);
  return candidate as RecoveryTaskPayload;
}

/**
 * Runs one recovery task: the Lambda handler and the local runner call this with the same
 * payload. A failure is audited against its step, then rethrown under its Step Functions error
 * name so Retry and Catch match on it.
 */
export async function runRecoveryTask(deps: RecoveryDeps, payload: unknown): Promise<unknown> {
  const parsed = parsePayload(payload);
  try {
    return await TASKS[parsed.task](deps, parsed);
  } catch (error) {
    const input = parsed.input as { recoveryId: string; trigger?: { shard?: unknown } };
    const shard = typeof input.trigger?.shard === 'string' ? input.trigger.shard : 'unknown';
    const failure = asStepFunctionsError(error);
    await deps.store
      .appendAudit({ recoveryId: input.recoveryId, shard, step: parsed.task.split('.')[1]!, outcome: 'failed', detail: { error: failure.name, message: failure.message } })
      // The audit lives in the catalog, which may be what failed; the step's error matters more.
      .catch(() => undefined);
    throw failure;
  }
}
