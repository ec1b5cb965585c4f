import { describe, expect, it } from 'vitest';
import { healthThresholds } from '../../../functions/core/health';
import { partitionOfShard } from '../../../functions/core/health-partition';
import type { HealthMonitor, TickReport } from '../../../functions/health/monitor';
import type { NodeProber } from '../../../functions/ports/node-prober';
import { parseEventDetail, ShardNodeDown, ShardPrimaryDown } from '../../../functions/shared/events';
import { observation, replicaObservation } from './probes';
import { fleet, lease, rig, type Rig } from './fakes';

/** Runs `count` ticks one second apart under one lease; returns each tick's event detail-types. */
async function ticks(r: Rig, monitor: HealthMonitor, count: number): Promise<{ types: string[][]; reports: TickReport[] }> {
  const held = await lease(r, monitor.leaseName);
  const types: string[][] = [];
  const reports: TickReport[] = [];
  for (let i = 0; i < count; i++) {
    const report = await monitor.tick(held);
    reports.push(report);
    types.push(report.events.map((event) => event.detailType));
    r.clock.advance(1_000);
  }
  return { types, reports };
}

const verdictOf = (report: TickReport | undefined, shard: string) => report?.shards.find((s) => s.shard === shard)?.verdict;
const stateOf = (report: TickReport | undefined, node: string) => report?.nodes.find((n) => n.node.id === node)?.state;

