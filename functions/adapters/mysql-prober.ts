import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { gtidContains } from '../core/gtid';
import type { ShardNode } from '../core/shard-map-types';
import type { NodeCredentials } from '../ports/node-credentials';
import type { NodeObservation, NodeProber, ProbeResult, ProbeTarget, ReplicationStatus, ServerFlavor } from '../ports/node-prober';

export type Row = Record<string, unknown>;
/** Runs one statement and returns its rows: the seam the dialect code is tested through. */
export type QueryFn = (sql: string) => Promise<Row[]>;

export type TlsMode = 'required' | 'off';

export interface NodeConnectionOptions {
  connectTimeoutMs: number;
  /**
   * 'required' verifies the server certificate against the runtime's trust store. In Lambda
   * (Node 20+) the RDS CAs are only trusted with NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem.
   */
  tls: TlsMode;
}

const ER_ACCESS_DENIED = 1045;
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

const errno = (error: unknown): unknown => (error instanceof Object && 'errno' in error ? error.errno : undefined);
const errorCode = (error: unknown): unknown => (error instanceof Object && 'code' in error ? error.code : undefined);

/** mysql2's connect timeout and query timeout. */
export function isTimeout(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ETIMEDOUT' || code === 'PROTOCOL_SEQUENCE_TIMEOUT';
}

/** Refused, reset, lost or timed out, as opposed to an error the server answered with (errno >= 1000). */
export function isConnectionFailure(error: unknown): boolean {
  const answered = typeof errno(error) === 'number' && (errno(error) as number) > 0;
  return isTimeout(error) || (error instanceof Object && 'fatal' in error && error.fatal === true && !answered);
}

/**
 * Opens one connection to a node. On "access denied" the cached credentials are dropped and
 * the connection retried once, since a rotated secret looks exactly like that.
 */
export async function connectToNode(
  node: ShardNode,
  credentials: NodeCredentials,
  { connectTimeoutMs, tls }: NodeConnectionOptions,
  onLost: () => void = () => {},
): Promise<Connection> {
  const connect = async () => {
    const { user, password } = await credentials.credentialsFor(node);
    const connection = await mysql.createConnection({
      host: node.host,
      port: node.port,
      user,
      password,
      connectTimeout: connectTimeoutMs,
      ...(tls === 'required' ? { ssl: { rejectUnauthorized: true, minVersion: 'TLSv1.2' } } : {}),
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    // An idle connection that dies emits 'error'; without a listener that would crash the process.
    connection.on('error', onLost);
    connection.on('end', onLost);
    return connection;
  };
  try {
    return await connect();
  } catch (error) {
    if (errno(error) !== ER_ACCESS_DENIED || !credentials.invalidate) throw error;
    credentials.invalidate(node);
    return connect();
  }
}

/** Closes politely, but never waits on a server that stopped answering. */
export async function closeConnection(connection: Connection, waitMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([connection.end().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  connection.destroy();
}

/** A QueryFn over a mysql2 connection; `timeoutMs` is asked per statement. */
export function queryOver(connection: Connection, timeoutMs: () => number): QueryFn {
  return async (sql) => {
    const timeout = Math.ceil(timeoutMs());
    if (timeout <= 0) throw Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true });
    const [rows] = await connection.query<RowDataPacket[]>({ sql, timeout });
    return rows as Row[];
  };
}

// ---------------------------------------------------------------------------------------------
// Dialects

export interface ServerIdentity {
  flavor: ServerFlavor;
  /** MySQL or MariaDB server version; Aurora's own version (`3.05.2`) for Aurora. */
  version: string;
  /** MySQL 8.0.22+: SHOW REPLICA STATUS, START/STOP/RESET REPLICA. */
  replicaStatements: boolean;
  /** MySQL 8.0.23+: CHANGE REPLICATION SOURCE TO with SOURCE_* options. */
  sourceStatements: boolean;
  /** Aurora: this instance's SERVER_ID in information_schema.replica_host_status. */
  auroraServerId: string | null;
}

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text) ?? []).slice(1).map((part) => Number(part ?? 0));
  return [major, minor, patch];
}

/** `8.0.36-log` is at least [8, 0, 22]. */
export function versionAtLeast(text: string, wanted: Version): boolean {
  const version = parseVersion(text);
  for (let i = 0; i < 3; i++) if (version[i] !== wanted[i]) return version[i]! > wanted[i]!;
  return true;
}

