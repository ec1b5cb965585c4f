import { commitShardMapChange, requireShardMap } from '../catalog/shard-map-changes';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardMap, ShardNode } from '../core/shard-map-types';
import { MAP_CHANGE_HOLDER } from '../ports/recovery-store';
import { buildEvent, parseEventDetail, ShardFailoverBlocked, ShardFailoverCompleted, ShardFailoverFailed, ShardFailoverStarted, ShardPrimaryDown, type DetailOf } from '../shared/events';
import { AppError, ConflictError, NoFailoverCandidateError, RecoveryInProgressError, StaleMapVersionError } from '../shared/errors';
import { antiFlapBlock, chooseCandidate } from './candidate';
import { audit, auroraClusterOf, isoNow, locateShard, recoveryLockName, serverOf, shardsOnPrimary, withShardNodes, type RecoveryDeps } from './context';

/**
 * The failover of one shard, one exported function per Step Functions task. Each receives the
 * workflow state so far and returns its own part, which the state machine stores under the
 * step's name. Every step is safe to run again (Step Functions retries) and audits what it did.
 */

/** The Step Functions error name of NoFailoverCandidateError: nobody to promote is a block, not a fault. */
const NO_CANDIDATE = 'NoFailoverCandidate';

export type PrimaryDownDetail = DetailOf<typeof ShardPrimaryDown>;

export interface FailoverState {
  recoveryId: string;
  /** The ShardPrimaryDown detail that started the workflow. */
  trigger: unknown;
  preCheck?: PreCheckResult;
  candidate?: CandidateResult;
  promotion?: PromotionResult;
  repoint?: RepointResult;
  fence?: FenceResult;
  map?: MapUpdateResult;
  postCheck?: PostCheckResult;
  /** Set by the Catch that routes a failed step to `failFailover`. */
  error?: { Error: string; Cause?: string };
}

export type PreCheckOutcome = 'proceed' | 'disabled' | 'anti-flap' | 'locked' | 'primary-reachable' | 'primary-replaced' | 'shard-gone';

export interface PreCheckResult {
  proceed: boolean;
  outcome: PreCheckOutcome;
  shard: string;
  /** The primary being replaced, as the map listed it. */
  oldPrimary: ShardNode | null;
  startedAt: number;
  blockedUntil?: number;
  /** The recovery lock this failover holds (see recoveryLockName). */
  lock?: string;
}

export type CandidateResult =
  | { kind: 'replica'; node: ShardNode; gtid: string | null; transactions: number; lagSeconds: number | null; rejected: { nodeId: string; reason: string }[] }
  | { kind: 'aurora'; clusterId: string; writerBefore: string };

export interface PromotionResult {
  promotedAt: number;
  /** Aurora: the instance that became the writer. */
  writerInstance?: string;
}

export interface RepointResult {
  repointed: string[];
  failed: { nodeId: string; error: string }[];
}

export interface FenceResult {
  fenced: boolean;
  error?: string;
}

export interface MapUpdateResult {
  changed: boolean;
  version: number;
  updatedAt: number;
}

export interface PostCheckResult {
  checkedAt: number;
}

export interface CompletionResult {
  completedAt: number;
  durationMs: number;
}

function triggerOf(state: FailoverState): PrimaryDownDetail {
  return parseEventDetail(ShardPrimaryDown, state.trigger);
}

function stepResult<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new AppError(`failover state has no ${what}; the state machine must run the steps in order`);
  return value;
}

const recoveryDetail = (deps: RecoveryDeps, state: FailoverState, trigger: PrimaryDownDetail, reason: string) => ({
  schemaVersion: trigger.schemaVersion,
  shard: trigger.shard,
  verdict: trigger.verdict,
  observedAt: isoNow(deps),
  reason,
  mapVersion: state.map?.version ?? trigger.mapVersion,
  recoveryId: state.recoveryId,
  node: trigger.node,
});

async function block(deps: RecoveryDeps, state: FailoverState, trigger: PrimaryDownDetail, blockedBy: string, reason: string): Promise<void> {
  await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'blocked', { blockedBy, reason });
  await deps.events.publish([buildEvent(ShardFailoverBlocked, { ...recoveryDetail(deps, state, trigger, reason), blockedBy })]);
}

