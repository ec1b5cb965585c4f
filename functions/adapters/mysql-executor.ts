import mysql, { type Pool, type PoolConnection, type PoolOptions, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { SqlExecutor, SqlParams, SqlRow } from '../ports/sql';
import { CatalogUnavailableError } from '../shared/errors';

export interface MysqlPoolOptions {
  /** `mysql://user:password@host:port/database`; explicit fields below win over it. */
  url?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: PoolOptions['ssl'];
  connectionLimit?: number;
  connectTimeoutMs?: number;
}

/**
 * A pool whose values look like the Data API's: named `:params`, BIGINT/DECIMAL and dates as
 * strings, JSON as its text (mysql2 would parse MySQL 8 and MariaDB JSON columns otherwise).
 */
export function createMysqlPool(options: MysqlPoolOptions): Pool {
  const { url, connectionLimit = 4, connectTimeoutMs = 5_000, ...connection } = options;
  return mysql.createPool({
    ...(url === undefined ? {} : { uri: url }),
    ...connection,
    connectionLimit,
    connectTimeout: connectTimeoutMs,
    namedPlaceholders: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    jsonStrings: true,
  });
}

/** Tries of work whose transaction InnoDB rolled back to end a deadlock. */
const DEADLOCK_ATTEMPTS = 5;

/**
 * Runs `work` again when InnoDB ends a deadlock by rolling its transaction back, as the server's
 * message asks ("try restarting transaction"). Only for work that is whole again when re-run: one
 * autocommitted statement, or a transaction `work` opens and finishes itself.
 */
export async function retryingDeadlocks<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ER_LOCK_DEADLOCK' || attempt === DEADLOCK_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

export interface MysqlExecutorOptions {
  queryTimeoutMs?: number;
}

/** The SqlExecutor over a pool from createMysqlPool. Lost or refused connections become CatalogUnavailableError. */
export function createMysqlExecutor(pool: Pool, { queryTimeoutMs = 30_000 }: MysqlExecutorOptions = {}): SqlExecutor {
  const run = <T extends RowDataPacket[] | ResultSetHeader>(target: Pool | PoolConnection, sql: string, params?: SqlParams) =>
    unavailableOnConnectionLoss(target.query<T>({ sql, timeout: queryTimeoutMs }, params).then(([result]) => result));

  const over = (target: Pool | PoolConnection, inTransaction: boolean): SqlExecutor => ({
    query: async (sql, params) => (await run<RowDataPacket[]>(target, sql, params)) as SqlRow[],
    execute: async (sql, params) => ({ affectedRows: (await run<ResultSetHeader>(target, sql, params)).affectedRows }),
    async transaction(work) {
      // Nested calls join the open transaction.
      if (inTransaction) return work(this);
      const connection = await unavailableOnConnectionLoss(pool.getConnection());
      try {
        await unavailableOnConnectionLoss(connection.beginTransaction());
        const result = await work(over(connection, true));
        await unavailableOnConnectionLoss(connection.commit());
        connection.release();
        return result;
      } catch (error) {
        await releaseRolledBack(connection);
        throw error;
      }
    },
  });
  return over(pool, false);
}

/** Rolls back and returns the connection to its pool; one that cannot roll back is dropped, and the server rolls back on disconnect. */
export async function releaseRolledBack(connection: PoolConnection): Promise<void> {
  await connection.rollback().then(
    () => connection.release(),
    () => connection.destroy(),
  );
}

async function unavailableOnConnectionLoss<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    // mysql2 marks connection-level failures (refused, lost, timed out) as fatal; SQL errors are not.
    if (error instanceof Error && 'fatal' in error && error.fatal === true) {
      throw new CatalogUnavailableError(`catalog database unreachable: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
