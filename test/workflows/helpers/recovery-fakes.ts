import type { ShardMapDraft, ShardNode } from '../../../functions/core/shard-map-types';
import type { Clock } from '../../../functions/ports/clock';
import type { ClusterFailover } from '../../../functions/ports/cluster-failover';
import type { AppEvent, EventPublisher } from '../../../functions/ports/event-publisher';
import type { NodeProber, ProbeResult, ProbeTarget } from '../../../functions/ports/node-prober';
import {
  decisionAudit,
  type ApprovalDecision,
  type AuditEntry,
  type LockAttempt,
  type PendingApproval,
  type RecoverySettings,
  type RecoveryStore,
  type RemovedNode,
} from '../../../functions/ports/recovery-store';
import type { ReplicationAdmin } from '../../../functions/ports/replication-admin';
import { DEFAULT_RECOVERY_POLICY, type RecoveryDeps } from '../../../functions/recovery/context';
import { ConflictError, NotFoundError } from '../../../functions/shared/errors';
import { InMemoryCatalog, ManualClock } from '../../unit/fakes/in-memory-catalog';

/** The RecoveryStore contract in memory, with the same lock and decision rules as the SQL adapter. */
export class InMemoryRecoveryStore implements RecoveryStore {
  readonly settingsByShard = new Map<string, RecoverySettings>();
  readonly locks = new Map<string, { recoveryId: string; expiresAt: number }>();
  readonly audits: AuditEntry[] = [];
  readonly approvals = new Map<string, PendingApproval>();
  readonly removed = new Map<string, RemovedNode>();

  constructor(private readonly clock: Clock) {}

