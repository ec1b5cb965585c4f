/**
 * `npm run bench:archive`: archives the old rows of a 1M-row game_logs table to a local S3 (exactly
 * once: zstd JSON lines, verified objects, catalog manifest, checked deletes) and, in the same run,
 * `pt-archiver --limit 10000 --bulk-delete --commit-each --file …` on an identical table. Reports
 * rows/s of both and their ratio (target ≥ 1.5×), the compression ratio and the archiver's peak RSS
 * (target ≤ 256 MB), measured in a child process running the esbuild bundle, as deployed, so
 * neither the local S3 server nor the TypeScript loader is counted. A third identical table is
 * emptied by bare DELETEs over primary-key spans (pt-archiver's own delete, without its reads):
 * the server's own delete rate, which caps any archiver's. Each row also reports the CPU the
 * database server spent in it, when the server runs on this machine.
 * MYSQL_URL (default mysql://root@127.0.0.1:3306) names the server; BENCH_CPU_PROF=<dir> writes a
 * CPU profile of the archiver process there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../functions/adapters/catalog-migrations';
import { createArchivePool, createMysqlArchiveSource } from '../../functions/adapters/mysql-archive-source';
import { createMysqlExecutor, createMysqlPool } from '../../functions/adapters/mysql-executor';
import { createS3ObjectStore } from '../../functions/adapters/s3-object-store';
import { SqlArchiveStore } from '../../functions/adapters/sql-archive-store';
import { parseArchiveSettings } from '../../functions/archive/archive-config';
import { runArchiveSlice } from '../../functions/archive/archive-slice';
import { archiveCutoff, sqlDateTime } from '../../functions/core/archive-batch';
import { systemClock } from '../../functions/ports/clock';
import { quoteIdentifier } from '../../functions/shared/identifiers';
import { S3Client } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { report } from './report';

const MYSQL_URL = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');
const MYSQL = { host: MYSQL_URL.hostname, port: Number(MYSQL_URL.port || 3306), user: decodeURIComponent(MYSQL_URL.username || 'root'), password: decodeURIComponent(MYSQL_URL.password) };
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH = 10_000;
const DAY_MS = 86_400_000;
const NOW = Date.UTC(2024, 6, 1, 12);
const RETENTION_DAYS = 10;
/** 40 days of logs, 10 kept: three quarters of the rows are old. */
const SPAN_DAYS = 40;
const BUCKET = 'bench-archive';

interface WorkerResult {
  rows: number;
  batches: number;
  bytes: number;
  rawBytes: number;
  elapsedMs: number;
  maxRssMb: number;
  cpuSeconds: number;
}

/** The archiver in its own process, so its peak RSS is its own. */
async function worker(args: { database: string; catalog: string; endpoint: string }): Promise<void> {
  const catalogPool = createMysqlPool({ ...MYSQL, database: args.catalog });
  const shardPool = createArchivePool({ ...MYSQL, database: args.database });
  const store = new SqlArchiveStore(createMysqlExecutor(catalogPool));
  const client = new S3Client({ endpoint: args.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const [config] = parseArchiveSettings([{ table: 'game_logs', timeColumn: 'created_at', retentionDays: RETENTION_DAYS, batchSize: BATCH }], 'bench').tables;
  const request = { table: 'game_logs', shard: '-', runId: 'bench', cutoff: archiveCutoff(NOW, RETENTION_DAYS) };
  const started = performance.now();
  let batches = 0;
  for (;;) {
    const result = await runArchiveSlice(
      config!,
      request,
      {
        store,
        objects: createS3ObjectStore({ client, bucket: BUCKET }),
        source: createMysqlArchiveSource(shardPool, args.database),
        events: { publish: async () => {} },
        clock: systemClock,
        sleep: async () => {},
      },
      { deadline: systemClock.now() + 60_000 },
    );
    batches += result.batches;
    if (result.status === 'done') break;
    if (result.status !== 'more') throw new Error(`unexpected slice status ${result.status}: ${result.reason}`);
  }
  const elapsedMs = performance.now() - started;
  const run = (await store.run('game_logs', '-', 'bench'))!;
  const usage = process.resourceUsage();
  const output: WorkerResult = { rows: run.rows, batches, bytes: run.bytes, rawBytes: run.rawBytes, elapsedMs, maxRssMb: usage.maxRSS / 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 };
  process.stdout.write(`${JSON.stringify(output)}\n`);
  client.destroy();
  await Promise.all([catalogPool.end(), shardPool.end()]);
}

/**
 * Runs the archiver bundled by esbuild, as the deployed function runs it (no TypeScript loader in
 * the process), so its peak RSS is the archiver's own.
 */
async function runWorker(args: { database: string; catalog: string; endpoint: string }, directory: string): Promise<WorkerResult> {
  const bundle = join(directory, 'archiver.mjs');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: bundle,
    logLevel: 'error',
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  });
  return new Promise((resolve, reject) => {
    // The young generation capped as in the deployed function (cdk/constructs/log-archiver.ts).
    const child = spawn(process.execPath, ['--max-semi-space-size=4', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CPU_PROF] : []), bundle, '--worker', JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as WorkerResult) : reject(new Error(`archiver process exited with ${code}`))));
  });
}

