import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { LocalEventBus } from '../../../functions/adapters/local-event-bus';
import { createMysqlProber, type MysqlProber } from '../../../functions/adapters/mysql-prober';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlHealthStore } from '../../../functions/adapters/sql-health-store';
import { HealthMonitor } from '../../../functions/health/monitor';
import { localRecoveryDeps } from '../../../functions/local/local-recovery-deps';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { LookupApi, type RouteResponse } from '../../../functions/lookup/lookup-api';
import { ShardMapCache } from '../../../functions/lookup/shard-map-cache';
import { systemClock } from '../../../functions/ports/clock';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { runLocalWorkflow, synthesizeRecoveryDefinitions, type LocalRunResult, type RecoveryDefinitions } from '../../../functions/recovery/local-workflows';
import { ShardPrimaryDown } from '../../../functions/shared/events';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';
import { startTestShard } from '../helpers/replication';

const SEEDED = 400;
/** Written after replica b stopped fetching: only the primary and replica c have them. */
const LATE = 25;

/**
 * Issue 3 §5 end to end on real servers: a primary and two GTID replicas (private mariadbd), the
 * catalog in MariaDB, the health monitor with default timing, the failover state machine from the
 * synthesized stack run by the local interpreter with its tasks bound to the real use cases, and
 * the lookup API over the same catalog.
 */
