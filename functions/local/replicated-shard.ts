import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { ShardNode } from '../core/shard-map-types';
import { AppError, ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';
import { startPrivateMysqld, type PrivateMysqld, type ServerBinaries } from './private-mysqld';

export interface ReplicatedShardOptions {
  /** Parent folder: node i lives in `<baseDir>/<node id>`, replaced if it exists. */
  baseDir: string;
  /** Servers listen on basePort .. basePort+n-1, their monitor proxies on basePort+n .. basePort+2n-1. */
  basePort: number;
  /** Node ids are `<shard>-a` (the primary), `<shard>-b`, ... */
  shard: string;
  database: string;
  replicas?: number;
  binaries?: ServerBinaries;
}

export interface ReplicatedShard {
  readonly shard: string;
  readonly database: string;
  /**
   * The nodes as the catalog and the monitor see them; nodes[0] starts as the primary. Their
   * ports lead through in-process TCP proxies, so blockMonitor can cut the monitor off while
   * replication (server to server, on the servers' own ports) carries on.
   */
  readonly nodes: readonly ShardNode[];
  /** The server's own port, as replicas report it in Master_Port. */
  serverPort(index: number): number;
  /** Direct URL of a node's server (root, no password), bypassing its proxy. */
  url(index: number): string;
  /** Runs one statement on a node, directly. */
  query<T extends RowDataPacket = RowDataPacket>(index: number, sql: string, values?: unknown[]): Promise<T[]>;
  running(index: number): boolean;
  /** Waits until every other running node has applied the source's gtid_current_pos. */
  waitForReplicas(options?: { source?: number; timeoutMs?: number }): Promise<void>;
  /** SIGKILL of nodes[0]'s server: no shutdown, no goodbye to the replicas. */
  killPrimary(): Promise<void>;
  kill(index: number): Promise<void>;
  /** Starts a killed node again on its data directory; a replica resumes replicating by itself. */
  restart(index: number): Promise<void>;
  stopSqlThread(index: number): Promise<void>;
  startReplication(index: number): Promise<void>;
  /**
   * Real lag: the replica applies every event `seconds` late (MASTER_DELAY) while the primary
   * writes a tick every 250 ms, so Seconds_Behind_Master climbs towards `seconds` until clearLag.
   */
  createLag(index: number, seconds: number): Promise<void>;
  clearLag(index: number): Promise<void>;
  makeWritable(index: number): Promise<void>;
  /** The node stops answering through its proxy (connections hang, as in a partition); servers keep talking. */
  blockMonitor(index?: number): void;
  unblockMonitor(index?: number): void;
  /** Kills every server (their data is thrown away), closes the proxies and removes the data directories. */
  stop(): Promise<void>;
}

/** SIGKILLs the server whose data directory this is, from any process (the sandbox's `chaos` command). */
export function killServerAt(datadir: string): boolean {
  const pidFile = join(datadir, 'mysqld.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    // The pid file outlives a killed server.
    return false;
  }
}

interface MonitorProxy {
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

async function startMonitorProxy(port: number, targetPort: number): Promise<MonitorProxy> {
  const piped = new Set<Socket>();
  const held = new Set<Socket>();
  let blocked = false;
  const track = (set: Set<Socket>, socket: Socket) => {
    set.add(socket);
    socket.once('close', () => set.delete(socket));
  };
  const server = createServer((client) => {
    // Resets from clients that give up are expected.
    client.on('error', () => client.destroy());
    if (blocked) {
      track(held, client);
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    upstream.on('error', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    track(piped, client);
    track(piped, upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    block() {
      blocked = true;
      for (const socket of piped) socket.destroy();
    },
    unblock() {
      blocked = false;
      for (const socket of held) socket.destroy();
    },
    async close() {
      for (const socket of [...piped, ...held]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const REPLICATION_ARGS = ['--log-bin=mysql-bin', '--binlog-format=ROW', '--log-slave-updates', '--gtid-strict-mode=ON', '--innodb-flush-log-at-trx-commit=2'];
const LAG_TICK_MS = 250;

/**
 * A primary and `replicas` replicas of private mariadbd servers on 127.0.0.1 with GTID
 * replication, for tests, the sandbox's `--replicas` and `chaos`. Resolves once every replica
 * has caught up with the primary.
 */
export async function startReplicatedShard(options: ReplicatedShardOptions): Promise<ReplicatedShard> {
  const { baseDir, basePort, shard, database, replicas = 2, binaries } = options;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 25) throw new ValidationError('replicas must be an integer between 0 and 25');
  const databaseName = quoteIdentifier(database, 'database');
  const count = replicas + 1;
  const nodes: ShardNode[] = Array.from({ length: count }, (_, index) => ({
    id: `${shard}-${String.fromCharCode(97 + index)}`,
    role: index === 0 ? 'primary' : 'replica',
    host: '127.0.0.1',
    port: basePort + count + index,
  }));
  const datadirs = nodes.map((node) => join(baseDir, node.id));
  const serverPorts = nodes.map((_, index) => basePort + index);
  const serverOptions = (index: number) => ({
    datadir: datadirs[index]!,
    port: serverPorts[index]!,
    serverId: index + 1,
    binaries,
    args: [...REPLICATION_ARGS, '--report-host=127.0.0.1', `--report-port=${serverPorts[index]}`, ...(index === 0 ? [] : ['--read-only'])],
  });

  const servers: (PrivateMysqld | undefined)[] = new Array(count).fill(undefined);
  const proxies: MonitorProxy[] = [];
  const lagging = new Set<number>();
  let ticker: { connection: Connection; timer?: NodeJS.Timeout } | undefined;

  const at = (index: number) => {
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new ValidationError(`node index ${index} is not between 0 and ${count - 1}`);
    return index;
  };
  const running = (index: number) => {
    const child = servers[at(index)]?.process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const url = (index: number) => `mysql://root@127.0.0.1:${serverPorts[at(index)]}`;
  const query = async <T extends RowDataPacket = RowDataPacket>(index: number, sql: string, values?: unknown[]): Promise<T[]> => {
    const connection = await mysql.createConnection({ uri: url(index), connectTimeout: 2_000 });
    try {
      const [rows] = await connection.query<T[]>(sql, values);
      return rows;
    } finally {
      await connection.end();
    }
  };

  const kill = async (index: number) => {
    const server = servers[at(index)];
    if (!server || !running(index)) return;
    const exited = once(server.process, 'exit');
    if (!killServerAt(datadirs[index]!)) server.process.kill('SIGKILL');
    await exited;
  };

  const stopTicker = () => {
    const current = ticker;
    ticker = undefined;
    if (!current) return;
    clearTimeout(current.timer);
    current.connection.destroy();
  };

  const startTicker = async () => {
    if (ticker) return;
    await query(0, `CREATE TABLE IF NOT EXISTS ${databaseName}.sk_harness_ticks (id TINYINT PRIMARY KEY, at DATETIME(6) NOT NULL)`);
    const current: { connection: Connection; timer?: NodeJS.Timeout } = { connection: await mysql.createConnection({ uri: url(0), connectTimeout: 2_000 }) };
    // A lost connection (the primary was killed) ends the ticks; nothing else is listening.
    current.connection.on('error', stopTicker);
    const tick = async () => {
      try {
        await current.connection.query(`REPLACE INTO ${databaseName}.sk_harness_ticks VALUES (1, NOW(6))`);
      } catch {
        stopTicker();
        return;
      }
      if (ticker === current) current.timer = setTimeout(() => void tick(), LAG_TICK_MS);
    };
    ticker = current;
    await tick();
  };

  const changeDelay = async (index: number, seconds: number) => {
    await query(index, 'STOP SLAVE');
    await query(index, `CHANGE MASTER TO MASTER_DELAY = ${seconds}`);
    await query(index, 'START SLAVE');
  };

  const waitForReplicas = async ({ source = 0, timeoutMs = 15_000 }: { source?: number; timeoutMs?: number } = {}) => {
    const [row] = await query(source, 'SELECT @@gtid_current_pos AS position');
    const position = String(row?.position ?? '');
    for (let index = 0; index < count; index++) {
      if (index === source || !running(index)) continue;
      const [result] = await query(index, 'SELECT MASTER_GTID_WAIT(?, ?) AS waited', [position, timeoutMs / 1000]);
      if (Number(result?.waited) !== 0) throw new AppError(`${nodes[index]!.id} did not reach ${position} of ${nodes[source]!.id} within ${timeoutMs} ms`);
    }
  };

  const stop = async () => {
    stopTicker();
    await Promise.all(proxies.map((proxy) => proxy.close()));
    // Their data is about to be deleted, so there is nothing to shut down cleanly.
    await Promise.all(nodes.map((_, index) => kill(index)));
    for (const datadir of datadirs) rmSync(datadir, { recursive: true, force: true });
  };

  try {
    for (const datadir of datadirs) rmSync(datadir, { recursive: true, force: true });
    const started = await Promise.allSettled(nodes.map((_, index) => startPrivateMysqld(serverOptions(index))));
    started.forEach((result, index) => {
      if (result.status === 'fulfilled') servers[index] = result.value;
    });
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    for (let index = 1; index < count; index++) {
      await query(
        index,
        `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${serverPorts[0]}, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`,
      );
      await query(index, 'START SLAVE');
    }
    await query(0, `CREATE DATABASE IF NOT EXISTS ${databaseName}`);
    await waitForReplicas();
    for (let index = 0; index < count; index++) proxies.push(await startMonitorProxy(nodes[index]!.port, serverPorts[index]!));
  } catch (error) {
    await stop();
    throw error;
  }

  const proxy = (index: number) => proxies[at(index)]!;
  return {
    shard,
    database,
    nodes,
    serverPort: (index) => serverPorts[at(index)]!,
    url,
    query,
    running,
    waitForReplicas,
    killPrimary: () => kill(0),
    kill,
    async restart(index) {
      if (running(index)) throw new ValidationError(`${nodes[index]!.id} is still running`);
      servers[index] = await startPrivateMysqld(serverOptions(index));
    },
    stopSqlThread: async (index) => void (await query(index, 'STOP SLAVE SQL_THREAD')),
    startReplication: async (index) => void (await query(index, 'START SLAVE')),
    async createLag(index, seconds) {
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new ValidationError('lag seconds must be an integer between 1 and 3600');
      await changeDelay(at(index), seconds);
      lagging.add(index);
      await startTicker();
    },
    async clearLag(index) {
      await changeDelay(at(index), 0);
      lagging.delete(index);
      if (lagging.size === 0) stopTicker();
    },
    makeWritable: async (index) => void (await query(index, 'SET GLOBAL read_only = OFF')),
    blockMonitor: (index = 0) => proxy(index).block(),
    unblockMonitor: (index = 0) => proxy(index).unblock(),
    stop,
  };
}
