import type { CursorValues, SourceRow } from '../core/archive-batch';
import type { FilterCondition } from '../core/archive-filter';
import type { Partition, PartitionScheme, RawPartition } from '../core/archive-partitions';
import type { LoadSample } from '../core/archive-throttle';

export interface ColumnInfo {
  name: string;
  /** information_schema DATA_TYPE, lower case (`bigint`, `datetime`, `json`, `blob`, ...). */
  dataType: string;
  nullable: boolean;
  /** Bytes, not text: archived as base64. */
  binary: boolean;
  /** Computed by the server; never written back on restore. */
  generated: boolean;
}

export interface IndexInfo {
  name: string;
  unique: boolean;
  columns: string[];
}

export interface TableDescription {
  name: string;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
  /** Empty unless the table is partitioned. */
  partitions: RawPartition[];
}

export interface BatchQuery {
  table: string;
  columns: readonly string[];
  /** Time column, then the key columns. */
  orderColumns: readonly string[];
  /** Continue strictly after this position; null = from the oldest row. */
  after: CursorValues | null;
  /** Only rows with the time column strictly before this value (`YYYY-MM-DD HH:MM:SS`, UTC). */
  before: string | null;
  filter: readonly FilterCondition[];
  limit: number;
}

export interface RangeQuery {
  table: string;
  orderColumns: readonly string[];
  /** Inclusive scan positions. */
  from: CursorValues;
  to: CursorValues;
  before: string | null;
  filter: readonly FilterCondition[];
}

export interface DeleteRequest {
  table: string;
  columns: readonly string[];
  keyColumns: readonly string[];
  /** keyString → the archived row: as read, or parsed back from the object's JSON line (bytes as base64). */
  archived: ReadonlyMap<string, SourceRow>;
  /** The batch's scan range, which holds every archived row. */
  range: Omit<RangeQuery, 'table'>;
}

export interface DeleteOutcome {
  deleted: number;
  /** Archived keys not on the shard any more. */
  missing: number;
  /** Keys whose rows changed since they were archived, in the range or out of it; when any, nothing was deleted. */
  changed: string[];
}

/** A batch's rows deleted in a transaction left open: they leave the shard only with `commit`. */
export interface TakenBatch {
  /** In (time, key) order. */
  rows: SourceRow[];
  commit(): Promise<void>;
  /** Puts the rows back. Never throws: a connection that is gone has rolled back already. */
  rollback(): Promise<void>;
}

/** A batch about to be taken: where it ends, and its delete, already started. */
export interface PlannedTake {
  /** The (time, key) of the batch's last row: the next batch starts after it. */
  last: CursorValues;
  taken: Promise<TakenBatch>;
}

export interface ServerVersion {
  flavor: 'mariadb' | 'mysql';
  version: string;
}

/**
 * One shard database as the archiver sees it. Sessions run in UTC and READ COMMITTED, so time
 * values read the same everywhere and archive scans take no gap locks.
 */
export interface ArchiveSource {
  readonly database: string;
  serverVersion(): Promise<ServerVersion>;
  describeTable(table: string): Promise<TableDescription | undefined>;
  /** Base tables whose name starts with `prefix`. */
  listTables(prefix: string): Promise<string[]>;
  /** The next rows in (time, key) order; values as SourceRow. */
  selectBatch(query: BatchQuery): Promise<SourceRow[]>;
  /**
   * Starts deleting the next batch's rows in a transaction left open, when the server and table
   * allow (MariaDB's DELETE … RETURNING, one integer primary key as the key, no filter): the rows the
   * query would select that share the first one's day. Answers as soon as the batch's end is known,
   * so the next batch can be taken while this one's delete runs. `empty` when no row is left;
   * `undefined` when this batch is to be selected, archived and deleted as checked instead.
   */
  takeBatch(query: BatchQuery): Promise<PlannedTake | 'empty' | undefined>;
  countRange(query: RangeQuery): Promise<number>;
  /** Counts rows strictly before `before` matching the filter (plan). */
  countEligible(table: string, timeColumn: string, before: string | null, filter: readonly FilterCondition[]): Promise<number>;
  countRows(table: string): Promise<number>;
  /**
   * In one transaction: locks the batch's range, compares its rows with the archived lines, and
   * deletes the archived ones only if none changed. Rows in the range that were not archived
   * (inserted since) stay.
   */
  deleteArchived(request: DeleteRequest): Promise<DeleteOutcome>;

  addPartitions(table: string, scheme: PartitionScheme, partitions: readonly Partition[], maxValuePartition: string | undefined): Promise<void>;
  /** Moves a partition's rows into a new table `detached` and removes the partition, atomically where the server allows. */
  detachPartition(table: string, partition: string, detached: string): Promise<void>;
  createTableLike(name: string, template: string): Promise<void>;
  renameTable(from: string, to: string): Promise<void>;
  dropTable(name: string): Promise<void>;

  /**
   * Inserts rows with their original keys, skipping keys already present; returns how many were new.
   * `beforeInsert` sees exactly the rows about to go in, before each INSERT.
   */
  insertMissing(table: string, columns: readonly string[], rows: readonly SourceRow[], beforeInsert?: (rows: readonly SourceRow[]) => Promise<void>): Promise<number>;
}

/** Load on a shard's nodes, for throttling. */
export interface ShardLoadProbe {
  sample(): Promise<LoadSample>;
}