describe('failover of a real replicated shard, from a killed primary to the lookup API', () => {
  let shard: ReplicatedShard;
  let scratch: ScratchDatabase;
  let prober: MysqlProber;
  let monitor: HealthMonitor;
  let definitions: RecoveryDefinitions;
  let api: LookupApi;
  const stopMonitor = new AbortController();
  let monitorRun: Promise<unknown>;
  const events: { at: number; event: AppEvent }[] = [];
  const runs: Promise<LocalRunResult>[] = [];

  const route = async (): Promise<RouteResponse> => JSON.parse((await api.handle({ method: 'GET', path: '/v1/route/12345', headers: {}, body: undefined })).body) as RouteResponse;
  const eventsOf = (detailType: string) => events.filter(({ event }) => event.detailType === detailType);
  async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, pollMs = 25): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
  const count = async (index: number) => Number((await shard.query(index, 'SELECT COUNT(*) AS n FROM sk_game.players'))[0]?.n);

  beforeAll(async () => {
    definitions = synthesizeRecoveryDefinitions(cdkJson.context.shardkeeper);
    shard = await startTestShard({ shard: '-', database: 'sk_game' });
    await shard.query(0, 'CREATE TABLE sk_game.players (player_id BIGINT UNSIGNED PRIMARY KEY, player_name VARCHAR(64) NOT NULL)');
    const values = Array.from({ length: SEEDED }, (_, i) => `(${i + 1}, 'player-${i + 1}')`).join(', ');
    await shard.query(0, `INSERT INTO sk_game.players VALUES ${values}`);
    await shard.waitForReplicas();

    scratch = await createScratchDatabase();
    const catalog = new SqlCatalog(scratch.executor);
    await catalog.migrate();
    await catalog.commitShardMap(
      { keyType: 'uint64', strategy: { kind: 'keyspace' }, overrides: [], shards: [{ name: '-', database: 'sk_game', status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] }] },
      0,
      'replicated test shard',
    );
    api = new LookupApi(new ShardMapCache({ catalog, clock: systemClock, revalidateMs: 1000 }));

    const credentials = staticCredentials('root', '');
    prober = createMysqlProber({ credentials, tls: 'off' });
    const bus = new LocalEventBus();
    const deps = localRecoveryDeps({ catalog, executor: scratch.executor, prober, credentials, events: bus });
    bus.subscribe('*', (event) => void events.push({ at: Date.now(), event }));
    // The EventBridge rule, in process: ShardPrimaryDown starts the failover state machine.
    bus.subscribe(ShardPrimaryDown, (event) => {
      runs.push(runLocalWorkflow(definitions.failover, deps, { 'detail-type': event.detailType, source: event.source, detail: event.detail as Record<string, unknown> }, { executionName: `e2e-${runs.length + 1}` }));
    });
    // Default cadence and thresholds: a probe a second, DOWN after 3 failures.
    monitor = new HealthMonitor({ catalog, prober, store: new SqlHealthStore(scratch.executor), publisher: bus, clock: systemClock }, { ownerId: 'e2e' });
    monitorRun = monitor.run({ until: Number.POSITIVE_INFINITY, signal: stopMonitor.signal });
  });

  afterAll(async () => {
    stopMonitor.abort();
    await monitorRun;
    await Promise.allSettled(runs);
    await prober?.close();
    await shard?.stop();
    await scratch?.drop();
  });

  it('does not fail over when only the monitor loses the primary while the replicas still replicate', async () => {
    shard.blockMonitor(0);
    await until('PRIMARY_UNREACHABLE', () => eventsOf('ShardPrimaryUnreachable').length > 0, 20_000);
    shard.unblockMonitor(0);
    await until('the shard healthy again', () => eventsOf('ShardHealthy').length > 0, 20_000);
    expect(eventsOf('ShardPrimaryDown')).toEqual([]);
    expect(runs).toHaveLength(0);
    expect((await route()).writer?.port).toBe(shard.nodes[0]!.port);
    // Two more probes bring the primary from RECOVERING back to ONLINE, so the next test starts clean.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
  });

  it('promotes the most advanced replica, repoints the other, routes to the new writer and loses no committed row', async () => {
    // Replica b stops fetching, so replica c ends up ahead by LATE transactions.
    await shard.query(1, 'STOP SLAVE IO_THREAD');
    const late = Array.from({ length: LATE }, (_, i) => `(${SEEDED + i + 1}, 'late-${i + 1}')`).join(', ');
    await shard.query(0, `INSERT INTO sk_game.players VALUES ${late}`);
    await until('replica c to apply the late rows', async () => (await count(2)) === SEEDED + LATE);

    const killedAt = Date.now();
    await shard.killPrimary();
    const detected = await until('ShardPrimaryDown', () => eventsOf('ShardPrimaryDown')[0], 30_000);
    const run = await until('the failover execution', () => runs[0], 5_000);
    const routed = until('the lookup API to return the new writer', async () => ((await route()).writer?.port === shard.nodes[2]!.port ? Date.now() : undefined), 60_000, 20);
    const result = await run;
    const routeUpdatedAt = await routed;

    expect(result.status).toBe('succeeded');
    expect(result.states.at(-1)).toBe('FailedOver');
    const output = result.output as { candidate: { node: { id: string } }; promotion: { promotedAt: number }; repoint: { repointed: string[] }; map: { version: number } };
    expect(output.candidate.node.id).toBe('--c');
    expect(output.repoint.repointed).toEqual(['--b']);
    expect(eventsOf('ShardFailoverCompleted')).toHaveLength(1);

    const writer = (await route()).writer!;
    expect(writer).toEqual({ host: shard.nodes[2]!.host, port: shard.nodes[2]!.port });
    const connection = await mysql.createConnection({ host: writer.host, port: writer.port, user: 'root', database: 'sk_game' });
    try {
      await connection.query("INSERT INTO players VALUES (100000, 'after-failover')");
    } finally {
      await connection.end();
    }
    expect(await count(2)).toBe(SEEDED + LATE + 1);
    // Replica b now follows c and fetches what it missed, the late rows included.
    await until('replica b to catch up from the new primary', async () => (await count(1)) === SEEDED + LATE + 1, 20_000);
    const ids = await shard.query(1, 'SELECT player_id FROM sk_game.players ORDER BY player_id');
    expect(ids.map((row) => Number(row.player_id))).toEqual([...Array.from({ length: SEEDED + LATE }, (_, i) => i + 1), 100000]);

    const detectionMs = detected.at - killedAt;
    const promotionToRouteMs = routeUpdatedAt - output.promotion.promotedAt;
    // Figures for the report (issue 3 targets: detection <= 10 s, route <= 15 s after promotion); not asserted.
    console.log(JSON.stringify({ detectionMs, promotionToRouteMs, killToRouteMs: routeUpdatedAt - killedAt, failoverStates: result.states.length }));
  });

  it('blocks and reports a second failover of the shard inside the anti-flap window', async () => {
    await shard.kill(2);
    await until('a second ShardPrimaryDown', () => eventsOf('ShardPrimaryDown').length === 2, 30_000);
    const second = await until('the second execution', () => runs[1], 5_000);
    const result = await second;
    expect(result.states.at(-1)).toBe('NoFailover');
    // The local bus delivers on a later turn, as EventBridge would.
    const blocked = (await until('ShardFailoverBlocked', () => eventsOf('ShardFailoverBlocked').at(-1), 5_000)).event.detail;
    expect(blocked).toMatchObject({ blockedBy: 'anti-flap', node: '--c' });
    expect((await route()).writer?.port).toBe(shard.nodes[2]!.port);
  });
});
