import { requireShardMap } from '../catalog/shard-map-changes';
import { primaryOf } from '../core/shard-map';
import { failedPrimaries, type ApprovalKind } from '../ports/recovery-store';
import {
  buildEvent,
  DataCorruptionReported,
  parseEventDetail,
  QuorumLost,
  RecoveryApprovalRequested,
  SplitBrainSuspected,
  type DetailOf,
} from '../shared/events';
import { ValidationError } from '../shared/errors';
import { audit, isoNow, locateShard, recoveryLockName, type RecoveryDeps } from './context';
import { RECOVERY_REJECTED } from './workflow-contract';

/**
 * Manual runbooks (quorum lost, split brain, reported data corruption): nothing changes until an operator
 * decides. The workflow records a pending approval with its task token, notifies, and waits;
 * `shardkeeper recovery approve|reject <recoveryId>` answers the token.
 */

export interface RunbookState {
  recoveryId: string;
  /** The event's detail-type: QuorumLost, SplitBrainSuspected or DataCorruptionReported. */
  detailType: string;
  trigger: unknown;
  preCheck?: RunbookPreCheck;
  /** SendTaskSuccess output of an approval. */
  decision?: { decision: 'approved'; decidedBy: string };
  error?: { Error: string; Cause?: string };
}

export interface RunbookPreCheck {
  proceed: boolean;
  kind: ApprovalKind;
  reason: string;
}

type HealthTrigger = DetailOf<typeof QuorumLost> | DetailOf<typeof SplitBrainSuspected>;
type CorruptionTrigger = DetailOf<typeof DataCorruptionReported>;
type TriggerDetail = HealthTrigger | CorruptionTrigger;

const isHealthTrigger = (detail: TriggerDetail): detail is HealthTrigger => 'verdict' in detail;

const RUNBOOKS: Record<string, { kind: ApprovalKind; parse: (detail: unknown) => TriggerDetail; summary: (detail: TriggerDetail) => string }> = {
  [QuorumLost.detailType]: {
    kind: 'quorum-lost',
    parse: (detail) => parseEventDetail(QuorumLost, detail),
    summary: (detail) => {
      const { reachable, total } = detail as DetailOf<typeof QuorumLost>;
      return `only ${reachable} of ${total} nodes are reachable; restore a majority, then approve to release the shard back to automatic recovery`;
    },
  },
  [SplitBrainSuspected.detailType]: {
    kind: 'split-brain',
    parse: (detail) => parseEventDetail(SplitBrainSuspected, detail),
    summary: (detail) => `writable nodes ${(detail as HealthTrigger).nodes.join(', ')}; approve to fence every one of them but the map's primary`,
  },
  [DataCorruptionReported.detailType]: {
    kind: 'data-corruption',
    parse: (detail) => parseEventDetail(DataCorruptionReported, detail),
    summary: (detail) => corruptionSummary(detail as CorruptionTrigger),
  },
};

/** The corruption chapter, step by step: automated recovery stays off the shard until the operator approves. */
function corruptionSummary({ shard, tables, reportedBy, note }: CorruptionTrigger): string {
  const affected = tables.length > 0 ? `tables ${tables.join(', ')}` : 'unknown tables';
  return [
    `data corruption on shard ${shard} (${affected}) reported by ${reportedBy}${note ? `: ${note}` : ''}`,
    `1) isolate the affected tables (stop the writers, or move the tables aside)`,
    `2) restore to a point in time before the corruption: shardkeeper restore plan --shard ${shard} --to <time>, then shardkeeper restore run --shard ${shard} --to <time>`,
    `3) verify the restored data; 4) replay the good changes made since that time; 5) verify the application's data`,
    `then approve to release the shard back to automatic recovery (approving changes nothing else)`,
  ].join('; ');
}

/** What an approval request says about the shard: a health trigger's own verdict and map version; for reported corruption, the current map version. */
async function shardContext(deps: RecoveryDeps, trigger: TriggerDetail): Promise<{ verdict?: HealthTrigger['verdict']; mapVersion: number; nodes?: string[] }> {
  if (isHealthTrigger(trigger)) return { verdict: trigger.verdict, mapVersion: trigger.mapVersion, nodes: trigger.nodes };
  const { map } = await locateShard(deps.catalog, trigger.shard);
  return { mapVersion: map.version };
}

function runbookOf(state: RunbookState) {
  const runbook = RUNBOOKS[state.detailType];
  if (!runbook) throw new ValidationError(`no manual runbook for ${state.detailType}; expected one of ${Object.keys(RUNBOOKS).join(', ')}`);
  return { ...runbook, trigger: runbook.parse(state.trigger) };
}