/**
 * The shard still in the map; its lock (shared by the shards whose writer is the same server); then,
 * under the lock, the trigger still true (the map still names the down node as primary), recovery
 * enabled for the shard, no failover in the anti-flap window, and the down node still not answering.
 */
export async function preCheckFailover(deps: RecoveryDeps, state: FailoverState): Promise<PreCheckResult> {
  const trigger = triggerOf(state);
  const now = deps.clock.now();
  const result = (outcome: PreCheckOutcome, oldPrimary: ShardNode | null = null, extra: Partial<PreCheckResult> = {}): PreCheckResult => ({
    proceed: outcome === 'proceed',
    outcome,
    shard: trigger.shard,
    oldPrimary,
    startedAt: now,
    ...extra,
  });

  const map = await requireShardMap(deps.catalog);
  const shard = map.shards.find((candidate) => candidate.name === trigger.shard);
  if (!shard) {
    // Split (or merged) while this failover waited: the shards that took its keys are watched, and fail over, on their own.
    await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'skipped', { reason: `shard ${trigger.shard} is no longer in the shard map (version ${map.version})` });
    return result('shard-gone');
  }
  const lockName = recoveryLockName(map, shard.name);
  const lock = await deps.store.acquireLock(lockName, state.recoveryId, deps.policy.failoverLockMs);
  // A map change commits within seconds (or its short lease runs out), and another shard's failover on
  // this writer's server may move this one too: both are waited out. A runbook awaiting approval is not.
  if (!lock.acquired && (lock.heldBy.startsWith(MAP_CHANGE_HOLDER) || (shardsOnPrimary(map, shard).length > 1 && !(await deps.store.approval(lock.heldBy))))) {
    throw new RecoveryInProgressError(`${lock.heldBy} holds ${lockName}, which shard ${trigger.shard} shares; retrying`);
  }
  if (!lock.acquired) {
    await block(deps, state, trigger, 'recovery-in-progress', `recovery ${lock.heldBy} holds shard ${lockName} until ${new Date(lock.expiresAt).toISOString()}`);
    return result('locked');
  }
  /** Gives the lock back and ends the pre-check without a failover. */
  const standDown = async (outcome: PreCheckOutcome, oldPrimary: ShardNode | null = null, extra: Partial<PreCheckResult> = {}) => {
    await deps.store.releaseLock(lockName, state.recoveryId);
    return result(outcome, oldPrimary, extra);
  };

  // Read under the lock: another failover of this server (a split half, a database sharing it) may have
  // moved this shard already, or moved the others away so that this lock is no longer the shard's.
  const locked = await locateShard(deps.catalog, trigger.shard);
  if (recoveryLockName(locked.map, trigger.shard) !== lockName) {
    await deps.store.releaseLock(lockName, state.recoveryId);
    throw new RecoveryInProgressError(`shard ${trigger.shard}'s servers changed while its failover waited; retrying`);
  }
  const primary = primaryOf(locked.shard);
  if (!primary || primary.id !== trigger.node) {
    await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'skipped', { reason: `the map's primary is ${primary?.id ?? 'none'}, not ${trigger.node}` });
    return standDown('primary-replaced', primary ?? null);
  }
  const settings = await deps.store.settings(trigger.shard);
  if (!settings.enabled) {
    await block(deps, state, trigger, 'recovery-disabled', `recovery is disabled for shard ${trigger.shard}${settings.updatedBy ? ` (by ${settings.updatedBy})` : ''}`);
    return standDown('disabled');
  }
  const flap = antiFlapBlock(settings, now, deps.policy.antiFlapMs);
  if (flap) {
    await block(
      deps,
      state,
      trigger,
      'anti-flap',
      `shard ${trigger.shard} failed over at ${new Date(flap.lastFailoverAt).toISOString()}; automatic failover is blocked until ${new Date(flap.blockedUntil).toISOString()} unless acknowledged (shardkeeper recovery ack ${trigger.shard})`,
    );
    return standDown('anti-flap', null, { blockedUntil: flap.blockedUntil });
  }
  const probe = await deps.prober.probe({ shard: shard.name, node: primary });
  if (probe.ok && probe.observation.writer) {
    await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'skipped', { reason: `${primary.id} answers and is writable again`, latencyMs: probe.latencyMs });
    return standDown('primary-reachable', primary);
  }

  await audit(deps, state.recoveryId, trigger.shard, 'preCheck', 'succeeded', { oldPrimary: primary.id, confirmedBy: trigger.confirmedBy, probe: probe.ok ? 'read-only' : probe.error });
  await deps.events.publish([buildEvent(ShardFailoverStarted, recoveryDetail(deps, state, trigger, `${primary.id} is down (${trigger.reason}); failing over`))]);
  return result('proceed', primary, { lock: lockName });
}

