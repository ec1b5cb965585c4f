import { commitShardMapChange, requireShardMap } from '../catalog/shard-map-changes';
import { primaryOf } from '../core/shard-map';
import type { ShardNode } from '../core/shard-map-types';
import { buildEvent, parseEventDetail, ShardNodeDown, ShardNodeRecovered, ShardReplicaRemoved, ShardReplicaRestored, type DetailOf } from '../shared/events';
import { NodeNotReadyError, RecoveryInProgressError, StaleMapVersionError } from '../shared/errors';
import { audit, isoNow, locateShard, recoveryLockName, withShardNodes, type RecoveryDeps } from './context';

/**
 * Single replica failures (the chapter's "single node failure" plan, automatic): a DOWN replica
 * leaves the shard's readers so games stop reading from it; once it is back, following the
 * current primary and caught up, it returns.
 */

export interface ReplicaState {
  recoveryId: string;
  /** ShardNodeDown or ShardNodeRecovered. */
  detailType: string;
  /** The event detail that started the workflow. */
  trigger: unknown;
  removal?: ReplicaResult;
  watch?: WatchResult;
  error?: { Error: string; Cause?: string };
}

export interface WatchResult {
  checks: number;
  /** The removed replica answers again: time to try restoring it. */
  answers: boolean;
  /** Watched long enough: an operator takes it from here. */
  giveUp: boolean;
}

export type ReplicaAction = 'removed' | 'restored' | 'none';

export interface ReplicaResult {
  action: ReplicaAction;
  node: string;
  reason: string;
  mapVersion?: number;
}

type NodeDetail = DetailOf<typeof ShardNodeDown> | DetailOf<typeof ShardNodeRecovered>;

/** Both node events carry the shard, node, role and state the steps need. */
function triggerOf(state: ReplicaState): NodeDetail {
  return state.detailType === ShardNodeRecovered.detailType ? parseEventDetail(ShardNodeRecovered, state.trigger) : parseEventDetail(ShardNodeDown, state.trigger);
}

/** Runs `work` holding the shard's lock (see recoveryLockName); a held lock is transient (RecoveryInProgress, retried by Step Functions). */
async function underLock<T>(deps: RecoveryDeps, shard: string, recoveryId: string, work: () => Promise<T>): Promise<T> {
  const name = recoveryLockName(await requireShardMap(deps.catalog), shard);
  const lock = await deps.store.acquireLock(name, recoveryId, deps.policy.replicaLockMs);
  if (!lock.acquired) throw new RecoveryInProgressError(`recovery ${lock.heldBy} holds shard ${name}; retrying later`);
  try {
    return await work();
  } finally {
    await deps.store.releaseLock(name, recoveryId);
  }
}

/** Commits `change(nodes)` for the shard, reloading when another writer committed first. */
async function changeShardNodes(deps: RecoveryDeps, shardName: string, summary: string, change: (nodes: ShardNode[]) => ShardNode[] | undefined): Promise<number | undefined> {
  for (let attempt = 1; ; attempt++) {
    const { map, shard } = await locateShard(deps.catalog, shardName);
    const nodes = change(shard.nodes);
    if (!nodes) return undefined;
    try {
      return (await commitShardMapChange(deps.catalog, withShardNodes(map, new Map([[shardName, nodes]])), map.version, summary)).version;
    } catch (error) {
      if (!(error instanceof StaleMapVersionError) || attempt >= deps.policy.mapCommitAttempts) throw error;
    }
  }
}

const eventDetail = (deps: RecoveryDeps, state: ReplicaState, trigger: NodeDetail, reason: string, mapVersion: number) => ({
  schemaVersion: trigger.schemaVersion,
  shard: trigger.shard,
  verdict: trigger.verdict,
  observedAt: isoNow(deps),
  reason,
  mapVersion,
  recoveryId: state.recoveryId,
  node: trigger.node,
});

export async function removeReplica(deps: RecoveryDeps, state: ReplicaState): Promise<ReplicaResult> {
  const trigger = triggerOf(state);
  const none = async (reason: string): Promise<ReplicaResult> => {
    await audit(deps, state.recoveryId, trigger.shard, 'removeReplica', 'skipped', { node: trigger.node, reason });
    return { action: 'none', node: trigger.node, reason };
  };
  if (trigger.role !== 'replica') return none('the node is a primary: failover handles it');
  if (!(await deps.store.settings(trigger.shard)).enabled) return none(`recovery is disabled for shard ${trigger.shard}`);

  return underLock(deps, trigger.shard, state.recoveryId, async () => {
    const { shard } = await locateShard(deps.catalog, trigger.shard);
    const node = shard.nodes.find((candidate) => candidate.id === trigger.node);
    if (!node || node.role !== 'replica') return none(`${trigger.node} is not a replica in the map`);
    await deps.store.addRemovedNode({ shard: shard.name, node, reason: 'replica-down', recoveryId: state.recoveryId });
    const version = await changeShardNodes(deps, shard.name, `replica ${node.id} of ${shard.name} is down: removed from readers (recovery ${state.recoveryId})`, (nodes) =>
      nodes.some((candidate) => candidate.id === node.id) ? nodes.filter((candidate) => candidate.id !== node.id) : undefined,
    );
    if (version === undefined) return none(`${node.id} already left the map`);
    const reason = `${node.id} is ${trigger.state}: ${trigger.reason}`;
    await audit(deps, state.recoveryId, shard.name, 'removeReplica', 'succeeded', { node: node.id, mapVersion: version, reason });
    await deps.events.publish([buildEvent(ShardReplicaRemoved, eventDetail(deps, state, trigger, reason, version))]);
    return { action: 'removed', node: node.id, reason, mapVersion: version };
  });
}

