/**
 * `npm run bench:archive`: archives the old rows of a 1M-row game_logs table to a local S3 (exactly
 * once: zstd JSON lines, verified objects, catalog manifest, checked deletes) and, in the same run,
 * `pt-archiver --limit 10000 --bulk-delete --commit-each --file …` on an identical table. Reports
 * rows/s of both and their ratio (target ≥ 1.5×), the compression ratio and the archiver's peak RSS
 * (target ≤ 256 MB), measured in a child process running the esbuild bundle, as deployed, so
 * neither the local S3 server nor the TypeScript loader is counted. A third identical table is
 * emptied by bare DELETEs over primary-key spans (pt-archiver's own delete, without its reads):
 * the server's own delete rate, which caps any archiver's. Each row also reports the CPU the
 * database server spent in it, when the server runs on this machine, and how long InnoDB then took
 * to purge what the run had deleted (background work a fast run leaves behind).
 * Each round runs all three on fresh copies of one seeded table; the fastest run of each is reported.
 * MYSQL_URL (default mysql://root@127.0.0.1:3306) names the server, BENCH_ROUNDS the rounds (3),
 * BENCH_ROWS the table size; BENCH_CPU_PROF=<dir> writes CPU profiles of the archiver process there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESM_REQUIRE_BANNER } from '../../cdk/bundling';
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
import { percentile, report } from './report';

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
/** Rounds of each tool, alternating; the fastest of each is compared (the machine is shared, so single runs are noisy). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Undo history this short counts as purged: the catalog's and the server's own small transactions keep a few entries. */
const PURGED = 10;

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

/** Bundles this file with esbuild, so the archiver runs as the deployed function does (no TypeScript loader in the process). */
async function bundleWorker(directory: string): Promise<string> {
  const bundle = join(directory, 'archiver.mjs');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: bundle,
    logLevel: 'error',
    banner: { js: ESM_REQUIRE_BANNER },
  });
  return bundle;
}

/** Runs the bundled archiver in its own process, so its peak RSS is the archiver's own. */
async function runWorker(bundle: string, args: { database: string; catalog: string; endpoint: string }): Promise<WorkerResult> {
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

/**
 * Runs `work`, timing it and the server CPU it cost. Then waits for InnoDB to purge what the run
 * left behind (its deletes' index cleanup, which runs in the background) and measures that tail too:
 * a run that only defers the server's work is not faster.
 */
async function measured<T>(
  admin: ReturnType<typeof createMysqlPool>,
  serverCpu: () => number | null,
  work: () => Promise<T> | T,
): Promise<{ result: T; ms: number; server: Pick<Run, 'serverCpu' | 'unpurged' | 'purgeSeconds'> }> {
  const cpuBefore = serverCpu();
  const started = performance.now();
  const result = await work();
  const ms = performance.now() - started;
  const cpuAfter = serverCpu();
  const unpurged = await undoHistory(admin);
  const purgeSeconds = await purged(admin, 50);
  return { result, ms, server: { serverCpu: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore, unpurged, purgeSeconds } };
}

/** Waits (two minutes at most) until InnoDB has purged earlier deletes, polling every `pollMs`; returns the seconds it took. */
async function purged(admin: ReturnType<typeof createMysqlPool>, pollMs: number): Promise<number> {
  const started = performance.now();
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && (await undoHistory(admin)) > PURGED; ) await new Promise((resolve) => setTimeout(resolve, pollMs));
  return (performance.now() - started) / 1000;
}

/** Transactions whose undo logs InnoDB has not purged yet: deletes whose index cleanup is still to come. */
async function undoHistory(admin: ReturnType<typeof createMysqlPool>): Promise<number> {
  const [[status]] = (await admin.query('SHOW ENGINE INNODB STATUS')) as unknown as [[{ Status: string }]];
  return Number(/History list length (\d+)/.exec(status.Status)?.[1] ?? 0);
}

/**
 * Gives every run the same start: InnoDB has purged earlier deletes (up to two minutes), the
 * bench tables' dirty pages are written out (FLUSH … FOR EXPORT), and the table to archive has just
 * been read, so it holds as much of the buffer pool as it can.
 */