describe('health monitor tick', () => {
  it('probes every node of a healthy fleet and publishes nothing', async () => {
    const r = await rig(fleet(3));
    const { types, reports } = await ticks(r, r.monitor(), 3);
    expect(types).toEqual([[], [], []]);
    expect(reports[0]?.nodes).toHaveLength(9);
    expect(reports[0]?.shards.map((shard) => shard.verdict)).toEqual(['HEALTHY', 'HEALTHY', 'HEALTHY']);
    expect(r.prober.probed).toHaveLength(27);
  });

  it('detects a dead primary within failuresToDown ticks and announces it once', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    const { types, reports } = await ticks(r, r.monitor(), 6);
    expect(types).toEqual([[], [], ['ShardNodeDown', 'ShardPrimaryDown'], [], [], []]);
    expect(reports.map((report) => stateOf(report, 's0-p'))).toEqual(['SUSPECT', 'SUSPECT', 'DOWN', 'DOWN', 'DOWN', 'DOWN']);
    expect(verdictOf(reports[2], 's0')).toBe('PRIMARY_DOWN');
    expect(verdictOf(reports[2], 's1')).toBe('HEALTHY');

    const primaryDown = r.publisher.events.find((event) => event.detailType === 'ShardPrimaryDown')!;
    expect(parseEventDetail(ShardPrimaryDown, primaryDown.detail)).toMatchObject({
      shard: 's0',
      node: 's0-p',
      endpoint: 's0-p.db:3306',
      confirmedBy: ['s0-r1', 's0-r2'],
      mapVersion: 1,
      verdict: 'PRIMARY_DOWN',
      observedAt: new Date(r.clock.now() - 4_000).toISOString(),
    });
  });

  it('detects within the configured number of failures', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    const { types } = await ticks(r, r.monitor({ thresholds: healthThresholds({ failuresToDown: 2 }) }), 3);
    expect(types).toEqual([[], ['ShardNodeDown', 'ShardPrimaryDown'], []]);
  });

  it('reports a primary unreachable only from the monitor as PRIMARY_UNREACHABLE, never PRIMARY_DOWN', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    r.prober.unreachableFromMonitorOnly.add('s0-p');
    const { types, reports } = await ticks(r, r.monitor(), 5);
    expect(types.flat()).toEqual(['ShardNodeDown', 'ShardPrimaryUnreachable']);
    expect(verdictOf(reports[4], 's0')).toBe('PRIMARY_UNREACHABLE');
  });

  it('does not call the primary down while a replica that could not be probed this tick may still see it', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    const monitor = r.monitor();
    await ticks(r, monitor, 1);
    // The monitor's side of a partition loses the second replica one tick after the primary.
    r.prober.set('s0-r1', 'down');
    const { reports } = await ticks(r, monitor, 4);
    expect(reports.map((report) => verdictOf(report, 's0'))).toEqual(['HEALTHY', 'PRIMARY_UNREACHABLE', 'QUORUM_LOST', 'QUORUM_LOST']);
    expect(reports.flatMap((report) => report.events.map((event) => event.detailType))).not.toContain('ShardPrimaryDown');
  });

  it('calls split brain when a primary a failover took out of the map answers writable again, and not once it is fenced', async () => {
    const r = await rig();
    const former = { shard: 's0', node: { id: 's0-old', role: 'primary' as const, host: 's0-old.db', port: 3306 } };
    let listed = 0;
    const monitor = r.monitor({}, { formerPrimaries: async () => (listed++, [former]) });
    const held = await lease(r, monitor.leaseName);
    r.prober.set('s0-old', 'down');
    expect(verdictOf(await monitor.tick(held), 's0')).toBe('HEALTHY');
    r.prober.set('s0-old', 'ok');
    const back = await monitor.tick(held);
    expect(verdictOf(back, 's0')).toBe('SPLIT_BRAIN');
    expect(back.events.map((event) => event.detailType)).toContain('SplitBrainSuspected');
    r.prober.set('s0-old', observation({ writer: false, readOnly: true }));
    expect(verdictOf(await monitor.tick(held), 's0')).toBe('HEALTHY');
    expect(verdictOf(await monitor.tick(held), 's1')).toBe('HEALTHY');
    // Listed once per map version: a failover records the primary it removes before it commits the map.
    expect(listed).toBe(1);
    await r.catalog.commitShardMap(r.catalog.map!, r.catalog.map!.version, 'another change');
    r.clock.advance(5_000);
    await monitor.tick(held);
    expect(listed).toBe(2);
  });

  it('turns PRIMARY_UNREACHABLE into PRIMARY_DOWN once the replicas lose the primary too', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    r.prober.unreachableFromMonitorOnly.add('s0-p');
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    for (let i = 0; i < 3; i++) await monitor.tick(held);
    r.prober.unreachableFromMonitorOnly.clear();
    const report = await monitor.tick(held);
    expect(report.events.map((event) => event.detailType)).toEqual(['ShardPrimaryDown']);
  });

  it('announces a replica down and its recovery once each, then the shard healthy again', async () => {
    const r = await rig();
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    const step = async () => (await monitor.tick(held)).events.map((event) => event.detailType);

    r.prober.set('s1-r2', 'down');
    const down = [await step(), await step(), await step(), await step()];
    expect(down).toEqual([[], [], ['ShardNodeDown', 'ShardDegraded'], []]);
    const nodeDown = parseEventDetail(ShardNodeDown, r.publisher.events[0]!.detail);
    expect(nodeDown).toMatchObject({ shard: 's1', node: 's1-r2', role: 'replica', state: 'DOWN', verdict: 'DEGRADED' });

    r.prober.set('s1-r2', 'ok');
    const back = [await step(), await step(), await step()];
    expect(back).toEqual([[], ['ShardNodeRecovered', 'ShardHealthy'], []]);
  });

  it('raises lag, stopped replication and writable replicas from the probes', async () => {
    const r = await rig(fleet(3));
    r.prober.set('s0-r1', replicaObservation({ lagSeconds: 30 }));
    r.prober.set('s1-r1', replicaObservation({ sqlRunning: false, lagSeconds: null }));
    r.prober.set('s2-r1', replicaObservation({}, { readOnly: false, writer: true }));
    const { types, reports } = await ticks(r, r.monitor(), 2);
    expect(reports[0]?.shards.map((shard) => shard.verdict)).toEqual(['LAG_HIGH', 'REPLICATION_STOPPED', 'REPLICA_WRITABLE']);
    expect(types).toEqual([['ReplicationLagHigh', 'ShardDegraded', 'ShardDegraded', 'ShardDegraded', 'ShardDegraded'], []]);
  });

  it('keeps transitions it could not publish and publishes them on the next tick', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    await monitor.tick(held);
    await monitor.tick(held);
    r.publisher.failNext = 1;
    await expect(monitor.tick(held)).rejects.toThrow(/EventBridge unavailable/);
    expect(r.publisher.types()).toEqual([]);
    const retried = await monitor.tick(held);
    expect(retried.events.map((event) => event.detailType)).toEqual(['ShardNodeDown', 'ShardPrimaryDown']);
    expect((await monitor.tick(held)).events).toEqual([]);
  });

  it('notices a node that restarted between probes from its uptime going backwards', async () => {
    const r = await rig();
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    r.prober.set('s0-r1', replicaObservation({}, { uptimeSeconds: 5_000 }));
    await monitor.tick(held);
    r.prober.set('s0-r1', replicaObservation({}, { uptimeSeconds: 4 }));
    const report = await monitor.tick(held);
    expect(report.nodes.filter((node) => node.restarted).map((node) => node.node.id)).toEqual(['s0-r1']);
    expect(report.events).toEqual([]);
  });

  it('counts a prober that throws as a failed probe', async () => {
    const r = await rig(fleet(1));
    const throwing: NodeProber = { probe: () => Promise.reject(new Error('driver bug')) };
    const monitor = r.monitor({}, { prober: throwing });
    const report = await monitor.tick(await lease(r, monitor.leaseName));
    expect(report.nodes.map((node) => node.probe)).toEqual([1, 2, 3].map(() => expect.objectContaining({ ok: false, error: 'driver bug' })));
    expect(report.nodes.every((node) => node.state === 'SUSPECT')).toBe(true);
  });

  it('keeps probing the last good shard map while the catalog is unreachable', async () => {
    const r = await rig();
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    await monitor.tick(held);
    r.catalog.unreachable = true;
    const report = await monitor.tick(held);
    expect(report.staleMap).toBe(true);
    expect(report.nodes).toHaveLength(6);
    expect(r.errors.length).toBeGreaterThan(0);
  });
});