const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/** Flavor and version: MariaDB by its version string, Aurora by `@@aurora_version` existing. */
export async function identifyServer(query: QueryFn): Promise<ServerIdentity> {
  const [row] = await query('SELECT @@version AS version, @@version_comment AS version_comment');
  const version = text(row?.version);
  if (/mariadb/i.test(`${version} ${text(row?.version_comment)}`)) {
    // MariaDB keeps the SLAVE vocabulary: its REPLICA aliases still return Slave_* columns.
    return { flavor: 'mariadb', version: version.split('-')[0]!, replicaStatements: false, sourceStatements: false, auroraServerId: null };
  }
  let aurora: Row | undefined;
  try {
    [aurora] = await query('SELECT @@aurora_version AS aurora_version, @@aurora_server_id AS aurora_server_id');
  } catch (error) {
    if (errno(error) !== ER_UNKNOWN_SYSTEM_VARIABLE) throw error;
  }
  if (aurora) {
    const auroraVersion = text(aurora.aurora_version);
    // Aurora MySQL 3 is MySQL 8.0.23+ compatible; 2 is 5.7.
    const modern = parseVersion(auroraVersion)[0] >= 3;
    return { flavor: 'aurora-mysql', version: auroraVersion, replicaStatements: modern, sourceStatements: modern, auroraServerId: text(aurora.aurora_server_id) };
  }
  return {
    flavor: 'mysql',
    version: version.split('-')[0]!,
    replicaStatements: versionAtLeast(version, [8, 0, 22]),
    sourceStatements: versionAtLeast(version, [8, 0, 23]),
    auroraServerId: null,
  };
}

const VARIABLES = ['read_only', 'super_read_only', 'innodb_read_only', 'max_connections', 'gtid_mode', 'gtid_executed', 'gtid_current_pos', 'gtid_slave_pos'];
const STATUS = [
  'Threads_running',
  'Threads_connected',
  'Uptime',
  'Innodb_buffer_pool_pages_data',
  'Innodb_buffer_pool_pages_total',
  'Innodb_buffer_pool_read_requests',
  'Innodb_buffer_pool_reads',
];

/** `SHOW ... WHERE Variable_name IN` works on every flavor and simply omits what a server lacks. */
async function nameValues(query: QueryFn, statement: 'SHOW GLOBAL VARIABLES' | 'SHOW GLOBAL STATUS', names: string[]): Promise<Map<string, string>> {
  const rows = await query(`${statement} WHERE Variable_name IN (${names.map((name) => `'${name}'`).join(', ')})`);
  return new Map(rows.map((row) => [text(row.Variable_name).toLowerCase(), text(row.Value)]));
}

export function replicaStatusStatement(identity: ServerIdentity): string {
  return identity.replicaStatements ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS';
}

const isOn = (value: string | undefined) => value !== undefined && ['ON', '1'].includes(value.toUpperCase());
const num = (value: unknown): number | null => (value === null || value === undefined || value === '' ? null : Number(value));
const nonEmpty = (value: unknown): string | null => {
  const content = text(value).trim();
  return content === '' ? null : content;
};
/** MySQL prints long GTID sets over several lines. */
const gtidText = (value: unknown): string => text(value).replace(/\s+/g, '');

