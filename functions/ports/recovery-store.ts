import type { ShardNode } from '../core/shard-map-types';

/** Per-shard recovery switch and anti-flap state. Times are milliseconds since the epoch. */
export interface RecoverySettings {
  shard: string;
  /** Automated recovery runs only while enabled; shards never configured are enabled. */
  enabled: boolean;
  lastFailoverAt: number | null;
  /** An operator acknowledged the last failover, which lifts the anti-flap block. */
  acknowledgedAt: number | null;
  updatedBy: string | null;
}

export type LockAttempt = { acquired: true } | { acquired: false; heldBy: string; expiresAt: number };

export type AuditOutcome = 'started' | 'succeeded' | 'failed' | 'skipped' | 'blocked' | 'waiting';

export interface AuditEntry {
  recoveryId: string;
  shard: string;
  step: string;
  outcome: AuditOutcome;
  detail: Record<string, unknown>;
  at: number;
}

export type ApprovalKind = 'quorum-lost' | 'split-brain' | 'data-corruption';
export type ApprovalDecision = 'approved' | 'rejected';

/**
 * The audit entry of an operator's decision on `approval`: taken (succeeded), or undone because it
 * could not be delivered (failed, with the reason).
 */
export function decisionAudit(approval: Pick<PendingApproval, 'recoveryId' | 'shard' | 'kind'>, decision: ApprovalDecision, by: string | null, undoneBecause?: string): Omit<AuditEntry, 'at'> {
  return {
    recoveryId: approval.recoveryId,
    shard: approval.shard,
    step: decision === 'approved' ? 'approve' : 'reject',
    outcome: undoneBecause === undefined ? 'succeeded' : 'failed',
    detail: { by, kind: approval.kind, ...(undoneBecause === undefined ? {} : { reason: undoneBecause }) },
  };
}

export interface PendingApproval {
  recoveryId: string;
  shard: string;
  kind: ApprovalKind;
  /** The Step Functions task token (or a local runner's token) the decision answers. */
  taskToken: string;
  reason: string;
  requestedAt: number;
  decision: ApprovalDecision | null;
  decidedBy: string | null;
  decidedAt: number | null;
}

/** Why a node left its shard's map; decides what happens when it comes back. */
export type RemovalReason = 'replica-down' | 'failed-primary' | 'repoint-failed';

export interface RemovedNode {
  shard: string;
  node: ShardNode;
  reason: RemovalReason;
  recoveryId: string;
  removedAt: number;
}

/** Lock holders that change the shard map by hand (a split): a failover waits for them rather than giving up. */
export const MAP_CHANGE_HOLDER = 'map-change-';

/** The primaries failovers took out of the map (of `shard`, or of all), which may not have been fenced. */
export async function failedPrimaries(store: Pick<RecoveryStore, 'removedNodes'>, shard?: string): Promise<Array<{ shard: string; node: ShardNode }>> {
  return (await store.removedNodes(shard)).filter((removed) => removed.reason === 'failed-primary').map((removed) => ({ shard: removed.shard, node: removed.node }));
}

/**
 * Recovery state in the catalog: switches, one lock per shard, anti-flap times, the audit log,
 * operator approvals and nodes taken out of the map (so they can be put back).
 */
export interface RecoveryStore {
  settings(shard: string): Promise<RecoverySettings>;
  listSettings(): Promise<RecoverySettings[]>;
  setEnabled(shard: string, enabled: boolean, by: string): Promise<void>;
  /** Records a failover of the shard now; it starts a new anti-flap window. */
  recordFailover(shard: string): Promise<void>;
  /** Lifts the anti-flap block of the last failover. */
  acknowledge(shard: string, by: string): Promise<void>;

  /**
   * Takes the shard's recovery lock for `ttlMs` unless another recovery holds an unexpired one.
   * The holder may take it again (a retried step), which extends it.
   */
  acquireLock(shard: string, recoveryId: string, ttlMs: number): Promise<LockAttempt>;
  /** Releases the lock if `recoveryId` holds it; false otherwise. */
  releaseLock(shard: string, recoveryId: string): Promise<boolean>;
  /** Releases every lock `recoveryId` holds, whatever shard name it was taken under (failure paths). */
  releaseLocksOf(recoveryId: string): Promise<void>;

  appendAudit(entry: Omit<AuditEntry, 'at'>): Promise<void>;
  /** Newest first. */
  auditLog(filter: { shard?: string; recoveryId?: string; limit: number }): Promise<AuditEntry[]>;

  addApproval(approval: Omit<PendingApproval, 'requestedAt' | 'decision' | 'decidedBy' | 'decidedAt'>): Promise<void>;
  approval(recoveryId: string): Promise<PendingApproval | undefined>;
  /** Newest first; `pendingOnly` leaves out decided ones. */
  listApprovals(filter: { pendingOnly: boolean; limit: number }): Promise<PendingApproval[]>;
  /**
   * Records the decision once, together with its audit entry (`approve` or `reject`, succeeded), so
   * a runner that acts on the decision finds it audited first. Throws ConflictError if already
   * decided, NotFoundError if unknown.
   */
  decideApproval(recoveryId: string, decision: ApprovalDecision, by: string): Promise<PendingApproval>;
  /** Undoes a decision whose delivery to the workflow failed, so it can be taken again; audited as failed with `reason`. */
  reopenApproval(recoveryId: string, reason: string): Promise<void>;

  /** Remembers a node taken out of the map (replaces an earlier record of the same node). */
  addRemovedNode(removed: Omit<RemovedNode, 'removedAt'>): Promise<void>;
  removedNodes(shard?: string): Promise<RemovedNode[]>;
  forgetRemovedNode(shard: string, nodeId: string): Promise<void>;
}