describe('health persistence', () => {
  it('continues node states across invocations, without announcing a transition twice', async () => {
    const r = await rig();
    r.prober.set('s0-p', 'down');
    const first = r.monitor({ ownerId: 'invocation-1' });
    const held = await lease(r, first.leaseName, 'invocation-1');
    await first.tick(held);
    await first.tick(held);
    await r.store.releaseLease(held);

    const second = r.monitor({ ownerId: 'invocation-2' });
    const { types } = await ticks(r, second, 3);
    // The third consecutive failure overall, not the first of a new count.
    expect(types).toEqual([['ShardNodeDown', 'ShardPrimaryDown'], [], []]);

    const third = r.monitor({ ownerId: 'invocation-3' });
    expect((await ticks(r, third, 2)).types).toEqual([[], []]);
  });

  it('writes every probe on the first tick, then only what changed', async () => {
    const r = await rig();
    const monitor = r.monitor({ probeSnapshotMs: 60_000 });
    const held = await lease(r, monitor.leaseName);
    const tick = async () => {
      await monitor.tick(held);
      r.clock.advance(1_000);
      return r.store.saves.length;
    };
    expect(await tick()).toBe(1);
    expect(r.store.saves[0]?.nodes).toHaveLength(6);
    expect(r.store.saves[0]?.nodes.every((node) => node.lastProbe?.ok)).toBe(true);
    expect(r.store.saves[0]?.shards).toHaveLength(2);
    // The second success completes the (capped) success count; after that a steady fleet writes nothing.
    expect(await tick()).toBe(2);
    expect(await tick()).toBe(2);
    expect(await tick()).toBe(2);

    r.prober.set('s1-r1', 'down');
    expect(await tick()).toBe(3);
    expect(r.store.saves[2]?.nodes.map((node) => [node.nodeId, node.state, node.lastProbe])).toEqual([['s1-r1', 'SUSPECT', undefined]]);
    expect(r.store.saves[2]?.shards).toEqual([]);
  });

  it('writes every probe again when a snapshot is due', async () => {
    const r = await rig();
    const monitor = r.monitor({ probeSnapshotMs: 5_000 });
    await ticks(r, monitor, 7);
    const withProbes = r.store.saves.map((save) => save.nodes.filter((node) => node.lastProbe !== undefined).length);
    expect(withProbes).toEqual([6, 0, 6]);
  });

  it('forgets nodes and shards that left the map', async () => {
    const r = await rig(fleet(3));
    const monitor = r.monitor();
    const held = await lease(r, monitor.leaseName);
    await monitor.tick(held);
    const next = fleet(2);
    next.shards[0]!.nodes.pop();
    await r.catalog.commitShardMap(next, 1, 'drop s2 and s0-r2');
    await monitor.tick(held);
    expect(r.store.saves[1]).toMatchObject({ removedNodes: expect.arrayContaining([{ shard: 's0', nodeId: 's0-r2' }]), removedShards: ['s2'] });
    expect((await r.store.loadNodes()).map((node) => node.nodeId)).toEqual(['s0-p', 's0-r1', 's1-p', 's1-r1', 's1-r2']);
    expect((await r.store.loadShards()).map((shard) => shard.shard)).toEqual(['s0', 's1']);
  });
});

