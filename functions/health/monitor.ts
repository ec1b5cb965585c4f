import { setTimeout as sleepFor } from 'node:timers/promises';
import {
  assessNode,
  classifyShard,
  DEFAULT_HEALTH_THRESHOLDS,
  type HealthThresholds,
  type NodeAssessment,
  type NodeHealth,
  type NodeState,
  type NodeView,
  type ShardAssessment,
  type ShardFinding,
} from '../core/health';
import { partitionLeaseName, partitionOfShard, validatePartition, WHOLE_FLEET, type FleetPartition } from '../core/health-partition';
import type { Shard, ShardNode } from '../core/shard-map-types';
import type { Catalog } from '../ports/catalog';
import type { Clock } from '../ports/clock';
import type { AppEvent, EventPublisher } from '../ports/event-publisher';
import type { HealthChanges, HealthStore, MonitorLease, StoredNodeHealth, StoredShardHealth } from '../ports/health-store';
import type { NodeProber, ProbeResult, ProbeTarget } from '../ports/node-prober';
import { ShardMapCache } from '../lookup/shard-map-cache';
import { LeaseLostError, ValidationError } from '../shared/errors';
import { transitionEvents, type ShardTickOutcome } from './health-events';
import type { MonitorMetrics } from './monitor-metrics';

export interface NodeReport {
  shard: string;
  node: ShardNode;
  state: NodeState;
  previousState: NodeState;
  probe: ProbeResult;
  restarted: boolean;
}

export interface ShardReport extends ShardAssessment {
  /** When the current verdict began (ms since the epoch). */
  since: number;
}

export interface TickReport {
  startedAt: number;
  durationMs: number;
  mapVersion: number;
  /** The catalog could not be reached; the last good shard map was probed. */
  staleMap: boolean;
  nodes: NodeReport[];
  shards: ShardReport[];
  /** Transition events published this tick. */
  events: AppEvent[];
}

export interface HealthMonitorDeps {
  catalog: Pick<Catalog, 'loadShardMap' | 'mapVersion'>;
  prober: NodeProber;
  store: HealthStore;
  publisher: EventPublisher;
  clock: Clock;
  metrics?: MonitorMetrics;
  /** Primaries failovers took out of the map (and may not have fenced): probed too, to catch one writable again. */
  formerPrimaries?: () => Promise<ProbeTarget[]>;
  sleep?: (ms: number) => Promise<void>;
  /** Problems the monitor survives (a failed tick, a failed renewal); it keeps going. */
  onError?: (error: unknown, context: string) => void;
}

export interface HealthMonitorOptions {
  /** Unique per running monitor (the Lambda request id, the CLI's pid): the lease owner. */
  ownerId: string;
  thresholds?: HealthThresholds;
  /** Probes in flight at once. */
  concurrency?: number;
  partition?: FleetPartition;
  leaseTtlMs?: number;
  /** State changes are written every tick; every node's latest probe at most this often. */
  probeSnapshotMs?: number;
  /** How often buffered metrics are emitted while running. */
  metricsFlushMs?: number;
}

export interface RunOptions {
  /** No tick starts at or after this time (ms since the epoch); Infinity runs until `signal` aborts. */
  until: number;
  intervalMs?: number;
  /** Stops the run between ticks (the sandbox, the CLI on Ctrl-C). */
  signal?: AbortSignal;
  /** Called with each successful tick's report. */
  onTick?: (report: TickReport) => void;
}

export interface RunSummary {
  acquired: boolean;
  ticks: number;
  failedTicks: number;
  eventsPublished: number;
  stoppedBecause: 'until' | 'aborted' | 'lease-lost' | 'lease-held';
  /** Who held the lease when this monitor could not get it. */
  holder?: string;
}

interface NodeMemory {
  health: NodeHealth;
  /** What the store holds, to write only what changed. */
  saved: NodeHealth | undefined;
  lastProbe?: ProbeResult;
  lastProbeAt?: number;
  probeSavedAt: number;
}

interface ShardMemory {
  record: StoredShardHealth;
  saved: StoredShardHealth | undefined;
}

export const DEFAULT_CONCURRENCY = 64;
export const DEFAULT_INTERVAL_MS = 1_000;
export const DEFAULT_LEASE_TTL_MS = 15_000;

const nodeKey = (shard: string, nodeId: string) => `${shard}\u0000${nodeId}`;
const sameHealth = (a: NodeHealth, b: NodeHealth | undefined) =>
  b !== undefined &&
  a.state === b.state &&
  a.consecutiveFailures === b.consecutiveFailures &&
  a.consecutiveSuccesses === b.consecutiveSuccesses &&
  a.changedAt === b.changedAt &&
  // Uptime grows every tick; only a restart (it going backwards) or a first value is news.
  (a.lastUptimeSeconds === b.lastUptimeSeconds || (a.lastUptimeSeconds !== null && b.lastUptimeSeconds !== null && a.lastUptimeSeconds > b.lastUptimeSeconds));