/** The replica to promote (self-managed), or the writer to move away from (Aurora picks its own). */
export async function pickCandidate(deps: RecoveryDeps, state: FailoverState): Promise<CandidateResult> {
  const trigger = triggerOf(state);
  const { shard } = await locateShard(deps.catalog, trigger.shard);
  if (shard.kind === 'aurora') {
    const { failover, clusterId } = auroraClusterOf(deps, shard.name);
    const writerBefore = await failover.currentWriter(clusterId);
    await audit(deps, state.recoveryId, shard.name, 'pickCandidate', 'succeeded', { clusterId, writerBefore, note: 'Aurora chooses the reader to promote' });
    return { kind: 'aurora', clusterId, writerBefore };
  }
  if (shard.kind === 'rds') {
    throw new NoFailoverCandidateError(`shard ${shard.name} is an RDS shard: promote a read replica with the RDS API, then update the map (shardkeeper map)`);
  }
  const replicas = shard.nodes.filter((node) => node.role === 'replica');
  const probed = await Promise.all(replicas.map(async (node) => ({ node, probe: await deps.prober.probe({ shard: shard.name, node }) })));
  const choice = chooseCandidate(probed, deps.policy.maxCandidateLagSeconds);
  await audit(deps, state.recoveryId, shard.name, 'pickCandidate', 'succeeded', {
    candidate: choice.node.id,
    gtid: choice.gtid,
    transactions: choice.transactions,
    lagSeconds: choice.lagSeconds,
    rejected: choice.rejected,
  });
  return { kind: 'replica', node: choice.node, gtid: choice.gtid, transactions: choice.transactions, lagSeconds: choice.lagSeconds, rejected: choice.rejected };
}

/** Self-managed: stop replication and make the candidate writable. Aurora: FailoverDBCluster and wait for the new writer. */
export async function promoteCandidate(deps: RecoveryDeps, state: FailoverState): Promise<PromotionResult> {
  const trigger = triggerOf(state);
  const candidate = stepResult(state.candidate, 'candidate');
  let writerInstance: string | undefined;
  if (candidate.kind === 'aurora') {
    writerInstance = await auroraClusterOf(deps, trigger.shard).failover.failover(candidate.clusterId, candidate.writerBefore);
  } else {
    await deps.admin.promote(candidate.node);
  }
  // From here on the shard has failed over, whatever happens next: the anti-flap window starts.
  await deps.store.recordFailover(trigger.shard);
  const promotedAt = deps.clock.now();
  await audit(deps, state.recoveryId, trigger.shard, 'promote', 'succeeded', candidate.kind === 'aurora' ? { writerInstance, writerBefore: candidate.writerBefore } : { node: candidate.node.id });
  return writerInstance === undefined ? { promotedAt } : { promotedAt, writerInstance };
}

/** Points every other replica at the new primary; a replica that cannot follow is reported, not fatal. */
export async function repointReplicas(deps: RecoveryDeps, state: FailoverState): Promise<RepointResult> {
  const trigger = triggerOf(state);
  const candidate = stepResult(state.candidate, 'candidate');
  if (candidate.kind === 'aurora') {
    await audit(deps, state.recoveryId, trigger.shard, 'repointReplicas', 'skipped', { reason: 'Aurora readers follow the new writer by themselves' });
    return { repointed: [], failed: [] };
  }
  const { shard } = await locateShard(deps.catalog, trigger.shard);
  const others = shard.nodes.filter((node) => node.role === 'replica' && node.id !== candidate.node.id);
  const outcomes = await Promise.all(
    others.map(async (replica) => {
      try {
        await deps.admin.repoint(replica, candidate.node);
        return { nodeId: replica.id };
      } catch (error) {
        return { nodeId: replica.id, error: (error as Error).message };
      }
    }),
  );
  const result: RepointResult = {
    repointed: outcomes.filter((outcome) => outcome.error === undefined).map((outcome) => outcome.nodeId),
    failed: outcomes.flatMap((outcome) => (outcome.error === undefined ? [] : [{ nodeId: outcome.nodeId, error: outcome.error }])),
  };
  await audit(deps, state.recoveryId, trigger.shard, 'repointReplicas', result.failed.length ? 'failed' : 'succeeded', { source: candidate.node.id, ...result });
  return result;
}

