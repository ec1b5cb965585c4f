import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../../functions/adapters/catalog-migrations';
import { createMysqlExecutor } from '../../../functions/adapters/mysql-executor';
import { SqlHealthStore } from '../../../functions/adapters/sql-health-store';
import type { MonitorLease, StoredNodeHealth, StoredShardHealth } from '../../../functions/ports/health-store';
import { LeaseLostError } from '../../../functions/shared/errors';
import { ManualClock } from '../../unit/fakes/in-memory-catalog';
import { failed, observation, ok } from '../../unit/health/probes';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

const T0 = Date.parse('2025-06-01T12:00:00.125Z');

function nodeRecord(shard: string, nodeId: string, overrides: Partial<StoredNodeHealth> = {}): StoredNodeHealth {
  return {
    shard,
    nodeId,
    state: 'ONLINE',
    consecutiveFailures: 0,
    consecutiveSuccesses: 2,
    lastUptimeSeconds: 86_400,
    changedAt: T0,
    ...overrides,
  };
}

const shardRecord = (shard: string, overrides: Partial<StoredShardHealth> = {}): StoredShardHealth => ({
  shard,
  verdict: 'HEALTHY',
  findings: [],
  since: T0,
  updatedAt: T0,
  ...overrides,
});

const noChanges = { nodes: [], shards: [], removedNodes: [], removedShards: [] };