  async settings(shard: string): Promise<RecoverySettings> {
    return { ...(this.settingsByShard.get(shard) ?? { shard, enabled: true, lastFailoverAt: null, acknowledgedAt: null, updatedBy: null }) };
  }
  async listSettings(): Promise<RecoverySettings[]> {
    return [...this.settingsByShard.values()].sort((a, b) => a.shard.localeCompare(b.shard));
  }
  private async update(shard: string, change: Partial<RecoverySettings>): Promise<void> {
    this.settingsByShard.set(shard, { ...(await this.settings(shard)), ...change });
  }
  async setEnabled(shard: string, enabled: boolean, by: string): Promise<void> {
    await this.update(shard, { enabled, updatedBy: by });
  }
  async recordFailover(shard: string): Promise<void> {
    await this.update(shard, { lastFailoverAt: this.clock.now(), acknowledgedAt: null });
  }
  async acknowledge(shard: string, by: string): Promise<void> {
    await this.update(shard, { acknowledgedAt: this.clock.now(), updatedBy: by });
  }
  async acquireLock(shard: string, recoveryId: string, ttlMs: number): Promise<LockAttempt> {
    const held = this.locks.get(shard);
    const now = this.clock.now();
    if (held && held.recoveryId !== recoveryId && held.expiresAt > now) return { acquired: false, heldBy: held.recoveryId, expiresAt: held.expiresAt };
    this.locks.set(shard, { recoveryId, expiresAt: now + ttlMs });
    return { acquired: true };
  }
  async releaseLock(shard: string, recoveryId: string): Promise<boolean> {
    if (this.locks.get(shard)?.recoveryId !== recoveryId) return false;
    this.locks.delete(shard);
    return true;
  }
  async releaseLocksOf(recoveryId: string): Promise<void> {
    for (const [shard, held] of this.locks) if (held.recoveryId === recoveryId) this.locks.delete(shard);
  }
  async appendAudit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    this.audits.push({ ...structuredClone(entry), at: this.clock.now() });
  }
  async auditLog(filter: { shard?: string; recoveryId?: string; limit: number }): Promise<AuditEntry[]> {
    return this.audits
      .filter((entry) => (filter.shard === undefined || entry.shard === filter.shard) && (filter.recoveryId === undefined || entry.recoveryId === filter.recoveryId))
      .reverse()
      .slice(0, filter.limit);
  }
  async addApproval(approval: Omit<PendingApproval, 'requestedAt' | 'decision' | 'decidedBy' | 'decidedAt'>): Promise<void> {
    const existing = this.approvals.get(approval.recoveryId);
    this.approvals.set(
      approval.recoveryId,
      existing ? { ...existing, taskToken: approval.taskToken } : { ...approval, requestedAt: this.clock.now(), decision: null, decidedBy: null, decidedAt: null },
    );
  }
  async approval(recoveryId: string): Promise<PendingApproval | undefined> {
    const approval = this.approvals.get(recoveryId);
    return approval && { ...approval };
  }
  async listApprovals(filter: { pendingOnly: boolean; limit: number }): Promise<PendingApproval[]> {
    return [...this.approvals.values()].filter((approval) => !filter.pendingOnly || approval.decision === null).reverse().slice(0, filter.limit);
  }
  async decideApproval(recoveryId: string, decision: ApprovalDecision, by: string): Promise<PendingApproval> {
    const approval = this.approvals.get(recoveryId);
    if (!approval) throw new NotFoundError(`no approval was requested for recovery ${recoveryId}`);
    if (approval.decision !== null) throw new ConflictError(`recovery ${recoveryId} was already ${approval.decision} by ${approval.decidedBy}`);
    Object.assign(approval, { decision, decidedBy: by, decidedAt: this.clock.now() });
    await this.appendAudit(decisionAudit(approval, decision, by));
    return { ...approval };
  }
  async reopenApproval(recoveryId: string, reason: string): Promise<void> {
    const approval = this.approvals.get(recoveryId);
    if (!approval?.decision) return;
    await this.appendAudit(decisionAudit(approval, approval.decision, approval.decidedBy, reason));
    Object.assign(approval, { decision: null, decidedBy: null, decidedAt: null });
  }
  async addRemovedNode(removed: Omit<RemovedNode, 'removedAt'>): Promise<void> {
    this.removed.set(`${removed.shard}/${removed.node.id}`, { ...structuredClone(removed), removedAt: this.clock.now() });
  }
  async removedNodes(shard?: string): Promise<RemovedNode[]> {
    return [...this.removed.values()].filter((entry) => shard === undefined || entry.shard === shard);
  }
  async forgetRemovedNode(shard: string, nodeId: string): Promise<void> {
    this.removed.delete(`${shard}/${nodeId}`);
  }

  steps(recoveryId: string): string[] {
    return this.audits.filter((entry) => entry.recoveryId === recoveryId).map((entry) => `${entry.step}:${entry.outcome}`);
  }
}

export interface SimulatedNode {
  up: boolean;
  writable: boolean;
  /** Node id this one replicates from, or null. */
  source: string | null;
  gtid: string;
  lagSeconds: number;
  relayLogApplied: boolean;
  /** Monitor-only reachability: false simulates a network partition between the monitor and the node. */
  reachableFromMonitor: boolean;
}

type AdminMethod = 'promote' | 'repoint' | 'fence' | 'checkWrite';

/**
 * A MariaDB-like fleet in memory: nodes that are up or down, writable or not, replicating from
 * a source at a GTID position. It is both the NodeProber and the ReplicationAdmin, so
 * promotions and repoints change what later probes see. `failNext` injects errors per method.
 */
export class SimulatedFleet implements NodeProber, ReplicationAdmin {
  readonly nodes = new Map<string, SimulatedNode>();
  readonly endpoints = new Map<string, ShardNode>();
  readonly calls: string[] = [];
  readonly writes: { node: string; database: string }[] = [];
  private readonly failures = new Map<AdminMethod | 'probe', Error[]>();

  constructor(draft: ShardMapDraft) {
    for (const shard of draft.shards) {
      const primary = shard.nodes.find((node) => node.role === 'primary');
      for (const node of shard.nodes) {
        this.endpoints.set(node.id, node);
        this.nodes.set(node.id, {
          up: true,
          writable: node.role === 'primary',
          source: node.role === 'replica' ? (primary?.id ?? null) : null,
          gtid: '0-1-100',
          lagSeconds: 0,
          relayLogApplied: true,
          reachableFromMonitor: true,
        });
      }
    }
  }

