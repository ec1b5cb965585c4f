import type { NodeObservation, ProbeResult } from '../ports/node-prober';
import { ValidationError } from '../shared/errors';
import type { Shard, ShardNode } from './shard-map-types';

/**
 * Health classification: pure functions from probe results to node states and shard verdicts.
 * The monitor feeds them one tick at a time and persists what they return.
 */

export const NODE_STATES = ['ONLINE', 'SUSPECT', 'DOWN', 'RECOVERING'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** Shard findings, most severe first: a shard's verdict is its most severe finding. */
export const SHARD_FINDING_CODES = [
  'SPLIT_BRAIN',
  'QUORUM_LOST',
  'PRIMARY_DOWN',
  'PRIMARY_UNREACHABLE',
  'REPLICA_WRITABLE',
  'REPLICATION_STOPPED',
  'LAG_HIGH',
  'DEGRADED',
  'LOAD_HIGH',
] as const;
export type ShardFindingCode = (typeof SHARD_FINDING_CODES)[number];

export const SHARD_VERDICTS = [...SHARD_FINDING_CODES, 'HEALTHY'] as const;
export type ShardVerdict = (typeof SHARD_VERDICTS)[number];

export interface HealthThresholds {
  /** Consecutive failed probes that turn a node DOWN (the chapter's 3). */
  failuresToDown: number;
  /** Consecutive successful probes that bring a node from RECOVERING back to ONLINE. */
  successesToOnline: number;
  /** Replica lag above this is LAG_HIGH (the chapter's 5 s). */
  lagSecondsMax: number;
  /** Threads_running above this is LOAD_HIGH: the CPU proxy (pt-osc's max-load 25 in the chapter). */
  threadsRunningMax: number;
  /** Connections above this share of max_connections is LOAD_HIGH (the chapter's 80 %). */
  connectionsPercentMax: number;
  /** Buffer pool data pages above this share of the pool is LOAD_HIGH (the chapter's 85 % memory). */
  bufferPoolUsedPercentMax: number;
  /** A node already lagging or loaded stays so until its value drops below this fraction of the limit, so values hovering at a limit do not flap. */
  clearRatio: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  failuresToDown: 3,
  successesToOnline: 2,
  lagSecondsMax: 5,
  threadsRunningMax: 25,
  connectionsPercentMax: 80,
  bufferPoolUsedPercentMax: 85,
  clearRatio: 0.8,
});

/** Defaults with `overrides` applied; throws ValidationError naming every bad value. */
export function healthThresholds(overrides: Partial<HealthThresholds> = {}): HealthThresholds {
  const thresholds = { ...DEFAULT_HEALTH_THRESHOLDS, ...overrides };
  const problems: string[] = [];
  for (const name of ['failuresToDown', 'successesToOnline'] as const) {
    if (!Number.isSafeInteger(thresholds[name]) || thresholds[name] < 1) problems.push(`${name} must be a positive integer, got ${thresholds[name]}`);
  }
  for (const name of ['lagSecondsMax', 'threadsRunningMax', 'connectionsPercentMax', 'bufferPoolUsedPercentMax'] as const) {
    if (!Number.isFinite(thresholds[name]) || thresholds[name] <= 0) problems.push(`${name} must be a positive number, got ${thresholds[name]}`);
  }
  if (!(thresholds.clearRatio > 0 && thresholds.clearRatio <= 1)) problems.push(`clearRatio must be in (0, 1], got ${thresholds.clearRatio}`);
  if (problems.length > 0) throw new ValidationError(`invalid health thresholds: ${problems.join('; ')}`, { details: { problems } });
  return thresholds;
}

// ---- nodes ----

export interface NodeHealth {
  state: NodeState;
  /** Counted up to failuresToDown: beyond it the count changes nothing, and a stable record needs no write. */
  consecutiveFailures: number;
  /** Counted up to successesToOnline, for the same reason. */
  consecutiveSuccesses: number;
  /** Uptime at the last successful probe; a smaller one later means the server restarted. */
  lastUptimeSeconds: number | null;
  /** When `state` last changed (ms since the epoch). */
  changedAt: number;
}

export type NodeTransition = 'down' | 'recovered';

export interface NodeAssessment {
  health: NodeHealth;
  previousState: NodeState;
  /** 'down' the tick a node becomes DOWN, 'recovered' the tick it is back ONLINE after being DOWN; else undefined. */
  transition: NodeTransition | undefined;
  /** Uptime went backwards since the last successful probe. */
  restarted: boolean;
}

