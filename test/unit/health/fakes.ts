import type { ShardMapDraft } from '../../../functions/core/shard-map-types';
import { HealthMonitor, type HealthMonitorDeps, type HealthMonitorOptions } from '../../../functions/health/monitor';
import { MemoryHealthStore } from '../../../functions/health/memory-health-store';
import type { AppEvent, EventPublisher } from '../../../functions/ports/event-publisher';
import type { HealthChanges, MonitorLease } from '../../../functions/ports/health-store';
import type { NodeObservation, NodeProber, ProbeResult, ProbeTarget } from '../../../functions/ports/node-prober';
import { InMemoryCatalog, ManualClock } from '../fakes/in-memory-catalog';
import { failed, observation, ok, replicaObservation } from './probes';

/** `shards` keyspace shards named s0..s<n-1>, each a primary `<shard>-p` and replicas `<shard>-r1`.. */
export function fleet(shards: number, replicas = 2): ShardMapDraft {
  return {
    keyType: 'uint64',
    strategy: { kind: 'modulo' },
    overrides: [],
    shards: Array.from({ length: shards }, (_, index) => {
      const name = `s${index}`;
      return {
        name,
        database: `game_${index}`,
        status: 'serving' as const,
        kind: 'self-managed' as const,
        nodes: [
          { id: `${name}-p`, role: 'primary' as const, host: `${name}-p.db`, port: 3306 },
          ...Array.from({ length: replicas }, (_, r) => ({ id: `${name}-r${r + 1}`, role: 'replica' as const, host: `${name}-r${r + 1}.db`, port: 3306 })),
        ],
      };
    }),
  };
}

export type Behaviour = 'ok' | 'down' | NodeObservation;

/**
 * A prober scripted per node: healthy unless `set` says otherwise. Replicas of a primary
 * marked down report their IO thread connecting unless `unreachableFromMonitorOnly` is set.
 */
export class ScriptedProber implements NodeProber {
  private readonly behaviour = new Map<string, Behaviour>();
  readonly probed: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** When set, each probe yields to the event loop this many times, so concurrent probes overlap. */
  yields = 0;
  unreachableFromMonitorOnly = new Set<string>();

  set(nodeId: string, behaviour: Behaviour): void {
    this.behaviour.set(nodeId, behaviour);
  }

  async probe({ shard, node }: ProbeTarget): Promise<ProbeResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (let i = 0; i < this.yields; i++) await new Promise((resolve) => setImmediate(resolve));
      this.probed.push(node.id);
      const behaviour = this.behaviour.get(node.id) ?? 'ok';
      if (behaviour === 'down') return failed(shard, node);
      if (behaviour !== 'ok') return ok(shard, node, behaviour);
      if (node.role === 'primary') return ok(shard, node, observation());
      const primary = `${shard}-p`;
      const lost = this.behaviour.get(primary) === 'down' && !this.unreachableFromMonitorOnly.has(primary);
      return ok(shard, node, lost ? replicaObservation({ ioRunning: false, ioState: 'connecting', lagSeconds: null }) : replicaObservation());
    } finally {
      this.inFlight--;
    }
  }
}

export class RecordingPublisher implements EventPublisher {
  readonly events: AppEvent[] = [];
  failNext = 0;

  async publish(events: AppEvent[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('EventBridge unavailable (test)');
    }
    this.events.push(...events);
  }

  types(): string[] {
    return this.events.map((event) => event.detailType);
  }

  take(): string[] {
    const types = this.types();
    this.events.length = 0;
    return types;
  }
}

/** A MemoryHealthStore that also keeps every save, to check what a tick writes. */
export class RecordingStore extends MemoryHealthStore {
  readonly saves: HealthChanges[] = [];
  override async save(lease: MonitorLease, changes: HealthChanges): Promise<void> {
    await super.save(lease, changes);
    this.saves.push(structuredClone(changes));
  }
}

export interface Rig {
  clock: ManualClock;
  catalog: InMemoryCatalog;
  prober: ScriptedProber;
  publisher: RecordingPublisher;
  store: RecordingStore;
  errors: unknown[];
  monitor(options?: Partial<HealthMonitorOptions>, deps?: Partial<HealthMonitorDeps>): HealthMonitor;
  /** The monitors' sleep: moves the clock; replace it to act while a monitor waits. */
  sleep(ms: number): Promise<void>;
}

export async function rig(draft: ShardMapDraft = fleet(2)): Promise<Rig> {
  const clock = new ManualClock(Date.parse('2025-06-01T12:00:00.000Z'));
  const catalog = new InMemoryCatalog();
  await catalog.commitShardMap(draft, 0, 'test fleet');
  const prober = new ScriptedProber();
  const publisher = new RecordingPublisher();
  const store = new RecordingStore(clock);
  const errors: unknown[] = [];
  const rigged: Rig = {
    clock,
    catalog,
    prober,
    publisher,
    store,
    errors,
    sleep: async (ms) => clock.advance(ms),
    monitor: (options = {}, deps = {}) =>
      new HealthMonitor(
        { catalog, prober, store, publisher, clock, sleep: (ms) => rigged.sleep(ms), onError: (error) => errors.push(error), ...deps },
        { ownerId: 'monitor-a', ...options },
      ),
  };
  return rigged;
}

export async function lease(rigged: Rig, name: string, owner = 'monitor-a'): Promise<MonitorLease> {
  const attempt = await rigged.store.acquireLease(name, owner, 15_000);
  if (!attempt.acquired) throw new Error(`lease ${name} held by ${attempt.holder}`);
  return attempt.lease;
}
