import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import type { ShardNode } from '../core/shard-map-types';
import type { BinlogFile, BinlogReplayer, BinlogSource, ReplayRequest } from '../ports/backup-binlog';
import type { NodeCredentials } from '../ports/node-credentials';
import { AppError, ConfigError } from '../shared/errors';
import { findExecutable } from '../shared/executables';
import { quoteIdentifier } from '../shared/identifiers';
import { copyBinlog } from './binlog-stream';
import { openBackupConnection, type TlsMode } from './mysql-dumper';

/**
 * Binary logs: archived by copying closed files over the replication protocol (copyBinlog, no
 * tools needed), replayed through the stock client tools: `mariadb-binlog`/`mysqlbinlog` turns
 * logs back into SQL with `--stop-datetime`, `--database` and `--rewrite-db` for the
 * `mariadb`/`mysql` client — decoding row events in Node would duplicate exactly that.
 * Passwords reach the tools through MYSQL_PWD, never the command line.
 */

export const BINLOG_TOOL_HINT =
  'binary log replay needs mariadb-binlog (or mysqlbinlog) and the mariadb (or mysql) client: ' +
  '`apt-get install mariadb-client` (Debian/Ubuntu) or `brew install mariadb`';

export interface BinlogSourceOptions {
  credentials: NodeCredentials;
  tls: TlsMode;
}

export interface BinlogToolOptions extends BinlogSourceOptions {
  /** Default: mariadb-binlog, else mysqlbinlog, from the usual places. */
  binlogTool?: string;
  /** Default: mariadb, else mysql. */
  clientTool?: string;
  /** A PATH to search after the standard folders (the CLI passes its own). */
  searchPath?: string;
}

function tool(explicit: string | undefined, names: readonly string[], searchPath: string | undefined): string {
  const found = explicit ?? findExecutable(names, searchPath);
  if (!found) throw new ConfigError(BINLOG_TOOL_HINT);
  return found;
}

const tlsArgs = (tls: TlsMode) => (tls === 'required' ? ['--ssl', '--ssl-verify-server-cert'] : []);

async function finished(child: ChildProcess, name: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (piece: Buffer) => {
    if (stderr.length < 4_000) stderr += piece.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new AppError(`${name} exited with ${code}: ${stderr.trim()}`);
}

export function createBinlogSource(options: BinlogSourceOptions): BinlogSource {
  return {
    async closeCurrent(node: ShardNode) {
      const connection = await openBackupConnection(node, options);
      try {
        // Taken before the flush: every event stamped earlier was written to a file the flush closes.
        const [[now]] = await connection.query<RowDataPacket[]>('SELECT UNIX_TIMESTAMP(NOW(6)) * 1000 AS now');
        await connection.query('FLUSH BINARY LOGS');
        const [logs] = await connection.query<RowDataPacket[]>('SHOW BINARY LOGS');
        const files: BinlogFile[] = logs.map((row) => ({ name: String(row.Log_name), bytes: Number(row.File_size) }));
        return { closed: files.slice(0, -1), closedAt: Math.floor(Number(now?.now)) };
      } finally {
        await connection.end().catch(() => connection.destroy());
      }
    },

    async fetch(node: ShardNode, file: string, directory: string) {
      return copyBinlog(await openBackupConnection(node, options), file, join(directory, file));
    },
  };
}

export interface BinlogReplayerOptions extends BinlogToolOptions {
  /** The server replayed into (the restore target). */
  target: ShardNode;
}

export function createBinlogReplayer(options: BinlogReplayerOptions): BinlogReplayer {
  return {
    async replay(request: ReplayRequest): Promise<void> {
      if (request.files.length === 0) return;
      quoteIdentifier(request.sourceDatabase, 'source database');
      quoteIdentifier(request.targetDatabase, 'target database');
      const { user, password } = await options.credentials.credentialsFor(options.target);
      const binlogTool = tool(options.binlogTool, ['mariadb-binlog', 'mysqlbinlog'], options.searchPath);
      const clientTool = tool(options.clientTool, ['mariadb', 'mysql'], options.searchPath);
      // --stop-datetime is read in the tool's local zone; event times are UTC.
      const decoder = spawn(
        binlogTool,
        [
          `--start-position=${request.startPosition}`,
          `--stop-datetime=${request.stopDatetime}`,
          `--database=${request.sourceDatabase}`,
          `--rewrite-db=${request.sourceDatabase}->${request.targetDatabase}`,
          '--skip-gtid-strict-mode',
          ...request.files,
        ],
        { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const client = spawn(
        clientTool,
        [`--host=${options.target.host}`, `--port=${options.target.port}`, `--user=${user}`, ...tlsArgs(options.tls), '--binary-mode', request.targetDatabase],
        { env: { ...process.env, MYSQL_PWD: password }, stdio: ['pipe', 'ignore', 'pipe'] },
      );
      decoder.stdout!.pipe(client.stdin!);
      await Promise.all([finished(decoder, binlogTool), finished(client, clientTool)]);
    },
  };
}
