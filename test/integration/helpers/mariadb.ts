import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import { createMysqlExecutor, createMysqlPool } from '../../../functions/adapters/mysql-executor';
import type { SqlExecutor } from '../../../functions/ports/sql';
import { quoteIdentifier } from '../../../functions/shared/identifiers';

/** The server the integration tests use: `MYSQL_URL`, else the local root account. */
export function mysqlUrl(): string {
  return process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
}

export interface ScratchDatabase {
  database: string;
  pool: Pool;
  executor: SqlExecutor;
  /** Another pool on the same database, as a second process would have; closed by drop(). */
  openPool(): Pool;
  drop(): Promise<void>;
}

/** A uniquely named database (`sk_test_<hex>`) so parallel test files never share tables. */
export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const database = `sk_test_${randomBytes(6).toString('hex')}`;
  const admin = createMysqlPool({ url: mysqlUrl(), connectionLimit: 1 });
  await admin.query(`CREATE DATABASE ${quoteIdentifier(database)} CHARACTER SET utf8mb4`);

  const pools: Pool[] = [];
  const openPool = () => {
    const pool = createMysqlPool({ url: mysqlUrl(), database });
    pools.push(pool);
    return pool;
  };
  const pool = openPool();
  return {
    database,
    pool,
    executor: createMysqlExecutor(pool),
    openPool,
    async drop() {
      await Promise.all(pools.map((opened) => opened.end()));
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
      await admin.end();
    },
  };
}

/**
 * Resolves once a statement containing `statement` waits for a row lock. Only that statement is
 * looked for: other test files run at the same time and may wait for locks of their own.
 */
export async function lockWaitOf(pool: Pool, statement: string): Promise<void> {
  const fiveSeconds = new Promise((resolve) => setTimeout(resolve, 5_000).unref());
  if (!(await lockWaitBefore(pool, statement, fiveSeconds))) throw new Error(`no statement containing ${statement} waited for a row lock`);
}

/** Whether a statement containing `statement` waits for a row lock before `settled` settles. */
export async function lockWaitBefore(pool: Pool, statement: string, settled: Promise<unknown>): Promise<boolean> {
  let done = false;
  settled.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    const [[row]] = (await pool.query("SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' AND INSTR(trx_query, ?) > 0", [statement])) as unknown as [[{ n: number }]];
    if (Number(row.n) > 0) return true;
    // InnoDB refreshes INNODB_TRX only after it has gone unread for 0.1 s.
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return false;
}