/** The replica row of the default channel: MySQL 8.0.22+ names (`Replica_*`, `Source_*`) or the older `Slave_*`, `Master_*`. */
export function replicationFromRow(row: Row, flavor: ServerFlavor, slavePos: string | undefined): ReplicationStatus {
  const pick = (modern: string, legacy: string) => (row[modern] !== undefined ? row[modern] : row[legacy]);
  const io = text(pick('Replica_IO_Running', 'Slave_IO_Running')).toLowerCase();
  const ioState = io === 'yes' ? 'yes' : io === 'connecting' ? 'connecting' : 'no';

  const sourceFile = text(pick('Source_Log_File', 'Master_Log_File'));
  const relaySourceFile = text(pick('Relay_Source_Log_File', 'Relay_Master_Log_File'));
  const positionsApplied = sourceFile === relaySourceFile && num(pick('Read_Source_Log_Pos', 'Read_Master_Log_Pos')) === num(pick('Exec_Source_Log_Pos', 'Exec_Master_Log_Pos'));

  let gtidExecuted: string | null;
  let received: string;
  let relayLogApplied: boolean;
  if (flavor === 'mariadb') {
    gtidExecuted = slavePos ?? null;
    received = gtidText(row.Gtid_IO_Pos);
    relayLogApplied = text(row.Using_Gtid).toLowerCase() !== 'no' && received !== '' ? gtidContains(gtidExecuted, received) : positionsApplied;
  } else {
    gtidExecuted = gtidText(row.Executed_Gtid_Set);
    received = gtidText(row.Retrieved_Gtid_Set);
    relayLogApplied = received !== '' ? gtidContains(gtidExecuted, received) : positionsApplied;
  }

  const errors = [nonEmpty(row.Last_IO_Error), nonEmpty(row.Last_SQL_Error)].filter((error) => error !== null);
  return {
    sourceHost: nonEmpty(pick('Source_Host', 'Master_Host')),
    sourcePort: num(pick('Source_Port', 'Master_Port')),
    ioRunning: ioState === 'yes',
    ioState,
    sqlRunning: text(pick('Replica_SQL_Running', 'Slave_SQL_Running')).toLowerCase() === 'yes',
    lagSeconds: num(pick('Seconds_Behind_Source', 'Seconds_Behind_Master')),
    gtidExecuted,
    gtidReceived: received === '' ? null : received,
    relayLogApplied,
    lastError: errors.length > 0 ? errors.join('; ') : null,
  };
}

interface AuroraTopology {
  writer: boolean;
  /** The in-cluster view of a reader; null for the writer. */
  replication: ReplicationStatus | null;
}

/**
 * Aurora's writer is the row whose SESSION_ID is 'MASTER_SESSION_ID'. Readers share the
 * writer's storage: there is no relay log to apply and their lag is REPLICA_LAG_IN_MILLISECONDS.
 */
async function auroraTopology(query: QueryFn, serverId: string): Promise<AuroraTopology | null> {
  const rows = await query(
    'SELECT SERVER_ID AS server_id, SESSION_ID AS session_id, REPLICA_LAG_IN_MILLISECONDS AS replica_lag_ms FROM information_schema.replica_host_status',
  );
  if (rows.length === 0) return null;
  const writerRow = rows.find((row) => text(row.session_id) === 'MASTER_SESSION_ID');
  const ownRow = rows.find((row) => text(row.server_id) === serverId);
  if (writerRow && text(writerRow.server_id) === serverId) return { writer: true, replication: null };
  const lagMs = num(ownRow?.replica_lag_ms);
  return {
    writer: false,
    replication: {
      sourceHost: writerRow ? text(writerRow.server_id) : null,
      sourcePort: null,
      ioRunning: writerRow !== undefined,
      ioState: writerRow ? 'yes' : 'connecting',
      sqlRunning: ownRow !== undefined,
      lagSeconds: lagMs === null ? null : lagMs / 1000,
      gtidExecuted: null,
      gtidReceived: null,
      relayLogApplied: true,
      lastError: null,
    },
  };
}

/** Everything one probe reports about a node whose flavor is known. */
export async function observeNode(query: QueryFn, identity: ServerIdentity): Promise<NodeObservation> {
  const variables = await nameValues(query, 'SHOW GLOBAL VARIABLES', VARIABLES);
  const status = await nameValues(query, 'SHOW GLOBAL STATUS', STATUS);
  const replicaRows = await query(replicaStatusStatement(identity));
  const replicaRow = replicaRows.find((row) => text(row.Channel_Name) === '') ?? replicaRows[0];

  const superReadOnly = isOn(variables.get('super_read_only'));
  // Aurora readers are read-only through innodb_read_only, whatever read_only says.
  const readOnly = isOn(variables.get('read_only')) || superReadOnly || isOn(variables.get('innodb_read_only'));
  let writer = !readOnly;
  let replication = replicaRow ? replicationFromRow(replicaRow, identity.flavor, variables.get('gtid_slave_pos')) : null;
  if (identity.flavor === 'aurora-mysql' && identity.auroraServerId) {
    const topology = await auroraTopology(query, identity.auroraServerId);
    if (topology) {
      writer = topology.writer;
      // A binlog replication channel (an external source) says more than the cluster view.
      replication ??= topology.replication;
    }
  }

  const stat = (name: string) => Number(status.get(name.toLowerCase()) ?? 0);
  const connections = stat('Threads_connected');
  const maxConnections = Number(variables.get('max_connections') ?? 0);
  const pagesTotal = stat('Innodb_buffer_pool_pages_total');
  const readRequests = stat('Innodb_buffer_pool_read_requests');
  const gtidPosition =
    identity.flavor === 'mariadb'
      ? (variables.get('gtid_current_pos') ?? null)
      : variables.get('gtid_mode')?.toUpperCase().startsWith('ON')
        ? gtidText(variables.get('gtid_executed'))
        : null;

  return {
    flavor: identity.flavor,
    version: identity.version,
    readOnly,
    superReadOnly,
    writer,
    replication,
    threadsRunning: stat('Threads_running'),
    connections,
    maxConnections,
    connectionsPercent: maxConnections > 0 ? (connections / maxConnections) * 100 : 0,
    bufferPoolUsedPercent: pagesTotal > 0 ? (stat('Innodb_buffer_pool_pages_data') / pagesTotal) * 100 : 0,
    bufferPoolHitRatio: readRequests > 0 ? 1 - stat('Innodb_buffer_pool_reads') / readRequests : null,
    uptimeSeconds: stat('Uptime'),
    gtidPosition,
  };
}

