/**
 * npm run bench:backup — a logical backup of a 1M-row game_logs table to a local S3, against
 * `mydumper -t 2 -c` of the same table to disk in the same run (ratio = mydumper time / ours;
 * target ≥ 0.5), with our peak RSS (target ≤ 512 MB); restore throughput (ours, and myloader's)
 * alongside. Our dump and restore run in child processes so their RSS excludes the local S3; their
 * V8 heap is capped at BENCH_HEAP_MB (default 384), as a function with 512 MB of memory would run
 * them — without a cap V8 collects lazily on a large machine and RSS measures garbage, not need.
 * BENCH_ROWS changes the table size, BENCH_ROUNDS the rounds per tool (best of, default 3);
 * BENCH_CPU_PROF=<dir> writes a CPU profile of each dump child there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { createMysqlExecutor, createMysqlPool } from '../../functions/adapters/mysql-executor';
import { createMysqlDumpConnector } from '../../functions/adapters/mysql-dumper';
import { createMysqlRestoreConnector } from '../../functions/adapters/mysql-restorer';
import { createS3ObjectStore } from '../../functions/adapters/s3-object-store';
import { SqlBackupStore } from '../../functions/adapters/sql-backup-store';
import { SqlCatalog } from '../../functions/adapters/sql-catalog';
import { DEFAULT_BACKUP_SETTINGS } from '../../functions/backup/backup-deps';
import { continueLogicalBackup, finishLogicalBackup, startLogicalBackup } from '../../functions/backup/logical-backup';
import { loadManifest, restoreLogicalBackup } from '../../functions/backup/restore-backup';
import { epochId } from '../../functions/core/backup-epoch';
import { localS3Client, startLocalS3 } from '../../functions/local/local-s3';
import { systemClock } from '../../functions/ports/clock';
import { staticCredentials } from '../../functions/ports/node-credentials';
import { report } from './report';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BUCKET = 'sk-bench-backups';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const SELF = fileURLToPath(import.meta.url);
const HEAP_MB = Number(process.env.BENCH_HEAP_MB ?? 384);
/** Rounds of each tool, alternating; the best of each is compared (the machine is shared, so single runs are noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface ChildJob {
  role: 'dump' | 'restore';
  endpoint: string;
  catalog: string;
  database: string;
  backupId?: string;
  target?: string;
}

const node = () => {
  const url = new URL(MYSQL_URL);
  return { id: 'bench', role: 'primary' as const, host: url.hostname, port: Number(url.port || 3306) };
};
const credentials = () => {
  const url = new URL(MYSQL_URL);
  return staticCredentials(decodeURIComponent(url.username || 'root'), decodeURIComponent(url.password));
};

/** Runs in a child process: one dump or one restore, then prints its timings and peak RSS as JSON. */
async function child(job: ChildJob): Promise<void> {
  const pool = createMysqlPool({ url: `${MYSQL_URL}/${job.catalog}`, connectionLimit: 2 });
  const client = localS3Client(job.endpoint);
  const store = new SqlBackupStore(createMysqlExecutor(pool));
  const objects = createS3ObjectStore({ client, bucket: BUCKET });
  try {
    if (job.role === 'dump') {
      const deps = { store, objects, dumper: createMysqlDumpConnector({ credentials: credentials(), tls: 'off' }), events: { publish: async () => {} }, clock: systemClock, settings: DEFAULT_BACKUP_SETTINGS };
      const started = performance.now();
      const shard = { name: '-80', database: job.database, status: 'serving' as const, kind: 'self-managed' as const, nodes: [node()] };
      const backup = await startLogicalBackup(deps, { epochId: epochId(Date.now(), 1, randomBytes(3).toString('hex')), mapVersion: 1, shard, mode: 'snapshot' });
      while (!(await continueLogicalBackup(deps, backup.backupId, Number.POSITIVE_INFINITY)).done);
      const dumped = performance.now();
      const manifest = await finishLogicalBackup(deps, backup.backupId);
      const finished = performance.now();
      process.stdout.write(
        JSON.stringify({ backupId: backup.backupId, dumpSeconds: (dumped - started) / 1000, verifySeconds: (finished - dumped) / 1000, rows: manifest.totals.rows, bytes: manifest.totals.bytes, chunks: manifest.totals.objects - 1, maxRssMb: process.resourceUsage().maxRSS / 1024 }),
      );
    } else {
      const backup = (await store.backup(job.backupId!))!;
      const manifest = await loadManifest(objects, backup);
      const restorer = createMysqlRestoreConnector({ credentials: credentials(), tls: 'off', target: node() });
      const started = performance.now();
      const loaded = await restoreLogicalBackup({ objects, restorer, clock: systemClock }, { manifest, database: job.target!, verify: false });
      const restored = performance.now();
      const connection = await restorer.connect();
      const { verifyTables } = await import('../../functions/backup/restore-backup');
      const checks = await verifyTables(connection, job.target!, manifest.tables);
      await connection.close();
      const verified = performance.now();
      process.stdout.write(
        JSON.stringify({ ok: loaded.ok && checks.every((check) => check.ok), restoreSeconds: (restored - started) / 1000, verifySeconds: (verified - restored) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024 }),
      );
    }
  } finally {
    client.destroy();
    await pool.end();
  }
}