/**
 * Probes a replica this workflow removed, once per call: the workflow waits between calls, so a
 * replica comes back even when no monitor watches nodes outside the map.
 */
export async function watchRemovedReplica(deps: RecoveryDeps, state: ReplicaState): Promise<WatchResult> {
  const trigger = triggerOf(state);
  const checks = (state.watch?.checks ?? 0) + 1;
  const removed = (await deps.store.removedNodes(trigger.shard)).find((entry) => entry.node.id === trigger.node);
  // Restored meanwhile (a ShardNodeRecovered event) or taken back by hand: nothing left to watch.
  if (!removed) return { checks, answers: false, giveUp: true };
  const probe = await deps.prober.probe({ shard: trigger.shard, node: removed.node });
  const giveUp = !probe.ok && checks >= deps.policy.replicaWatchChecks;
  if (giveUp) await audit(deps, state.recoveryId, trigger.shard, 'watchReplica', 'failed', { node: trigger.node, checks, reason: 'still down; rejoin it by hand' });
  return { checks, answers: probe.ok, giveUp };
}

/**
 * Puts back a replica that a recovery removed because it was down, once it replicates from the
 * shard's current primary with lag under the limit. A replica still following an old primary
 * (it was down during a failover) is repointed first. Former primaries and replicas that could
 * not follow a failover are left to an operator: they may hold transactions nobody else has.
 */
export async function restoreReplica(deps: RecoveryDeps, state: ReplicaState): Promise<ReplicaResult> {
  const trigger = triggerOf(state);
  const none = async (reason: string): Promise<ReplicaResult> => {
    await audit(deps, state.recoveryId, trigger.shard, 'restoreReplica', 'skipped', { node: trigger.node, reason });
    return { action: 'none', node: trigger.node, reason };
  };
  const removed = (await deps.store.removedNodes(trigger.shard)).find((entry) => entry.node.id === trigger.node);
  if (!removed) return none(`${trigger.node} was not removed by a recovery`);
  if (removed.reason !== 'replica-down') return none(`${trigger.node} left the map as ${removed.reason}; rejoin it by hand once its data is checked`);
  if (!(await deps.store.settings(trigger.shard)).enabled) return none(`recovery is disabled for shard ${trigger.shard}`);

  return underLock(deps, trigger.shard, state.recoveryId, async () => {
    const { shard } = await locateShard(deps.catalog, trigger.shard);
    const primary = primaryOf(shard);
    if (!primary) throw new NodeNotReadyError(`shard ${shard.name} has no primary for ${removed.node.id} to follow`);
    const probe = await deps.prober.probe({ shard: shard.name, node: removed.node });
    if (!probe.ok) throw new NodeNotReadyError(`${removed.node.id} does not answer: ${probe.error}`);
    const replication = probe.observation.replication;
    if (!replication || replication.sourceHost !== primary.host || replication.sourcePort !== primary.port) {
      await deps.admin.repoint(removed.node, primary);
      await audit(deps, state.recoveryId, shard.name, 'restoreReplica', 'started', { node: removed.node.id, repointedTo: primary.id });
      throw new NodeNotReadyError(`${removed.node.id} was repointed to ${primary.id}; waiting for it to catch up`);
    }
    const lag = replication.lagSeconds;
    if (!replication.ioRunning || !replication.sqlRunning || lag === null || lag > deps.policy.maxCandidateLagSeconds) {
      throw new NodeNotReadyError(
        `${removed.node.id} is not caught up yet (io ${replication.ioState}, sql ${replication.sqlRunning ? 'running' : 'stopped'}, lag ${lag ?? 'unknown'}s)`,
      );
    }
    const version = await changeShardNodes(deps, shard.name, `replica ${removed.node.id} of ${shard.name} recovered: back among readers (recovery ${state.recoveryId})`, (nodes) =>
      nodes.some((candidate) => candidate.id === removed.node.id) ? undefined : [...nodes, { ...removed.node, role: 'replica' }],
    );
    await deps.store.forgetRemovedNode(shard.name, removed.node.id);
    if (version === undefined) return none(`${removed.node.id} is already in the map`);
    const reason = `${removed.node.id} follows ${primary.id} with ${lag}s lag`;
    await audit(deps, state.recoveryId, shard.name, 'restoreReplica', 'succeeded', { node: removed.node.id, mapVersion: version, reason });
    await deps.events.publish([buildEvent(ShardReplicaRestored, eventDetail(deps, state, trigger, reason, version))]);
    return { action: 'restored', node: removed.node.id, reason, mapVersion: version };
  });
}

/** Where the replica workflow's Catch leads: audits the failure and lets go of the lock. */
export async function failReplicaRecovery(deps: RecoveryDeps, state: ReplicaState): Promise<{ error: string }> {
  const trigger = triggerOf(state);
  const error = state.error?.Error ?? 'Unknown';
  await deps.store.releaseLocksOf(state.recoveryId);
  await audit(deps, state.recoveryId, trigger.shard, 'fail', 'failed', { node: trigger.node, error, cause: state.error?.Cause ?? '' });
  return { error };
}