/** A node never probed before is presumed ONLINE: one failed probe makes it SUSPECT, not DOWN. */
export function initialNodeHealth(now: number): NodeHealth {
  return { state: 'ONLINE', consecutiveFailures: 0, consecutiveSuccesses: 0, lastUptimeSeconds: null, changedAt: now };
}

/**
 * ONLINE -fail-> SUSPECT -(failuresToDown in a row)-> DOWN -ok-> RECOVERING -(successesToOnline in a row)-> ONLINE.
 * A success while SUSPECT returns to ONLINE; a failure while RECOVERING returns straight to DOWN,
 * so a flapping node is not announced as recovered until it holds.
 */
export function assessNode(previous: NodeHealth | undefined, probe: ProbeResult, thresholds: HealthThresholds, now: number): NodeAssessment {
  const before = previous ?? initialNodeHealth(now);
  const { failuresToDown, successesToOnline } = thresholds;
  let state: NodeState;
  let failures = 0;
  let successes = 0;
  let uptime = before.lastUptimeSeconds;
  let restarted = false;

  if (probe.ok) {
    successes = Math.min(before.consecutiveSuccesses + 1, successesToOnline);
    const upNow = probe.observation.uptimeSeconds;
    restarted = uptime !== null && upNow < uptime;
    uptime = upNow;
    if (before.state === 'DOWN' || before.state === 'RECOVERING') {
      state = successes >= successesToOnline ? 'ONLINE' : 'RECOVERING';
    } else {
      state = 'ONLINE';
    }
  } else {
    failures = Math.min(before.consecutiveFailures + 1, failuresToDown);
    if (before.state === 'DOWN' || before.state === 'RECOVERING') state = 'DOWN';
    else state = failures >= failuresToDown ? 'DOWN' : 'SUSPECT';
  }

  const transition: NodeTransition | undefined =
    state === 'DOWN' && before.state !== 'DOWN' && before.state !== 'RECOVERING'
      ? 'down'
      : state === 'ONLINE' && (before.state === 'DOWN' || before.state === 'RECOVERING')
        ? 'recovered'
        : undefined;
  return {
    health: {
      state,
      consecutiveFailures: failures,
      consecutiveSuccesses: successes,
      lastUptimeSeconds: uptime,
      changedAt: state === before.state && previous ? before.changedAt : now,
    },
    previousState: before.state,
    transition,
    restarted,
  };
}

// ---- shards ----

export interface NodeView {
  node: ShardNode;
  health: NodeHealth;
  /** This tick's probe; undefined when the node was not probed. */
  probe: ProbeResult | undefined;
}

export interface ShardFinding {
  code: ShardFindingCode;
  /** The nodes the finding is about, in map order. */
  nodes: string[];
  reason: string;
}

export interface ShardAssessment {
  shard: string;
  verdict: ShardVerdict;
  /** Most severe first. */
  findings: ShardFinding[];
  /** Nodes not DOWN, and all nodes: quorum is counted over these. */
  reachable: number;
  total: number;
  /** Largest replica lag seen this tick, in seconds. */
  maxLagSeconds: number | null;
}

/** Majority of the nodes; a two-node shard cannot keep a majority without both, so there one node (that confirms the primary's loss) is enough. */
export function quorumSize(total: number): number {
  return total >= 3 ? Math.floor(total / 2) + 1 : 1;
}

const observationOf = (view: NodeView): NodeObservation | undefined => (view.probe?.ok ? view.probe.observation : undefined);
const ids = (views: readonly NodeView[]) => views.map((view) => view.node.id);
const list = (views: readonly NodeView[]) => ids(views).join(', ');

/** A primary a failover took out of the map, and this tick's probe of it. */
export interface FormerPrimaryView {
  node: ShardNode;
  probe: ProbeResult;
}

/**
 * One shard's verdict from its nodes' states and this tick's probes. `previous` (the last tick's
 * findings) only adds hysteresis to LAG_HIGH and LOAD_HIGH.
 */