function runChild<T>(job: ChildJob): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, ...(process.env.BENCH_CPU_PROF && job.role === 'dump' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), '--import', 'tsx', SELF], { env: { ...process.env, SK_BENCH_JOB: JSON.stringify(job) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (piece: Buffer) => (out += piece.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`the ${job.role} child exited with ${code}`))));
  });
}

function timed(command: string, args: string[]): number {
  const started = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
  return (performance.now() - started) / 1000;
}

const directoryBytes = (dir: string) => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);

async function seed(admin: mysql.Connection, database: string): Promise<void> {
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await admin.query(`CREATE TABLE \`${database}\`.game_logs (
    log_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    player_id BIGINT UNSIGNED NOT NULL,
    action_type VARCHAR(32) NOT NULL,
    action_data JSON NULL,
    created_at DATETIME(6) NOT NULL,
    KEY idx_player_time (player_id, created_at),
    KEY idx_action_time (action_type, created_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  // MariaDB's sequence engine generates the rows server-side: a million rows in seconds.
  await admin.query(`INSERT INTO \`${database}\`.game_logs
    SELECT seq, 1 + (seq * 7919) % 100000, ELT(1 + seq % 6, 'login', 'logout', 'battle', 'trade', 'chat', 'quest'),
      JSON_OBJECT('zone', ELT(1 + seq % 5, 'forest', 'desert', 'harbor', 'tundra', 'citadel'), 'gold', seq % 1000, 'crit', seq % 7 = 0, 'note', IF(seq % 11 = 0, 'gg 🐉', NULL)),
      TIMESTAMP('2026-01-01') - INTERVAL (seq % 15552000) SECOND + INTERVAL (seq % 1000000) MICROSECOND
    FROM \`${database}\`.seq_1_to_${ROWS}`);
  await admin.query(`ANALYZE TABLE \`${database}\`.game_logs`);
}

