/** Values bound as named parameters (`:name`). BIGINT values travel as decimal strings. */
export type SqlValue = string | number | boolean | null;
export type SqlParams = Record<string, SqlValue>;
export type SqlRow = Record<string, unknown>;

export interface ExecuteResult {
  affectedRows: number;
}

/**
 * The SQL seam under the catalog: one SQL text (named `:params`) runs through mysql2 locally
 * and through the RDS Data API in AWS. Rows come back as plain objects keyed by column name;
 * callers convert column values explicitly (numbers may arrive as strings).
 */
export interface SqlExecutor {
  query(sql: string, params?: SqlParams): Promise<SqlRow[]>;
  execute(sql: string, params?: SqlParams): Promise<ExecuteResult>;
  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}