/** CPU seconds the database server has used so far, when it runs on this machine (its pid file is readable); else null. */
async function serverCpuReader(admin: ReturnType<typeof createMysqlPool>): Promise<() => number | null> {
  const [[row]] = (await admin.query('SELECT @@pid_file AS file')) as unknown as [[{ file: string }]];
  const stat = (() => {
    try {
      return `/proc/${readFileSync(row.file, 'utf8').trim()}/stat`;
    } catch {
      return undefined;
    }
  })();
  return () => {
    if (!stat) return null;
    // utime and stime, in clock ticks (100 per second on Linux), follow the parenthesised command name.
    const fields = readFileSync(stat, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
}

/** CPU seconds used by this process's finished children (cutime + cstime). */
function childrenCpu(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Runs `work`, timing it and the server CPU it cost. */
async function measured<T>(serverCpu: () => number | null, work: () => Promise<T> | T): Promise<{ result: T; ms: number; serverCpu: number | null }> {
  const cpuBefore = serverCpu();
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  const cpuAfter = serverCpu();
  return { result, ms, serverCpu: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore };
}

/**
 * Gives every run the same start: InnoDB has purged earlier deletes (up to two minutes), the
 * bench tables' dirty pages are written out (FLUSH … FOR EXPORT), and the table to archive has just
 * been read, so it holds as much of the buffer pool as it can.
 */
async function settle(admin: ReturnType<typeof createMysqlPool>, database: string, databases: readonly string[]): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 1000))) {
    const [[status]] = (await admin.query('SHOW ENGINE INNODB STATUS')) as unknown as [[{ Status: string }]];
    if (Number(/History list length (\d+)/.exec(status.Status)?.[1] ?? 0) < 5_000) break;
  }
  const connection = await admin.getConnection();
  try {
    await connection.query(`FLUSH TABLES ${databases.map((name) => `${quoteIdentifier(name)}.game_logs`).join(', ')} FOR EXPORT`);
    await connection.query('UNLOCK TABLES');
  } finally {
    connection.release();
  }
  const table = `${quoteIdentifier(database)}.game_logs`;
  for (const index of ['PRIMARY', 'idx_created', 'idx_player_time', 'idx_action_time']) {
    await admin.query(`SELECT COUNT(*) FROM ${table} FORCE INDEX (${quoteIdentifier(index)})`);
  }
  await admin.query(`SELECT COUNT(*) FROM ${table} FORCE INDEX (idx_created) WHERE created_at < '2100-01-01' AND LENGTH(action_data) >= 0`);
}

