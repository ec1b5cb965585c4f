/**
 * bench:lookup — the local lookup endpoint under load.
 * A child process serves the lookup API (mysql2 catalog in MariaDB, 16-shard map); this process
 * drives it with autocannon: single-key routes, 100-key batches, and shard-map revalidations.
 * Also reports the minified size of the lookup function bundle (as deployed, and with the AWS SDK inside).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { build } from 'esbuild';
import mysql from 'mysql2/promise';
import { createMysqlExecutor, createMysqlPool } from '../../functions/adapters/mysql-executor';
import { SqlCatalog } from '../../functions/adapters/sql-catalog';
import { bootstrapCatalog } from '../../functions/catalog/bootstrap';
import { demoShardMap, randomUint64Keys } from '../../functions/core/population';
import { LookupApi, MAX_BODY_BYTES } from '../../functions/lookup/lookup-api';
import { ShardMapCache } from '../../functions/lookup/shard-map-cache';
import { startLocalHttpServer } from '../../functions/local/http-server';
import { withDatabase } from '../../functions/local/sandbox';
import { systemClock } from '../../functions/ports/clock';
import { report } from './report';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const DATABASE = 'sk_bench_lookup';
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = 32;

async function serve(): Promise<void> {
  const pool = createMysqlPool({ url: withDatabase(MYSQL_URL, DATABASE), connectionLimit: 4 });
  const cache = new ShardMapCache({ catalog: new SqlCatalog(createMysqlExecutor(pool)), clock: systemClock, revalidateMs: 1000 });
  await cache.current();
  const api = new LookupApi(cache);
  const server = await startLocalHttpServer({ handle: (request) => api.handle(request), port: 0, maxBodyBytes: MAX_BODY_BYTES });
  process.send?.({ url: server.url });
  process.once('disconnect', () => void server.close().then(() => pool.end()));
}

async function prepareCatalog(): Promise<void> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const pool = createMysqlPool({ url: withDatabase(MYSQL_URL, DATABASE), connectionLimit: 2 });
  await bootstrapCatalog(new SqlCatalog(createMysqlExecutor(pool)), demoShardMap(16));
  await pool.end();
}

async function load(url: string, title: string, requests: autocannon.Request[]): Promise<Record<string, string | number>> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, requests, title });
  // 304 is the expected answer to a revalidation, so only 4xx/5xx count as errors.
  const failedStatuses = Object.entries(result.statusCodeStats ?? {})
    .filter(([status]) => Number(status) >= 400)
    .reduce((sum, [, stats]) => sum + (stats as { count: number }).count, 0);
  return {
    scenario: title,
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    'max ms': result.latency.max,
    errors: result.errors + result.timeouts + failedStatuses,
    requests: result.requests.total,
  };
}

/** The lookup function's bundle as deployed (runtime-provided AWS SDK), or with the SDK inside. */
async function lookupBundleBytes(awsSdk: 'runtime' | 'bundled'): Promise<number> {
  const output = await build({
    entryPoints: [fileURLToPath(new URL('../../functions/lookup/handler.ts', import.meta.url))],
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    external: awsSdk === 'runtime' ? ['@aws-sdk/*'] : [],
    write: false,
    logLevel: 'silent',
  });
  return output.outputFiles[0]!.contents.byteLength;
}

async function main(): Promise<void> {
  await prepareCatalog();
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx'] });
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { url: string }));
    child.once('exit', (code) => reject(new Error(`lookup server exited with ${code}`)));
  });
  const keys = randomUint64Keys(100_000, 7);
  let next = 0;
  const nextKey = () => keys[next++ % keys.length]!;
  try {
    const rows = [
      await load(url, 'GET /v1/route/{key}', [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/v1/route/${nextKey()}` }) }]),
      await load(url, 'POST /v1/route (100 keys)', [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, path: '/v1/route', body: JSON.stringify({ keys: Array.from({ length: 100 }, nextKey) }) }),
        },
      ]),
      await load(url, 'GET /v1/shard-map (If-None-Match)', [{ method: 'GET', path: '/v1/shard-map', headers: { 'if-none-match': '"1"' } }]),
    ];
    const bundleBytes = await lookupBundleBytes('runtime');
    const withSdkBytes = await lookupBundleBytes('bundled');
    report('lookup', rows, {
      connections: CONNECTIONS,
      durationSeconds: DURATION_S,
      lookupBundleKB: Math.round(bundleBytes / 1024),
      lookupBundleWithAwsSdkKB: Math.round(withSdkBytes / 1024),
      targets: { 'GET req/s': '>= 5000', 'GET p99 ms': '<= 10', errors: 0, 'bundle KB': '<= 400' },
    });
  } finally {
    child.disconnect();
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
    await admin.end();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