// ---------------------------------------------------------------------------------------------
// The prober

export interface MysqlProberOptions {
  credentials: NodeCredentials;
  connectTimeoutMs?: number;
  /** Budget for all statements of one probe. */
  queryTimeoutMs?: number;
  tls?: TlsMode;
}

export interface MysqlProber extends NodeProber {
  /** Closes the connections kept between probes (end of a Lambda invocation, CLI exit). */
  close(): Promise<void>;
}

interface CachedConnection {
  connection: Connection;
  identity?: ServerIdentity;
}

type Attempt = { observation: NodeObservation } | { stale: unknown };

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The mysql2 prober. It keeps one connection per node between probes: at a 1 s interval over
 * a thousand nodes, reconnecting each time would mean a TCP+TLS+auth handshake per node per
 * second on the monitor and a new server thread per probe on every node. A cached connection
 * is dropped on any error; if it had gone stale, the probe retries once on a fresh one, so a
 * failed probe always means a fresh connection failed.
 */
export function createMysqlProber({ credentials, connectTimeoutMs = 2_000, queryTimeoutMs = 2_000, tls = 'required' }: MysqlProberOptions): MysqlProber {
  // Pending connections are cached too, so concurrent probes of one node share one connection.
  const cache = new Map<string, Promise<CachedConnection>>();
  const forget = (key: string, pending: Promise<CachedConnection>) => {
    if (cache.get(key) === pending) cache.delete(key);
  };

  const attempt = async (node: ShardNode): Promise<Attempt> => {
    const key = `${node.id}@${node.host}:${node.port}`;
    let pending = cache.get(key);
    const reused = pending !== undefined;
    if (!pending) {
      const opening: Promise<CachedConnection> = connectToNode(node, credentials, { connectTimeoutMs, tls }, () => forget(key, opening)).then((connection) => ({ connection }));
      cache.set(key, opening);
      pending = opening;
    }
    let entry: CachedConnection;
    try {
      entry = await pending;
    } catch (error) {
      forget(key, pending);
      throw error;
    }
    try {
      const deadline = performance.now() + queryTimeoutMs;
      const query = queryOver(entry.connection, () => deadline - performance.now());
      entry.identity ??= await identifyServer(query);
      return { observation: await observeNode(query, entry.identity) };
    } catch (error) {
      forget(key, pending);
      entry.connection.destroy();
      if (reused && isConnectionFailure(error) && !isTimeout(error)) return { stale: error };
      throw error;
    }
  };

  const observe = async (node: ShardNode): Promise<NodeObservation> => {
    const first = await attempt(node);
    if ('observation' in first) return first.observation;
    const second = await attempt(node);
    if ('observation' in second) return second.observation;
    throw second.stale;
  };

  return {
    async probe({ shard, node }: ProbeTarget): Promise<ProbeResult> {
      const started = performance.now();
      try {
        const observation = await observe(node);
        return { ok: true, nodeId: node.id, shard, latencyMs: performance.now() - started, observation };
      } catch (error) {
        return { ok: false, nodeId: node.id, shard, latencyMs: performance.now() - started, error: describe(error), timedOut: isTimeout(error) };
      }
    },
    async close() {
      const pending = [...cache.values()];
      cache.clear();
      await Promise.all(pending.map((opening) => opening.then(({ connection }) => closeConnection(connection), () => {})));
    },
  };
}