/** Enabled shard and its lock: while an operator decides, no automated recovery touches the shard. */
export async function preCheckRunbook(deps: RecoveryDeps, state: RunbookState): Promise<RunbookPreCheck> {
  const { kind, trigger, summary } = runbookOf(state);
  if (!(await deps.store.settings(trigger.shard)).enabled) {
    const reason = `recovery is disabled for shard ${trigger.shard}`;
    await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'skipped', { kind, reason });
    return { proceed: false, kind, reason };
  }
  const lockName = recoveryLockName(await requireShardMap(deps.catalog), trigger.shard);
  const lock = await deps.store.acquireLock(lockName, state.recoveryId, deps.policy.runbookLockMs);
  if (!lock.acquired) {
    const reason = `recovery ${lock.heldBy} already holds shard ${lockName}`;
    await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'blocked', { kind, reason });
    return { proceed: false, kind, reason };
  }
  const reason = summary(trigger);
  await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'succeeded', { kind, reason });
  return { proceed: true, kind, reason };
}

/** Runs as a `.waitForTaskToken` task: stores the token as a pending approval and notifies operators. */
export async function requestApproval(deps: RecoveryDeps, state: RunbookState, taskToken: string): Promise<{ requested: true }> {
  const { kind, trigger, summary } = runbookOf(state);
  const reason = summary(trigger);
  const { verdict, mapVersion, nodes } = await shardContext(deps, trigger);
  await deps.store.addApproval({ recoveryId: state.recoveryId, shard: trigger.shard, kind, taskToken, reason });
  await audit(deps, state.recoveryId, trigger.shard, 'requestApproval', 'waiting', { kind, reason, nodes, ...('tables' in trigger ? { tables: trigger.tables } : {}) });
  await deps.events.publish([
    buildEvent(RecoveryApprovalRequested, {
      schemaVersion: trigger.schemaVersion,
      shard: trigger.shard,
      ...(verdict ? { verdict } : {}),
      observedAt: isoNow(deps),
      reason: `${reason}. Decide with: shardkeeper recovery approve ${state.recoveryId} | shardkeeper recovery reject ${state.recoveryId}`,
      mapVersion,
      recoveryId: state.recoveryId,
      runbook: kind,
      nodes,
    }),
  ]);
  return { requested: true };
}

/**
 * After approval. Split brain: fence every node it names but the map's primary, a primary a
 * failover took out of the map included. Others (quorum, corruption): the operator's fix stands.
 */
export async function applyRunbook(deps: RecoveryDeps, state: RunbookState): Promise<{ fenced: string[]; unreachable: string[] }> {
  const { kind, trigger } = runbookOf(state);
  const decidedBy = state.decision?.decidedBy ?? 'unknown';
  if (kind !== 'split-brain' || !isHealthTrigger(trigger)) {
    await audit(deps, state.recoveryId, trigger.shard, 'applyRunbook', 'succeeded', { kind, decidedBy, action: 'none: operator restored the shard' });
    return { fenced: [], unreachable: [] };
  }
  const { shard } = await locateShard(deps.catalog, trigger.shard);
  const writer = primaryOf(shard);
  const formerPrimaries = (await failedPrimaries(deps.store, shard.name)).map((former) => former.node);
  const intruders = [...shard.nodes, ...formerPrimaries].filter((node) => trigger.nodes.includes(node.id) && node.id !== writer?.id);
  const fenced: string[] = [];
  const unreachable: string[] = [];
  for (const node of intruders) ((await deps.admin.fence(node)) ? fenced : unreachable).push(node.id);
  await audit(deps, state.recoveryId, trigger.shard, 'applyRunbook', 'succeeded', { kind, decidedBy, writer: writer?.id ?? null, fenced, unreachable });
  return { fenced, unreachable };
}

/** Ends the runbook, approved or rejected: audits and releases the shard. */
export async function closeRunbook(deps: RecoveryDeps, state: RunbookState): Promise<{ outcome: 'approved' | 'rejected' | 'failed' }> {
  const { trigger } = runbookOf(state);
  const outcome = state.decision ? 'approved' : state.error?.Error === RECOVERY_REJECTED ? 'rejected' : 'failed';
  await deps.store.releaseLocksOf(state.recoveryId);
  await audit(deps, state.recoveryId, trigger.shard, 'close', outcome === 'failed' ? 'failed' : 'succeeded', {
    outcome,
    ...(state.error ? { error: state.error.Error, cause: state.error.Cause ?? '' } : {}),
  });
  return { outcome };
}
