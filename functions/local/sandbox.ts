import { join, resolve } from 'node:path';
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
import { startReplicatedShard, type ReplicatedShard } from './replicated-shard';

export const SANDBOX_DIR = resolve('.sandbox');
export const SANDBOX_STATE_FILE = join(SANDBOX_DIR, 'sandbox.json');
export const DEFAULT_DATABASE_PREFIX = 'sk_';
const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306';
const PRIVATE_MYSQL_PORT = 3307;

export interface SandboxOptions {
  port: number;
  shards: number;
  players: number;
  mysqlUrl?: string;
  reset: boolean;
  /** Prefix of the catalog (`<prefix>catalog`) and shard databases; default `sk_`. */
  databasePrefix?: string;
  /** Replicas per shard: > 0 runs every shard as its own primary + replicas (private servers, GTID replication). */
  replicas?: number;
  /** First port of the replicated shards; each shard takes 20. */
  replicaBasePort?: number;
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
async function findMysql(explicitUrl: string | undefined, log: (line: string) => void): Promise<{ url: string; privateServer?: PrivateMysqld }> {
  if (explicitUrl) {
    if (!(await reachable(explicitUrl))) throw new AppError(`cannot connect to MySQL at ${new URL(explicitUrl).host} (from MYSQL_URL / --mysql-url)`);
    return { url: explicitUrl };
  }
  if (await reachable(DEFAULT_MYSQL_URL)) return { url: DEFAULT_MYSQL_URL };
  const binaries = findServerBinaries();
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
  const { url: mysqlUrl, privateServer } = await findMysql(options.mysqlUrl, log);
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

    const cache = new ShardMapCache({ catalog, clock: systemClock, revalidateMs: 1000, onRevalidateError: (error) => log(`catalog unreachable, serving the last good map: ${String(error)}`) });
    const api = new LookupApi(cache, (error) => log(`lookup error: ${String(error)}`));
    await cache.current();
    const server = await startLocalHttpServer({ handle: (request) => api.handle(request), port: options.port, maxBodyBytes: MAX_BODY_BYTES });

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
      async stop() {
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
    '',
    'Try:',
    `  curl -s ${url}/v1/route/12345`,
    `  curl -s -X POST -H 'content-type: application/json' -d '{"keys":["1","2","3","18446744073709551615"]}' ${url}/v1/route`,
    `  curl -si ${url}/v1/shard-map`,
    '  npx shardkeeper route 12345',
    '  npx shardkeeper map show',
    '  npx shardkeeper map split 40-80',
    '  npx shardkeeper analyze --preset chapter --strategy all --shards 8',
    '',
    'Ctrl-C stops the sandbox.',
  ].join('\n');
}
