import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { AppError } from '../shared/errors';
import { findExecutable } from '../shared/executables';

/** A MySQL-compatible server binary found on this machine. */
export interface ServerBinaries {
  flavor: 'mariadb' | 'mysql';
  server: string;
  installDb?: string;
}

/** The server binaries in the standard folders, then in `pathVariable` (the caller's PATH). */
export function findServerBinaries(pathVariable?: string): ServerBinaries | undefined {
  const mariadbd = findExecutable(['mariadbd'], pathVariable);
  if (mariadbd) return { flavor: 'mariadb', server: mariadbd, installDb: findExecutable(['mariadb-install-db', 'mysql_install_db'], pathVariable) };
  const mysqld = findExecutable(['mysqld'], pathVariable);
  if (mysqld) return { flavor: 'mysql', server: mysqld };
  return undefined;
}

export const INSTALL_HINT =
  'No MySQL or MariaDB server was found. Install one, e.g. `sudo apt-get install mariadb-server` (Debian/Ubuntu), ' +
  '`brew install mariadb` (macOS), or point Shardkeeper at a running server with MYSQL_URL=mysql://user:pass@host:3306';

export interface PrivateMysqldOptions {
  datadir: string;
  port: number;
  serverId?: number;
  /** Extra server flags, e.g. replication settings. */
  args?: string[];
  binaries?: ServerBinaries;
}

export interface PrivateMysqld {
  port: number;
  url: string;
  datadir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function initializeDatadir(binaries: ServerBinaries, datadir: string): void {
  mkdirSync(datadir, { recursive: true });
  const result =
    binaries.flavor === 'mariadb' && binaries.installDb
      ? spawnSync(binaries.installDb, ['--no-defaults', `--datadir=${datadir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' })
      : spawnSync(binaries.server, ['--no-defaults', '--initialize-insecure', `--datadir=${datadir}`, '--user=root'], { encoding: 'utf8' });
  if (result.status !== 0) throw new AppError(`could not initialise a MySQL data directory in ${datadir}: ${result.stderr || result.stdout}`);
}

async function waitUntilReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new AppError(`the private MySQL server exited with code ${child.exitCode} while starting`);
    try {
      const connection = await mysql.createConnection({ uri: url, connectTimeout: 500 });
      await connection.end();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new AppError(`the private MySQL server did not accept connections within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts a MySQL/MariaDB server of its own on 127.0.0.1 with its own data directory
 * (initialised on first use); used by the sandbox and by replication tests.
 */
export async function startPrivateMysqld(options: PrivateMysqldOptions): Promise<PrivateMysqld> {
  const binaries = options.binaries ?? findServerBinaries();
  if (!binaries) throw new AppError(INSTALL_HINT);
  if (!existsSync(join(options.datadir, 'mysql'))) initializeDatadir(binaries, options.datadir);
  const log = openSync(join(options.datadir, 'server.log'), 'a');
  const child = spawn(
    binaries.server,
    [
      '--no-defaults',
      `--datadir=${options.datadir}`,
      `--port=${options.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(options.datadir, 'mysqld.sock')}`,
      `--pid-file=${join(options.datadir, 'mysqld.pid')}`,
      '--user=root',
      `--server-id=${options.serverId ?? 1}`,
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', log, log] },
  );
  const url = `mysql://root@127.0.0.1:${options.port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitUntilReady(url, child, 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port: options.port,
    url,
    datadir: options.datadir,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