describe('SqlHealthStore over mysql2 on MariaDB', () => {
  let scratch: ScratchDatabase;
  let clock: ManualClock;
  let store: SqlHealthStore;
  let lease: MonitorLease;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    await migrate(scratch.executor);
  });
  afterAll(async () => {
    await scratch.drop();
  });
  beforeEach(async () => {
    for (const table of ['sk_node_health', 'sk_shard_health', 'sk_monitor_leases']) await scratch.executor.execute(`DELETE FROM ${table}`);
    clock = new ManualClock(T0);
    store = new SqlHealthStore(scratch.executor, clock);
    const attempt = await store.acquireLease('fleet', 'monitor-a', 10_000);
    if (!attempt.acquired) throw new Error('lease not acquired');
    lease = attempt.lease;
  });

  describe('monitor lease', () => {
    it('is held by one owner until it expires, then taken over', async () => {
      expect(lease).toEqual({ name: 'fleet', owner: 'monitor-a', expiresAt: T0 + 10_000 });
      await expect(store.acquireLease('fleet', 'monitor-b', 10_000)).resolves.toEqual({ acquired: false, holder: 'monitor-a', expiresAt: T0 + 10_000 });
      clock.advance(10_000);
      const takeover = await store.acquireLease('fleet', 'monitor-b', 10_000);
      expect(takeover).toEqual({ acquired: true, lease: { name: 'fleet', owner: 'monitor-b', expiresAt: T0 + 20_000 } });
    });

    it('is renewed by its owner', async () => {
      clock.advance(6_000);
      await expect(store.acquireLease('fleet', 'monitor-a', 10_000)).resolves.toMatchObject({ acquired: true, lease: { expiresAt: T0 + 16_000 } });
      clock.advance(6_000);
      await expect(store.acquireLease('fleet', 'monitor-b', 10_000)).resolves.toMatchObject({ acquired: false, holder: 'monitor-a' });
    });

    it('keeps leases of different partitions apart', async () => {
      await expect(store.acquireLease('fleet/1-of-2', 'monitor-b', 10_000)).resolves.toMatchObject({ acquired: true });
    });

    it('is free at once after release, and a release by a former owner changes nothing', async () => {
      await store.releaseLease(lease);
      const next = await store.acquireLease('fleet', 'monitor-b', 10_000);
      expect(next.acquired).toBe(true);
      await store.releaseLease(lease);
      await expect(store.acquireLease('fleet', 'monitor-a', 10_000)).resolves.toMatchObject({ acquired: false, holder: 'monitor-b' });
    });

    it('lets exactly one of many concurrent monitors win a free lease', async () => {
      clock.advance(10_000);
      const racers = Array.from({ length: 6 }, () => new SqlHealthStore(createMysqlExecutor(scratch.openPool()), clock));
      const attempts = await Promise.all(racers.map((racer, index) => racer.acquireLease('fleet', `racer-${index}`, 10_000)));
      const winners = attempts.filter((attempt) => attempt.acquired);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.lease.owner;
      expect(attempts.filter((attempt) => !attempt.acquired).every((attempt) => !attempt.acquired && attempt.holder === winner)).toBe(true);
    });
  });

  describe('health records', () => {
    it('round-trips node states, probes and shard findings', async () => {
      const probe = ok('-80', { id: '-80-a' }, observation({ threadsRunning: 7 }), 4.5);
      await store.save(lease, {
        ...noChanges,
        nodes: [
          nodeRecord('-80', '-80-a', { lastProbe: probe, lastProbeAt: T0 + 5 }),
          nodeRecord('-80', '-80-b', { state: 'DOWN', consecutiveFailures: 3, consecutiveSuccesses: 0, lastUptimeSeconds: null, lastProbe: failed('-80', { id: '-80-b' }), lastProbeAt: T0 }),
        ],
        shards: [shardRecord('-80', { verdict: 'DEGRADED', findings: [{ code: 'DEGRADED', nodes: ['-80-b'], reason: 'replicas unfit to serve reads: -80-b down' }] })],
      });

      const states = await store.loadNodes();
      expect(states).toEqual([
        nodeRecord('-80', '-80-a'),
        nodeRecord('-80', '-80-b', { state: 'DOWN', consecutiveFailures: 3, consecutiveSuccesses: 0, lastUptimeSeconds: null }),
      ]);
      const withProbes = await store.loadNodes({ withProbes: true });
      expect(withProbes[0]).toMatchObject({ lastProbe: probe, lastProbeAt: T0 + 5 });
      expect(withProbes[1]?.lastProbe).toMatchObject({ ok: false, error: 'connect ECONNREFUSED' });
      expect(await store.loadShards()).toEqual([
        shardRecord('-80', { verdict: 'DEGRADED', findings: [{ code: 'DEGRADED', nodes: ['-80-b'], reason: 'replicas unfit to serve reads: -80-b down' }] }),
      ]);
    });

    it('updates state without touching the stored probe when a record carries none', async () => {
      const probe = ok('-80', { id: '-80-a' }, observation(), 3);
      await store.save(lease, { ...noChanges, nodes: [nodeRecord('-80', '-80-a', { lastProbe: probe, lastProbeAt: T0 })] });
      await store.save(lease, { ...noChanges, nodes: [nodeRecord('-80', '-80-a', { state: 'SUSPECT', consecutiveFailures: 1, changedAt: T0 + 1000 })] });
      const [node] = await store.loadNodes({ withProbes: true });
      expect(node).toMatchObject({ state: 'SUSPECT', consecutiveFailures: 1, changedAt: T0 + 1000, lastProbe: probe });
    });

    it('removes forgotten nodes and shards', async () => {
      await store.save(lease, {
        ...noChanges,
        nodes: [nodeRecord('-80', 'a'), nodeRecord('-80', 'b'), nodeRecord('80-', 'c')],
        shards: [shardRecord('-80'), shardRecord('80-')],
      });
      await store.save(lease, { ...noChanges, removedNodes: [{ shard: '-80', nodeId: 'b' }], removedShards: ['80-'] });
      expect((await store.loadNodes()).map((node) => `${node.shard}/${node.nodeId}`)).toEqual(['-80/a']);
      expect((await store.loadShards()).map((shard) => shard.shard)).toEqual(['-80']);
    });

    it('pages through more nodes than one read returns, in key order', async () => {
      const nodes = Array.from({ length: 1_234 }, (_, index) => nodeRecord(`s${String(index % 411).padStart(3, '0')}`, `n${String(index).padStart(4, '0')}`));
      await store.save(lease, { ...noChanges, nodes });
      const loaded = await store.loadNodes();
      expect(loaded).toHaveLength(1_234);
      const keys = loaded.map((node) => `${node.shard}/${node.nodeId}`);
      expect(keys).toEqual([...keys].sort());
      expect(new Set(keys).size).toBe(1_234);
    });

    it('refuses to write for a monitor whose lease expired or was taken over, writing nothing', async () => {
      clock.advance(10_000);
      await expect(store.save(lease, { ...noChanges, shards: [shardRecord('-80')] })).rejects.toThrow(LeaseLostError);
      await store.acquireLease('fleet', 'monitor-b', 10_000);
      await expect(store.save(lease, { ...noChanges, shards: [shardRecord('-80')] })).rejects.toThrow(/no longer held by monitor-a/);
      expect(await store.loadShards()).toEqual([]);
    });
  });
});