async function settle(admin: ReturnType<typeof createMysqlPool>, database: string, databases: readonly string[]): Promise<void> {
  await purged(admin, 1000);
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
  const described = runs.map(([name, seconds, parts]) => {
    if (Object.values(parts).some((cpu) => cpu === null)) return `${name} n/a (server CPU not readable)`;
    const total = Object.values(parts).reduce<number>((sum, cpu) => sum + cpu!, 0);
    const detail = Object.entries(parts).map(([part, cpu]) => `${part} ${cpu!.toFixed(1)}`).join(' + ');
    return `${name} ${(total / seconds).toFixed(2)} (${detail} CPU s over ${seconds.toFixed(1)} s)`;
  });
  return `${described.join(', ')}; the machine has ${cores}`;
}

/**
 * What the 1.5× target leaves for the archiver's own work: every core busy for the target time,
 * minus what the server needs for the deletes alone (the floor run).
 */
function cpuBudget(cores: number, targetSeconds: number, floorServerCpu: number | null, oursCpu: number | null): string {
  if (floorServerCpu === null || oursCpu === null) return 'n/a (server CPU not readable)';
  const total = cores * targetSeconds;
  return (
    `1.5× pt-archiver means ≤ ${targetSeconds.toFixed(2)} s, at most ${total.toFixed(1)} CPU s on ${cores} cores for server, archiver and local S3 together; ` +
    `the bare deletes alone cost the server ${floorServerCpu.toFixed(1)}, leaving ${(total - floorServerCpu).toFixed(1)} for reading, encoding, compressing and uploading the rows; ` +
    `shardkeeper's run used ${oursCpu.toFixed(1)} CPU s in all (${(oursCpu - floorServerCpu).toFixed(1)} beyond the bare deletes)`
  );
}

interface Run {
  seconds: number;
  rows: number;
  left: number;
  serverCpu: number | null;
  /** Undo history length when the run ended: purge work the server had yet to do. */
  unpurged: number;
  /** How long the server then took to purge it. */
  purgeSeconds: number;
}

interface OursRun extends Run {
  worker: WorkerResult;
  localS3Cpu: number;
}

interface PeerRun extends Run {
  cpu: number;
  outputBytes: number;
}

const fastest = <T extends Run>(runs: readonly T[]): T => runs.reduce((a, b) => (a.seconds <= b.seconds ? a : b));
/** Seconds from a run's start until InnoDB had purged what it deleted. */
const untilPurged = (run: Run) => run.seconds + run.purgeSeconds;
const fastestUntilPurged = <T extends Run>(runs: readonly T[]): T => runs.reduce((a, b) => (untilPurged(a) <= untilPurged(b) ? a : b));