  node(id: string): SimulatedNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no simulated node ${id}`);
    return node;
  }

  set(id: string, change: Partial<SimulatedNode>): void {
    Object.assign(this.node(id), change);
  }

  failNext(method: AdminMethod | 'probe', ...errors: Error[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...errors]);
  }

  private call(method: AdminMethod | 'probe', description: string): void {
    this.calls.push(description);
    const error = this.failures.get(method)?.shift();
    if (error) throw error;
  }

  async probe({ shard, node }: ProbeTarget): Promise<ProbeResult> {
    this.call('probe', `probe ${node.id}`);
    const state = this.node(node.id);
    if (!state.up || !state.reachableFromMonitor) return { ok: false, shard, nodeId: node.id, latencyMs: 2, error: 'connect ECONNREFUSED', timedOut: false };
    const source = state.source === null ? undefined : this.node(state.source);
    const sourceEndpoint = state.source === null ? undefined : this.endpoints.get(state.source);
    const connected = source?.up === true;
    return {
      ok: true,
      shard,
      nodeId: node.id,
      latencyMs: 1,
      observation: {
        flavor: 'mariadb',
        version: '10.11.6-MariaDB',
        readOnly: !state.writable,
        superReadOnly: false,
        writer: state.writable,
        replication: sourceEndpoint
          ? {
              sourceHost: sourceEndpoint.host,
              sourcePort: sourceEndpoint.port,
              ioRunning: connected,
              ioState: connected ? 'yes' : 'connecting',
              sqlRunning: true,
              lagSeconds: connected ? state.lagSeconds : null,
              gtidExecuted: state.gtid,
              gtidReceived: state.gtid,
              relayLogApplied: state.relayLogApplied,
              lastError: connected ? null : 'error reconnecting to master',
            }
          : null,
        threadsRunning: 1,
        connections: 5,
        maxConnections: 151,
        connectionsPercent: 3.3,
        bufferPoolUsedPercent: 40,
        bufferPoolHitRatio: 0.99,
        uptimeSeconds: 1000,
        gtidPosition: state.gtid,
      },
    };
  }

  async promote(node: ShardNode): Promise<void> {
    this.call('promote', `promote ${node.id}`);
    const state = this.node(node.id);
    if (!state.up) throw new Error(`connect ECONNREFUSED ${node.host}`);
    Object.assign(state, { source: null, writable: true });
  }

  async repoint(replica: ShardNode, source: ShardNode): Promise<void> {
    this.call('repoint', `repoint ${replica.id} -> ${source.id}`);
    const state = this.node(replica.id);
    if (!state.up) throw new Error(`connect ECONNREFUSED ${replica.host}`);
    Object.assign(state, { source: source.id, gtid: this.node(source.id).gtid });
  }

  async fence(node: ShardNode): Promise<boolean> {
    this.call('fence', `fence ${node.id}`);
    const state = this.node(node.id);
    if (!state.up) return false;
    state.writable = false;
    return true;
  }

  async checkWrite(node: ShardNode, database: string): Promise<void> {
    this.call('checkWrite', `checkWrite ${node.id}`);
    const state = this.node(node.id);
    if (!state.up || !state.writable) throw new Error(`${node.id} does not accept writes`);
    this.writes.push({ node: node.id, database });
  }
}

export class RecordingPublisher implements EventPublisher {
  readonly events: AppEvent[] = [];
  async publish(events: AppEvent[]): Promise<void> {
    this.events.push(...structuredClone(events));
  }
  types(): string[] {
    return this.events.map((event) => event.detailType);
  }
}

/** An Aurora cluster whose failover makes the next instance the writer. */
export class FakeClusterFailover implements ClusterFailover {
  failovers = 0;
  constructor(public writer: string, private readonly instances: string[]) {}
  async currentWriter(): Promise<string> {
    return this.writer;
  }
  async failover(_clusterId: string, fromWriter: string): Promise<string> {
    if (this.writer === fromWriter) {
      this.failovers++;
      this.writer = this.instances.find((instance) => instance !== fromWriter) ?? fromWriter;
    }
    return this.writer;
  }
}

/** Three-node shards: `<prefix>-a` primary, `-b` and `-c` replicas. */
export function threeNodeFleet(kind: 'self-managed' | 'aurora' = 'self-managed'): ShardMapDraft {
  const node = (id: string, role: 'primary' | 'replica') => ({ id, role, host: `${id}.db`, port: 3306 });
  const shard = (name: string, prefix: string) => ({
    name,
    database: `sk_${prefix}`,
    status: 'serving' as const,
    kind,
    nodes: [node(`${prefix}-a`, 'primary'), node(`${prefix}-b`, 'replica'), node(`${prefix}-c`, 'replica')],
  });
  return { keyType: 'uint64', strategy: { kind: 'keyspace' }, shards: [shard('-80', 's0'), shard('80-', 's1')], overrides: [] };
}

export interface RecoveryHarness {
  deps: RecoveryDeps;
  catalog: InMemoryCatalog;
  store: InMemoryRecoveryStore;
  fleet: SimulatedFleet;
  events: RecordingPublisher;
  clock: ManualClock;
}

/** Use-case dependencies over fakes, with `draft` committed as map version 1. */
export async function recoveryHarness(draft: ShardMapDraft = threeNodeFleet(), options: { clusterFailover?: ClusterFailover; auroraClusters?: Record<string, string> } = {}): Promise<RecoveryHarness> {
  const clock = new ManualClock(Date.parse('2025-03-01T12:00:00.000Z'));
  const catalog = new InMemoryCatalog();
  await catalog.commitShardMap(draft, 0, 'initial fleet');
  const store = new InMemoryRecoveryStore(clock);
  const fleet = new SimulatedFleet(draft);
  const events = new RecordingPublisher();
  const deps: RecoveryDeps = {
    catalog,
    store,
    prober: fleet,
    admin: fleet,
    events,
    clock,
    policy: { ...DEFAULT_RECOVERY_POLICY },
    auroraClusters: options.auroraClusters ?? {},
    ...(options.clusterFailover ? { clusterFailover: options.clusterFailover } : {}),
  };
  return { deps, catalog, store, fleet, events, clock };
}

/** A ShardPrimaryDown detail as the monitor publishes it. */
export function primaryDownDetail(shard: string, node: string, mapVersion = 1, confirmedBy: string[] = []) {
  return {
    schemaVersion: 1 as const,
    shard,
    verdict: 'PRIMARY_DOWN' as const,
    observedAt: '2025-03-01T12:00:00.000Z',
    reason: `${node} unreachable for 3 probes; replicas lost it`,
    mapVersion,
    finding: 'PRIMARY_DOWN' as const,
    nodes: [node],
    node,
    endpoint: `${node}.db:3306`,
    confirmedBy,
  };
}

export function nodeEventDetail(shard: string, node: string, role: 'primary' | 'replica', state: 'DOWN' | 'ONLINE', mapVersion = 1) {
  return {
    schemaVersion: 1 as const,
    shard,
    verdict: state === 'DOWN' ? ('DEGRADED' as const) : ('HEALTHY' as const),
    observedAt: '2025-03-01T12:00:00.000Z',
    reason: state === 'DOWN' ? `${node} failed 3 probes` : `${node} answered 2 probes`,
    mapVersion,
    node,
    role,
    endpoint: `${node}.db:3306`,
    state,
    ...(state === 'ONLINE' ? { restarted: false } : {}),
  };
}

export function runbookDetail(kind: 'QuorumLost' | 'SplitBrainSuspected', shard: string, nodes: string[]) {
  const common = { schemaVersion: 1 as const, shard, observedAt: '2025-03-01T12:00:00.000Z', mapVersion: 1, nodes };
  return kind === 'QuorumLost'
    ? { ...common, verdict: 'QUORUM_LOST' as const, reason: '1 of 3 nodes reachable', finding: 'QUORUM_LOST' as const, reachable: 1, total: 3 }
    : { ...common, verdict: 'SPLIT_BRAIN' as const, reason: 'two writable nodes', finding: 'SPLIT_BRAIN' as const };
}
