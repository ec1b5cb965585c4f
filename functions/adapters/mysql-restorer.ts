import { createHash } from 'node:crypto';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { ShardNode } from '../core/shard-map-types';
import { quoteSchemaName, type DumpValue } from '../core/backup-sql-values';
import type { AtomicCopy, RestoreConnection, RestoreConnector, RowFilter, TableShape } from '../ports/backup-mysql';
import { ConflictError, ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';
import { closeBackupConnection, openBackupConnection, readTableRows, type MysqlConnectionOptions } from './mysql-dumper';
import { retryingDeadlocks } from './mysql-executor';

/**
 * What mysqldump sets for a load: no FK or unique checks (tables arrive in any order and rows are
 * known unique), NO_AUTO_VALUE_ON_ZERO so a stored 0 in an AUTO_INCREMENT column stays 0.
 */
const LOAD_SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO';
/** How long a copy waits for another copy into the same database. */
const COPY_LOCK_WAIT_SECONDS = 30;
/** How long a restore waits for the claim on its database. */
const CLAIM_WAIT_SECONDS = 2;
/** The table a restore creates first and drops last: a database holding it is a restore that did not finish. */
export const RESTORE_MARKER = '_sk_restore_incomplete';

/** A server-wide lock name for one database: names are at most 64 characters. */
const lockName = (purpose: string, database: string) => `${purpose}.${createHash('sha256').update(database).digest('hex').slice(0, 40)}`;

class MysqlRestoreConnection implements RestoreConnection {
  private currentDatabase: string | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly batchRows: number,
  ) {}

  async tableNames(database: string): Promise<string[]> {
    const [rows] = await this.connection.query<RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [database]);
    return rows.map((row) => String(row.name));
  }

  async claimDatabase(database: string): Promise<void> {
    // A session that has just closed may hold the lock for a moment longer.
    const [[claimed]] = await this.connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS claimed', [lockName('sk_restore', database), CLAIM_WAIT_SECONDS]);
    if (Number(claimed?.claimed) !== 1) throw new ConflictError(`another restore into database ${database} is running; try again once it is done`);
  }

  async markUnfinished(database: string, backupId: string): Promise<void> {
    const marker = `${quoteIdentifier(database, 'restore database')}.${RESTORE_MARKER}`;
    await this.connection.query(`CREATE TABLE ${marker} (backup_id VARCHAR(64) NOT NULL, started_at DATETIME(3) NOT NULL) ENGINE=InnoDB`);
    await this.connection.query(`INSERT INTO ${marker} VALUES (?, UTC_TIMESTAMP(3))`, [backupId]);
  }

  async markFinished(database: string): Promise<void> {
    await this.connection.query(`DROP TABLE ${quoteIdentifier(database, 'restore database')}.${RESTORE_MARKER}`);
  }

  async unfinishedRestore(database: string): Promise<string | undefined> {
    try {
      const [[mark]] = await this.connection.query<RowDataPacket[]>(`SELECT backup_id FROM ${quoteIdentifier(database, 'restore database')}.${RESTORE_MARKER} LIMIT 1`);
      return mark ? String(mark.backup_id) : '';
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_DB_ERROR') return undefined;
      // A marker from before markers named their backup: a restore of an unknown backup.
      if (code === 'ER_BAD_FIELD_ERROR') return '';
      throw error;
    }
  }

  async prepareDatabase(database: string, { replace }: { replace: boolean }): Promise<void> {
    const quoted = quoteIdentifier(database, 'restore database');
    const tables = (await this.tableNames(database)).length;
    if (tables > 0) {
      if (!replace) throw new ValidationError(`database ${database} already holds ${tables} table(s); restore into a new database or pass --replace`);
      await this.connection.query(`DROP DATABASE ${quoted}`);
    }
    await this.connection.query(`CREATE DATABASE IF NOT EXISTS ${quoted} CHARACTER SET utf8mb4`);
    this.currentDatabase = undefined;
  }

  async copyAtomically(database: string, tables: readonly AtomicCopy[]): Promise<void> {
    const quoted = quoteIdentifier(database, 'target database');
    // Another copy into the same database must not see, fill or drop the tables this one creates.
    const lock = lockName('sk_copy', database);
    const [[taken]] = await this.connection.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS taken', [lock, COPY_LOCK_WAIT_SECONDS]);
    if (Number(taken?.taken) !== 1) throw new ConflictError(`another copy into database ${database} has been running for over ${COPY_LOCK_WAIT_SECONDS} s; try again once it is done`);
    const created: { database: boolean; tables: string[] } = { database: false, tables: [] };
    try {
      const [schemas] = await this.connection.query<RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database]);
      if (schemas.length === 0) {
        await this.connection.query(`CREATE DATABASE ${quoted} CHARACTER SET utf8mb4`);
        created.database = true;
      }
      const existing = await this.engines(database);
      for (const { table, like } of tables) {
        if (existing.has(table)) continue;
        // DDL commits on its own: the tables come first, the rows in one transaction after.
        await this.connection.query(`CREATE TABLE ${quoted}.${quoteSchemaName(table)} LIKE ${quoteIdentifier(like.database)}.${quoteSchemaName(like.table)}`);
        created.tables.push(table);
        existing.set(table, '');
      }
      const engines = await this.engines(database);
      const unsafe = [...new Set(tables.map(({ table }) => table))].filter((table) => engines.get(table)?.toLowerCase() !== 'innodb');
      if (unsafe.length > 0) {
        throw new ValidationError(
          `${unsafe.map((table) => `${database}.${table} (${engines.get(table)})`).join(', ')} cannot roll back a failed copy; copy into InnoDB tables, or write an SQL file instead`,
        );
      }
      await this.use(database);
      // A copy into a schema that already holds rows must not let a duplicate in through a secondary unique key.
      await this.connection.query('SET SESSION unique_checks = 1');
      // A deadlock rolls the whole transaction back, so it is the transaction that is retried.
      await retryingDeadlocks(async () => {
        await this.connection.query('START TRANSACTION');
        try {
          for (const { inserts } of tables) for (const statement of inserts) await this.connection.query(statement);
          await this.connection.query('COMMIT');
        } catch (error) {
          await this.bestEffort(error, 'ROLLBACK');
          throw error;
        }
      });
    } catch (error) {
      if (created.database) await this.bestEffort(error, `DROP DATABASE IF EXISTS ${quoted}`);
      else for (const table of created.tables) await this.bestEffort(error, `DROP TABLE IF EXISTS ${quoted}.${quoteSchemaName(table)}`);
      throw error;
    } finally {
      await this.connection.query('SET SESSION unique_checks = 0').catch(() => undefined);
      await this.connection.query('DO RELEASE_LOCK(?)', [lock]).catch(() => undefined);
    }
  }

  /** Each table of `database` with its engine. */
  private async engines(database: string): Promise<Map<string, string>> {
    const [rows] = await this.connection.query<RowDataPacket[]>('SELECT TABLE_NAME AS name, ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database]);
    return new Map(rows.map((row) => [String(row.name), String(row.engine ?? 'VIEW')]));
  }

  /** Cleanup after `failure`: a statement that fails too (a lost connection) is told in the failure's message instead of replacing it. */
  private async bestEffort(failure: unknown, statement: string): Promise<void> {
    try {
      await this.connection.query(statement);
    } catch (error) {
      if (failure instanceof Error) failure.message += `; then ${statement} failed too (${(error as Error).message})`;
    }
  }

  async apply(database: string, statement: string, sqlMode?: string): Promise<void> {
    await this.use(database);
    if (sqlMode === undefined) {
      await this.run(statement);
      return;
    }
    await this.connection.query('SET SESSION sql_mode = ?', [sqlMode]);
    try {
      await this.run(statement);
    } finally {
      await this.connection.query('SET SESSION sql_mode = ?', [LOAD_SQL_MODE]);
    }
  }

  private async use(database: string): Promise<void> {
    if (this.currentDatabase === database) return;
    await this.connection.query(`USE ${quoteIdentifier(database, 'restore database')}`);
    this.currentDatabase = database;
  }

  /**
   * Runs one autocommitted statement. Chunks of one table load on several connections at once, and
   * InnoDB may end a deadlock between two of them by rolling one statement back whole.
   */
  private async run(statement: string): Promise<void> {
    await retryingDeadlocks(() => this.connection.query(statement));
  }

  rows(database: string, table: Pick<TableShape, 'name' | 'columns' | 'keyColumns' | 'readAs'>, where?: RowFilter): AsyncIterable<DumpValue[][]> {
    return readTableRows(this.connection, database, table, null, null, this.batchRows, where);
  }

  async dropDatabase(database: string): Promise<void> {
    await this.connection.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database, 'restore database')}`);
    if (this.currentDatabase === database) this.currentDatabase = undefined;
  }

  async close(): Promise<void> {
    await closeBackupConnection(this.connection);
  }
}

export interface MysqlRestoreConnectorOptions extends MysqlConnectionOptions {
  /** The server restores go to, named like a shard node so its credentials resolve the same way. */
  target: ShardNode;
  batchRows?: number;
}

/** Restores through one mysql2 connection with the load settings above. */
export function createMysqlRestoreConnector(options: MysqlRestoreConnectorOptions): RestoreConnector {
  return {
    async connect(): Promise<RestoreConnection> {
      const connection = await openBackupConnection(options.target, options);
      await connection.query('SET SESSION foreign_key_checks = 0, unique_checks = 0, sql_mode = ?', [LOAD_SQL_MODE]);
      return new MysqlRestoreConnection(connection, options.batchRows ?? 2_000);
    },
  };
}