describe('fan-out', () => {
  it('never has more probes in flight than the concurrency bound, and probes every node once per tick', async () => {
    const r = await rig(fleet(100));
    r.prober.yields = 3;
    const { reports } = await ticks(r, r.monitor({ concurrency: 16 }), 1);
    expect(r.prober.maxInFlight).toBe(16);
    expect(reports[0]?.nodes).toHaveLength(300);
    expect(new Set(r.prober.probed).size).toBe(300);
  });

  it('splits the fleet into partitions that together cover every shard exactly once', async () => {
    const r = await rig(fleet(40));
    const partitions = [0, 1, 2].map((index) => r.monitor({ ownerId: `p${index}`, partition: { index, count: 3 } }));
    expect(new Set(partitions.map((monitor) => monitor.leaseName)).size).toBe(3);
    const covered: string[] = [];
    for (const [index, monitor] of partitions.entries()) {
      const report = await monitor.tick(await lease(r, monitor.leaseName, `p${index}`));
      covered.push(...report.shards.map((shard) => shard.shard));
      expect(report.shards.every((shard) => partitionOfShard(shard.shard, 3) === index)).toBe(true);
      expect(report.shards.length).toBeGreaterThan(0);
    }
    expect(covered.sort()).toEqual(fleet(40).shards.map((shard) => shard.name).sort());
  });

  it('rejects a partition outside its count', async () => {
    const r = await rig();
    expect(() => r.monitor({ partition: { index: 3, count: 3 } })).toThrow(/0 <= index < count/);
  });
});

describe('health monitor run', () => {
  it('ticks every interval until the deadline, then releases the lease', async () => {
    const r = await rig();
    const start = r.clock.now();
    const summary = await r.monitor().run({ until: start + 10_000, intervalMs: 1_000 });
    expect(summary).toEqual({ acquired: true, ticks: 10, failedTicks: 0, eventsPublished: 0, stoppedBecause: 'until' });
    expect(r.clock.now()).toBe(start + 10_000);
    await expect(r.store.acquireLease('health-monitor', 'next-invocation', 15_000)).resolves.toMatchObject({ acquired: true });
  });

  it('reports each tick and stops between ticks when aborted, releasing the lease', async () => {
    const r = await rig();
    const controller = new AbortController();
    const seen: number[] = [];
    const summary = await r.monitor().run({
      until: Number.POSITIVE_INFINITY,
      signal: controller.signal,
      onTick: (report) => {
        seen.push(report.nodes.length);
        if (seen.length === 3) controller.abort();
      },
    });
    expect(summary).toMatchObject({ acquired: true, ticks: 3, stoppedBecause: 'aborted' });
    expect(seen).toEqual([6, 6, 6]);
    await expect(r.store.acquireLease('health-monitor', 'next', 15_000)).resolves.toMatchObject({ acquired: true });
  });

  it('does not probe while another monitor holds the lease', async () => {
    const r = await rig();
    await r.store.acquireLease('health-monitor', 'other-invocation', 60_000);
    const summary = await r.monitor().run({ until: r.clock.now() + 5_000, intervalMs: 1_000 });
    expect(summary).toMatchObject({ acquired: false, ticks: 0, stoppedBecause: 'lease-held', holder: 'other-invocation' });
    expect(r.prober.probed).toEqual([]);
  });

  it('waits while the previous monitor holds the lease and takes over as soon as it is released', async () => {
    const r = await rig();
    const previous = await lease(r, 'health-monitor', 'previous-invocation');
    const start = r.clock.now();
    let waits = 0;
    r.sleep = async (ms) => {
      r.clock.advance(ms);
      if (++waits === 2) await r.store.releaseLease(previous);
    };
    const summary = await r.monitor().run({ until: start + 6_000, intervalMs: 1_000 });
    expect(summary).toMatchObject({ acquired: true, ticks: 4, stoppedBecause: 'until' });
  });

  it('stops when another monitor takes the lease over, without writing again', async () => {
    const r = await rig();
    r.sleep = async (ms) => {
      r.clock.advance(ms);
      // After two ticks the monitor stalls: its lease expires and another invocation takes it.
      if (r.prober.probed.length === 12) {
        r.clock.advance(5_000);
        await r.store.acquireLease('health-monitor', 'intruder', 60_000);
      }
    };
    const summary = await r.monitor({ leaseTtlMs: 4_000 }).run({ until: r.clock.now() + 60_000, intervalMs: 1_000 });
    expect(summary).toMatchObject({ acquired: true, ticks: 2, stoppedBecause: 'lease-lost' });
    expect(r.prober.probed).toHaveLength(12);
    const saved = r.store.saves.length;
    expect(saved).toBeGreaterThan(0);
    await expect(r.store.acquireLease('health-monitor', 'someone-else', 1_000)).resolves.toMatchObject({ acquired: false, holder: 'intruder' });
    expect(r.store.saves).toHaveLength(saved);
  });

  it('survives a failed tick and keeps ticking', async () => {
    const r = await rig();
    r.publisher.failNext = 1;
    r.prober.set('s0-p', 'down');
    const summary = await r.monitor().run({ until: r.clock.now() + 5_000, intervalMs: 1_000 });
    expect(summary).toMatchObject({ ticks: 4, failedTicks: 1, eventsPublished: 2 });
    expect(r.errors).toHaveLength(1);
  });
});