export function classifyShard(
  shard: Pick<Shard, 'name'>,
  views: readonly NodeView[],
  thresholds: HealthThresholds,
  previous: readonly ShardFinding[] = [],
  formerPrimaries: readonly FormerPrimaryView[] = [],
): ShardAssessment {
  const findings: ShardFinding[] = [];
  const add = (code: ShardFindingCode, nodes: readonly NodeView[], reason: string) => findings.push({ code, nodes: ids(nodes), reason });
  const observed = views.filter((view) => observationOf(view) !== undefined);
  const replicas = views.filter((view) => view.node.role === 'replica');
  const observedReplicas = observed.filter((view) => view.node.role === 'replica');
  const primary = views.find((view) => view.node.role === 'primary');
  const primaryReachable = primary !== undefined && observationOf(primary) !== undefined;
  const down = views.filter((view) => view.health.state === 'DOWN');
  const reachable = views.length - down.length;
  const ioState = (view: NodeView) => observationOf(view)?.replication?.ioState ?? 'no';

  const needed = quorumSize(views.length);
  const quorumLost = reachable < needed;
  if (quorumLost) add('QUORUM_LOST', down, `${reachable} of ${views.length} nodes reachable, ${needed} needed; down: ${list(down)}`);

  // Only the replicas can tell a dead primary from a monitor that cannot reach it. Without quorum
  // there is too little evidence for an automatic failover: QUORUM_LOST alone goes to an operator.
  if (primary && primary.health.state === 'DOWN' && !quorumLost) {
    const stillReplicating = observedReplicas.filter((view) => ioState(view) === 'yes');
    // A replica not yet DOWN but not probed this tick may be on the far side of the monitor's own
    // partition, still replicating: it counts towards quorum, but it cannot confirm anything.
    const unconfirmed = replicas.filter((view) => view.health.state !== 'DOWN' && observationOf(view) === undefined);
    if (observedReplicas.length > 0 && stillReplicating.length === 0 && unconfirmed.length === 0) {
      add('PRIMARY_DOWN', [primary], `primary ${primary.node.id} failed ${thresholds.failuresToDown} probes in a row and its replicas (${list(observedReplicas)}) lost it too`);
    } else {
      const why =
        stillReplicating.length > 0
          ? `replicas ${list(stillReplicating)} still replicate from it`
          : unconfirmed.length > 0
            ? `replicas ${list(unconfirmed)} could not be probed to confirm`
            : 'no replica could be probed to confirm';
      add('PRIMARY_UNREACHABLE', [primary], `the monitor cannot reach primary ${primary.node.id}, but ${why}; no failover`);
    }
  }

  // A writable replica still replicating from the primary is a misconfiguration; two writers that
  // do not replicate from each other take diverging writes.
  const writable = observed.filter((view) => observationOf(view)?.writer === true);
  const independentWriters = writable.filter((view) => view.node.role === 'primary' || ioState(view) !== 'yes');
  // A former primary that could not be fenced and answers writable again takes writes nobody replicates.
  const writableFormer = formerPrimaries.filter((former) => former.probe.ok && former.probe.observation.writer).map((former) => former.node.id);
  const writers = [...ids(independentWriters), ...writableFormer];
  const splitBrain = writers.length >= 2 ? independentWriters : [];
  if (writers.length >= 2) {
    const former = writableFormer.length > 0 ? `; ${writableFormer.join(', ')} left the map as a failed primary` : '';
    findings.push({ code: 'SPLIT_BRAIN', nodes: writers, reason: `${writers.length} writable nodes not replicating from one another: ${writers.join(', ')}${former}` });
  }
  const writableReplicas = writable.filter((view) => view.node.role === 'replica' && !splitBrain.includes(view));
  if (writableReplicas.length > 0) add('REPLICA_WRITABLE', writableReplicas, `replicas accept writes (read_only off): ${list(writableReplicas)}`);

  const stopped = primaryReachable
    ? observedReplicas.filter((view) => {
        const replication = observationOf(view)?.replication;
        return !replication || !replication.sqlRunning || replication.ioState !== 'yes';
      })
    : [];
  if (stopped.length > 0) {
    const detail = stopped.map((view) => `${view.node.id} (${replicationSummary(observationOf(view)!)})`).join(', ');
    add('REPLICATION_STOPPED', stopped, `replication stopped while the primary is up: ${detail}`);
  }

  const previously = (code: ShardFindingCode) => new Set(previous.find((finding) => finding.code === code)?.nodes ?? []);
  const wasLagging = previously('LAG_HIGH');
  const lagOf = (view: NodeView) => observationOf(view)?.replication?.lagSeconds ?? null;
  const lagging = observedReplicas.filter((view) => {
    const lag = lagOf(view);
    return lag !== null && lag > limitFor(thresholds.lagSecondsMax, wasLagging.has(view.node.id), thresholds);
  });
  if (lagging.length > 0) {
    add('LAG_HIGH', lagging, `replica lag above ${thresholds.lagSecondsMax}s: ${lagging.map((view) => `${view.node.id} ${lagOf(view)}s`).join(', ')}`);
  }

  const unfit = replicas.filter(
    (view) => view.health.state === 'DOWN' || view.health.state === 'RECOVERING' || stopped.includes(view) || lagging.includes(view),
  );
  if (unfit.length > 0) {
    const detail = unfit.map((view) => `${view.node.id} ${stopped.includes(view) ? 'stopped' : lagging.includes(view) ? 'lagging' : view.health.state.toLowerCase()}`);
    add('DEGRADED', unfit, `replicas unfit to serve reads: ${detail.join(', ')}`);
  }

  const wasLoaded = previously('LOAD_HIGH');
  const loads = observed.flatMap((view) => {
    const excess = loadExcess(observationOf(view)!, thresholds, wasLoaded.has(view.node.id));
    return excess.length > 0 ? [{ view, excess }] : [];
  });
  if (loads.length > 0) {
    add('LOAD_HIGH', loads.map((load) => load.view), `load above limits: ${loads.map((load) => `${load.view.node.id} ${load.excess.join(', ')}`).join('; ')}`);
  }

  findings.sort((a, b) => SHARD_FINDING_CODES.indexOf(a.code) - SHARD_FINDING_CODES.indexOf(b.code));
  const lags = observedReplicas.map(lagOf).filter((lag): lag is number => lag !== null);
  return {
    shard: shard.name,
    verdict: findings[0]?.code ?? 'HEALTHY',
    findings,
    reachable,
    total: views.length,
    maxLagSeconds: lags.length > 0 ? Math.max(...lags) : null,
  };
}

