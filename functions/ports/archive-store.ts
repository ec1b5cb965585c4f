import type { CursorValues } from '../core/archive-batch';
import type { BatchState, DeleteMode } from '../core/archive-manifest';
import type { RestoredRow } from '../core/archive-restored';

/** One batch's manifest row: what was read, where it went, and how far it got. Times are ms since the epoch. */
export interface ArchiveBatchRecord {
  id: number;
  table: string;
  shard: string;
  /** The live table, a partition (`game_logs.p20240115`) or a date-named table. */
  unit: string;
  /** The run that planned it. */
  runId: string;
  objectKey: string;
  dt: string;
  state: BatchState;
  deleteMode: DeleteMode;
  rowCount: number;
  /** Rows of the batch's range that are not in its object but in an earlier one: restored rows deleted again with the batch. */
  restoredRows: number;
  /** Size and SHA-256 (hex) of the compressed object, fixed when planned. */
  bytes: number;
  sha256: string;
  /** Uncompressed JSON-lines size. */
  rawBytes: number;
  firstCursor: CursorValues;
  lastCursor: CursorValues;
  createdAt: number;
  updatedAt: number;
}

export type NewBatch = Omit<ArchiveBatchRecord, 'id' | 'state' | 'createdAt' | 'updatedAt'>;

export type RunStatus = 'running' | 'done' | 'failed';

/** One run of one table on one shard, with its running totals. */
export interface ArchiveRun {
  table: string;
  shard: string;
  runId: string;
  /** Rows strictly older than this were archived by the run. */
  cutoff: number;
  status: RunStatus;
  rows: number;
  batches: number;
  bytes: number;
  rawBytes: number;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface ExecutionTotals {
  runs: Record<RunStatus, number>;
  rows: number;
  batches: number;
  bytes: number;
}

export type DetachedKind = 'partition' | 'daily-table';
/** `detaching`: recorded before the DDL; `archiving`: detached, rows going to S3; `dropped`: every row verified, table gone. */
export type DetachedState = 'detaching' | 'archiving' | 'dropped';

/** A partition or date-named table taken out of service to be archived whole. */
export interface DetachedUnit {
  table: string;
  shard: string;
  unit: string;
  kind: DetachedKind;
  sourceTable: string;
  /** For a partition: its name in the source table. */
  partition: string | null;
  detachedTable: string;
  state: DetachedState;
  rowCount: number | null;
  createdAt: number;
  droppedAt: number | null;
}

export type LeaseAttempt = { acquired: true } | { acquired: false; heldBy: string; expiresAt: number };

/**
 * Archive state in the catalog: batch manifests, per-unit cursors, runs, detached units and one
 * lease per (table, shard) so two runs never archive the same rows at once.
 */
export interface ArchiveStore {
  /** Takes or renews the lease unless another owner holds an unexpired one. */
  tryLease(table: string, shard: string, owner: string, ttlMs: number): Promise<LeaseAttempt>;
  releaseLease(table: string, shard: string, owner: string): Promise<void>;

  /** Records the run if it is new; returns it either way. */
  startRun(run: Pick<ArchiveRun, 'table' | 'shard' | 'runId' | 'cutoff'>): Promise<{ run: ArchiveRun; created: boolean }>;
  run(table: string, shard: string, runId: string): Promise<ArchiveRun | undefined>;
  finishRun(table: string, shard: string, runId: string, status: Exclude<RunStatus, 'running'>, error?: string): Promise<ArchiveRun>;
  /** Newest first. */
  runs(filter: { table?: string; shard?: string; limit: number }): Promise<ArchiveRun[]>;
  /** The (table, shard) runs of one workflow execution, counted by status, with their totals. */
  executionTotals(runId: string): Promise<ExecutionTotals>;

  /** The unit's scan position within `runId`, or null to start from the oldest row. */
  cursor(table: string, shard: string, unit: string, runId: string): Promise<CursorValues | null>;

  /** Batches of the table on the shard not yet checkpointed or abandoned, oldest first. */
  unfinishedBatches(table: string, shard: string): Promise<ArchiveBatchRecord[]>;
  batchByObjectKey(objectKey: string): Promise<ArchiveBatchRecord | undefined>;
  /** Writes the manifest row in state `planned`; ConflictError if a live batch owns the object key. */
  planBatch(batch: NewBatch): Promise<ArchiveBatchRecord>;
  /** Moves a batch from `from` to `to`; throws ConflictError if it is no longer in `from`. */
  setBatchState(batch: Pick<ArchiveBatchRecord, 'id' | 'deleteMode'>, from: BatchState, to: BatchState): Promise<void>;
  /**
   * In one transaction: the batch becomes `checkpointed`, the run's totals grow and, with
   * `advanceCursor`, the unit's cursor within `runId` moves to the batch's last row.
   */
  checkpointBatch(batch: ArchiveBatchRecord, runId: string, options: { advanceCursor: boolean }): Promise<void>;
  /** Moves the unit's cursor within `runId` without a batch: past rows an earlier batch already holds. */
  moveCursor(table: string, shard: string, unit: string, runId: string, cursor: CursorValues): Promise<void>;
  /** Every batch of one unit, oldest first. */
  unitBatches(table: string, shard: string, unit: string): Promise<ArchiveBatchRecord[]>;
  /** Verified batches whose dt is within [fromDt, toDt], oldest first. */
  verifiedBatches(table: string, shard: string, fromDt: string, toDt: string): Promise<ArchiveBatchRecord[]>;

  /** Records rows about to be restored into the live table (idempotent: a key's newest restore wins). */
  recordRestored(table: string, shard: string, rows: readonly RestoredRow[]): Promise<void>;
  /** Whether any restored row is recorded with a time within [fromTime, toTime], compared as the lines hold them. */
  anyRestored(table: string, shard: string, fromTime: string, toTime: string): Promise<boolean>;
  /** The records of these keys. */
  restoredRows(table: string, shard: string, keyIds: readonly string[]): Promise<RestoredRow[]>;
  /** Drops the records of rows the archiver has deleted. */
  forgetRestored(table: string, shard: string, keyIds: readonly string[]): Promise<void>;

  /** Units not yet dropped, oldest first. */
  detachedUnits(table: string, shard: string): Promise<DetachedUnit[]>;
  /** Records the intent before the DDL (idempotent). */
  recordDetaching(unit: Omit<DetachedUnit, 'state' | 'rowCount' | 'createdAt' | 'droppedAt'>): Promise<void>;
  setUnitState(table: string, shard: string, unit: string, state: DetachedState, rowCount?: number): Promise<void>;
}