/** Makes the old primary read-only if it answers, so a half-dead primary cannot take writes; never fatal. */
export async function fenceOldPrimary(deps: RecoveryDeps, state: FailoverState): Promise<FenceResult> {
  const trigger = triggerOf(state);
  const candidate = stepResult(state.candidate, 'candidate');
  const oldPrimary = stepResult(state.preCheck, 'preCheck').oldPrimary;
  if (candidate.kind === 'aurora' || !oldPrimary) {
    await audit(deps, state.recoveryId, trigger.shard, 'fenceOldPrimary', 'skipped', { reason: candidate.kind === 'aurora' ? 'Aurora demotes the old writer itself' : 'no old primary' });
    return { fenced: false };
  }
  try {
    const fenced = await deps.admin.fence(oldPrimary);
    await audit(deps, state.recoveryId, trigger.shard, 'fenceOldPrimary', fenced ? 'succeeded' : 'skipped', { node: oldPrimary.id, reachable: fenced });
    return { fenced };
  } catch (error) {
    const message = (error as Error).message;
    await audit(deps, state.recoveryId, trigger.shard, 'fenceOldPrimary', 'failed', { node: oldPrimary.id, error: message });
    return { fenced: false, error: message };
  }
}

/**
 * The promoted node becomes the shard's writer; the old primary and replicas that could not follow
 * leave the map (remembered in the recovery store). Commits against the version it read and, when
 * another writer got there first, reloads and tries again.
 */
export async function updateShardMap(deps: RecoveryDeps, state: FailoverState): Promise<MapUpdateResult> {
  const trigger = triggerOf(state);
  const candidate = stepResult(state.candidate, 'candidate');
  const oldPrimary = stepResult(state.preCheck, 'preCheck').oldPrimary;
  const unfollowing = new Set((state.repoint?.failed ?? []).map((failure) => failure.nodeId));

  for (let attempt = 1; ; attempt++) {
    const { map, shard } = await locateShard(deps.catalog, trigger.shard);
    if (candidate.kind === 'aurora') {
      await audit(deps, state.recoveryId, shard.name, 'updateShardMap', 'skipped', { reason: 'the cluster endpoint follows the new writer', version: map.version });
      return { changed: false, version: map.version, updatedAt: deps.clock.now() };
    }
    // Compare and set on the shard as the failover found it: another writer's change of its primary
    // or of the promoted node is for an operator to reconcile, not to be written over.
    const current = primaryOf(shard);
    if (current && current.id !== oldPrimary?.id && current.id !== candidate.node.id) {
      throw new ConflictError(`shard ${shard.name}'s primary changed to ${current.id} since the failover began (it was ${oldPrimary?.id ?? 'none'}); ${candidate.node.id} was promoted: an operator must reconcile`);
    }
    const promoted = shard.nodes.find((node) => node.id === candidate.node.id);
    if (!promoted) throw new ConflictError(`${candidate.node.id}, promoted, is no longer in shard ${shard.name}'s map: an operator must reconcile`);
    const keep = shard.nodes.filter((node) => node.id !== promoted.id && node.id !== oldPrimary?.id && !unfollowing.has(node.id));
    const nodes: ShardNode[] = [{ ...promoted, role: 'primary' }, ...keep.map((node) => ({ ...node, role: 'replica' as const }))];
    const plan = await planSiblings(deps, map, shard, promoted, new Set(shard.nodes.filter((node) => node.id === oldPrimary?.id || unfollowing.has(node.id)).map(serverOf)));
    if (current?.id === promoted.id && nodes.length === shard.nodes.length) {
      // Committed before (its answer was lost): what is left is to record the failover of the shards it moved.
      for (const name of plan.alreadyMoved) await deps.store.recordFailover(name);
      return { changed: false, version: map.version, updatedAt: deps.clock.now() };
    }
    const nodesOf = new Map<string, ShardNode[]>([[shard.name, nodes], ...plan.nodesOf]);
    const moved = map.shards.filter((candidateShard) => nodesOf.has(candidateShard.name));
    // Remembered before the commit, so a retry after a lost commit response still has them.
    for (const owner of moved) {
      for (const node of owner.nodes.filter((candidateNode) => !nodesOf.get(owner.name)!.some((kept) => kept.id === candidateNode.id))) {
        const reason = oldPrimary && serverOf(node) === serverOf(oldPrimary) ? 'failed-primary' : 'repoint-failed';
        await deps.store.addRemovedNode({ shard: owner.name, node, reason, recoveryId: state.recoveryId });
      }
    }
    try {
      const committed = await commitShardMapChange(
        deps.catalog,
        withShardNodes(map, nodesOf),
        map.version,
        `failover of ${plan.moved.length > 0 ? [shard.name, ...plan.moved].join(', ') : shard.name}: ${oldPrimary?.id ?? 'no primary'} -> ${promoted.id} (recovery ${state.recoveryId})`,
      );
      const updatedAt = deps.clock.now();
      for (const name of plan.moved) await deps.store.recordFailover(name);
      for (const { name, why } of plan.stranded) {
        await deps.events.publish([
          buildEvent(ShardFailoverBlocked, {
            ...recoveryDetail(deps, state, trigger, `shard ${name} shares the servers ${shard.name} failed over to ${promoted.id} but was not moved (${why}); it stays on ${oldPrimary?.id ?? 'its old writer'}: move it with an operator`),
            shard: name,
            blockedBy: 'sibling-not-moved',
          }),
        ]);
      }
      await audit(deps, state.recoveryId, shard.name, 'updateShardMap', 'succeeded', {
        version: committed.version,
        writer: promoted.id,
        removed: [oldPrimary?.id, ...unfollowing].filter(Boolean),
        shards: [shard.name, ...plan.moved],
        ...(plan.stranded.length > 0 ? { notMoved: plan.stranded } : {}),
        ...(plan.released.length > 0 ? { promotedServerTakenFrom: plan.released } : {}),
        attempts: attempt,
      });
      return { changed: true, version: committed.version, updatedAt };
    } catch (error) {
      if (!(error instanceof StaleMapVersionError) || attempt >= deps.policy.mapCommitAttempts) throw error;
    }
  }
}

