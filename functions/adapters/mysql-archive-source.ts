import type { PoolConnection as CorePoolConnection } from 'mysql2';
import type { Pool, PoolConnection, QueryValues, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { INTEGER_COLUMN_TYPES, INTEGER_TEXT, inScanOrder, integerSpan, keyString, keyValues, lockedRowsMatcher, nextDayStart, type CursorValues, type SourceRow, type SourceValue } from '../core/archive-batch';
import { filterSql, type FilterCondition } from '../core/archive-filter';
import { boundLiteral, type Partition, type PartitionScheme } from '../core/archive-partitions';
import { primaryOf } from '../core/shard-map';
import type { Shard } from '../core/shard-map-types';
import type {
  ArchiveSource,
  BatchQuery,
  ColumnInfo,
  DeleteOutcome,
  DeleteRequest,
  IndexInfo,
  RangeQuery,
  ServerVersion,
  TableDescription,
  PlannedTake,
  TakenBatch,
} from '../ports/archive-source';
import type { NodeCredentials } from '../ports/node-credentials';
import { ConflictError, NodeUnreachableError, NotFoundError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';
import { createMysqlPool, releaseRolledBack, retryingDeadlocks, type MysqlPoolOptions } from './mysql-executor';

const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit']);
/** Keys per IN list: statements stay small and each lock/delete round trip stays short. */
const KEYS_PER_STATEMENT = 1_000;
const LOCK_WAIT_SECONDS = 10;
/** A batch is read by primary-key range while the range spans fewer than this many keys per row in it. */
const SPAN_PER_ROW = 2;

export interface MysqlArchiveSourceOptions {
  /** `auto`: MariaDB ≥ 10.7 converts a partition to a table in one statement; others exchange it under a write lock. */
  detachStrategy?: 'auto' | 'exchange';
  /**
   * `auto`: MariaDB takes a batch with an integer primary key as one DELETE … RETURNING, committed
   * once its object is verified (takeBatch), and deletes other batches, read first, in one checked
   * DELETE … RETURNING; MySQL locks and reads a batch's range, then deletes. `checked`: MariaDB reads
   * every batch first. `lock-then-delete`: MySQL's way on any server.
   */
  deleteStrategy?: 'auto' | 'checked' | 'lock-then-delete';
}

/**
 * A pool for one shard database whose sessions read times in UTC, take no gap locks (READ
 * COMMITTED) and give up on a row lock after a few seconds instead of queueing behind the game.
 */
export function createArchivePool(options: MysqlPoolOptions): Pool {
  const pool = createMysqlPool(options);
  // The event hands over the callback-style connection, whatever the promise typings say.
  pool.on('connection', (promised) => {
    const connection = promised as unknown as CorePoolConnection;
    const report = (error: unknown) => {
      // A session without these settings must not be used; destroying it makes the pool open another.
      if (error) connection.destroy();
    };
    connection.query(`SET time_zone = '+00:00', innodb_lock_wait_timeout = ${LOCK_WAIT_SECONDS}`, report);
    connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', report);
  });
  return pool;
}

const identifierList = (columns: readonly string[]) => columns.map((column) => quoteIdentifier(column)).join(', ');

/** Integer columns are compared as numbers (a string literal would compare BIGINTs as doubles); the value is checked first. */
const numericLiteral = (value: string | number) => {
  const text = String(value);
  if (!INTEGER_TEXT.test(text)) throw new RangeError(`${JSON.stringify(value)} is not an integer`);
  return { toSqlString: () => text };
};

/** The ArchiveSource over a pool from createArchivePool, bound to the shard database `database`. */
export function createMysqlArchiveSource(pool: Pool, database: string, options: MysqlArchiveSourceOptions = {}): ArchiveSource {
  const db = quoteIdentifier(database, 'shard database');
  const table = (name: string) => `${db}.${quoteIdentifier(name, 'table')}`;
  const columnTypes = new Map<string, Map<string, ColumnInfo>>();
  const indexCache = new Map<string, IndexInfo[]>();

  async function rows(sql: string, values?: QueryValues, on: Pool | PoolConnection = pool): Promise<RowDataPacket[]> {
    return unreachableOnConnectionLoss(database, (on as Pool).query<RowDataPacket[]>(sql, values).then(([result]) => result));
  }
  async function run(sql: string, values?: QueryValues, on: Pool | PoolConnection = pool): Promise<ResultSetHeader> {
    return unreachableOnConnectionLoss(database, (on as Pool).query<ResultSetHeader>(sql, values).then(([result]) => result));
  }

  /**
   * Hands a statement's rows to `onRow` as they arrive instead of collecting them, so a row is
   * garbage as soon as it has been looked at.
   */
  async function eachRow(sql: string, values: QueryValues, connection: PoolConnection, onRow: (row: SourceRow) => void): Promise<void> {
    const core = (connection as unknown as { connection: CorePoolConnection }).connection;
    return unreachableOnConnectionLoss(
      database,
      new Promise<void>((resolve, reject) => {
        let failure: unknown;
        // A query without a callback reports a lost connection on the connection, not on itself.
        const lost = (error: unknown) => settle(error);
        const settle = (error: unknown) => {
          core.removeListener('error', lost);
          if (error === undefined) resolve();
          else reject(error);
        };
        core.once('error', lost);
        core
          .query(sql, values)
          .on('result', (row) => {
            if (failure !== undefined) return;
            try {
              onRow(row as unknown as SourceRow);
            } catch (error) {
              failure = error;
            }
          })
          .on('error', (error) => (failure ??= error))
          .on('end', () => settle(failure));
      }),
    );
  }

  const commit = async (connection: PoolConnection) => unreachableOnConnectionLoss(database, connection.commit());

  /**
   * Runs `work` in a transaction on its own connection; `work` commits (or rolls back) itself. A
   * transaction InnoDB rolls back to end a deadlock (deletes of batches whose keys interleave) runs again.
   */
  async function inTransaction<T>(isolation: 'READ COMMITTED' | 'REPEATABLE READ' | undefined, work: (connection: PoolConnection) => Promise<T>): Promise<T> {
    return retryingDeadlocks(async () => {
      const connection = await unreachableOnConnectionLoss(database, pool.getConnection());
      try {
        if (isolation) await run(`SET TRANSACTION ISOLATION LEVEL ${isolation}`, undefined, connection);
        await unreachableOnConnectionLoss(database, connection.beginTransaction());
        const result = await work(connection);
        connection.release();
        return result;
      } catch (error) {
        await releaseRolledBack(connection);
        throw error;
      }
    });
  }

  async function describeTable(name: string): Promise<TableDescription | undefined> {
    const columns = await rows(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, IS_NULLABLE AS nullable, EXTRA AS extra
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [database, name],
    );
    if (columns.length === 0) return undefined;
    const statistics = await rows(
      `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS columnName
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      [database, name],
    );
    const partitions = await rows(
      `SELECT PARTITION_NAME AS name, PARTITION_METHOD AS method, PARTITION_EXPRESSION AS expression, PARTITION_DESCRIPTION AS description
       FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND PARTITION_NAME IS NOT NULL ORDER BY PARTITION_ORDINAL_POSITION`,
      [database, name],
    );
    const indexes = new Map<string, IndexInfo>();
    for (const stat of statistics) {
      const index = indexes.get(String(stat.name)) ?? { name: String(stat.name), unique: Number(stat.nonUnique) === 0, columns: [] };
      index.columns.push(String(stat.columnName));
      indexes.set(index.name, index);
    }
    const described: TableDescription = {
      name,
      columns: columns.map((column) => ({
        name: String(column.name),
        dataType: String(column.dataType).toLowerCase(),
        nullable: String(column.nullable) === 'YES',
        binary: BINARY_TYPES.has(String(column.dataType).toLowerCase()),
        generated: /GENERATED/i.test(String(column.extra ?? '')),
      })),
      indexes: [...indexes.values()],
      partitions: partitions.map((partition) => ({
        name: String(partition.name),
        method: String(partition.method),
        expression: String(partition.expression),
        description: String(partition.description),
      })),
    };
    columnTypes.set(name, new Map(described.columns.map((column) => [column.name, column])));
    indexCache.set(name, described.indexes);
    return described;
  }

  async function serverVersion(): Promise<ServerVersion> {
    const [row] = await rows('SELECT VERSION() AS version');
    const version = String(row?.version ?? '');
    return { flavor: /mariadb/i.test(version) ? 'mariadb' : 'mysql', version };
  }

  let server: Promise<ServerVersion> | undefined;
  /** DELETE … RETURNING exists in MariaDB (10.0+), not in MySQL. */
  async function supportsDeleteReturning(): Promise<boolean> {
    if (options.deleteStrategy === 'lock-then-delete') return false;
    server ??= serverVersion().catch((error: unknown) => {
      server = undefined;
      throw error;
    });
    return (await server).flavor === 'mariadb';
  }

  async function typesOf(name: string): Promise<Map<string, ColumnInfo>> {
    const known = columnTypes.get(name);
    if (known) return known;
    if (!(await describeTable(name))) throw new NotFoundError(`table ${database}.${name} does not exist`);
    return columnTypes.get(name)!;
  }

  /**
   * `FORCE INDEX` for the index that leads with the scan's time column and matches most of its
   * order: on a wide range the optimizer may otherwise scan (and, when locking, lock) the whole table.
   */
  function scanIndex(name: string, orderColumns: readonly string[]): string {
    const matching = (index: IndexInfo) => {
      let length = 0;
      while (length < index.columns.length && index.columns[length] === orderColumns[length]) length++;
      return length;
    };
    const best = (indexCache.get(name) ?? []).filter((index) => matching(index) > 0).sort((a, b) => matching(b) - matching(a))[0];
    return best ? ` FORCE INDEX (${quoteIdentifier(best.name, 'index')})` : '';
  }

  /** A value bound against `column`: integers as checked numeric literals, everything else escaped by mysql2. */
  const bindFor = (types: Map<string, ColumnInfo>, column: string) => (value: string | number) =>
    INTEGER_COLUMN_TYPES.has(types.get(column)?.dataType ?? '') ? numericLiteral(value) : value;

  /**
   * `(c1, c2) > (v1, v2)` (or `<`) written out so the leading column bounds an index range scan;
   * `inclusive` makes the last column's comparison `>=` (`<=`).
   */
  function keyset(types: Map<string, ColumnInfo>, orderColumns: readonly string[], cursor: CursorValues, direction: '>' | '<', inclusive: boolean): { sql: string; values: unknown[] } {
    const values: unknown[] = [];
    const bound = orderColumns.map((column, index) => bindFor(types, column)(cursor[index]!));
    const disjuncts = orderColumns.map((column, index) => {
      const equalities = orderColumns.slice(0, index).map((previous, position) => {
        values.push(bound[position]);
        return `${quoteIdentifier(previous)} = ?`;
      });
      const last = index === orderColumns.length - 1;
      values.push(bound[index]);
      return [...equalities, `${quoteIdentifier(column)} ${direction}${last && inclusive ? '=' : ''} ?`].join(' AND ');
    });
    return { sql: `${quoteIdentifier(orderColumns[0]!)} ${direction}= ? AND ((${disjuncts.join(') OR (')}))`, values: [bound[0], ...values] };
  }

  /** Rows of a batch range: the cutoff, the filter and (time, key) between the batch's first and last row. */
  function rangeWhere(types: Map<string, ColumnInfo>, range: Omit<RangeQuery, 'table'>): { sql: string; values: unknown[] } {
    const where = conditions(range.orderColumns[0]!, range.before, range.filter);
    const from = keyset(types, range.orderColumns, range.from, '>', true);
    const to = keyset(types, range.orderColumns, range.to, '<', true);
    return { sql: [...where.sql, from.sql, to.sql].join(' AND '), values: [...where.values, ...from.values, ...to.values] };
  }

  /** Filter and cutoff as positional SQL; filter parameters are named in the core, so they are rebound here in order. */
  function conditions(timeColumn: string, before: string | null, filter: readonly FilterCondition[]): { sql: string[]; values: unknown[] } {
    const sql: string[] = [];
    const values: unknown[] = [];
    if (before !== null) {
      sql.push(`${quoteIdentifier(timeColumn)} < ?`);
      values.push(before);
    }
    if (filter.length > 0) {
      const fragment = filterSql(filter);
      sql.push(fragment.sql.replace(/:(filter_[0-9_]+)/g, (_, name: string) => {
        values.push(fragment.params[name]);
        return '?';
      }));
    }
    return { sql, values };
  }

  function keyTuples(types: Map<string, ColumnInfo>, keyColumns: readonly string[], keys: readonly string[]): unknown[] {
    return keys.map((key) => {
      const values = keyValues(key, keyColumns.length);
      const bound = keyColumns.map((column, index) => bindFor(types, column)(values[index]!));
      return keyColumns.length === 1 ? bound[0] : bound;
    });
  }

  /**
   * Whether a batch can be read by primary-key range: one integer key that is the whole primary
   * key, and no filter, so the time index alone finds the batch's keys.
   */
  function readsThroughPrimaryKey(query: BatchQuery, types: Map<string, ColumnInfo>): boolean {
    const key = singleIntegerKey(types, query.orderColumns.slice(1));
    const primary = indexCache.get(query.table)?.find((index) => index.name === 'PRIMARY');
    return key !== undefined && query.filter.length === 0 && primary?.columns.length === 1 && primary.columns[0] === key;
  }

  /** The query's cutoff, filter and start after its cursor. */
  function batchWhere(types: Map<string, ColumnInfo>, query: BatchQuery): { sql: string[]; values: unknown[] } {
    const where = conditions(query.orderColumns[0]!, query.before, query.filter);
    if (query.after) {
      const after = keyset(types, query.orderColumns, query.after, '>', false);
      where.sql.push(after.sql);
      where.values.push(...after.values);
    }
    return where;
  }

  const batchLimit = (query: BatchQuery) => Math.max(1, Math.floor(query.limit));
  const whereClause = (where: { sql: string[] }) => (where.sql.length > 0 ? ` WHERE ${where.sql.join(' AND ')}` : '');

  /**
   * The primary-key span, row count and last time of the batch `where` selects, from the time index
   * alone (it holds the primary key); undefined when the span is too wide for the batch's rows
   * (keys that do not grow with time).
   */
  async function primaryKeySpan(query: BatchQuery, where: { sql: string[]; values: unknown[] }, withLast = false): Promise<{ low: string; high: string; count: number; until: unknown; last?: string } | 'empty' | undefined> {
    const [time, key] = query.orderColumns.map((column) => quoteIdentifier(column));
    const order = identifierList(query.orderColumns);
    const batch = `SELECT ${order} FROM ${table(query.table)}${scanIndex(query.table, query.orderColumns)}${whereClause(where)} ORDER BY ${order} LIMIT ${batchLimit(query)}`;
    // `withLast`: the key of the batch's last row too (a window function: MariaDB 10.2+).
    const [peek] = await rows(
      withLast
        ? `SELECT MIN(${key}) AS low, MAX(${key}) AS high, COUNT(*) AS n, MAX(${time}) AS until, MAX(IF(sk_from_end = 1, ${key}, NULL)) AS last FROM (SELECT ${order}, ROW_NUMBER() OVER (ORDER BY ${query.orderColumns.map((column) => `${quoteIdentifier(column)} DESC`).join(', ')}) AS sk_from_end FROM (${batch}) AS batch) AS numbered`
        : `SELECT MIN(${key}) AS low, MAX(${key}) AS high, COUNT(*) AS n, MAX(${time}) AS until FROM (${batch}) AS batch`,
      where.values,
    );
    const count = Number(peek?.n ?? 0);
    if (count === 0) return 'empty';
    const [low, high] = [String(peek!.low), String(peek!.high)];
    if (BigInt(high) - BigInt(low) >= BigInt(count * SPAN_PER_ROW)) return undefined;
    return { low, high, count, until: peek!.until, ...(withLast ? { last: String(peek!.last) } : {}) };
  }

  /** Key spans of the takes whose delete statement has not finished. */
  const runningTakes = new Set<{ low: bigint; high: bigint; done: Promise<unknown> }>();

  /** Runs a take's delete in a transaction left open, handing its rows and the commit to the caller. */
  async function deleteTaken(sql: string, values: unknown[], query: BatchQuery): Promise<TakenBatch> {
    const connection = await unreachableOnConnectionLoss(database, pool.getConnection());
    const taken: SourceRow[] = [];
    try {
      await unreachableOnConnectionLoss(database, connection.beginTransaction());
      await eachRow(sql, values, connection, (row) => taken.push(row));
    } catch (error) {
      await releaseRolledBack(connection);
      throw error;
    }
    let open = true;
    return {
      rows: inScanOrder(taken, query.orderColumns[0]!, query.orderColumns[1]!),
      async commit() {
        open = false;
        try {
          await commit(connection);
        } catch (error) {
          await releaseRolledBack(connection);
          throw error;
        }
        connection.release();
      },
      async rollback() {
        if (!open) return;
        open = false;
        await releaseRolledBack(connection);
      },
    };
  }

  /** Which of `keys` the table holds, locked until the transaction ends. */
  async function lockedKeys(connection: PoolConnection, name: string, types: Map<string, ColumnInfo>, keyColumns: readonly string[], keys: readonly string[]): Promise<Set<string>> {
    const present = new Set<string>();
    for (let start = 0; start < keys.length; start += KEYS_PER_STATEMENT) {
      const chunk = keyTuples(types, keyColumns, keys.slice(start, start + KEYS_PER_STATEMENT));
      const found = await rows(`SELECT ${identifierList(keyColumns)} FROM ${table(name)} WHERE ${keyList(keyColumns)} FOR UPDATE`, [chunk], connection);
      for (const row of found) present.add(keyString(row, keyColumns));
    }
    return present;
  }

  const keyList = (keyColumns: readonly string[]) =>
    keyColumns.length === 1 ? `${quoteIdentifier(keyColumns[0]!)} IN (?)` : `(${identifierList(keyColumns)}) IN (?)`;

  return {
    database,

    serverVersion,

    describeTable,

    async listTables(prefix: string): Promise<string[]> {
      const escaped = prefix.replace(/[\\_%]/g, (char) => `\\${char}`);
      const found = await rows(
        `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE ? ORDER BY TABLE_NAME`,
        [database, `${escaped}%`],
      );
      return found.map((row) => String(row.name));
    },

    async selectBatch(query: BatchQuery): Promise<SourceRow[]> {
      const types = await typesOf(query.table);
      const where = batchWhere(types, query);
      const columns = identifierList(query.columns);
      if (readsThroughPrimaryKey(query, types)) {
        // Its rows by a primary-key range: when keys grow with time, that range holds little else,
        // and the server is spared a primary-key lookup per row.
        const span = await primaryKeySpan(query, where);
        if (span === 'empty') return [];
        if (span) {
          const [time, key] = query.orderColumns.map((column) => quoteIdentifier(column));
          const found = await rows(
            `SELECT ${columns} FROM ${table(query.table)} FORCE INDEX (PRIMARY) WHERE ${key} BETWEEN ? AND ? AND ${time} <= ?${where.sql.map((condition) => ` AND ${condition}`).join('')} ORDER BY ${key}`,
            [numericLiteral(span.low), numericLiteral(span.high), span.until, ...where.values],
          );
          // Rows of the range past the batch (later times under keys inside it) sort to the end.
          return inScanOrder(found as SourceRow[], query.orderColumns[0]!, query.orderColumns[1]!).slice(0, span.count);
        }
      }
      return (await rows(`SELECT ${columns} FROM ${table(query.table)}${scanIndex(query.table, query.orderColumns)}${whereClause(where)} ORDER BY ${identifierList(query.orderColumns)} LIMIT ${batchLimit(query)}`, where.values)) as SourceRow[];
    },

    async takeBatch(query: BatchQuery): Promise<PlannedTake | 'empty' | undefined> {
      if (options.deleteStrategy === 'checked' || !(await supportsDeleteReturning())) return undefined;
      const types = await typesOf(query.table);
      if (!readsThroughPrimaryKey(query, types)) return undefined;
      const where = batchWhere(types, query);
      const [time, key] = query.orderColumns.map((column) => quoteIdentifier(column));
      const [first] = await rows(
        `SELECT ${time} AS time FROM ${table(query.table)}${scanIndex(query.table, query.orderColumns)}${whereClause(where)} ORDER BY ${identifierList(query.orderColumns)} LIMIT 1`,
        where.values,
      );
      if (!first) return 'empty';
      // One object never spans two days (dt partitions).
      where.sql.push(`${time} < ?`);
      where.values.push(nextDayStart(first.time as SourceValue));
      const span = await primaryKeySpan(query, where, true);
      if (span === 'empty') return 'empty';
      if (!span?.last) return undefined;
      const columns = identifierList(query.columns);
      // Exactly the batch: its key span, up to its last (time, key). The LIMIT stops the scan at its
      // last row, so it does not read the row after it, which the next batch's delete may hold (if a
      // row of the batch went meanwhile, it does, and waits for that batch to commit).
      const sql = `DELETE FROM ${table(query.table)} WHERE ${key} BETWEEN ? AND ? AND (${time} < ? OR (${time} = ? AND ${key} <= ?)) AND ${where.sql.join(' AND ')} ORDER BY ${key} LIMIT ${span.count} RETURNING ${columns}`;
      const values = [numericLiteral(span.low), numericLiteral(span.high), span.until, span.until, numericLiteral(span.last), ...where.values];
      // Takes whose key spans meet (keys that do not quite grow with time) run one after another:
      // one would read rows the other holds until it commits, and commits go in order.
      const bounds = { low: BigInt(span.low), high: BigInt(span.high) };
      const earlier = [...runningTakes].filter((other) => other.low <= bounds.high && bounds.low <= other.high).map((other) => other.done);
      const taken = Promise.allSettled(earlier).then(() => retryingDeadlocks(() => deleteTaken(sql, values, query)));
      const running = { ...bounds, done: taken };
      runningTakes.add(running);
      taken.then(
        () => runningTakes.delete(running),
        () => runningTakes.delete(running),
      );
      return { last: [span.until as string, span.last], taken };
    },

    async countRange(query: RangeQuery): Promise<number> {
      const where = rangeWhere(await typesOf(query.table), query);
      const [row] = await rows(`SELECT COUNT(*) AS n FROM ${table(query.table)}${scanIndex(query.table, query.orderColumns)} WHERE ${where.sql}`, where.values);
      return Number(row?.n ?? 0);
    },

    async countEligible(name: string, timeColumn: string, before: string | null, filter: readonly FilterCondition[]): Promise<number> {
      const where = conditions(timeColumn, before, filter);
      const [row] = await rows(`SELECT COUNT(*) AS n FROM ${table(name)}${whereClause(where)}`, where.values);
      return Number(row?.n ?? 0);
    },

    async countRows(name: string): Promise<number> {
      const [row] = await rows(`SELECT COUNT(*) AS n FROM ${table(name)}`);
      return Number(row?.n ?? 0);
    },

    async deleteArchived(request: DeleteRequest): Promise<DeleteOutcome> {
      const types = await typesOf(request.table);
      const where = rangeWhere(types, request.range);
      const columns = identifierList(request.columns);
      const order = identifierList(request.range.orderColumns);
      const source = table(request.table);

      if (await supportsDeleteReturning()) {
        // MariaDB: delete the range and read what went in one statement. Anything unexpected (a changed
        // row, a row inserted into the range, an archived row missing from it but still under its key)
        // rolls it back, and the locked read below decides. So no gap locks are needed and batches next
        // to each other can be deleted at once. An integer key's span lets the server walk the clustered
        // index instead of the time index plus lookups. The LIMIT, the archived row count, stops the scan at the
        // batch's last row: reading one row further would wait on the next batch's delete, which holds
        // that row. Without a span the order is the time column's alone, which the time index gives;
        // a partitioned table would sort the whole range for (time, key) and so read past its end.
        const span = integerKeySpan(types, request.keyColumns, request.archived.keys());
        const key = quoteIdentifier(request.keyColumns[0]!);
        const scan = span ? ` AND ${key} BETWEEN ${span.min} AND ${span.max} ORDER BY ${key}` : ` ORDER BY ${quoteIdentifier(request.range.orderColumns[0]!)}`;
        const fast = await inTransaction('READ COMMITTED', async (connection) => {
          const matcher = lockedRowsMatcher(request.archived, request.keyColumns, request.columns);
          await eachRow(`DELETE FROM ${source} WHERE ${where.sql}${scan} LIMIT ${request.archived.size} RETURNING ${columns}`, where.values, connection, matcher.add);
          const match = matcher.result();
          if (match.changed.length === 0 && match.unexpected === 0 && (await lockedKeys(connection, request.table, types, request.keyColumns, match.missing)).size === 0) {
            await commit(connection);
            return { deleted: match.matching.length, missing: match.missing.length, changed: [] } satisfies DeleteOutcome;
          }
          await connection.rollback();
          return undefined;
        });
        if (fast) return fast;
      }

      // Next-key locks on the range keep new rows out of it until commit, so when the range holds
      // exactly the archived rows, one range delete removes exactly those.
      return inTransaction('REPEATABLE READ', async (connection) => {
        const matcher = lockedRowsMatcher(request.archived, request.keyColumns, request.columns);
        await eachRow(`SELECT ${columns} FROM ${source}${scanIndex(request.table, request.range.orderColumns)} WHERE ${where.sql} ORDER BY ${order} FOR UPDATE`, where.values, connection, matcher.add);
        const match = matcher.result();
        // An archived row that is not in the range but still under its key left the range (its time or
        // a filtered column changed): it changed too. A key that includes the time column moves with it.
        const moved = [...(await lockedKeys(connection, request.table, types, request.keyColumns, match.missing))];
        if (match.changed.length > 0 || moved.length > 0) {
          await connection.rollback();
          return { deleted: 0, missing: match.missing.length - moved.length, changed: [...match.changed, ...moved] };
        }
        let deleted = 0;
        if (match.unexpected === 0) {
          // ORDER BY and LIMIT keep the delete on the index range the rows were locked through.
          deleted = (await run(`DELETE FROM ${source} WHERE ${where.sql} ORDER BY ${order} LIMIT ${match.matching.length}`, where.values, connection)).affectedRows;
          if (deleted !== match.matching.length) throw new ConflictError(`deleted ${deleted} rows of ${database}.${request.table} where ${match.matching.length} were locked; rolled back`);
        } else {
          // Rows inserted into the range since the batch was read stay: delete by key.
          for (let start = 0; start < match.matching.length; start += KEYS_PER_STATEMENT) {
            const chunk = keyTuples(types, request.keyColumns, match.matching.slice(start, start + KEYS_PER_STATEMENT));
            deleted += (await run(`DELETE FROM ${source} WHERE ${keyList(request.keyColumns)}`, [chunk], connection)).affectedRows;
          }
        }
        await commit(connection);
        return { deleted, missing: match.missing.length, changed: [] };
      });
    },

    async addPartitions(name: string, scheme: PartitionScheme, partitions: readonly Partition[], maxValuePartition: string | undefined): Promise<void> {
      if (partitions.length === 0) return;
      const definitions = partitions.map(
        (partition) => `PARTITION ${quoteIdentifier(partition.name, 'partition')} VALUES LESS THAN (${boundLiteral(scheme, partition.lessThan!)})`,
      );
      if (maxValuePartition) {
        const max = quoteIdentifier(maxValuePartition, 'partition');
        await run(`ALTER TABLE ${table(name)} REORGANIZE PARTITION ${max} INTO (${definitions.join(', ')}, PARTITION ${max} VALUES LESS THAN (MAXVALUE))`);
      } else {
        await run(`ALTER TABLE ${table(name)} ADD PARTITION (${definitions.join(', ')})`);
      }
    },

    async detachPartition(name: string, partition: string, detached: string): Promise<void> {
      const source = table(name);
      const target = table(detached);
      const part = quoteIdentifier(partition, 'partition');
      const existing = await describeTable(detached);
      const sourceDescription = await describeTable(name);
      const partitionPresent = sourceDescription?.partitions.some((candidate) => candidate.name === partition) ?? false;
      if (!existing) {
        if (!partitionPresent) throw new NotFoundError(`partition ${partition} of ${database}.${name} does not exist`);
        const server = await serverVersion();
        if (options.detachStrategy !== 'exchange' && server.flavor === 'mariadb' && versionAtLeast(server.version, [10, 7])) {
          // One DDL: the partition's rows become the new table and the partition is gone, with no window in between.
          await run(`ALTER TABLE ${source} CONVERT PARTITION ${part} TO TABLE ${target}`);
          columnTypes.delete(detached);
          return;
        }
        await run(`CREATE TABLE ${target} LIKE ${source}`);
      }
      if ((await describeTable(detached))!.partitions.length > 0) await run(`ALTER TABLE ${target} REMOVE PARTITIONING`);
      if (!partitionPresent) return;
      // Exchange and drop under one write lock, so no insert can land in the emptied partition before it is dropped.
      const connection = await unreachableOnConnectionLoss(database, pool.getConnection());
      try {
        await run(`LOCK TABLES ${source} WRITE, ${target} WRITE`, undefined, connection);
        const [detachedRow] = await rows(`SELECT COUNT(*) AS n FROM ${target}`, undefined, connection);
        if (Number(detachedRow?.n ?? 0) === 0) {
          await run(`ALTER TABLE ${source} EXCHANGE PARTITION ${part} WITH TABLE ${target}`, undefined, connection);
        } else {
          // Exchanged by an interrupted run, whose lock went with it: rows written since would be dropped with the partition.
          const [late] = await rows(`SELECT COUNT(*) AS n FROM ${source} PARTITION (${part})`, undefined, connection);
          if (Number(late?.n ?? 0) > 0) {
            throw new ConflictError(
              `partition ${partition} of ${database}.${name} holds ${Number(late!.n)} rows written after it was exchanged into ${detached}; ` +
                `it is kept: move those rows into ${detached} (or archive them) before archiving this table again`,
            );
          }
        }
        await run(`ALTER TABLE ${source} DROP PARTITION ${part}`, undefined, connection);
        await run('UNLOCK TABLES', undefined, connection);
        connection.release();
      } catch (error) {
        connection.destroy();
        throw error;
      }
      columnTypes.delete(detached);
    },

    async createTableLike(name: string, template: string): Promise<void> {
      await run(`CREATE TABLE IF NOT EXISTS ${table(name)} LIKE ${table(template)}`);
    },

    async renameTable(from: string, to: string): Promise<void> {
      await run(`RENAME TABLE ${table(from)} TO ${table(to)}`);
      columnTypes.delete(from);
    },

    async dropTable(name: string): Promise<void> {
      await run(`DROP TABLE IF EXISTS ${table(name)}`);
      columnTypes.delete(name);
    },

    async insertMissing(name: string, columns: readonly string[], restored: readonly SourceRow[], beforeInsert?: (rows: readonly SourceRow[]) => Promise<void>): Promise<number> {
      if (restored.length === 0) return 0;
      const description = await describeTable(name);
      if (!description) throw new NotFoundError(`table ${database}.${name} does not exist`);
      const types = new Map(description.columns.map((column) => [column.name, column]));
      const key = primaryKey(description);
      const writable = columns.filter((column) => types.has(column) && !types.get(column)!.generated);
      return inTransaction(undefined, async (connection) => {
        let inserted = 0;
        for (let start = 0; start < restored.length; start += KEYS_PER_STATEMENT) {
          const chunk = restored.slice(start, start + KEYS_PER_STATEMENT);
          const keys = chunk.map((row) => keyString(row, key));
          const present = await lockedKeys(connection, name, types, key, keys);
          const missing = chunk.filter((_, index) => !present.has(keys[index]!));
          if (missing.length === 0) continue;
          await beforeInsert?.(missing);
          const values = missing.map((row) => writable.map((column) => decodeValue(row[column] ?? null, types.get(column)!)));
          inserted += (await run(`INSERT INTO ${table(name)} (${identifierList(writable)}) VALUES ?`, [values], connection)).affectedRows;
        }
        await commit(connection);
        return inserted;
      });
    },
  };
}

/** The key's column when the key is one integer column; undefined otherwise. */
function singleIntegerKey(types: Map<string, ColumnInfo>, keyColumns: readonly string[]): string | undefined {
  return keyColumns.length === 1 && INTEGER_COLUMN_TYPES.has(types.get(keyColumns[0]!)?.dataType ?? '') ? keyColumns[0] : undefined;
}

/** The smallest and largest of the archived keys when the key is one integer column; undefined otherwise. */
function integerKeySpan(types: Map<string, ColumnInfo>, keyColumns: readonly string[], keys: Iterable<string>): { min: string; max: string } | undefined {
  return singleIntegerKey(types, keyColumns) === undefined ? undefined : integerSpan(keys);
}

function primaryKey(description: TableDescription): string[] {
  const primary = description.indexes.find((index) => index.name === 'PRIMARY');
  if (!primary) throw new NotFoundError(`table ${description.name} has no primary key to restore rows by`);
  return primary.columns;
}

/** Archived values back to what the column takes: base64 to bytes for binary columns. */
function decodeValue(value: SourceValue, column: ColumnInfo): SourceValue {
  return column.binary && typeof value === 'string' ? Buffer.from(value, 'base64') : value;
}

function versionAtLeast(version: string, minimum: [number, number]): boolean {
  const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
  return major > minimum[0] || (major === minimum[0] && minor >= minimum[1]);
}

async function unreachableOnConnectionLoss<T>(database: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    // mysql2 marks connection-level failures (refused, lost, timed out) as fatal; SQL errors are not.
    if (error instanceof Error && 'fatal' in error && error.fatal === true) {
      throw new NodeUnreachableError(`shard database ${database} unreachable: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

export interface ShardSources {
  /** The archive source on the shard's primary; one pool per shard, reused across calls. */
  source(shard: Shard): Promise<ArchiveSource>;
  close(): Promise<void>;
}

export interface ShardSourcesOptions extends MysqlArchiveSourceOptions {
  credentials: NodeCredentials;
  /** `required` verifies the server certificate (RDS and Aurora); `off` for local servers. */
  tls: 'required' | 'off';
  connectTimeoutMs?: number;
}

/** Archive sources for the shards of a map, through each shard's primary with its own credentials. */
export function createShardSources(options: ShardSourcesOptions): ShardSources {
  const pools = new Map<string, { pool: Pool; source: ArchiveSource }>();
  return {
    async source(shard: Shard): Promise<ArchiveSource> {
      const primary = primaryOf(shard);
      if (!primary) throw new NodeUnreachableError(`shard ${shard.name} has no primary in the shard map`);
      const key = `${primary.id}@${primary.host}:${primary.port}/${shard.database}`;
      const cached = pools.get(key);
      if (cached) return cached.source;
      const { user, password } = await options.credentials.credentialsFor(primary);
      const pool = createArchivePool({
        host: primary.host,
        port: primary.port,
        user,
        password,
        database: shard.database,
        connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
        // Three batches being deleted and the next one being read.
        connectionLimit: 4,
        ...(options.tls === 'required' ? { ssl: { rejectUnauthorized: true, minVersion: 'TLSv1.2' } } : {}),
      });
      const source = createMysqlArchiveSource(pool, shard.database, options);
      pools.set(key, { pool, source });
      return source;
    },
    async close() {
      const open = [...pools.values()];
      pools.clear();
      await Promise.all(open.map(({ pool }) => pool.end()));
    },
  };
}
