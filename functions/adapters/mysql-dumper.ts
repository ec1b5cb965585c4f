import mysql, { type Connection, type QueryOptions, type RowDataPacket } from 'mysql2/promise';
import type { BinlogPosition, ColumnReading, KeyColumn, KeyKind, KeyValue, SchemaStatement } from '../core/backup-manifest';
import { keyBindValue, keysetAfter, toKeyValue, type KeyBindValue } from '../core/backup-manifest';
import { encodeRow, quoteSchemaName, serverRowEncoding, type DumpValue } from '../core/backup-sql-values';
import type { ShardNode } from '../core/shard-map-types';
import type { DumpConnection, DumpConnector, DumpedRows, RowFilter, SchemaSnapshot, TableShape } from '../ports/backup-mysql';
import type { NodeCredentials } from '../ports/node-credentials';
import type { TlsMode } from './mysql-prober';
import { SnapshotLostError, ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';

export type { TlsMode } from './mysql-prober';

export interface MysqlConnectionOptions {
  credentials: NodeCredentials;
  /** 'required' verifies the server certificate (in Lambda set NODE_EXTRA_CA_CERTS for the RDS CAs). */
  tls: TlsMode;
  connectTimeoutMs?: number;
}

export interface MysqlDumpConnectorOptions extends MysqlConnectionOptions {
  /** Rows handed to the encoder at a time. */
  batchRows?: number;
}

const ER_ACCESS_DENIED = 1045;

/**
 * A connection whose values round-trip exactly as text: dates, BIGINT and DECIMAL as strings,
 * JSON as its text, binary as Buffers; UTC so TIMESTAMP values read and write alike.
 */
export async function openBackupConnection(node: ShardNode, { credentials, tls, connectTimeoutMs = 5_000 }: MysqlConnectionOptions): Promise<Connection> {
  const connect = async () => {
    const { user, password } = await credentials.credentialsFor(node);
    const connection = await mysql.createConnection({
      host: node.host,
      port: node.port,
      user,
      password,
      connectTimeout: connectTimeoutMs,
      charset: 'utf8mb4_general_ci',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      ...(tls === 'required' ? { ssl: { rejectUnauthorized: true, minVersion: 'TLSv1.2' } } : {}),
    });
    // An idle connection that dies emits 'error'; unhandled, that would end the process.
    connection.on('error', () => {});
    await connection.query("SET SESSION time_zone = '+00:00'");
    return connection;
  };
  try {
    return await connect();
  } catch (error) {
    if ((error as { errno?: unknown }).errno !== ER_ACCESS_DENIED || !credentials.invalidate) throw error;
    credentials.invalidate(node);
    return connect();
  }
}

/** Ends a backup connection, destroying it if the polite close fails. */
export async function closeBackupConnection(connection: Connection): Promise<void> {
  await connection.end().catch(() => connection.destroy());
}

const isMariaDb = (version: string) => /mariadb/i.test(version);

type Row = Record<string, unknown>;

async function rowsOf(connection: Connection, sql: string, values: unknown[] = []): Promise<Row[]> {
  const [rows] = await connection.query<RowDataPacket[]>(sql, values);
  return rows as Row[];
}

const text = (value: unknown) => (value === null || value === undefined ? '' : Buffer.isBuffer(value) ? value.toString('utf8') : String(value));

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'year']);
const DECIMAL_TYPES = new Set(['decimal', 'numeric']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit']);
const APPROXIMATE_TYPES = new Set(['float', 'double', 'real', 'double precision']);
const SPATIAL_TYPES = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection']);

/**
 * Types a chunk cannot resume after by key: ENUM and SET sort by position but compare with a bound
 * value as text, and a FLOAT's value as read is not the one stored. A table keyed only by them is read whole.
 */
const UNRESUMABLE_KEY_TYPES = new Set(['enum', 'set', ...APPROXIMATE_TYPES]);

function keyKindOf(dataType: string): KeyKind {
  if (INTEGER_TYPES.has(dataType)) return 'integer';
  if (DECIMAL_TYPES.has(dataType)) return 'decimal';
  if (BINARY_TYPES.has(dataType)) return 'binary';
  return 'other';
}

/** Generated (virtual or stored) columns; MySQL's DEFAULT_GENERATED (an expression default) is an ordinary column. */
const isGenerated = (extra: string) => /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(extra);

/** `DEFINER=`user`@`host`` ties an object to an account the restore server may not have; the restoring account becomes the definer. */
export function withoutDefiner(sql: string): string {
  return sql.replace(/\s+DEFINER\s*=\s*(`(?:[^`]|``)*`|'[^']*'|\S+?)@(`(?:[^`]|``)*`|'[^']*'|\S+)/i, '');
}

/**
 * Drops the shard database's name where a view, trigger or routine qualifies objects with it, so a
 * restore into another database (a scratch one, a restore test) refers to its own tables.
 */
export function withoutSchemaQualifier(sql: string, database: string): string {
  const name = database.replace(/\$/g, '\\$');
  const qualifier = `(\`${name}\`|(?<![\\w$\`])${name})\\.(?=[\`\\w$])`;
  // Tried first at each position; strings, comments and other quoted names are skipped whole, so a
  // 'game.example.com' in a routine's body stays as it is.
  const skipped = `'(?:[^'\\\\]|\\\\.|'')*'|"(?:[^"\\\\]|\\\\.|"")*"|\`(?:[^\`]|\`\`)*\`|--[^\\n]*|#[^\\n]*|/\\*[\\s\\S]*?\\*/`;
  return sql.replace(new RegExp(`${qualifier}|${skipped}`, 'g'), (match, qualified: string | undefined) => (qualified === undefined ? match : ''));
}

/** Streams a query's rows in batches, pausing the socket while the consumer is behind. */
async function* batchesOf(connection: Connection, options: QueryOptions, batchRows: number): AsyncGenerator<DumpValue[][]> {
  const core = (connection as unknown as { connection: CoreConnection }).connection;
  const ready: DumpValue[][][] = [];
  let batch: DumpValue[][] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const waiting = wake;
    wake = undefined;
    waiting?.();
  };
  const query = core.query(options);
  query.on('result', (row: DumpValue[]) => {
    batch.push(row);
    if (batch.length >= batchRows) {
      ready.push(batch);
      batch = [];
      if (ready.length >= 2) core.pause();
      notify();
    }
  });
  query.on('error', (error: unknown) => {
    failure = error;
    ended = true;
    notify();
  });
  query.on('end', () => {
    if (batch.length > 0) ready.push(batch);
    batch = [];
    ended = true;
    notify();
  });
  try {
    for (;;) {
      if (failure) throw failure;
      const next = ready.shift();
      if (next) {
        if (ready.length < 2) core.resume();
        yield next;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    // A consumer that stops early must still let the result drain before the connection is reused.
    if (!ended) {
      core.resume();
      while (!ended) await new Promise<void>((resolve) => (wake = resolve));
    }
  }
}

interface CoreConnection {
  query(options: QueryOptions): NodeJS.EventEmitter;
  pause(): void;
  resume(): void;
}

/** A table's rows in key order after `after` (keyless tables: whole, unordered), streamed in batches. */
export function readTableRows(
  connection: Connection,
  database: string,
  table: Pick<TableShape, 'name' | 'columns' | 'keyColumns' | 'readAs'>,
  after: KeyValue[] | null,
  limit: number | null,
  batchRows: number,
  where?: RowFilter,
  select?: string,
): AsyncIterable<DumpValue[][]> {
  const source = `${quoteIdentifier(database, 'database')}.${quoteSchemaName(table.name)}`;
  // The server prints a double's shortest exact text (and a float's exact value once widened; `+ 0e0` widens on every
  // version); a spatial value cast to binary is its internal bytes. Plain columns keep mysql2's fast parser (no typeCast).
  const read = (name: string) => {
    const reading = table.readAs[name];
    if (reading === 'text') return `CONCAT(${quoteSchemaName(name)} + 0e0)`;
    if (reading === 'bytes') return `CAST(${quoteSchemaName(name)} AS BINARY)`;
    return quoteSchemaName(name);
  };
  const columns = select ?? table.columns.map(read).join(', ');
  const conditions: string[] = [];
  const values: KeyBindValue[] = [];
  if (where) {
    conditions.push(`${quoteSchemaName(where.column)} = ?`);
    values.push(keyBindValue(where.value, /^\d+$/.test(where.value) ? 'decimal' : 'other'));
  }
  if (table.keyColumns.length === 0) {
    if (after !== null || limit !== null) throw new ValidationError(`table ${table.name} has no usable key; it is read whole`);
  } else if (after !== null) {
    const keyset = keysetAfter(table.keyColumns, after, quoteSchemaName);
    conditions.push(keyset.sql);
    values.push(...keyset.values);
  }
  const order = table.keyColumns.length === 0 ? '' : ` ORDER BY ${table.keyColumns.map((column) => quoteSchemaName(column.name)).join(', ')}`;
  const sql = `SELECT ${columns} FROM ${source}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}${order}${limit === null ? '' : ` LIMIT ${Math.floor(limit)}`}`;
  return batchesOf(connection, { sql, values, rowsAsArray: true }, batchRows);
}

class MysqlDumpConnection implements DumpConnection {
  constructor(
    private readonly connection: Connection,
    readonly serverVersion: string,
    private readonly batchRows: number,
  ) {}

  private get mariadb(): boolean {
    return isMariaDb(this.serverVersion);
  }

  private async replicaStatus(): Promise<Row> {
    const [status] = await rowsOf(this.connection, this.mariadb ? 'SHOW SLAVE STATUS' : 'SHOW REPLICA STATUS');
    if (!status) throw new ValidationError('the node is not a replica (no replication status); a paused-replica dump needs one');
    return status;
  }

  private async sourcePosition(status: Row): Promise<BinlogPosition> {
    const file = text(status.Relay_Master_Log_File ?? status.Relay_Source_Log_File);
    const position = Number(status.Exec_Master_Log_Pos ?? status.Exec_Source_Log_Pos);
    const gtid = this.mariadb
      ? text((await rowsOf(this.connection, 'SELECT @@GLOBAL.gtid_slave_pos AS gtid'))[0]?.gtid)
      : text(status.Executed_Gtid_Set).replace(/\s+/g, '');
    return { file, position, gtid: gtid === '' ? null : gtid };
  }

  async pauseReplication(): Promise<BinlogPosition | null> {
    await this.replicaStatus();
    await this.connection.query(this.mariadb ? 'STOP SLAVE SQL_THREAD' : 'STOP REPLICA SQL_THREAD');
    return this.sourcePosition(await this.replicaStatus());
  }

  async assertPausedAt(expected: BinlogPosition | null): Promise<void> {
    const status = await this.replicaStatus();
    const running = text(status.Slave_SQL_Running ?? status.Replica_SQL_Running);
    if (running !== 'No') throw new SnapshotLostError(`the replica's SQL thread was restarted (${running}); the dump's point in time is lost`);
    const now = await this.sourcePosition(status);
    if (expected && (now.file !== expected.file || now.position !== expected.position)) {
      throw new SnapshotLostError(`the paused replica moved from ${expected.file}:${expected.position} to ${now.file}:${now.position}; the dump's point in time is lost`);
    }
  }

  async resumeReplication(): Promise<void> {
    await this.connection.query(this.mariadb ? 'START SLAVE SQL_THREAD' : 'START REPLICA SQL_THREAD');
  }

  async beginSnapshot(): Promise<BinlogPosition | null> {
    await this.connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    if (this.mariadb) {
      // MariaDB reports the binary log position that belongs to the snapshot: no global lock needed.
      await this.connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const status = Object.fromEntries((await rowsOf(this.connection, "SHOW STATUS LIKE 'binlog_snapshot_%'")).map((row) => [text(row.Variable_name).toLowerCase(), text(row.Value)]));
      const file = status.binlog_snapshot_file ?? '';
      if (file === '') return null;
      const position = Number(status.binlog_snapshot_position);
      const [gtid] = await rowsOf(this.connection, 'SELECT BINLOG_GTID_POS(?, ?) AS gtid', [file, position]);
      return { file, position, gtid: text(gtid?.gtid) || null };
    }
    // MySQL: a brief global read lock pins the position the snapshot starts at.
    await this.connection.query('FLUSH TABLES WITH READ LOCK');
    try {
      await this.connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const [status] = await rowsOf(this.connection, 'SHOW MASTER STATUS');
      if (!status) return null;
      const gtid = text(status.Executed_Gtid_Set).replace(/\s+/g, '');
      return { file: text(status.File), position: Number(status.Position), gtid: gtid === '' ? null : gtid };
    } finally {
      await this.connection.query('UNLOCK TABLES');
    }
  }

  async readSchema(database: string): Promise<SchemaSnapshot> {
    const db = quoteIdentifier(database, 'shard database');
    const tableRows = await rowsOf(
      this.connection,
      `SELECT TABLE_NAME AS name, TABLE_TYPE AS type, AVG_ROW_LENGTH AS avgRowLength, TABLE_ROWS AS estimatedRows
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`,
      [database],
    );
    const columnRows = await rowsOf(
      this.connection,
      `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, DATA_TYPE AS dataType, CHARACTER_SET_NAME AS charset, EXTRA AS extra, IS_NULLABLE AS nullable
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
      [database],
    );
    const indexRows = await rowsOf(
      this.connection,
      `SELECT TABLE_NAME AS tableName, INDEX_NAME AS indexName, NON_UNIQUE AS nonUnique, COLUMN_NAME AS columnName, SUB_PART AS subPart
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
      [database],
    );

    const columnsOf = new Map<string, Row[]>();
    for (const row of columnRows) columnsOf.set(text(row.tableName), [...(columnsOf.get(text(row.tableName)) ?? []), row]);
    const indexesOf = new Map<string, Map<string, Row[]>>();
    for (const row of indexRows) {
      const byIndex = indexesOf.get(text(row.tableName)) ?? new Map<string, Row[]>();
      byIndex.set(text(row.indexName), [...(byIndex.get(text(row.indexName)) ?? []), row]);
      indexesOf.set(text(row.tableName), byIndex);
    }

    const tables: TableShape[] = [];
    const statements: SchemaStatement[] = [];
    const views: string[] = [];
    // MariaDB sequences first (a table's DEFAULT NEXTVAL names one); after the data, each is set to
    // the value it had reached: its next uncached value, so no value handed out is handed out again.
    for (const row of tableRows.filter((candidate) => text(candidate.type) === 'SEQUENCE')) {
      const name = text(row.name);
      const [create] = await rowsOf(this.connection, `SHOW CREATE SEQUENCE ${db}.${quoteSchemaName(name)}`);
      const [state] = await rowsOf(this.connection, `SELECT next_not_cached_value AS next, cycle_count AS round FROM ${db}.${quoteSchemaName(name)}`);
      statements.unshift({ kind: 'sequence', name, phase: 'pre-data', sql: text(create?.['Create Table']) });
      const next = text(state?.next);
      const round = text(state?.round);
      if (!/^-?\d+$/.test(next) || !/^\d+$/.test(round)) throw new ValidationError(`sequence ${name} reports no current value`);
      statements.push({ kind: 'sequence', name, phase: 'post-data', sql: `DO SETVAL(${quoteSchemaName(name)}, ${next}, 0, ${round})` });
    }
    for (const row of tableRows) {
      const name = text(row.name);
      const type = text(row.type);
      if (type === 'VIEW') {
        views.push(name);
        continue;
      }
      // Temporary tables carry no rows a dump restores.
      if (type !== 'BASE TABLE' && type !== 'SYSTEM VERSIONED') continue;
      const columns = columnsOf.get(name) ?? [];
      const stored = columns.filter((column) => !isGenerated(text(column.extra)));
      const readAs = Object.fromEntries(
        stored.flatMap((column): [string, ColumnReading][] => {
          const type = text(column.dataType).toLowerCase();
          if (APPROXIMATE_TYPES.has(type)) return [[text(column.name), 'text']];
          return SPATIAL_TYPES.has(type) ? [[text(column.name), 'bytes']] : [];
        }),
      );
      tables.push({
        name,
        columns: stored.map((column) => text(column.name)),
        keyColumns: chooseKey(columns, indexesOf.get(name) ?? new Map()),
        readAs,
        columnTypes: stored.map((column) => ({ name: text(column.name), dataType: text(column.dataType), charset: column.charset === null ? null : text(column.charset) })),
        avgRowLength: Number(row.avgRowLength ?? 0),
        estimatedRows: Number(row.estimatedRows ?? 0),
      });
      const [create] = await rowsOf(this.connection, `SHOW CREATE TABLE ${db}.${quoteSchemaName(name)}`);
      statements.push({ kind: 'table', name, phase: 'pre-data', sql: text(create?.['Create Table']) });
    }

    const routines = await rowsOf(this.connection, 'SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME', [database]);
    for (const routine of routines) {
      const type = text(routine.type) === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE';
      const [create] = await rowsOf(this.connection, `SHOW CREATE ${type} ${db}.${quoteSchemaName(text(routine.name))}`);
      const sql = text(create?.[type === 'FUNCTION' ? 'Create Function' : 'Create Procedure']);
      if (sql === '') throw new ValidationError(`the dump account may not read the definition of ${type.toLowerCase()} ${text(routine.name)}`);
      statements.push({ kind: 'routine', name: text(routine.name), phase: 'pre-data', sql: withoutSchemaQualifier(withoutDefiner(sql), database), sqlMode: text(create?.sql_mode) });
    }

    for (const view of views) {
      const [create] = await rowsOf(this.connection, `SHOW CREATE VIEW ${db}.${quoteSchemaName(view)}`);
      statements.push({ kind: 'view', name: view, phase: 'pre-data', sql: withoutSchemaQualifier(withoutDefiner(text(create?.['Create View'])), database) });
    }

    const triggers = await rowsOf(this.connection, 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER', [database]);
    for (const trigger of triggers) {
      const [create] = await rowsOf(this.connection, `SHOW CREATE TRIGGER ${db}.${quoteSchemaName(text(trigger.name))}`);
      statements.push({ kind: 'trigger', name: text(trigger.name), phase: 'post-data', sql: withoutSchemaQualifier(withoutDefiner(text(create?.['SQL Original Statement'])), database), sqlMode: text(create?.sql_mode) });
    }
    return { tables, statements };
  }

  async *rows(database: string, table: TableShape, after: KeyValue[] | null, limit: number | null): AsyncIterable<DumpedRows> {
    const keyed = table.keyColumns.length > 0;
    // Rebuilt from the recorded types, so no SQL text from the catalog is ever run.
    const rowSql = table.columnTypes && serverRowEncoding(table.columnTypes, table.readAs);
    if (rowSql) {
      // The row comes encoded by the server, then its key: [tuple, key1, key2, ...].
      const select = [rowSql, ...table.keyColumns.map((column) => quoteSchemaName(column.name))].join(', ');
      for await (const batch of readTableRows(this.connection, database, table, after, limit, this.batchRows, undefined, select)) {
        yield { encoded: batch.map((row) => row[0] as Buffer), lastKey: keyed ? batch.at(-1)!.slice(1).map(toKeyValue) : null };
      }
      return;
    }
    const keyIndexes = table.keyColumns.map((column) => table.columns.indexOf(column.name));
    for await (const batch of readTableRows(this.connection, database, table, after, limit, this.batchRows)) {
      const last = batch.at(-1)!;
      yield { encoded: batch.map((row) => Buffer.from(encodeRow(row), 'utf8')), lastKey: keyed ? keyIndexes.map((index) => toKeyValue(last[index])) : null };
    }
  }

  async close(): Promise<void> {
    await closeBackupConnection(this.connection);
  }
}

/** The primary key, else the first unique key over NOT NULL, whole (unprefixed), non-generated columns. */
function chooseKey(columns: readonly Row[], indexes: ReadonlyMap<string, Row[]>): KeyColumn[] {
  const byName = new Map(columns.map((column) => [text(column.name), column]));
  const usable = (parts: Row[]) =>
    parts.every((part) => {
      const column = byName.get(text(part.columnName));
      return (
        column !== undefined &&
        part.subPart === null &&
        text(column.nullable) === 'NO' &&
        !isGenerated(text(column.extra)) &&
        !UNRESUMABLE_KEY_TYPES.has(text(column.dataType).toLowerCase())
      );
    });
  const candidates = [...indexes.entries()].filter(([, parts]) => Number(parts[0]?.nonUnique) === 0);
  const chosen = candidates.find(([name, parts]) => name === 'PRIMARY' && usable(parts)) ?? candidates.find(([, parts]) => usable(parts));
  if (!chosen) return [];
  return chosen[1].map((part) => ({ name: text(part.columnName), kind: keyKindOf(text(byName.get(text(part.columnName))?.dataType).toLowerCase()) }));
}

/** Dumps through mysql2 connections to shard nodes, one connection per invocation. */
export function createMysqlDumpConnector(options: MysqlDumpConnectorOptions): DumpConnector {
  return {
    async connect(node: ShardNode): Promise<DumpConnection> {
      const connection = await openBackupConnection(node, options);
      const [version] = await rowsOf(connection, 'SELECT VERSION() AS version');
      return new MysqlDumpConnection(connection, text(version?.version), options.batchRows ?? 2_000);
    },
  };
}
