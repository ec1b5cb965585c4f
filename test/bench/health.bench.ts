/**
 * bench:health — one monitor tick over a generated fleet (334 shards x 3 nodes = 1,002 nodes by
 * default) with a simulated connector: probe latency log-normal around 12 ms (most within 5-30 ms),
 * 2 % of probes time out at the 2 s connect timeout, 1 % fail at once (refused). Measures tick
 * duration and nodes probed per tick at several concurrency settings, the monitor's own CPU cost
 * (a connector that answers at once), and a tick persisting to the MariaDB catalog.
 * Target: >= 1,000 nodes per tick within 5 s.
 *
 * Then detection on real servers with default settings (1 s interval, DOWN after 3 failures, 2 s
 * connect timeout): a replicated shard of private mariadbd servers, its primary killed (or cut off
 * from the monitor only) at a random point of the probe interval; time until the event is published.
 * Target: detection <= 10 s.
 */
import mysql from 'mysql2/promise';
import { createMysqlExecutor, createMysqlPool } from '../../functions/adapters/mysql-executor';
import { SqlCatalog } from '../../functions/adapters/sql-catalog';
import { LocalEventBus } from '../../functions/adapters/local-event-bus';
import { createMysqlProber } from '../../functions/adapters/mysql-prober';
import { SqlHealthStore } from '../../functions/adapters/sql-health-store';
import type { ShardMapDraft } from '../../functions/core/shard-map-types';
import { HealthMonitor } from '../../functions/health/monitor';
import { MemoryHealthStore } from '../../functions/health/memory-health-store';
import { withDatabase } from '../../functions/local/sandbox';
import { systemClock } from '../../functions/ports/clock';
import type { HealthStore } from '../../functions/ports/health-store';
import { staticCredentials } from '../../functions/ports/node-credentials';
import type { NodeObservation, NodeProber, ProbeResult } from '../../functions/ports/node-prober';
import { ShardPrimaryDown, ShardPrimaryUnreachable, type EventContract } from '../../functions/shared/events';
import { startTestShard } from '../integration/helpers/replication';
import { InMemoryCatalog } from '../unit/fakes/in-memory-catalog';
import { percentile, report, type BenchRow } from './report';

const SHARDS = Number(process.env.BENCH_SHARDS ?? 334);
const TICKS = Number(process.env.BENCH_TICKS ?? 3);
const CONNECT_TIMEOUT_MS = 2_000;
const TIMEOUT_RATE = 0.02;
const ERROR_RATE = 0.01;
const TARGET_MS = 5_000;
const DETECTION_TRIALS = Number(process.env.BENCH_DETECTION_TRIALS ?? 3);
const DETECTION_TARGET_MS = 10_000;
/** Where in the probe interval each failure lands. */
const phase = random(7);
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const DATABASE = 'sk_bench_health';

/** Deterministic, so runs compare (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function fleet(shards: number): ShardMapDraft {
  return {
    keyType: 'uint64',
    strategy: { kind: 'modulo' },
    overrides: [],
    shards: Array.from({ length: shards }, (_, index) => ({
      name: `s${index}`,
      database: `game_${index}`,
      status: 'serving' as const,
      kind: 'self-managed' as const,
      nodes: (['primary', 'replica', 'replica'] as const).map((role, n) => ({ id: `s${index}-${n}`, role, host: `10.0.${index >> 8}.${index & 255}`, port: 3306 + n })),
    })),
  };
}

function observation(primary: boolean, rand: () => number): NodeObservation {
  return {
    flavor: 'mysql',
    version: '8.0.36',
    readOnly: !primary,
    superReadOnly: !primary,
    writer: primary,
    replication: primary
      ? null
      : { sourceHost: '10.0.0.1', sourcePort: 3306, ioRunning: true, ioState: 'yes', sqlRunning: true, lagSeconds: Math.floor(rand() * 3), gtidExecuted: null, gtidReceived: null, relayLogApplied: true, lastError: null },
    threadsRunning: 1 + Math.floor(rand() * 10),
    connections: 50,
    maxConnections: 1000,
    connectionsPercent: 5,
    bufferPoolUsedPercent: 60,
    bufferPoolHitRatio: 0.999,
    uptimeSeconds: 86_400,
    gtidPosition: null,
  };
}

/** The simulated connector. With `instant`, answers without waiting: the monitor's own cost. */
function simulatedProber(seed: number, instant = false): NodeProber & { timeouts: number; errors: number } {
  const rand = random(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const prober = {
    timeouts: 0,
    errors: 0,
    async probe({ shard, node }: { shard: string; node: { id: string; role: string } }): Promise<ProbeResult> {
      const roll = rand();
      const timedOut = roll < TIMEOUT_RATE;
      const refused = !timedOut && roll < TIMEOUT_RATE + ERROR_RATE;
      const latencyMs = timedOut ? CONNECT_TIMEOUT_MS : refused ? 1 + rand() * 2 : Math.exp(Math.log(12) + 0.5 * normal());
      if (!instant) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      if (timedOut || refused) {
        if (timedOut) prober.timeouts++;
        else prober.errors++;
        return { ok: false, shard, nodeId: node.id, latencyMs, error: timedOut ? 'connect ETIMEDOUT' : 'connect ECONNREFUSED', timedOut };
      }
      return { ok: true, shard, nodeId: node.id, latencyMs, observation: observation(node.role === 'primary', rand) };
    },
  };
  return prober;
}

async function measure(scenario: string, shards: number, concurrency: number, store: HealthStore, prober: ReturnType<typeof simulatedProber>): Promise<BenchRow> {
  const catalog = new InMemoryCatalog();
  await catalog.commitShardMap(fleet(shards), 0, 'bench fleet');
  const monitor = new HealthMonitor({ catalog, prober, store, clock: systemClock, publisher: { publish: async () => {} } }, { ownerId: 'bench', concurrency });
  const attempt = await store.acquireLease(monitor.leaseName, 'bench', 600_000);
  if (!attempt.acquired) throw new Error(`lease held by ${attempt.holder}`);
  const durations: number[] = [];
  let nodes = 0;
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < TICKS; i++) {
    const started = performance.now();
    const tick = await monitor.tick(attempt.lease);
    durations.push(performance.now() - started);
    nodes = tick.nodes.length;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const median = percentile(durations, 50);
  return {
    scenario,
    concurrency,
    'nodes/tick': nodes,
    'tick ms (median)': median,
    'tick ms (max)': Math.max(...durations),
    'nodes/s': Math.round(nodes / (median / 1000)),
    'cpu ms/tick': (cpu.user + cpu.system) / 1000 / TICKS,
    timeouts: prober.timeouts,
    refused: prober.errors,
    'within 5 s': Math.max(...durations) <= TARGET_MS,
  };
}

async function withCatalogDatabase<T>(work: (store: SqlHealthStore) => Promise<T>): Promise<T> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  const pool = createMysqlPool({ url: withDatabase(MYSQL_URL, DATABASE), connectionLimit: 4 });
  try {
    const executor = createMysqlExecutor(pool);
    await new SqlCatalog(executor).migrate();
    return await work(new SqlHealthStore(executor));
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
    await admin.end();
  }
}

