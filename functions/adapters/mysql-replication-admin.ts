import { isIP } from 'node:net';
import mysql from 'mysql2/promise';
import type { ShardNode } from '../core/shard-map-types';
import type { Credentials, NodeCredentials } from '../ports/node-credentials';
import type { ReplicationStatus } from '../ports/node-prober';
import type { ReplicationAdmin } from '../ports/replication-admin';
import { NodeNotReadyError, NodeNotWritableError, NodeUnreachableError, ReplicationChangeError, ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';
import {
  closeConnection,
  connectToNode,
  identifyServer,
  isConnectionFailure,
  queryOver,
  replicaStatusStatement,
  replicationFromRow,
  versionAtLeast,
  type QueryFn,
  type ServerIdentity,
  type TlsMode,
} from './mysql-prober';

const ER_OPTION_PREVENTS_STATEMENT = 1290;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** CHANGE MASTER cannot bind parameters, so the source address is validated before it is quoted in. */
export function assertSourceAddress(host: string, port: number): void {
  if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new ValidationError(`source host ${JSON.stringify(host)} is neither an IP address nor a hostname`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ValidationError(`source port ${port} is not between 1 and 65535`);
}

/** The replication vocabulary of a server: MySQL 8.0.22+ says REPLICA, MariaDB and older MySQL say SLAVE. */
function statements(identity: ServerIdentity) {
  const word = identity.replicaStatements ? 'REPLICA' : 'SLAVE';
  return {
    status: replicaStatusStatement(identity),
    stop: `STOP ${word}`,
    stopIo: `STOP ${word} IO_THREAD`,
    startSql: `START ${word} SQL_THREAD`,
    start: `START ${word}`,
    resetAll: `RESET ${word} ALL`,
  };
}

/**
 * Points a replica at `source` with GTID auto-positioning. Without TLS, MySQL 8 replicas fetch
 * the source's RSA key, which caching_sha2_password needs on an unencrypted link.
 */
export function changeSourceStatement(identity: ServerIdentity, host: string, port: number, { user, password }: Credentials, tls: TlsMode): string {
  assertSourceAddress(host, port);
  const quote = (value: string) => mysql.escape(value);
  if (identity.flavor === 'mariadb') {
    return `CHANGE MASTER TO MASTER_HOST = ${quote(host)}, MASTER_PORT = ${port}, MASTER_USER = ${quote(user)}, MASTER_PASSWORD = ${quote(password)}, MASTER_USE_GTID = slave_pos${tls === 'required' ? ', MASTER_SSL = 1' : ''}`;
  }
  if (identity.sourceStatements) {
    return `CHANGE REPLICATION SOURCE TO SOURCE_HOST = ${quote(host)}, SOURCE_PORT = ${port}, SOURCE_USER = ${quote(user)}, SOURCE_PASSWORD = ${quote(password)}, SOURCE_AUTO_POSITION = 1, ${tls === 'required' ? 'SOURCE_SSL = 1' : 'GET_SOURCE_PUBLIC_KEY = 1'}`;
  }
  const encryption = tls === 'required' ? ', MASTER_SSL = 1' : identity.flavor === 'mysql' && versionAtLeast(identity.version, [8, 0, 4]) ? ', GET_MASTER_PUBLIC_KEY = 1' : '';
  return `CHANGE MASTER TO MASTER_HOST = ${quote(host)}, MASTER_PORT = ${port}, MASTER_USER = ${quote(user)}, MASTER_PASSWORD = ${quote(password)}, MASTER_AUTO_POSITION = 1${encryption}`;
}

async function replicaStatus(query: QueryFn, identity: ServerIdentity): Promise<ReplicationStatus | null> {
  const rows = await query(statements(identity).status);
  const row = rows.find((candidate) => (candidate.Channel_Name ?? '') === '') ?? rows[0];
  if (!row) return null;
  const slavePos = identity.flavor === 'mariadb' ? String((await query('SELECT @@gtid_slave_pos AS pos'))[0]?.pos ?? '') : undefined;
  return replicationFromRow(row, identity.flavor, slavePos);
}

function refuseAurora(identity: ServerIdentity, node: ShardNode, change: string): void {
  if (identity.flavor === 'aurora-mysql') {
    throw new ReplicationChangeError(`node ${node.id} is an Aurora instance: its cluster ${change} (FailoverDBCluster), not Shardkeeper over SQL`);
  }
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; `check` throws to give up early. */
async function waitFor(check: () => Promise<boolean>, { timeoutMs, pollMs, sleep = defaultSleep, now = Date.now }: WaitOptions, onTimeout: () => Error): Promise<void> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (now() >= deadline) throw onTimeout();
    await sleep(pollMs);
  }
}

/**
 * Stops replication on a replica and makes it writable. Receiving stops first, then the SQL
 * thread applies everything already received: promoting with an unapplied relay log would
 * drop those transactions. Promoting a node that no longer replicates only clears read_only,
 * so a retried step is harmless.
 */
export async function promoteOver(query: QueryFn, identity: ServerIdentity, node: ShardNode, wait: WaitOptions): Promise<void> {
  refuseAurora(identity, node, 'promotes a reader through the RDS API');
  const sql = statements(identity);
  if (await replicaStatus(query, identity)) {
    await query(sql.stopIo);
    await query(sql.startSql);
    let last: ReplicationStatus | null = null;
    await waitFor(
      async () => {
        last = await replicaStatus(query, identity);
        if (!last || last.relayLogApplied) return true;
        if (!last.sqlRunning && last.lastError) throw new ReplicationChangeError(`cannot promote ${node.id}: its SQL thread stopped: ${last.lastError}`);
        return false;
      },
      wait,
      () => new NodeNotReadyError(`cannot promote ${node.id} yet: its relay log is not applied after ${wait.timeoutMs} ms (executed ${last?.gtidExecuted ?? 'unknown'})`),
    );
    await query(sql.stop);
    await query(sql.resetAll);
  }
  if (identity.flavor === 'mysql') await query('SET GLOBAL super_read_only = OFF');
  await query('SET GLOBAL read_only = OFF');
}

/** Replicas are kept read-only: the promoted source must be the shard's only writer. */
async function makeReadOnly(query: QueryFn, identity: ServerIdentity): Promise<void> {
  // super_read_only = ON implies read_only = ON.
  await query(identity.flavor === 'mysql' ? 'SET GLOBAL super_read_only = ON' : 'SET GLOBAL read_only = ON');
}

export async function repointOver(
  query: QueryFn,
  identity: ServerIdentity,
  replica: ShardNode,
  source: ShardNode,
  credentials: Credentials,
  tls: TlsMode,
  wait: WaitOptions,
): Promise<void> {
  refuseAurora(identity, replica, 'replicates from its writer by itself');
  const sql = statements(identity);
  const change = changeSourceStatement(identity, source.host, source.port, credentials, tls);
  await query(sql.stop);
  try {
    await query(change);
  } catch (error) {
    // No cause: mysql2 errors carry the statement, and this one holds a password.
    const message = (error instanceof Error ? error.message : String(error)).split(credentials.password || '\0').join('****');
    if (isConnectionFailure(error)) throw new NodeUnreachableError(`lost ${replica.id} while changing its source: ${message}`);
    throw new ReplicationChangeError(`cannot point ${replica.id} at ${source.id}: ${message}`);
  }
  await makeReadOnly(query, identity);
  await query(sql.start);
  let last: ReplicationStatus | null = null;
  await waitFor(
    async () => {
      last = await replicaStatus(query, identity);
      if (!last) throw new ReplicationChangeError(`${replica.id} has no replication configured after CHANGE MASTER`);
      if (last.ioState === 'yes' && last.sqlRunning) return true;
      if ((last.ioState === 'no' || !last.sqlRunning) && last.lastError) throw new ReplicationChangeError(`${replica.id} cannot replicate from ${source.id}: ${last.lastError}`);
      return false;
    },
    wait,
    () => new NodeNotReadyError(`${replica.id} is not replicating from ${source.id} after ${wait.timeoutMs} ms${last?.lastError ? `: ${last.lastError}` : ''}`),
  );
}

export async function fenceOver(query: QueryFn, identity: ServerIdentity, node: ShardNode): Promise<void> {
  refuseAurora(identity, node, 'fences its old writer during FailoverDBCluster');
  await makeReadOnly(query, identity);
}

export const HEARTBEAT_TABLE = 'sk_heartbeat';

export async function checkWriteOver(query: QueryFn, node: ShardNode, database: string): Promise<void> {
  const table = `${quoteIdentifier(database, 'database')}.${quoteIdentifier(HEARTBEAT_TABLE)}`;
  const rows = await query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'super_read_only', 'innodb_read_only')");
  const on = rows.filter((row) => ['ON', '1'].includes(String(row.Value).toUpperCase())).map((row) => `${String(row.Variable_name).toLowerCase()}=ON`);
  // Checked up front: accounts with SUPER or READ_ONLY ADMIN write through read_only, so the write alone proves nothing.
  if (on.length > 0) throw new NodeNotWritableError(`node ${node.id} is read-only (${on.join(', ')}); it is not the shard's writer`);
  const writer = mysql.escape(node.id);
  try {
    await query(`CREATE TABLE IF NOT EXISTS ${table} (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, written_at DATETIME(6) NOT NULL, written_by VARCHAR(255) NOT NULL) ENGINE=InnoDB`);
    await query(`INSERT INTO ${table} (id, written_at, written_by) VALUES (1, UTC_TIMESTAMP(6), ${writer}) ON DUPLICATE KEY UPDATE written_at = UTC_TIMESTAMP(6), written_by = ${writer}`);
  } catch (error) {
    if (error instanceof Error && 'errno' in error && error.errno === ER_OPTION_PREVENTS_STATEMENT) {
      throw new NodeNotWritableError(`node ${node.id} refused the write probe: ${error.message}`);
    }
    throw error;
  }
}

