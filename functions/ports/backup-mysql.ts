import type { BinlogPosition, ColumnReading, KeyColumn, KeyValue, SchemaStatement } from '../core/backup-manifest';
import type { ColumnType, DumpValue } from '../core/backup-sql-values';
import type { ShardNode } from '../core/shard-map-types';

/** A base table as a dump reads it. */
export interface TableShape {
  name: string;
  /** Non-generated columns in ordinal order (invisible ones included). */
  columns: string[];
  keyColumns: KeyColumn[];
  /**
   * Columns read through an expression: FLOAT and DOUBLE as the server's exact text (mysql2's float
   * parsing drops the last bit), spatial columns as their internal bytes (which X'…' restores).
   */
  readAs: Record<string, ColumnReading>;
  /** Stored columns' types, from which the server is asked to encode rows (see serverRowEncoding); absent: encoded by the client. */
  columnTypes?: ColumnType[];
  avgRowLength: number;
  estimatedRows: number;
}

/** Rows as a dump writes them: each one's VALUES tuple `(v1,…)` in UTF-8 (see encodeRow), and the key of the last. */
export interface DumpedRows {
  encoded: Buffer[];
  /** Null for a keyless table. */
  lastKey: KeyValue[] | null;
}

export interface SchemaSnapshot {
  tables: TableShape[];
  /** Tables and routines and views (pre-data), triggers (post-data), each as the server shows it. */
  statements: SchemaStatement[];
}

/** One session on a shard node, as a logical dump uses it. */
export interface DumpConnection {
  readonly serverVersion: string;
  /** Stops the replica's SQL thread; returns the source position its data now stands at. */
  pauseReplication(): Promise<BinlogPosition | null>;
  /** Throws SnapshotLostError unless the SQL thread is still stopped at `position`. */
  assertPausedAt(position: BinlogPosition | null): Promise<void>;
  resumeReplication(): Promise<void>;
  /** Opens a consistent-snapshot transaction; returns the binary log position it corresponds to (null: binary log off). */
  beginSnapshot(): Promise<BinlogPosition | null>;
  readSchema(database: string): Promise<SchemaSnapshot>;
  /**
   * Rows of a table in key order after `after` (from the start when null), at most `limit`, in
   * batches. A keyless table comes whole, in no particular order (`after` and `limit` must be null).
   */
  rows(database: string, table: TableShape, after: KeyValue[] | null, limit: number | null): AsyncIterable<DumpedRows>;
  close(): Promise<void>;
}

export interface DumpConnector {
  connect(node: ShardNode): Promise<DumpConnection>;
}

export interface RowFilter {
  column: string;
  /** Digits compare exactly against integer and DECIMAL columns; anything else as a string. */
  value: string;
}

/** One table's part of copyAtomically: its name, the table to create it like, and its INSERT statements. */
export interface AtomicCopy {
  table: string;
  like: { database: string; table: string };
  inserts: readonly string[];
}

/** A session on the server a backup is restored into, with FK and unique checks off and a fixed sql_mode. */
export interface RestoreConnection {
  /** The tables (and views) the database holds; none when it does not exist. */
  tableNames(database: string): Promise<string[]>;
  /** Holds the database for this session until it closes; ConflictError while another session holds it. */
  claimDatabase(database: string): Promise<void>;
  /** Records that a restore of `backupId` is loading the database (a table it holds until it is finished). */
  markUnfinished(database: string, backupId: string): Promise<void>;
  markFinished(database: string): Promise<void>;
  /** The backup an unfinished restore of the database was loading; undefined when none left its mark. */
  unfinishedRestore(database: string): Promise<string | undefined>;
  /** Creates the database; refuses one that already holds tables unless `replace` (then it is dropped first). */
  prepareDatabase(database: string, options: { replace: boolean }): Promise<void>;
  /**
   * Copies rows into `database` (created if missing) all at once or not at all: each missing table
   * is created like its template, then every insert runs in one transaction with unique checks on.
   * On any error the inserts are rolled back and what this call created is dropped. Copies into one
   * database run one at a time, and a table that cannot roll back (not InnoDB) is refused up front.
   */
  copyAtomically(database: string, tables: readonly AtomicCopy[]): Promise<void>;
  /** Runs one statement of a backup (DDL or an INSERT line) in `database`, under `sqlMode` when given. */
  apply(database: string, statement: string, sqlMode?: string): Promise<void>;
  /** Restored rows read back, in key order (any order for keyless tables); `where` keeps rows whose column equals the value. */
  rows(database: string, table: Pick<TableShape, 'name' | 'columns' | 'keyColumns' | 'readAs'>, where?: RowFilter): AsyncIterable<DumpValue[][]>;
  dropDatabase(database: string): Promise<void>;
  close(): Promise<void>;
}

export interface RestoreConnector {
  connect(): Promise<RestoreConnection>;
}