async function main(): Promise<void> {
  if (process.argv[2] === '--worker') return worker(JSON.parse(process.argv[3]!) as { database: string; catalog: string; endpoint: string });

  if (spawnSync('pt-archiver', ['--version']).status !== 0) {
    console.error('pt-archiver (Percona Toolkit) is needed as the peer of this benchmark: sudo apt-get install -y percona-toolkit');
    process.exit(1);
  }
  const suffix = Math.random().toString(16).slice(2, 10);
  const source = `sk_bench_source_${suffix}`;
  const created: string[] = [];
  // Loaded here only, so the bundled archiver process never evaluates the local S3 server or the seeding code.
  const { startLocalS3 } = await import('../../functions/local/local-s3');
  const { createGameLogsTable, seedGameLogs } = await import('../../functions/local/game-logs');
  const admin = createMysqlPool({ ...MYSQL, connectionLimit: 2 });
  const directory = mkdtempSync(join(tmpdir(), 'sk-bench-archive-'));
  const s3 = await startLocalS3({ directory: join(directory, 's3'), buckets: [BUCKET] });
  const createDatabase = async (name: string) => {
    created.push(name);
    await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
  };
  /** A fresh copy of the seeded table, so every run starts from the same rows. */
  const copyOfSource = async (name: string) => {
    await createDatabase(name);
    await admin.query(`CREATE TABLE ${quoteIdentifier(name)}.game_logs LIKE ${quoteIdentifier(source)}.game_logs`);
    await admin.query(`INSERT INTO ${quoteIdentifier(name)}.game_logs SELECT * FROM ${quoteIdentifier(source)}.game_logs`);
  };
  const cutoff = archiveCutoff(NOW, RETENTION_DAYS);
  const oldRowsIn = async (name: string) => {
    const [[row]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(name)}.game_logs WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ n: number }]];
    return Number(row.n);
  };
  try {
    const from = cutoff - (SPAN_DAYS - RETENTION_DAYS) * DAY_MS;
    console.log(`seeding ${ROWS.toLocaleString('en-US')} game_logs rows over ${SPAN_DAYS} days...`);
    await createDatabase(source);
    await createGameLogsTable(admin, source);
    await seedGameLogs(admin, source, 'game_logs', { from, to: from + SPAN_DAYS * DAY_MS, rows: ROWS });
    const eligible = await oldRowsIn(source);
    console.log(`${eligible.toLocaleString('en-US')} rows are older than ${sqlDateTime(cutoff)}; ${ROUNDS} rounds, each on fresh copies`);
    const serverCpu = await serverCpuReader(admin);
    const bundle = await bundleWorker(directory);

    const ours: OursRun[] = [];
    const peer: PeerRun[] = [];
    const floor: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const names = { ours: `sk_bench_archive_${suffix}_${round}`, peer: `sk_bench_ptarchiver_${suffix}_${round}`, floor: `sk_bench_floor_${suffix}_${round}`, catalog: `sk_bench_catalog_${suffix}_${round}` };
      const shards = [names.ours, names.peer, names.floor];
      for (const name of shards) await copyOfSource(name);
      await createDatabase(names.catalog);
      const catalogPool = createMysqlPool({ ...MYSQL, database: names.catalog, connectionLimit: 1 });
      await migrate(createMysqlExecutor(catalogPool));
      await catalogPool.end();

      await settle(admin, names.ours, shards);
      // The local S3 server runs in this process: its CPU is what this process uses meanwhile.
      const oursRun = await measured(admin, serverCpu, async () => {
        const before = process.cpuUsage();
        const worker = await runWorker(bundle, { database: names.ours, catalog: names.catalog, endpoint: s3.endpoint });
        const used = process.cpuUsage(before);
        return { worker, localS3Cpu: (used.user + used.system) / 1e6 };
      });
      const { worker, localS3Cpu } = oursRun.result;
      ours.push({ worker, seconds: worker.elapsedMs / 1000, rows: worker.rows, left: await oldRowsIn(names.ours), ...oursRun.server, localS3Cpu });

      await settle(admin, names.peer, shards);
      const outFile = join(directory, `pt-archiver-${round}.txt`);
      const ptCpuBefore = childrenCpu();
      const ptRun = await measured(admin, serverCpu, () => spawnSync(
        'pt-archiver',
        [
          '--source',
          `h=${MYSQL.host},P=${MYSQL.port},u=${MYSQL.user}${MYSQL.password ? `,p=${MYSQL.password}` : ''},D=${names.peer},t=game_logs`,
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
      if (ptRun.result.status !== 0) throw new Error(`pt-archiver failed (${ptRun.result.status}): ${ptRun.result.stderr || ptRun.result.stdout}`);
      const peerLeft = await oldRowsIn(names.peer);
      peer.push({ seconds: ptRun.ms / 1000, rows: eligible - peerLeft, left: peerLeft, ...ptRun.server, cpu: childrenCpu() - ptCpuBefore, outputBytes: statSync(outFile).size });

      // What the server alone needs to delete the same rows, nothing read or written: no archiver can be
      // faster. Spans of BATCH keys through the primary key are the cheapest delete there is (log_id is dense).
      const floorTable = `${quoteIdentifier(names.floor)}.game_logs`;
      const [[keys]] = (await admin.query(`SELECT MIN(log_id) AS low, MAX(log_id) AS high FROM ${floorTable} WHERE created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [[{ low: number; high: number }]];
      await settle(admin, names.floor, shards);
      const floorRun = await measured(admin, serverCpu, async () => {
        let deleted = 0;
        for (let low = Number(keys.low); low <= Number(keys.high); low += BATCH) {
          const [result] = (await admin.query(`DELETE FROM ${floorTable} WHERE log_id BETWEEN ${low} AND ${low + BATCH - 1} AND created_at < ?`, [sqlDateTime(cutoff)])) as unknown as [{ affectedRows: number }];
          deleted += result.affectedRows;
        }
        return deleted;
      });
      floor.push({ seconds: floorRun.ms / 1000, rows: floorRun.result, left: await oldRowsIn(names.floor), ...floorRun.server });

      const last = (runs: readonly Run[]) => runs.at(-1)!.seconds.toFixed(2);
      console.log(`round ${round}: shardkeeper ${last(ours)} s, pt-archiver ${last(peer)} s, bare deletes ${last(floor)} s; purge after: ${[ours, peer, floor].map((runs) => `${runs.at(-1)!.purgeSeconds.toFixed(2)} s`).join(', ')}`);
      for (const name of [...shards, names.catalog]) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    }

    const best = fastest(ours);
    const bestPeer = fastest(peer);
    const bestFloor = fastest(floor);
    const rate = (run: Run) => run.rows / run.seconds;
    // Each round's two runs are minutes apart at most, so their ratio is the least exposed to the machine's drifting speed.
    const roundRatios = ours.map((run, index) => rate(run) / rate(peer[index]!));
    const peakRssMb = Math.max(...ours.map((run) => run.worker.maxRssMb));
    const objects = readdirSync(join(directory, 's3', BUCKET), { recursive: true }).length;
    report(
      'archive',
      [
        { archiver: 'shardkeeper (zstd JSON lines → local S3, verified, manifest, checked deletes)', rows: best.rows, seconds: best.seconds, 'rows/s': rate(best), 'left on shard': best.left, 'output MB': best.worker.bytes / 1_048_576, 'peak RSS MB': peakRssMb, 'server CPU s': best.serverCpu, 'archiver CPU s': best.worker.cpuSeconds, 'purge after s': best.purgeSeconds },
        { archiver: 'pt-archiver --limit 10000 --bulk-delete --commit-each --file', rows: bestPeer.rows, seconds: bestPeer.seconds, 'rows/s': rate(bestPeer), 'left on shard': bestPeer.left, 'output MB': bestPeer.outputBytes / 1_048_576, 'peak RSS MB': null, 'server CPU s': bestPeer.serverCpu, 'archiver CPU s': bestPeer.cpu, 'purge after s': bestPeer.purgeSeconds },
        { archiver: 'server floor: DELETE of 10000-key spans until none left, nothing archived', rows: bestFloor.rows, seconds: bestFloor.seconds, 'rows/s': rate(bestFloor), 'left on shard': bestFloor.left, 'output MB': null, 'peak RSS MB': null, 'server CPU s': bestFloor.serverCpu, 'archiver CPU s': null, 'purge after s': bestFloor.purgeSeconds },
      ],
      {
        ratio: `${(rate(best) / rate(bestPeer)).toFixed(2)}× pt-archiver, fastest of ${ROUNDS} rounds each (target ≥ 1.5×); round by round: ${roundRatios.map((ratio) => `${ratio.toFixed(2)}×`).join(', ')} (median ${percentile(roundRatios, 50).toFixed(2)}×)`,
        untilPurged: `${(untilPurged(fastestUntilPurged(peer)) / untilPurged(fastestUntilPurged(ours))).toFixed(2)}× pt-archiver counting each run until InnoDB had purged its deletes (fastest of ${ROUNDS} each); round by round: ${ours.map((run, index) => `${(untilPurged(peer[index]!) / untilPurged(run)).toFixed(2)}×`).join(', ')}; undo logs left to purge: shardkeeper ${ours.map((run) => run.unpurged).join(', ')}, pt-archiver ${peer.map((run) => run.unpurged).join(', ')}`,
        rounds: { shardkeeper: ours.map((run) => Number(run.seconds.toFixed(2))), ptArchiver: peer.map((run) => Number(run.seconds.toFixed(2))), bareDeletes: floor.map((run) => Number(run.seconds.toFixed(2))) },
        ceiling: `${(rate(bestFloor) / rate(bestPeer)).toFixed(2)}× pt-archiver: the server's own delete rate; shardkeeper reaches ${((100 * rate(best)) / rate(bestFloor)).toFixed(0)} % of it`,
        compression: `${(best.worker.rawBytes / best.worker.bytes).toFixed(2)}× (${(best.worker.rawBytes / 1_048_576).toFixed(1)} MB of JSON lines → ${(best.worker.bytes / 1_048_576).toFixed(1)} MB zstd in ${best.worker.batches} batches, ${objects} files in the local S3)`,
        peakRss: `${peakRssMb.toFixed(0)} MB (target ≤ 256 MB)`,
        coresBusy: coresBusy(cpus().length, [
          ['shardkeeper', best.seconds, { server: best.serverCpu, archiver: best.worker.cpuSeconds, 'local S3': best.localS3Cpu }],
          ['pt-archiver', bestPeer.seconds, { server: bestPeer.serverCpu, archiver: bestPeer.cpu }],
          ['server floor', bestFloor.seconds, { server: bestFloor.serverCpu }],
        ]),
        budget: cpuBudget(cpus().length, bestPeer.seconds / 1.5, bestFloor.serverCpu, best.serverCpu === null ? null : best.serverCpu + best.worker.cpuSeconds + best.localS3Cpu),
        table: `${ROWS} rows over ${SPAN_DAYS} days, ${RETENTION_DAYS} days kept, batches of ${BATCH}`,
      },
    );
  } finally {
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    await admin.end();
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

await main();