export interface MysqlReplicationAdminOptions {
  credentials: NodeCredentials;
  connectTimeoutMs?: number;
  /** Per statement; STOP SLAVE waits for a running transaction. */
  queryTimeoutMs?: number;
  tls?: TlsMode;
  /** How long promote waits for the relay log to be applied, and repoint for replication to run. */
  waitTimeoutMs?: number;
  pollMs?: number;
}

export interface MysqlReplicationAdmin extends ReplicationAdmin {
  /** The node's own GTID position: MariaDB gtid_current_pos, MySQL gtid_executed. */
  gtidPosition(node: ShardNode): Promise<string>;
}

/**
 * ReplicationAdmin for self-managed MariaDB and MySQL 8 (the flavor is detected per node).
 * One short-lived connection per operation: recoveries are rare and must not reuse a
 * connection the failure may have broken. Replicas use the source node's credentials.
 */
export function createMysqlReplicationAdmin({
  credentials,
  connectTimeoutMs = 2_000,
  queryTimeoutMs = 30_000,
  tls = 'required',
  waitTimeoutMs = 30_000,
  pollMs = 100,
}: MysqlReplicationAdminOptions): MysqlReplicationAdmin {
  const wait: WaitOptions = { timeoutMs: waitTimeoutMs, pollMs };
  const unreachable = (node: ShardNode, error: unknown) =>
    new NodeUnreachableError(`node ${node.id} (${node.host}:${node.port}) is unreachable: ${error instanceof Error ? error.message : String(error)}`, { cause: error });

  const withNode = async <T>(node: ShardNode, work: (query: QueryFn, identity: ServerIdentity) => Promise<T>): Promise<T> => {
    let connection;
    try {
      connection = await connectToNode(node, credentials, { connectTimeoutMs, tls });
    } catch (error) {
      throw isConnectionFailure(error) ? unreachable(node, error) : error;
    }
    try {
      const query = queryOver(connection, () => queryTimeoutMs);
      return await work(query, await identifyServer(query));
    } catch (error) {
      throw isConnectionFailure(error) ? unreachable(node, error) : error;
    } finally {
      await closeConnection(connection);
    }
  };

  return {
    promote: (node) => withNode(node, (query, identity) => promoteOver(query, identity, node, wait)),
    async repoint(replica, source) {
      assertSourceAddress(source.host, source.port);
      const sourceCredentials = await credentials.credentialsFor(source);
      await withNode(replica, (query, identity) => repointOver(query, identity, replica, source, sourceCredentials, tls, wait));
    },
    async fence(node) {
      try {
        await withNode(node, (query, identity) => fenceOver(query, identity, node));
        return true;
      } catch (error) {
        if (error instanceof NodeUnreachableError) return false;
        throw error;
      }
    },
    checkWrite: (node, database) => withNode(node, (query) => checkWriteOver(query, node, database)),
    gtidPosition: (node) =>
      withNode(node, async (query, identity) => {
        const [row] = await query(identity.flavor === 'mariadb' ? 'SELECT @@gtid_current_pos AS position' : 'SELECT @@gtid_executed AS position');
        return String(row?.position ?? '').replace(/\s+/g, '');
      }),
  };
}