function limitFor(limit: number, alreadyOver: boolean, thresholds: HealthThresholds): number {
  return alreadyOver ? limit * thresholds.clearRatio : limit;
}

function loadExcess(observation: NodeObservation, thresholds: HealthThresholds, alreadyOver: boolean): string[] {
  const excess: string[] = [];
  const over = (value: number, limit: number) => value > limitFor(limit, alreadyOver, thresholds);
  if (over(observation.threadsRunning, thresholds.threadsRunningMax)) excess.push(`threads_running ${observation.threadsRunning} > ${thresholds.threadsRunningMax}`);
  if (over(observation.connectionsPercent, thresholds.connectionsPercentMax)) {
    excess.push(`connections ${round(observation.connectionsPercent)}% > ${thresholds.connectionsPercentMax}%`);
  }
  if (over(observation.bufferPoolUsedPercent, thresholds.bufferPoolUsedPercentMax)) {
    excess.push(`buffer pool ${round(observation.bufferPoolUsedPercent)}% > ${thresholds.bufferPoolUsedPercentMax}%`);
  }
  return excess;
}

function replicationSummary(observation: NodeObservation): string {
  const replication = observation.replication;
  if (!replication) return 'not configured';
  const parts = [`io ${replication.ioState}`, `sql ${replication.sqlRunning ? 'yes' : 'no'}`];
  if (replication.lastError) parts.push(replication.lastError);
  return parts.join(', ');
}

const round = (value: number) => Math.round(value * 10) / 10;

// ---- transitions ----

/** Findings worth announcing: codes that were not raised last tick, or that now cover a node they did not. */
export function raisedFindings(previous: readonly ShardFinding[] | undefined, next: readonly ShardFinding[]): ShardFinding[] {
  if (!previous) return [...next];
  return next.filter((finding) => {
    const before = previous.find((candidate) => candidate.code === finding.code);
    return !before || finding.nodes.some((node) => !before.nodes.includes(node));
  });
}

/** A shard became HEALTHY: it had findings last tick and has none now. A shard first seen healthy is not a transition. */
export function becameHealthy(previous: readonly ShardFinding[] | undefined, next: readonly ShardFinding[]): boolean {
  return previous !== undefined && previous.length > 0 && next.length === 0;
}

/** Numeric code for a node state, for metrics and dashboards: 0 ONLINE, 1 SUSPECT, 2 RECOVERING, 3 DOWN. */
export function nodeStateLevel(state: NodeState): number {
  return { ONLINE: 0, SUSPECT: 1, RECOVERING: 2, DOWN: 3 }[state];
}

/** Numeric severity of a verdict for metrics: 0 HEALTHY up to 9 SPLIT_BRAIN. */
export function verdictSeverity(verdict: ShardVerdict): number {
  return verdict === 'HEALTHY' ? 0 : SHARD_FINDING_CODES.length - SHARD_FINDING_CODES.indexOf(verdict);
}