async function main(): Promise<void> {
  const job = process.env.SK_BENCH_JOB;
  if (job) return child(JSON.parse(job) as ChildJob);

  for (const tool of ['mydumper', 'myloader']) {
    if (spawnSync('which', [tool]).status !== 0) {
      process.stderr.write(`${tool} is not installed; the benchmark compares against it in the same run. Install it with: apt-get install -y mydumper\n`);
      process.exitCode = 1;
      return;
    }
  }
  const admin = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: false }).catch((error: Error) => {
    process.stderr.write(`MariaDB/MySQL is not reachable at ${MYSQL_URL} (${error.message}); start it or set MYSQL_URL\n`);
    process.exit(1);
  });
  const suffix = randomBytes(4).toString('hex');
  const database = `sk_bench_backup_${suffix}`;
  const catalog = `sk_bench_catalog_${suffix}`;
  const targets = [`sk_bench_restore_${suffix}`, `sk_bench_myloader_${suffix}`];
  const s3Dir = mkdtempSync(join(tmpdir(), 'sk-bench-s3-'));
  const dumpDirs: string[] = [];
  const s3 = await startLocalS3({ directory: s3Dir, buckets: [BUCKET] });
  try {
    process.stderr.write(`seeding ${ROWS.toLocaleString('en-US')} game_logs rows...\n`);
    await seed(admin, database);
    await admin.query(`CREATE DATABASE \`${catalog}\``);
    const catalogPool = createMysqlPool({ url: `${MYSQL_URL}/${catalog}`, connectionLimit: 1 });
    await new SqlCatalog(createMysqlExecutor(catalogPool)).migrate();
    await catalogPool.end();
    // Warm the buffer pool the same way for both tools.
    await admin.query(`SELECT COUNT(*), SUM(LENGTH(action_data)) FROM \`${database}\`.game_logs`);

    const url = new URL(MYSQL_URL);
    const mydumperArgs = (out: string) => ['-h', url.hostname, '-P', url.port || '3306', '-u', decodeURIComponent(url.username || 'root'), ...(url.password ? ['-p', decodeURIComponent(url.password)] : []), '-B', database, '-T', 'game_logs', '-t', '2', '-c', '-o', out];
    const ours: { backupId: string; dumpSeconds: number; verifySeconds: number; rows: number; bytes: number; chunks: number; maxRssMb: number }[] = [];
    const theirs: { seconds: number; bytes: number; dir: string }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      process.stderr.write(`round ${round + 1}: shardkeeper backup...\n`);
      ours.push(await runChild({ role: 'dump', endpoint: s3.endpoint, catalog, database }));
      process.stderr.write(`round ${round + 1}: mydumper -t 2 -c...\n`);
      const dir = mkdtempSync(join(tmpdir(), 'sk-bench-mydumper-'));
      dumpDirs.push(dir);
      theirs.push({ seconds: timed('mydumper', mydumperArgs(dir)), bytes: directoryBytes(dir), dir });
    }
    const best = ours.reduce((a, b) => (a.dumpSeconds + a.verifySeconds <= b.dumpSeconds + b.verifySeconds ? a : b));
    const bestTheirs = theirs.reduce((a, b) => (a.seconds <= b.seconds ? a : b));

    process.stderr.write('restoring (shardkeeper, then myloader)...\n');
    const restored = await runChild<{ ok: boolean; restoreSeconds: number; verifySeconds: number; maxRssMb: number }>({ role: 'restore', endpoint: s3.endpoint, catalog, database, backupId: best.backupId, target: targets[0] });
    const myloaderSeconds = timed('myloader', ['-h', url.hostname, '-P', url.port || '3306', '-u', decodeURIComponent(url.username || 'root'), ...(url.password ? ['-p', decodeURIComponent(url.password)] : []), '-d', bestTheirs.dir, '-B', targets[1]!, '-t', '2']);

    const ourTotal = best.dumpSeconds + best.verifySeconds;
    const mb = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1));
    report(
      'backup',
      [
        { tool: 'shardkeeper dump → local S3 (gzip 6, checksums)', seconds: Number(best.dumpSeconds.toFixed(2)), rowsPerSecond: Math.round(ROWS / best.dumpSeconds), outputMb: mb(best.bytes), objects: best.chunks, peakRssMb: Math.round(Math.max(...ours.map((run) => run.maxRssMb))) },
        { tool: 'shardkeeper dump + object verification', seconds: Number(ourTotal.toFixed(2)), rowsPerSecond: Math.round(ROWS / ourTotal), outputMb: mb(best.bytes), objects: best.chunks, peakRssMb: null },
        { tool: 'mydumper -t 2 -c → disk', seconds: Number(bestTheirs.seconds.toFixed(2)), rowsPerSecond: Math.round(ROWS / bestTheirs.seconds), outputMb: mb(bestTheirs.bytes), objects: null, peakRssMb: null },
        { tool: 'shardkeeper restore (2 connections)', seconds: Number(restored.restoreSeconds.toFixed(2)), rowsPerSecond: Math.round(ROWS / restored.restoreSeconds), outputMb: null, objects: null, peakRssMb: Math.round(restored.maxRssMb) },
        { tool: 'shardkeeper restore verification (read back, checksums)', seconds: Number(restored.verifySeconds.toFixed(2)), rowsPerSecond: Math.round(ROWS / restored.verifySeconds), outputMb: null, objects: null, peakRssMb: null },
        { tool: 'myloader -t 2', seconds: Number(myloaderSeconds.toFixed(2)), rowsPerSecond: Math.round(ROWS / myloaderSeconds), outputMb: null, objects: null, peakRssMb: null },
      ],
      {
        rows: ROWS,
        ratioVsMydumper: Number((bestTheirs.seconds / best.dumpSeconds).toFixed(2)),
        ratioVsMydumperWithVerification: Number((bestTheirs.seconds / ourTotal).toFixed(2)),
        ratioTarget: '>= 0.5',
        peakRssMb: Math.round(Math.max(...ours.map((run) => run.maxRssMb), restored.maxRssMb)),
        peakRssTarget: '<= 512',
        childHeapCapMb: HEAP_MB,
        restoreVerified: restored.ok,
        rounds: { ours: ours.map((run) => Number(run.dumpSeconds.toFixed(2))), mydumper: theirs.map((run) => Number(run.seconds.toFixed(2))) },
      },
    );
  } finally {
    for (const name of [database, catalog, ...targets]) await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
    await s3.stop();
    for (const dir of [s3Dir, ...dumpDirs]) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
