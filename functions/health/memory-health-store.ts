import { systemClock, type Clock } from '../ports/clock';
import type { HealthChanges, HealthStore, LeaseAttempt, MonitorLease, StoredNodeHealth, StoredShardHealth } from '../ports/health-store';
import { LeaseLostError } from '../shared/errors';

const nodeKey = (shard: string, nodeId: string) => `${shard}\u0000${nodeId}`;

/**
 * A HealthStore in process memory, with the SQL store's lease and fencing rules: for the CLI's
 * one-off probes (nothing persisted between runs) and for tests.
 */
export class MemoryHealthStore implements HealthStore {
  private readonly leases = new Map<string, { owner: string; expiresAt: number }>();
  private readonly nodes = new Map<string, StoredNodeHealth>();
  private readonly shards = new Map<string, StoredShardHealth>();

  constructor(private readonly clock: Clock = systemClock) {}

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt> {
    const now = this.clock.now();
    const current = this.leases.get(name);
    if (current && current.owner !== owner && current.expiresAt > now) return { acquired: false, holder: current.owner, expiresAt: current.expiresAt };
    const lease = { name, owner, expiresAt: now + ttlMs };
    this.leases.set(name, { owner, expiresAt: lease.expiresAt });
    return { acquired: true, lease };
  }

  async releaseLease(lease: MonitorLease): Promise<void> {
    const current = this.leases.get(lease.name);
    const now = this.clock.now();
    if (current?.owner === lease.owner && current.expiresAt > now) current.expiresAt = now;
  }

  async loadNodes({ withProbes = false }: { withProbes?: boolean } = {}): Promise<StoredNodeHealth[]> {
    return [...this.nodes.values()]
      .sort((a, b) => compare(a.shard, b.shard) || compare(a.nodeId, b.nodeId))
      .map((node) => {
        const { lastProbe, lastProbeAt, ...state } = structuredClone(node);
        return withProbes ? { ...state, lastProbe: lastProbe ?? null, lastProbeAt: lastProbeAt ?? null } : state;
      });
  }

  async loadShards(): Promise<StoredShardHealth[]> {
    return [...this.shards.values()].sort((a, b) => compare(a.shard, b.shard)).map((shard) => structuredClone(shard));
  }

  async save(lease: MonitorLease, changes: HealthChanges): Promise<void> {
    const current = this.leases.get(lease.name);
    if (!current || current.owner !== lease.owner || current.expiresAt <= this.clock.now()) {
      throw new LeaseLostError(`monitor lease ${lease.name} is no longer held by ${lease.owner}`);
    }
    for (const node of changes.nodes) {
      const key = nodeKey(node.shard, node.nodeId);
      const stored = this.nodes.get(key);
      const probe = node.lastProbe === undefined ? { lastProbe: stored?.lastProbe, lastProbeAt: stored?.lastProbeAt } : {};
      this.nodes.set(key, structuredClone({ ...node, ...probe }));
    }
    for (const shard of changes.shards) this.shards.set(shard.shard, structuredClone(shard));
    for (const { shard, nodeId } of changes.removedNodes) this.nodes.delete(nodeKey(shard, nodeId));
    for (const shard of changes.removedShards) {
      this.shards.delete(shard);
      for (const [key, node] of this.nodes) if (node.shard === shard) this.nodes.delete(key);
    }
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