/** What a failover does to the other shards whose writer is the failed server. */
interface SiblingPlan {
  /** New nodes of the siblings to move, and of those that only lose the promoted server. */
  nodesOf: Map<string, ShardNode[]>;
  moved: string[];
  /** Covered siblings left on the old writer (their recovery disallows a failover now): their replicas now follow the new writer, so an operator must move them. */
  stranded: Array<{ name: string; why: string }>;
  /** Siblings with servers of their own: the servers this failover promoted or repointed are no longer theirs, and they fail over by themselves. */
  released: string[];
  /** Siblings a lost commit already moved. */
  alreadyMoved: string[];
}

/**
 * The halves of a split, or databases on the failed shard's servers, move with it when this failover
 * covered all their servers and their own recovery allows a failover now. Any other shard on the
 * failed server keeps its writer for its own failover, minus the promoted server, which now writes
 * for another shard.
 */
async function planSiblings(deps: RecoveryDeps, map: ShardMap, shard: Shard, promoted: ShardNode, gone: ReadonlySet<string>): Promise<SiblingPlan> {
  const plan: SiblingPlan = { nodesOf: new Map(), moved: [], stranded: [], released: [], alreadyMoved: [] };
  // Servers this failover promoted or repointed: a shard listing no others was covered by it.
  const ours = new Set(shard.nodes.map(serverOf));
  const covered = (other: Shard) => other.nodes.every((node) => ours.has(serverOf(node)));
  const oldWriter = primaryOf(shard);
  for (const other of map.shards.filter((candidate) => candidate.name !== shard.name)) {
    const writer = primaryOf(other);
    if (writer && serverOf(writer) === serverOf(promoted) && covered(other)) {
      plan.alreadyMoved.push(other.name);
      continue;
    }
    if (!writer || !oldWriter || serverOf(writer) !== serverOf(oldWriter)) continue;
    const onPromoted = other.nodes.find((node) => serverOf(node) === serverOf(promoted));
    if (covered(other) && onPromoted) {
      const settings = await deps.store.settings(other.name);
      const why = !settings.enabled ? 'its recovery is disabled' : antiFlapBlock(settings, deps.clock.now(), deps.policy.antiFlapMs) ? 'it failed over within the anti-flap window' : undefined;
      if (why) {
        plan.stranded.push({ name: other.name, why });
        continue;
      }
      const replicas = other.nodes.filter((node) => node !== onPromoted && !gone.has(serverOf(node))).map((node) => ({ ...node, role: 'replica' as const }));
      plan.nodesOf.set(other.name, [{ ...onPromoted, role: 'primary' }, ...replicas]);
      plan.moved.push(other.name);
    } else if (other.nodes.some((node) => ours.has(serverOf(node)) && serverOf(node) !== serverOf(oldWriter))) {
      // Those servers were promoted or repointed by this failover: they no longer follow this shard's writer.
      plan.nodesOf.set(other.name, other.nodes.filter((node) => !ours.has(serverOf(node)) || serverOf(node) === serverOf(oldWriter)));
      plan.released.push(other.name);
    }
  }
  return plan;
}