/** How many cores each run kept busy on average, and on what: the runs share this machine's cores with the server. */
function coresBusy(cores: number, runs: Array<[string, number, Record<string, number | null>]>): string {
  const described = runs.map(([name, ms, parts]) => {
    if (Object.values(parts).some((seconds) => seconds === null)) return `${name} n/a (server CPU not readable)`;
    const total = Object.values(parts).reduce<number>((sum, seconds) => sum + seconds!, 0);
    const detail = Object.entries(parts).map(([part, seconds]) => `${part} ${seconds!.toFixed(1)}`).join(' + ');
    return `${name} ${((total * 1000) / ms).toFixed(2)} (${detail} CPU s over ${(ms / 1000).toFixed(1)} s)`;
  });
  return `${described.join(', ')}; the machine has ${cores}`;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(JSON.parse(process.argv[3]!) as { database: string; catalog: string; endpoint: string });

  if (spawnSync('pt-archiver', ['--version']).status !== 0) {
    console.error('pt-archiver (Percona Toolkit) is needed as the peer of this benchmark: sudo apt-get install -y percona-toolkit');
    process.exit(1);
  }
  const suffix = Math.random().toString(16).slice(2, 10);
  const database = `sk_bench_archive_${suffix}`;
  const peerDatabase = `sk_bench_ptarchiver_${suffix}`;
  const floorDatabase = `sk_bench_floor_${suffix}`;
  const catalog = `sk_bench_catalog_${suffix}`;
  // Loaded here only, so the bundled archiver process never evaluates the local S3 server or the seeding code.
  const { startLocalS3 } = await import('../../functions/local/local-s3');
  const { createGameLogsTable, seedGameLogs } = await import('../../functions/local/game-logs');
  const admin = createMysqlPool({ ...MYSQL, connectionLimit: 2 });
  const directory = mkdtempSync(join(tmpdir(), 'sk-bench-archive-'));
  const s3 = await startLocalS3({ directory: join(directory, 's3'), buckets: [BUCKET] });
  try {
    for (const name of [database, peerDatabase, floorDatabase, catalog]) await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    const catalogPool = createMysqlPool({ ...MYSQL, database: catalog, connectionLimit: 1 });
    await migrate(createMysqlExecutor(catalogPool));
    await catalogPool.end();
    const cutoff = archiveCutoff(NOW, RETENTION_DAYS);
    const from = cutoff - (SPAN_DAYS - RETENTION_DAYS) * DAY_MS;
    console.log(`seeding ${ROWS.toLocaleString('en-US')} game_logs rows over ${SPAN_DAYS} days (twice: ours and pt-archiver's)...`);
    await createGameLogsTable(admin, database);
    await seedGameLogs(admin, database, 'game_logs', { from, to: from + SPAN_DAYS * DAY_MS, rows: ROWS });
    await admin.query(`CREATE TABLE ${quoteIdentifier(peerDatabase)}.game_logs LIKE ${quoteIdentifier(database)}.game_logs`);
    await admin.query(`INSERT INTO ${quoteIdentifier(peerDatabase)}.game_logs SELECT * FROM ${quoteIdentifier(database)}.game_logs`);
    await admin.query(`CREATE TABLE ${quoteIdentifier(floorDatabase)}.game_logs LIKE ${quoteIdentifier(database)}.game_logs`);
    await admin.query(`INSERT INTO ${quoteIdentifier(floorDatabase)}.game_logs SELECT * FROM ${quoteIdentifier(database)}.game_logs`);
    const shardDatabases = [database, peerDatabase, floorDatabase];
    const [[eligible]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(database)}.game_logs WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ n: number }]];
    console.log(`${Number(eligible.n).toLocaleString('en-US')} rows are older than ${sqlDateTime(cutoff)}`);

    const serverCpu = await serverCpuReader(admin);
    await settle(admin, database, shardDatabases);
    // The local S3 server runs in this process: its CPU is what this process uses meanwhile.
    const benchCpuBefore = process.cpuUsage();
    const oursRun = await measured(serverCpu, () => runWorker({ database, catalog, endpoint: s3.endpoint }, directory));
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const localS3Cpu = (benchCpu.user + benchCpu.system) / 1e6;
    const ours = oursRun.result;
    await settle(admin, peerDatabase, shardDatabases);

    const outFile = join(directory, 'pt-archiver.txt');
    const ptCpuBefore = childrenCpu();
    const ptRun = await measured(serverCpu, () => spawnSync(
      'pt-archiver',
      [
        '--source',
        `h=${MYSQL.host},P=${MYSQL.port},u=${MYSQL.user}${MYSQL.password ? `,p=${MYSQL.password}` : ''},D=${peerDatabase},t=game_logs`,
        '--where',
        `created_at < '${sqlDateTime(cutoff)}'`,
        '--limit',
        String(BATCH),
        '--bulk-delete',
        '--commit-each',
        '--file',
        outFile,
        '--no-check-charset',
      ],
      { encoding: 'utf8' },
    ));
    const pt = ptRun.result;
    const ptCpu = childrenCpu() - ptCpuBefore;
    const ptMs = ptRun.ms;
    if (pt.status !== 0) throw new Error(`pt-archiver failed (${pt.status}): ${pt.stderr || pt.stdout}`);
    const [[left]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(peerDatabase)}.game_logs WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ n: number }]];
    const [[oursLeft]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(database)}.game_logs WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ n: number }]];
    const ptRows = Number(eligible.n) - Number(left.n);
    const objects = readdirSync(join(directory, 's3', BUCKET), { recursive: true }).length;

    // What the server alone needs to delete the same rows, nothing read or written: no archiver can be
    // faster. Spans of BATCH keys through the primary key are the cheapest delete there is (log_id is dense).
    const floorTable = `${quoteIdentifier(floorDatabase)}.game_logs`;
    const [[keys]] = (await admin.query(`SELECT MIN(log_id) AS low, MAX(log_id) AS high FROM ${floorTable} WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ low: number; high: number }]];
    await settle(admin, floorDatabase, shardDatabases);
    const floorRun = await measured(serverCpu, async () => {
      let deleted = 0;
      for (let low = Number(keys.low); low <= Number(keys.high); low += BATCH) {
        const [result] = (await admin.query(`DELETE FROM ${floorTable} WHERE log_id BETWEEN ${low} AND ${low + BATCH - 1} AND created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [{ affectedRows: number }];
        deleted += result.affectedRows;
      }
      return deleted;
    });
    const floorRows = floorRun.result;
    const floorMs = floorRun.ms;

    const oursRate = (ours.rows * 1000) / ours.elapsedMs;
    const ptRate = (ptRows * 1000) / ptMs;
    report(
      'archive',
      [
        { archiver: 'shardkeeper (zstd JSON lines → local S3, verified, manifest, checked deletes)', rows: ours.rows, seconds: ours.elapsedMs / 1000, 'rows/s': oursRate, 'left on shard': Number(oursLeft.n), 'output MB': ours.bytes / 1_048_576, 'peak RSS MB': ours.maxRssMb, 'server CPU s': oursRun.serverCpu, 'archiver CPU s': ours.cpuSeconds },
        { archiver: 'pt-archiver --limit 10000 --bulk-delete --commit-each --file', rows: ptRows, seconds: ptMs / 1000, 'rows/s': ptRate, 'left on shard': Number(left.n), 'output MB': statSync(outFile).size / 1_048_576, 'peak RSS MB': null, 'server CPU s': ptRun.serverCpu, 'archiver CPU s': ptCpu },
        { archiver: 'server floor: DELETE of 10000-key spans until none left, nothing archived', rows: floorRows, seconds: floorMs / 1000, 'rows/s': (floorRows * 1000) / floorMs, 'left on shard': 0, 'output MB': null, 'peak RSS MB': null, 'server CPU s': floorRun.serverCpu, 'archiver CPU s': null },
      ],
      {
        ratio: `${(oursRate / ptRate).toFixed(2)}× pt-archiver (target ≥ 1.5×)`,
        ceiling: `${((floorRows * 1000) / floorMs / ptRate).toFixed(2)}× pt-archiver: the server's own delete rate; shardkeeper reaches ${((100 * oursRate * floorMs) / (floorRows * 1000)).toFixed(0)} % of it`,
        compression: `${(ours.rawBytes / ours.bytes).toFixed(2)}× (${(ours.rawBytes / 1_048_576).toFixed(1)} MB of JSON lines → ${(ours.bytes / 1_048_576).toFixed(1)} MB zstd in ${ours.batches} batches, ${objects} files in the local S3)`,
        peakRss: `${ours.maxRssMb.toFixed(0)} MB (target ≤ 256 MB)`,
        coresBusy: coresBusy(cpus().length, [
          ['shardkeeper', ours.elapsedMs, { server: oursRun.serverCpu, archiver: ours.cpuSeconds, 'local S3': localS3Cpu }],
          ['pt-archiver', ptMs, { server: ptRun.serverCpu, archiver: ptCpu }],
          ['server floor', floorMs, { server: floorRun.serverCpu }],
        ]),
        table: `${ROWS} rows over ${SPAN_DAYS} days, ${RETENTION_DAYS} days kept, batches of ${BATCH}`,
      },
    );
  } finally {
    for (const name of [database, peerDatabase, floorDatabase, catalog]) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    await admin.end();
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