const findingIdentity = (findings: readonly ShardFinding[]) => findings.map((finding) => `${finding.code}:${finding.nodes.join(',')}`).join(';');

/**
 * The health monitor of one fleet partition: each tick probes every node of the partition with
 * bounded concurrency, advances node states, classifies shards, publishes transition events and
 * persists what changed. `run` repeats ticks under a lease so monitors never overlap.
 */
export class HealthMonitor {
  private readonly thresholds: HealthThresholds;
  private readonly concurrency: number;
  private readonly partition: FleetPartition;
  private readonly leaseTtlMs: number;
  private readonly probeSnapshotMs: number;
  private readonly metricsFlushMs: number;
  private readonly mapCache: ShardMapCache;
  private readonly nodes = new Map<string, NodeMemory>();
  private readonly shards = new Map<string, ShardMemory>();
  private loaded = false;
  private formers: { mapVersion: number; targets: ProbeTarget[] } | undefined;
  readonly leaseName: string;

  constructor(
    private readonly deps: HealthMonitorDeps,
    private readonly options: HealthMonitorOptions,
  ) {
    this.thresholds = options.thresholds ?? DEFAULT_HEALTH_THRESHOLDS;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isSafeInteger(this.concurrency) || this.concurrency < 1) throw new ValidationError(`concurrency must be a positive integer, got ${this.concurrency}`);
    this.partition = validatePartition(options.partition ?? WHOLE_FLEET);
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.probeSnapshotMs = options.probeSnapshotMs ?? 15_000;
    this.metricsFlushMs = options.metricsFlushMs ?? 15_000;
    this.leaseName = partitionLeaseName(this.partition);
    // Revalidated every tick (one cheap version query), so a failover's new writer is probed as such at once.
    this.mapCache = new ShardMapCache({
      catalog: deps.catalog,
      clock: deps.clock,
      revalidateMs: 0,
      onRevalidateError: (error) => deps.onError?.(error, 'catalog unreachable; probing the last good shard map'),
    });
  }

  /** Acquires the lease (waiting while another monitor holds it, up to `until`) and ticks every `intervalMs` until `until` or the lease is lost. */
  async run({ until, intervalMs = DEFAULT_INTERVAL_MS, signal, onTick }: RunOptions): Promise<RunSummary> {
    const { clock, store, metrics } = this.deps;
    // An abort ends the wait early; the loop then sees the signal.
    const sleep = this.deps.sleep ?? ((ms: number) => sleepFor(ms, undefined, { signal }).catch(() => undefined));
    const running = () => clock.now() < until && !signal?.aborted;
    const summary: RunSummary = { acquired: false, ticks: 0, failedTicks: 0, eventsPublished: 0, stoppedBecause: 'lease-held' };

    let lease: MonitorLease | undefined;
    while (!lease) {
      const attempt = await store.acquireLease(this.leaseName, this.options.ownerId, this.leaseTtlMs);
      if (attempt.acquired) lease = attempt.lease;
      else {
        summary.holder = attempt.holder;
        if (clock.now() + intervalMs >= until || signal?.aborted) return summary;
        await sleep(intervalMs);
      }
    }
    summary.acquired = true;
    delete summary.holder;
    summary.stoppedBecause = 'until';

    let metricsFlushedAt = clock.now();
    try {
      while (running()) {
        const started = clock.now();
        if (lease.expiresAt - started < this.leaseTtlMs / 2) {
          const renewed = await this.renew(lease);
          if (!renewed) {
            summary.stoppedBecause = 'lease-lost';
            break;
          }
          lease = renewed;
        }
        try {
          const report = await this.tick(lease);
          summary.ticks++;
          summary.eventsPublished += report.events.length;
          onTick?.(report);
        } catch (error) {
          if (error instanceof LeaseLostError) {
            summary.stoppedBecause = 'lease-lost';
            break;
          }
          summary.failedTicks++;
          this.deps.onError?.(error, 'health tick failed');
        }
        if (metrics && clock.now() - metricsFlushedAt >= this.metricsFlushMs) {
          metrics.flush();
          metricsFlushedAt = clock.now();
        }
        const wait = Math.min(started + intervalMs, until) - clock.now();
        if (wait > 0 && running()) await sleep(wait);
      }
      if (summary.stoppedBecause === 'until' && signal?.aborted) summary.stoppedBecause = 'aborted';
    } finally {
      metrics?.flush();
      if (summary.stoppedBecause !== 'lease-lost') await this.handOver(lease);
    }
    return summary;
  }

  /**
   * The former primaries to probe, read again only when the map's version changes: a failover
   * records the primary it removes before it commits the map. A failure to list them is reported
   * and the tick goes on without them.
   */
  private async formerPrimaries(mapVersion: number): Promise<ProbeTarget[]> {
    if (this.formers?.mapVersion === mapVersion) return this.formers.targets;
    try {
      const targets = (await this.deps.formerPrimaries?.()) ?? [];
      this.formers = { mapVersion, targets };
      return targets;
    } catch (error) {
      this.deps.onError?.(error, 'listing former primaries');
      return [];
    }
  }

  /** One probe round over the partition; throws LeaseLostError when the lease is gone (nothing is then written). */
  async tick(lease: MonitorLease): Promise<TickReport> {
    const { clock, prober, publisher } = this.deps;
    const startedAt = clock.now();
    if (!this.loaded) await this.load();
    const { map, stale } = await this.mapCache.current();
    const shards = map.shards.filter((shard) => partitionOfShard(shard.name, this.partition.count) === this.partition.index);
    const targets: ProbeTarget[] = shards.flatMap((shard) => shard.nodes.map((node) => ({ shard: shard.name, node })));
    const formerTargets = (await this.formerPrimaries(map.version)).filter((target) => shards.some((shard) => shard.name === target.shard));
    // One round under one concurrency limit; the former primaries' probes come after the map's.
    const probes = await probeAll(prober, [...targets, ...formerTargets], this.concurrency);
    const formers = formerTargets.map((target, position) => ({ shard: target.shard, node: target.node, probe: probes[targets.length + position]! }));
    const now = clock.now();

    const outcomes: (ShardTickOutcome & { shard: Shard; probes: ProbeResult[] })[] = [];
    let index = 0;
    for (const shard of shards) {
      const shardProbes = probes.slice(index, index + shard.nodes.length);
      index += shard.nodes.length;
      const nodes = shard.nodes.map((node, position) => {
        const previous = this.nodes.get(nodeKey(shard.name, node.id))?.health;
        return { node, assessment: assessNode(previous, shardProbes[position]!, this.thresholds, now) };
      });
      const views: NodeView[] = nodes.map(({ node, assessment }, position) => ({ node, health: assessment.health, probe: shardProbes[position] }));
      const previousFindings = this.shards.get(shard.name)?.record.findings;
      const assessment = classifyShard(shard, views, this.thresholds, previousFindings, formers.filter((former) => former.shard === shard.name));
      outcomes.push({ shard, assessment, previousFindings, nodes, probes: shardProbes });
    }

    // Published before anything is committed: if publishing fails, the next tick finds the same
    // transitions and publishes them again (at least once, never lost).
    const events = transitionEvents(outcomes, map.version, new Date(now).toISOString());
    if (events.length > 0) await publisher.publish(events);

    const shardReports: ShardReport[] = [];
    const nodeReports: NodeReport[] = [];
    for (const { shard, assessment, nodes, probes: shardProbes } of outcomes) {
      nodes.forEach(({ node, assessment: nodeAssessment }, position) => {
        this.remember(shard.name, node, nodeAssessment, shardProbes[position]!, now);
        nodeReports.push(nodeReport(shard.name, node, nodeAssessment, shardProbes[position]!));
      });
      const previous = this.shards.get(shard.name);
      const since = previous && previous.record.verdict === assessment.verdict ? previous.record.since : now;
      const record: StoredShardHealth = { shard: shard.name, verdict: assessment.verdict, findings: assessment.findings, since, updatedAt: now };
      this.shards.set(shard.name, { record, saved: previous?.saved });
      shardReports.push({ ...assessment, since });
    }

    await this.persist(lease, map.shards, shards, now);
    const report: TickReport = { startedAt, durationMs: clock.now() - startedAt, mapVersion: map.version, staleMap: stale, nodes: nodeReports, shards: shardReports, events };
    this.deps.metrics?.recordTick(report);
    return report;
  }

  private async load(): Promise<void> {
    const [nodes, shards] = await Promise.all([this.deps.store.loadNodes(), this.deps.store.loadShards()]);
    for (const node of nodes) {
      const health: NodeHealth = {
        state: node.state,
        consecutiveFailures: node.consecutiveFailures,
        consecutiveSuccesses: node.consecutiveSuccesses,
        lastUptimeSeconds: node.lastUptimeSeconds,
        changedAt: node.changedAt,
      };
      // probeSavedAt 0: the first tick writes every node's probe, so readers see this monitor's view at once.
      this.nodes.set(nodeKey(node.shard, node.nodeId), { health, saved: health, probeSavedAt: 0 });
    }
    for (const shard of shards) this.shards.set(shard.shard, { record: shard, saved: shard });
    this.loaded = true;
  }

  private remember(shard: string, node: ShardNode, assessment: NodeAssessment, probe: ProbeResult, now: number): void {
    const key = nodeKey(shard, node.id);
    const memory = this.nodes.get(key);
    if (memory) Object.assign(memory, { health: assessment.health, lastProbe: probe, lastProbeAt: now });
    else this.nodes.set(key, { health: assessment.health, saved: undefined, lastProbe: probe, lastProbeAt: now, probeSavedAt: 0 });
  }

  /** Writes changed records (and every probe when a snapshot is due), forgets nodes and shards gone from the map. */
  private async persist(lease: MonitorLease, allShards: readonly Shard[], mine: readonly Shard[], now: number): Promise<void> {
    const inMap = new Map(allShards.map((shard) => [shard.name, shard]));
    const mineNames = new Set(mine.map((shard) => shard.name));
    const changes: HealthChanges = { nodes: [], shards: [], removedNodes: [], removedShards: [] };
    const written: (() => void)[] = [];

    for (const [key, memory] of this.nodes) {
      const [shardName = '', nodeId = ''] = key.split('\u0000');
      const shard = inMap.get(shardName);
      if (!shard || (mineNames.has(shardName) && !shard.nodes.some((node) => node.id === nodeId))) {
        changes.removedNodes.push({ shard: shardName, nodeId });
        this.nodes.delete(key);
        continue;
      }
      // Another partition's shard: its monitor keeps it.
      if (!mineNames.has(shardName)) {
        this.nodes.delete(key);
        continue;
      }
      const snapshotDue = memory.lastProbe !== undefined && now - memory.probeSavedAt >= this.probeSnapshotMs;
      if (sameHealth(memory.health, memory.saved) && !snapshotDue) continue;
      const record: StoredNodeHealth = { shard: shardName, nodeId, ...memory.health };
      if (snapshotDue) Object.assign(record, { lastProbe: memory.lastProbe, lastProbeAt: memory.lastProbeAt });
      changes.nodes.push(record);
      const health = memory.health;
      written.push(() => {
        memory.saved = health;
        if (snapshotDue) memory.probeSavedAt = now;
      });
    }
    for (const [name, memory] of this.shards) {
      if (!inMap.has(name)) {
        changes.removedShards.push(name);
        this.shards.delete(name);
        continue;
      }
      if (!mineNames.has(name)) {
        this.shards.delete(name);
        continue;
      }
      const { record, saved } = memory;
      const changed = !saved || saved.verdict !== record.verdict || saved.since !== record.since || findingIdentity(saved.findings) !== findingIdentity(record.findings);
      if (!changed) continue;
      changes.shards.push(record);
      written.push(() => {
        memory.saved = record;
      });
    }

    const nothing = changes.nodes.length + changes.shards.length + changes.removedNodes.length + changes.removedShards.length === 0;
    if (nothing) return;
    await this.deps.store.save(lease, changes);
    for (const commit of written) commit();
  }

  /** Renews the lease; on an error it keeps the lease as long as it is known to be valid. */
  private async renew(lease: MonitorLease): Promise<MonitorLease | undefined> {
    try {
      const attempt = await this.deps.store.acquireLease(this.leaseName, this.options.ownerId, this.leaseTtlMs);
      return attempt.acquired ? attempt.lease : undefined;
    } catch (error) {
      this.deps.onError?.(error, 'lease renewal failed');
      return lease.expiresAt > this.deps.clock.now() ? lease : undefined;
    }
  }

  /** Writes every node's latest probe and releases the lease, so the next monitor starts from this one's view at once. */
  private async handOver(lease: MonitorLease): Promise<void> {
    try {
      for (const memory of this.nodes.values()) memory.probeSavedAt = 0;
      const { map } = await this.mapCache.current();
      const mine = map.shards.filter((shard) => partitionOfShard(shard.name, this.partition.count) === this.partition.index);
      await this.persist(lease, map.shards, mine, this.deps.clock.now());
      await this.deps.store.releaseLease(lease);
    } catch (error) {
      // The lease then simply expires.
      this.deps.onError?.(error, 'handover failed');
    }
  }
}

function nodeReport(shard: string, node: ShardNode, assessment: NodeAssessment, probe: ProbeResult): NodeReport {
  return { shard, node, state: assessment.health.state, previousState: assessment.previousState, probe, restarted: assessment.restarted };
}

/** Probes every target with at most `concurrency` in flight; results in target order. A prober that throws counts as a failed probe. */
export async function probeAll(prober: NodeProber, targets: readonly ProbeTarget[], concurrency: number): Promise<ProbeResult[]> {
  const results: ProbeResult[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index]!;
      const started = performance.now();
      try {
        results[index] = await prober.probe(target);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        results[index] = { ok: false, shard: target.shard, nodeId: target.node.id, latencyMs: performance.now() - started, error: message, timedOut: false };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return results;
}
