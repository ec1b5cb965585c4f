import { join } from 'node:path';
import { SANDBOX_DIR } from './sandbox-paths';
import { SANDBOX_ARCHIVE_BUCKET, SANDBOX_BACKUP_BUCKET, SANDBOX_S3_DIR, startLocalS3 } from './local-s3';
import { gameLogsDdl, seedGameLogs } from './game-logs';
import mysql, { type Pool } from 'mysql2/promise';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import { bootstrapCatalog } from '../catalog/bootstrap';
import { demoShardMap } from '../core/population';
import type { Shard, ShardMap, ShardMapDraft } from '../core/shard-map-types';
import { commitShardMapChange } from '../catalog/shard-map-changes';
import { LookupApi, MAX_BODY_BYTES } from '../lookup/lookup-api';
import { ShardMapCache } from '../lookup/shard-map-cache';
import { systemClock } from '../ports/clock';
import { AppError, ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';
import { startLocalHttpServer, type LocalHttpServer } from './http-server';
import { findServerBinaries, INSTALL_HINT, startPrivateMysqld, type PrivateMysqld } from './private-mysqld';
import { dropSandboxDatabases, provisionShardDatabases, seedPlayers } from './demo-fleet';
import { localRecoveryDeps } from './local-recovery-deps';
import { startReplicatedShard, type ReplicatedShard } from './replicated-shard';
import { LocalEventBus } from '../adapters/local-event-bus';
import { createMysqlProber } from '../adapters/mysql-prober';
import { SqlHealthStore } from '../adapters/sql-health-store';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { HealthMonitor } from '../health/monitor';
import type { AppEvent } from '../ports/event-publisher';
import { urlCredentials } from '../ports/node-credentials';
import { failedPrimaries } from '../ports/recovery-store';
import type { SqlExecutor } from '../ports/sql';
import type { RecoveryDefinitions } from '../recovery/local-workflows';
import { ShardNodeDown, ShardNodeRecovered, ShardPrimaryDown } from '../shared/events';

export { SANDBOX_DIR, SANDBOX_STATE_FILE } from './sandbox-paths';
export const DEFAULT_DATABASE_PREFIX = 'sk_';
const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306';
const PRIVATE_MYSQL_PORT = 3307;

export interface SandboxOptions {
  port: number;
  shards: number;
  players: number;
  mysqlUrl?: string;
  /** PATH to search for server binaries after the standard folders (the CLI passes its own). */
  searchPath?: string;
  reset: boolean;
  /** Prefix of the catalog (`<prefix>catalog`) and shard databases; default `sk_`. */
  databasePrefix?: string;
  /** Replicas per shard: > 0 runs every shard as its own primary + replicas (private servers, GTID replication). */
  replicas?: number;
  /** First port of the replicated shards; each shard takes 20. */
  replicaBasePort?: number;
  /** game_logs rows seeded into each shard (the chapter's table), spread over the last 9 months. */
  gameLogsPerShard?: number;
  /** Health probe interval; the monitor runs for as long as the sandbox. */
  probeIntervalMs?: number;
  log: (line: string) => void;
}

export interface Sandbox {
  mysqlUrl: string;
  catalogUrl: string;
  server: LocalHttpServer;
  map: ShardMap;
  privateServer: PrivateMysqld | undefined;
  /** The replicated shards (with `replicas` > 0), in map order. */
  replicatedShards: ReplicatedShard[];
  /** Where replicated shards keep their data directories (`<dir>/<node id>`). */
  replicatedDir: string;
  /** The in-process event bus: health transitions land here, recovery workflows subscribe. */
  bus: LocalEventBus;
  /** The local S3 holding backups and archives (buckets shardkeeper-backups, shardkeeper-archive). */
  s3Endpoint: string;
  stop(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({ uri: url, connectTimeout: 2000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** MYSQL_URL, else root@127.0.0.1:3306, else a private server from the machine's binaries. */
async function findMysql(explicitUrl: string | undefined, searchPath: string | undefined, log: (line: string) => void): Promise<{ url: string; privateServer?: PrivateMysqld }> {
  if (explicitUrl) {
    if (!(await reachable(explicitUrl))) throw new AppError(`cannot connect to MySQL at ${new URL(explicitUrl).host} (from MYSQL_URL / --mysql-url)`);
    return { url: explicitUrl };
  }
  if (await reachable(DEFAULT_MYSQL_URL)) return { url: DEFAULT_MYSQL_URL };
  const binaries = findServerBinaries(searchPath);
  if (!binaries) throw new AppError(INSTALL_HINT);
  log(`no MySQL on 127.0.0.1:3306; starting a private ${binaries.flavor} server on port ${PRIVATE_MYSQL_PORT} in ${join(SANDBOX_DIR, 'mysql')}`);
  const privateServer = await startPrivateMysqld({ datadir: join(SANDBOX_DIR, 'mysql'), port: PRIVATE_MYSQL_PORT, binaries });
  return { url: privateServer.url, privateServer };
}

const sameShards = (map: ShardMap, names: string[]) => map.shards.length === names.length && map.shards.every((shard, i) => shard.name === names[i]);
const sameNodes = (map: ShardMap, draft: ShardMapDraft) => JSON.stringify(map.shards.map((shard) => shard.nodes)) === JSON.stringify(draft.shards.map((shard) => shard.nodes));

const REPLICATED_DIR = join(SANDBOX_DIR, 'replicated');
const DEFAULT_REPLICA_BASE_PORT = 4400;

/** Each shard as a primary + replicas of its own, started side by side; all stopped if one fails. */
async function startReplicatedFleet(draft: ShardMapDraft, replicas: number, basePort: number, log: (line: string) => void): Promise<ReplicatedShard[]> {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 8) throw new ValidationError('--replicas must be an integer between 0 and 8');
  log(`starting ${draft.shards.length} replicated shards (1 primary + ${replicas} replicas each, GTID replication) from port ${basePort}`);
  const started = await Promise.allSettled(
    draft.shards.map((shard, index) =>
      startReplicatedShard({ baseDir: REPLICATED_DIR, basePort: basePort + index * 20, shard: shard.name, database: shard.database, replicas }),
    ),
  );
  const shards = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    await Promise.all(shards.map((shard) => shard.stop()));
    throw failed.reason;
  }
  return shards;
}

/**
 * The local sandbox: catalog + demo fleet in MySQL, seeded players, and the lookup API on
 * localhost, all through the same use cases the deployed functions run. Safe to re-run.
 */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  if (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > 256) throw new ValidationError('--shards must be an integer between 1 and 256');
  const { log } = options;
  const { url: mysqlUrl, privateServer } = await findMysql(options.mysqlUrl, options.searchPath, log);
  const endpoint = new URL(mysqlUrl);
  const databasePrefix = options.databasePrefix ?? DEFAULT_DATABASE_PREFIX;
  const catalogDatabase = quoteIdentifier(`${databasePrefix}catalog`, 'catalog database');
  const desired = demoShardMap(options.shards, { host: endpoint.hostname, port: Number(endpoint.port || 3306), databasePrefix });

  const admin: Pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 2, multipleStatements: false });
  let catalogPool: Pool | undefined;
  let replicatedShards: ReplicatedShard[] = [];
  const primaryPools = new Map<string, Pool>();
  try {
    if (options.replicas) {
      replicatedShards = await startReplicatedFleet(desired, options.replicas, options.replicaBasePort ?? DEFAULT_REPLICA_BASE_PORT, log);
      replicatedShards.forEach((replicated, index) => {
        desired.shards[index]!.nodes = [...replicated.nodes];
        primaryPools.set(replicated.shard, mysql.createPool({ uri: replicated.url(0), connectionLimit: 2 }));
      });
    }
    const poolFor = (shard: Shard) => primaryPools.get(shard.name) ?? admin;
    const catalogUrl = withDatabase(mysqlUrl, `${databasePrefix}catalog`);
    if (options.reset) {
      await dropSandboxDatabases(admin, databasePrefix);
      log('reset: dropped the sandbox catalog and shard databases');
    }
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${catalogDatabase} CHARACTER SET utf8mb4`);
    catalogPool = createMysqlPool({ url: catalogUrl, connectionLimit: 4 });
    const catalog = new SqlCatalog(createMysqlExecutor(catalogPool));
    const bootstrapped = await bootstrapCatalog(catalog, desired);
    const { seeded } = bootstrapped;
    let map = bootstrapped.map;
    if (!map) throw new AppError('the sandbox catalog has no shard map after bootstrap');
    if (!sameShards(map, desired.shards.map((shard) => shard.name))) {
      throw new ValidationError(
        `the sandbox catalog already holds a ${map.shards.length}-shard map (version ${map.version}); ` +
          `run with --shards ${map.shards.length}, or add --reset to rebuild it with ${options.shards} shards`,
      );
    }
    if (!sameNodes(map, desired)) {
      map = await commitShardMapChange(catalog, { ...map, shards: desired.shards }, map.version, 'sandbox: fleet endpoints changed');
    }
    log(`catalog ${databasePrefix}catalog: shard map version ${map.version} with ${map.shards.length} shards${seeded ? ' (created)' : ''}`);

    await provisionShardDatabases(poolFor, map);
    const seed = await seedPlayers(poolFor, map, options.players);
    log(`players: ${options.players} across ${map.shards.length} shards (${seed.inserted} inserted now)`);
    const logs = await seedSandboxGameLogs(poolFor, map, options.gameLogsPerShard ?? DEFAULT_GAME_LOGS_PER_SHARD, Math.max(1, options.players));
    log(`game_logs: ${logs.perShard} rows per shard over the last ${GAME_LOG_MONTHS} months (${logs.inserted} inserted now)`);

    const cache = new ShardMapCache({ catalog, clock: systemClock, revalidateMs: 1000, onRevalidateError: (error) => log(`catalog unreachable, serving the last good map: ${String(error)}`) });
    const api = new LookupApi(cache, (error) => log(`lookup error: ${String(error)}`));
    await cache.current();
    const server = await startLocalHttpServer({ handle: (request) => api.handle(request), port: options.port, maxBodyBytes: MAX_BODY_BYTES });
    const s3 = await startLocalS3({ directory: SANDBOX_S3_DIR, buckets: [SANDBOX_BACKUP_BUCKET, SANDBOX_ARCHIVE_BUCKET] });
    const monitoring = startHealthAndRecovery(
      catalog,
      createMysqlExecutor(catalogPool),
      endpoint,
      { intervalMs: options.probeIntervalMs ?? 1000, recovery: replicatedShards.length > 0 },
      log,
    );

    const pool = catalogPool;
    await admin.end();
    await Promise.all([...primaryPools.values()].map((primary) => primary.end()));
    return {
      mysqlUrl,
      catalogUrl,
      server,
      map,
      privateServer,
      replicatedShards,
      replicatedDir: REPLICATED_DIR,
      bus: monitoring.bus,
      s3Endpoint: s3.endpoint,
      async stop() {
        await monitoring.stop();
        await s3.stop();
        await server.close();
        await pool.end();
        await Promise.all(replicatedShards.map((replicated) => replicated.stop()));
        await privateServer?.stop();
      },
    };
  } catch (error) {
    await admin.end().catch(() => {});
    await catalogPool?.end().catch(() => {});
    await Promise.all([...primaryPools.values()].map((primary) => primary.end().catch(() => {})));
    await Promise.all(replicatedShards.map((replicated) => replicated.stop()));
    await privateServer?.stop();
    throw error;
  }
}

const DEFAULT_GAME_LOGS_PER_SHARD = 20_000;
const GAME_LOG_MONTHS = 9;

/** Months of game logs in every shard, so the archiver has old rows to move; only into empty tables. */
async function seedSandboxGameLogs(poolFor: (shard: Shard) => Pool, map: ShardMap, perShard: number, players: number) {
  const now = Date.now();
  let inserted = 0;
  for (const shard of map.shards) {
    const pool = poolFor(shard);
    await pool.query(gameLogsDdl(shard.database, 'game_logs'));
    const [[existing]] = (await pool.query(`SELECT EXISTS (SELECT 1 FROM ${quoteIdentifier(shard.database)}.game_logs) AS seeded`)) as unknown as [[{ seeded: number }]];
    if (Number(existing.seeded) === 1 || perShard === 0) continue;
    inserted += await seedGameLogs(pool, shard.database, 'game_logs', { from: now - GAME_LOG_MONTHS * 30 * 86_400_000, to: now, rows: perShard, players });
  }
  return { perShard, inserted };
}

function describeEvent(event: AppEvent): string {
  const detail = event.detail as { shard?: string; node?: string; reason?: string };
  return `${event.detailType}: shard ${detail.shard ?? '-'}${detail.node ? ` node ${detail.node}` : ''}${detail.reason ? ` — ${detail.reason}` : ''}`;
}

/**
 * Health checks on a timer, as the scheduled monitor runs them in AWS; transitions go to the local
 * bus and the log. With replicated shards the bus also starts the recovery workflows, the state
 * machines synthesized from the CDK app and run by the local interpreter, as the EventBridge rules do.
 */
function startHealthAndRecovery(catalog: SqlCatalog, executor: SqlExecutor, mysqlEndpoint: URL, options: { intervalMs: number; recovery: boolean }, log: (line: string) => void) {
  const bus = new LocalEventBus({ onHandlerError: (error, event) => log(`event handler for ${event.detailType} failed: ${String(error)}`) });
  bus.subscribe('*', (event) => log(`event ${describeEvent(event)}`));
  const credentials = urlCredentials(mysqlEndpoint);
  const prober = createMysqlProber({ credentials, tls: 'off' });
  const workflows = new Set<Promise<unknown>>();
  if (options.recovery) {
    const deps = localRecoveryDeps({ catalog, executor, prober, credentials, events: bus });
    let definitions: Promise<RecoveryDefinitions> | undefined;
    const start = (pick: (all: RecoveryDefinitions) => RecoveryDefinitions[keyof RecoveryDefinitions], event: AppEvent) => {
      // Synthesizing the app takes seconds, so it happens at the first recovery, once.
      definitions ??= import('../recovery/local-workflows').then((module) => module.synthesizeRecoveryDefinitions());
      const detail = event.detail as Record<string, unknown>;
      const run = definitions
        .then(async (all) => {
          const { runLocalWorkflow } = await import('../recovery/local-workflows');
          return runLocalWorkflow(pick(all), deps, { 'detail-type': event.detailType, source: event.source, detail }, { executionName: `sandbox-${String(detail.shard)}-${Date.now()}` });
        })
        .then((result) => log(`workflow for ${event.detailType} ${result.status}: ${result.states.join(' > ')}${result.error ? ` (${result.error.name}: ${result.error.message})` : ''}`))
        .catch((error: unknown) => log(`workflow for ${event.detailType} could not run: ${String(error)}`))
        .finally(() => workflows.delete(run));
      workflows.add(run);
    };
    bus.subscribe(ShardPrimaryDown, (event) => start((all) => all.failover, event));
    bus.subscribe(ShardNodeDown, (event) => {
      if ((event.detail as { role?: string }).role === 'replica') start((all) => all.replica, event);
    });
    bus.subscribe(ShardNodeRecovered, (event) => start((all) => all.replica, event));
  }
  const monitor = new HealthMonitor(
    {
      catalog,
      prober,
      store: new SqlHealthStore(executor),
      publisher: bus,
      formerPrimaries: () => failedPrimaries(new SqlRecoveryStore(executor)),
      clock: systemClock,
      onError: (error, context) => log(`health monitor: ${context}: ${String(error)}`),
    },
    { ownerId: `sandbox-${process.pid}` },
  );
  const abort = new AbortController();
  const running = monitor.run({ until: Number.POSITIVE_INFINITY, intervalMs: options.intervalMs, signal: abort.signal });
  return {
    bus,
    async stop() {
      abort.abort();
      await running.catch((error: unknown) => log(`health monitor stopped: ${String(error)}`));
      await Promise.all(workflows);
      await prober.close();
    },
  };
}

export function describeSandbox(sandbox: Sandbox): string {
  const url = sandbox.server.url;
  const masked = new URL(sandbox.catalogUrl);
  masked.password = masked.password ? '****' : '';
  return [
    '',
    'Shardkeeper sandbox is up',
    `  MySQL          ${new URL(sandbox.mysqlUrl).host}${sandbox.privateServer ? ' (private server, stopped on exit)' : ''}`,
    `  catalog        ${masked.toString()}`,
    `  shard map      version ${sandbox.map.version}: ${sandbox.map.shards.map((shard) => `${shard.name} → ${shard.database}`).join(', ')}`,
    ...(sandbox.replicatedShards.length > 0
      ? [`  replication    ${sandbox.replicatedShards.map((shard) => `${shard.shard}: ${shard.nodes.map((node) => `${node.role} :${node.port}`).join(', ')}`).join('; ')}`]
      : []),
    `  lookup API     ${url}`,
    `  local S3       ${sandbox.s3Endpoint} (buckets ${SANDBOX_BACKUP_BUCKET}, ${SANDBOX_ARCHIVE_BUCKET}; files in ${SANDBOX_S3_DIR})`,
    `  health         every node probed every second; transitions are printed as events${sandbox.replicatedShards.length > 0 ? '; primary and replica failures start the recovery workflows' : ''}`,
    '',
    'Try:',
    `  curl -s ${url}/v1/route/12345`,
    `  curl -s -X POST -H 'content-type: application/json' -d '{"keys":["1","2","3","18446744073709551615"]}' ${url}/v1/route`,
    `  curl -si ${url}/v1/shard-map`,
    '  npx shardkeeper route 12345',
    '  npx shardkeeper map show',
    '  npx shardkeeper map split 40-80',
    '  npx shardkeeper analyze --preset chapter --strategy all --shards 8',
    '  npx shardkeeper health',
    '  npx shardkeeper backup run && npx shardkeeper backup list',
    '  npx shardkeeper archive plan',
    '',
    'Ctrl-C stops the sandbox.',
  ].join('\n');
}