/** A write through the shard's writer as the map now lists it. */
export async function postCheckWrite(deps: RecoveryDeps, state: FailoverState): Promise<PostCheckResult> {
  const trigger = triggerOf(state);
  const { shard } = await locateShard(deps.catalog, trigger.shard);
  const writer = primaryOf(shard);
  if (!writer) throw new NoFailoverCandidateError(`shard ${shard.name} has no writer in the map after the failover`);
  await deps.admin.checkWrite(writer, shard.database);
  await audit(deps, state.recoveryId, shard.name, 'postCheckWrite', 'succeeded', { writer: writer.id, database: shard.database });
  return { checkedAt: deps.clock.now() };
}

export async function completeFailover(deps: RecoveryDeps, state: FailoverState): Promise<CompletionResult> {
  const trigger = triggerOf(state);
  const preCheck = stepResult(state.preCheck, 'preCheck');
  const candidate = stepResult(state.candidate, 'candidate');
  const completedAt = deps.clock.now();
  const durationMs = completedAt - preCheck.startedAt;
  const newPrimary = candidate.kind === 'aurora' ? (state.promotion?.writerInstance ?? candidate.clusterId) : candidate.node.id;
  await deps.store.releaseLocksOf(state.recoveryId);
  await audit(deps, state.recoveryId, trigger.shard, 'complete', 'succeeded', { newPrimary, durationMs, mapVersion: state.map?.version });
  await deps.events.publish([
    buildEvent(ShardFailoverCompleted, { ...recoveryDetail(deps, state, trigger, `${newPrimary} is the new primary of ${trigger.shard}`), newPrimary, durationMs }),
  ]);
  return { completedAt, durationMs };
}

/**
 * Where every step's Catch leads: tells operators (ShardFailoverFailed, or ShardFailoverBlocked
 * when no replica could be promoted), audits and releases the lock.
 */
export async function failFailover(deps: RecoveryDeps, state: FailoverState): Promise<{ failedStep: string | null; error: string }> {
  const trigger = triggerOf(state);
  const error = state.error?.Error ?? 'Unknown';
  const cause = state.error?.Cause ?? '';
  const [lastFailure] = (await deps.store.auditLog({ recoveryId: state.recoveryId, limit: 20 })).filter((entry) => entry.outcome === 'failed');
  const failedStep = lastFailure?.step ?? null;
  // By recovery id: a step that failed after taking the lock left no record of its name in the state.
  await deps.store.releaseLocksOf(state.recoveryId);
  await audit(deps, state.recoveryId, trigger.shard, 'fail', 'failed', { error, cause, failedStep });
  const reason = `${failedStep ?? 'a step'} failed: ${error}${cause ? ` (${cause})` : ''}`;
  const detail = recoveryDetail(deps, state, trigger, reason);
  await deps.events.publish([
    error === NO_CANDIDATE
      ? buildEvent(ShardFailoverBlocked, { ...detail, blockedBy: 'no-candidate' })
      : buildEvent(ShardFailoverFailed, failedStep === null ? { ...detail, error } : { ...detail, error, step: failedStep }),
  ]);
  return { failedStep, error };
}
