/**
 * What the recovery state machines (cdk/constructs/failover-workflow.ts) and the task handler
 * agree on: task names (the `task` field of every Lambda payload) and Step Functions error names.
 * Kept free of imports so the CDK app reads it without loading the use cases.
 */

export const RECOVERY_TASKS = {
  failoverPreCheck: 'failover.preCheck',
  pickCandidate: 'failover.pickCandidate',
  promote: 'failover.promote',
  repointReplicas: 'failover.repointReplicas',
  fenceOldPrimary: 'failover.fenceOldPrimary',
  updateShardMap: 'failover.updateShardMap',
  postCheckWrite: 'failover.postCheckWrite',
  completeFailover: 'failover.complete',
  failFailover: 'failover.fail',
  removeReplica: 'replica.remove',
  watchReplica: 'replica.watch',
  restoreReplica: 'replica.restore',
  failReplica: 'replica.fail',
  runbookPreCheck: 'runbook.preCheck',
  requestApproval: 'runbook.requestApproval',
  applyRunbook: 'runbook.apply',
  closeRunbook: 'runbook.close',
} as const;

export type RecoveryTaskName = (typeof RECOVERY_TASKS)[keyof typeof RECOVERY_TASKS];

/** The payload of every recovery task invocation. */
export interface RecoveryTaskPayload {
  task: RecoveryTaskName;
  /** The workflow state so far. */
  input: unknown;
  /** Only for `.waitForTaskToken` tasks. */
  taskToken?: string;
}

/**
 * Errors worth retrying with backoff: the catalog or a node briefly away, another recovery
 * holding the shard, a node still catching up, a map commit lost to a concurrent writer.
 * Everything else is permanent and goes to the failure path at once.
 */
export const TRANSIENT_ERRORS = ['CatalogUnavailable', 'NodeUnreachable', 'NodeNotReady', 'RecoveryInProgress', 'StaleMapVersion', 'EventPublishFailed'] as const;

/** The error a rejection sends with SendTaskFailure; the runbook's Catch for it ends the runbook cleanly. */
export const RECOVERY_REJECTED = 'RecoveryRejected';
