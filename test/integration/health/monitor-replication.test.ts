import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../../functions/adapters/local-event-bus';
import { createMysqlProber, type MysqlProber } from '../../../functions/adapters/mysql-prober';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlHealthStore } from '../../../functions/adapters/sql-health-store';
import { healthThresholds, type ShardVerdict } from '../../../functions/core/health';
import { HealthMonitor, type TickReport } from '../../../functions/health/monitor';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { systemClock } from '../../../functions/ports/clock';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';
import { startTestShard } from '../helpers/replication';

/**
 * The monitor end to end on real servers: a primary and two GTID replicas (private mariadbd),
 * the catalog and health store in MariaDB, the mysql2 prober, events on the local bus.
 */
describe('health monitor on a real replicated shard', () => {
  let shard: ReplicatedShard;
  let scratch: ScratchDatabase;
  let prober: MysqlProber;
  let monitor: HealthMonitor;
  const events: AppEvent[] = [];

  /** Ticks every `intervalMs` until `done` holds for a tick (or `maxTicks` pass); returns the reports. */
  async function watch(done: (report: TickReport) => boolean, { intervalMs = 250, maxTicks = 40 } = {}): Promise<TickReport[]> {
    const reports: TickReport[] = [];
    const stop = new AbortController();
    await monitor.run({
      until: Number.POSITIVE_INFINITY,
      intervalMs,
      signal: stop.signal,
      onTick: (report) => {
        reports.push(report);
        if (done(report) || reports.length >= maxTicks) stop.abort();
      },
    });
    return reports;
  }
  const verdict = (report: TickReport | undefined): ShardVerdict | undefined => report?.shards[0]?.verdict;
  const is = (wanted: ShardVerdict) => (report: TickReport) => verdict(report) === wanted;
  /** Healthy with every node ONLINE (a node back from DOWN is RECOVERING for a tick first). */
  const settled = (report: TickReport) => verdict(report) === 'HEALTHY' && report.nodes.every((node) => node.state === 'ONLINE');
  const eventsSince = (mark: number) => events.slice(mark).map((event) => event.detailType);

  beforeAll(async () => {
    shard = await startTestShard({ shard: '-', database: 'sk_monitored' });
    scratch = await createScratchDatabase();
    const catalog = new SqlCatalog(scratch.executor);
    await catalog.migrate();
    await catalog.commitShardMap(
      { keyType: 'uint64', strategy: { kind: 'keyspace' }, overrides: [], shards: [{ name: '-', database: 'sk_monitored', status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] }] },
      0,
      'replicated test shard',
    );
    prober = createMysqlProber({ credentials: staticCredentials('root', ''), tls: 'off', connectTimeoutMs: 500, queryTimeoutMs: 500 });
    const bus = new LocalEventBus();
    bus.subscribe('*', (event) => void events.push(event));
    monitor = new HealthMonitor(
      { catalog, prober, store: new SqlHealthStore(scratch.executor), publisher: bus, clock: systemClock },
      // A 2 s lag limit keeps the lag scenario short.
      { ownerId: 'integration', thresholds: healthThresholds({ lagSecondsMax: 2 }) },
    );
  });

  afterAll(async () => {
    await prober?.close();
    await shard?.stop();
    await scratch?.drop();
  });

  it('sees a freshly replicated shard as healthy', async () => {
    const reports = await watch(settled, { maxTicks: 8 });
    expect(verdict(reports.at(-1))).toBe('HEALTHY');
    expect(reports.at(-1)?.nodes.map((node) => node.state)).toEqual(['ONLINE', 'ONLINE', 'ONLINE']);
    expect(events).toEqual([]);
  });

  it('reports REPLICATION_STOPPED when a replica SQL thread stops, and healthy again once restarted', async () => {
    const mark = events.length;
    await shard.stopSqlThread(1);
    const stopped = await watch(is('REPLICATION_STOPPED'));
    expect(stopped.at(-1)?.shards[0]?.findings.find((finding) => finding.code === 'REPLICATION_STOPPED')?.nodes).toEqual([shard.nodes[1]!.id]);
    await shard.startReplication(1);
    await watch(settled);
    expect(eventsSince(mark)).toEqual(['ShardDegraded', 'ShardDegraded', 'ShardHealthy']);
  });

  it('reports REPLICA_WRITABLE for a replica with read_only off', async () => {
    const mark = events.length;
    await shard.makeWritable(2);
    await watch(is('REPLICA_WRITABLE'));
    await shard.query(2, 'SET GLOBAL read_only = ON');
    await watch(settled);
    expect(eventsSince(mark)).toEqual(['ShardDegraded', 'ShardHealthy']);
  });

  it('reports LAG_HIGH while a replica applies events late, then recovers', async () => {
    const mark = events.length;
    await shard.createLag(1, 6);
    const lagging = await watch(is('LAG_HIGH'), { maxTicks: 60 });
    expect(lagging.at(-1)?.shards[0]?.maxLagSeconds).toBeGreaterThan(2);
    await shard.clearLag(1);
    await watch(settled, { maxTicks: 60 });
    expect(eventsSince(mark)).toEqual(expect.arrayContaining(['ReplicationLagHigh', 'ShardHealthy']));
  });

  it('calls a primary the monitor alone cannot reach PRIMARY_UNREACHABLE, never PRIMARY_DOWN', async () => {
    const mark = events.length;
    shard.blockMonitor(0);
    const reports = await watch(is('PRIMARY_UNREACHABLE'));
    expect(reports.at(-1)?.nodes[0]).toMatchObject({ state: 'DOWN', probe: { ok: false, timedOut: true } });
    shard.unblockMonitor(0);
    await watch(settled, { maxTicks: 20 });
    // The shard is healthy again as soon as the primary answers; the node is announced once it has held for two probes.
    expect(eventsSince(mark)).toEqual(['ShardNodeDown', 'ShardPrimaryUnreachable', 'ShardHealthy', 'ShardNodeRecovered']);
  });

  it('reaches PRIMARY_DOWN within failuresToDown ticks of the primary being killed, with default settings', async () => {
    const mark = events.length;
    await shard.killPrimary();
    const reports = await watch(is('PRIMARY_DOWN'), { intervalMs: 1_000, maxTicks: 10 });
    // The replicas notice the lost connection at once (the process died), so the third failed probe decides.
    expect(reports.length).toBeLessThanOrEqual(4);
    expect(verdict(reports.at(-1))).toBe('PRIMARY_DOWN');
    expect(eventsSince(mark)).toEqual(['ShardNodeDown', 'ShardPrimaryDown']);
    expect(events.at(-1)?.detail).toMatchObject({ node: shard.nodes[0]!.id, confirmedBy: [shard.nodes[1]!.id, shard.nodes[2]!.id] });
  });
});