/** One trial: a fresh replicated shard, the monitor running with defaults, a failure injected at a random phase of the interval. */
async function detection(failure: 'kill primary' | 'primary cut off from the monitor', expected: EventContract, trial: number): Promise<BenchRow> {
  const shard = await startTestShard({ shard: '-', database: 'sk_bench' });
  const prober = createMysqlProber({ credentials: staticCredentials('root', ''), tls: 'off' });
  const stop = new AbortController();
  try {
    const catalog = new InMemoryCatalog();
    await catalog.commitShardMap(
      { keyType: 'uint64', strategy: { kind: 'keyspace' }, overrides: [], shards: [{ name: '-', database: 'sk_bench', status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] }] },
      0,
      'detection bench',
    );
    const bus = new LocalEventBus();
    let healthyTicks = 0;
    let markReady = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    let markDetected = (_at: number) => {};
    const detected = new Promise<number>((resolve) => (markDetected = resolve));
    bus.subscribe(expected, () => markDetected(performance.now()));
    const monitor = new HealthMonitor({ catalog, prober, store: new MemoryHealthStore(), publisher: bus, clock: systemClock }, { ownerId: `bench-${trial}` });
    const running = monitor.run({
      until: Number.POSITIVE_INFINITY,
      signal: stop.signal,
      onTick: (report) => {
        if (report.shards[0]?.verdict === 'HEALTHY' && ++healthyTicks === 2) markReady();
      },
    });
    await ready;
    await new Promise((resolve) => setTimeout(resolve, phase() * 1_000));
    const injected = performance.now();
    if (failure === 'kill primary') await shard.killPrimary();
    else shard.blockMonitor(0);
    const at = await Promise.race([detected, new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 30_000))]);
    stop.abort();
    await running;
    await bus.settled();
    const ms = at - injected;
    return { failure, trial, event: expected.detailType, 'detected after ms': ms, 'within 10 s': ms <= DETECTION_TARGET_MS };
  } finally {
    stop.abort();
    await prober.close();
    await shard.stop();
  }
}

const rows: BenchRow[] = [];
for (const concurrency of [8, 16, 32, 64, 128, 256]) {
  rows.push(await measure('simulated connector', SHARDS, concurrency, new MemoryHealthStore(), simulatedProber(concurrency)));
}
rows.push(await measure('monitor cost only (instant connector)', SHARDS, 64, new MemoryHealthStore(), simulatedProber(1, true)));
rows.push(await withCatalogDatabase((store) => measure('simulated connector, MariaDB health store', SHARDS, 64, store, simulatedProber(64))));
rows.push(await measure('3x fleet, simulated connector', SHARDS * 3, 256, new MemoryHealthStore(), simulatedProber(256)));

const detections: BenchRow[] = [];
for (let trial = 1; trial <= DETECTION_TRIALS; trial++) detections.push(await detection('kill primary', ShardPrimaryDown, trial));
detections.push(await detection('primary cut off from the monitor', ShardPrimaryUnreachable, 1));

report('health', rows, {
  fleet: `${SHARDS} shards x 3 nodes`,
  ticksPerSetting: TICKS,
  connector: `latency log-normal, median 12 ms; ${TIMEOUT_RATE * 100}% timeouts at ${CONNECT_TIMEOUT_MS} ms; ${ERROR_RATE * 100}% refused`,
  targetMs: TARGET_MS,
});

report('health-detection', detections, {
  settings: 'probe interval 1 s, DOWN after 3 consecutive failures, connect and query timeouts 2 s',
  targetMs: DETECTION_TARGET_MS,
});
