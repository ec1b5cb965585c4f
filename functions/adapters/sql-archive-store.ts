import type { CursorValues } from '../core/archive-batch';
import type { RestoredRow } from '../core/archive-restored';
import { canTransition, UNFINISHED_STATES, VERIFIED_STATES, type BatchState, type DeleteMode } from '../core/archive-manifest';
import type {
  ArchiveBatchRecord,
  ArchiveRun,
  ArchiveStore,
  DetachedKind,
  DetachedState,
  DetachedUnit,
  ExecutionTotals,
  LeaseAttempt,
  NewBatch,
  RunStatus,
} from '../ports/archive-store';
import { systemClock, type Clock } from '../ports/clock';
import type { SqlExecutor, SqlParams, SqlRow } from '../ports/sql';
import { ConflictError, ValidationError } from '../shared/errors';
import { chunks, inList } from './sql-chunks';
import { epochFromSql, optionalEpochFromSql, sqlTime } from './sql-time';

/** Restored-row records per multi-row statement or read (each ~1 KB at most with its object key). */
const RESTORED_ROWS_PER_STATEMENT = 200;

/** The ArchiveStore over the catalog's SqlExecutor (mysql2 locally, the Data API in AWS); tables from migration 4. */
export class SqlArchiveStore implements ArchiveStore {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly clock: Clock = systemClock,
  ) {}

  private now(): string {
    return sqlTime(this.clock.now());
  }

  async tryLease(table: string, shard: string, owner: string, ttlMs: number): Promise<LeaseAttempt> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new ValidationError(`lease ttl must be a positive integer of milliseconds, got ${ttlMs}`);
    const now = this.clock.now();
    // The owner column is assigned first, so expires_at sees whether the row was taken over.
    await this.sql.execute(
      `INSERT INTO sk_archive_leases (table_name, shard_name, owner, expires_at) VALUES (:table, :shard, :owner, :expiresAt)
       ON DUPLICATE KEY UPDATE
         owner = IF(owner = VALUES(owner) OR expires_at <= :now, VALUES(owner), owner),
         expires_at = IF(owner = VALUES(owner), VALUES(expires_at), expires_at)`,
      { table, shard, owner, now: sqlTime(now), expiresAt: sqlTime(now + ttlMs) },
    );
    const [holder] = await this.sql.query('SELECT owner, expires_at FROM sk_archive_leases WHERE table_name = :table AND shard_name = :shard', { table, shard });
    if (!holder) throw new ConflictError(`the archive lease of ${table} on shard ${shard} vanished while being taken`);
    return String(holder.owner) === owner ? { acquired: true } : { acquired: false, heldBy: String(holder.owner), expiresAt: epochFromSql(holder.expires_at) };
  }

  async releaseLease(table: string, shard: string, owner: string): Promise<void> {
    await this.sql.execute('DELETE FROM sk_archive_leases WHERE table_name = :table AND shard_name = :shard AND owner = :owner', { table, shard, owner });
  }

  async startRun(run: Pick<ArchiveRun, 'table' | 'shard' | 'runId' | 'cutoff'>): Promise<{ run: ArchiveRun; created: boolean }> {
    const { affectedRows } = await this.sql.execute(
      `INSERT IGNORE INTO sk_archive_runs (table_name, shard_name, run_id, cutoff, status, started_at)
       VALUES (:table, :shard, :runId, :cutoff, 'running', :now)`,
      { table: run.table, shard: run.shard, runId: run.runId, cutoff: sqlTime(run.cutoff), now: this.now() },
    );
    const stored = await this.run(run.table, run.shard, run.runId);
    if (!stored) throw new ConflictError(`archive run ${run.runId} of ${run.table} on ${run.shard} vanished while being started`);
    return { run: stored, created: affectedRows === 1 };
  }

  async run(table: string, shard: string, runId: string): Promise<ArchiveRun | undefined> {
    const [row] = await this.sql.query(`${SELECT_RUNS} WHERE table_name = :table AND shard_name = :shard AND run_id = :runId`, { table, shard, runId });
    return row ? toRun(row) : undefined;
  }

  async finishRun(table: string, shard: string, runId: string, status: Exclude<RunStatus, 'running'>, error?: string): Promise<ArchiveRun> {
    await this.sql.execute(
      `UPDATE sk_archive_runs SET status = :status, finished_at = :now, error = :error
       WHERE table_name = :table AND shard_name = :shard AND run_id = :runId`,
      { table, shard, runId, status, now: this.now(), error: error ?? null },
    );
    const run = await this.run(table, shard, runId);
    if (!run) throw new ConflictError(`archive run ${runId} of ${table} on ${shard} is not recorded`);
    return run;
  }

  async runs(filter: { table?: string; shard?: string; limit: number }): Promise<ArchiveRun[]> {
    const rows = await this.sql.query(
      `${SELECT_RUNS} WHERE (:table IS NULL OR table_name = :table) AND (:shard IS NULL OR shard_name = :shard)
       ORDER BY started_at DESC, table_name, shard_name LIMIT ${limitOf(filter.limit)}`,
      { table: filter.table ?? null, shard: filter.shard ?? null },
    );
    return rows.map(toRun);
  }

  async executionTotals(runId: string): Promise<ExecutionTotals> {
    const rows = await this.sql.query(
      `SELECT status, COUNT(*) AS runs, SUM(row_count) AS row_count, SUM(batch_count) AS batch_count, SUM(bytes) AS bytes
       FROM sk_archive_runs WHERE run_id = :runId GROUP BY status`,
      { runId },
    );
    const totals: ExecutionTotals = { runs: { running: 0, done: 0, failed: 0 }, rows: 0, batches: 0, bytes: 0 };
    for (const row of rows) {
      const status = String(row.status) as RunStatus;
      if (status in totals.runs) totals.runs[status] = Number(row.runs);
      totals.rows += Number(row.row_count ?? 0);
      totals.batches += Number(row.batch_count ?? 0);
      totals.bytes += Number(row.bytes ?? 0);
    }
    return totals;
  }

  async cursor(table: string, shard: string, unit: string, runId: string): Promise<CursorValues | null> {
    const [row] = await this.sql.query(
      'SELECT run_id, cursor_values FROM sk_archive_cursors WHERE table_name = :table AND shard_name = :shard AND unit_name = :unit',
      { table, shard, unit },
    );
    // Detached units keep their position across runs; the live table is scanned afresh by each run.
    if (!row || (unit === table && String(row.run_id) !== runId)) return null;
    return parseJson(row.cursor_values) as CursorValues;
  }

  async unfinishedBatches(table: string, shard: string): Promise<ArchiveBatchRecord[]> {
    const rows = await this.sql.query(
      `${SELECT_BATCHES} WHERE table_name = :table AND shard_name = :shard AND state IN (${stateList(UNFINISHED_STATES)}) ORDER BY batch_id`,
      { table, shard },
    );
    return rows.map(toBatch);
  }

  async batchByObjectKey(objectKey: string): Promise<ArchiveBatchRecord | undefined> {
    const [row] = await this.sql.query(`${SELECT_BATCHES} WHERE object_key = :objectKey`, { objectKey });
    return row ? toBatch(row) : undefined;
  }

  async planBatch(batch: NewBatch): Promise<ArchiveBatchRecord> {
    const params = {
      table: batch.table,
      shard: batch.shard,
      unit: batch.unit,
      runId: batch.runId,
      objectKey: batch.objectKey,
      dt: batch.dt,
      deleteMode: batch.deleteMode,
      rowCount: batch.rowCount,
      restoredRows: batch.restoredRows,
      bytes: batch.bytes,
      rawBytes: batch.rawBytes,
      sha256: batch.sha256,
      firstCursor: JSON.stringify(batch.firstCursor),
      lastCursor: JSON.stringify(batch.lastCursor),
      now: this.now(),
    };
    // An abandoned batch's row is reused when the same rows are planned again (same object key).
    await this.sql.execute(
      `INSERT INTO sk_archive_batches (table_name, shard_name, unit_name, run_id, object_key, dt, state, delete_mode, row_count, restored_rows, bytes, raw_bytes, sha256,
         first_cursor, last_cursor, created_at, updated_at)
       VALUES (:table, :shard, :unit, :runId, :objectKey, :dt, 'planned', :deleteMode, :rowCount, :restoredRows, :bytes, :rawBytes, :sha256, :firstCursor, :lastCursor, :now, :now)
       ON DUPLICATE KEY UPDATE
         run_id = IF(state = 'abandoned', VALUES(run_id), run_id),
         delete_mode = IF(state = 'abandoned', VALUES(delete_mode), delete_mode),
         row_count = IF(state = 'abandoned', VALUES(row_count), row_count),
         restored_rows = IF(state = 'abandoned', VALUES(restored_rows), restored_rows),
         bytes = IF(state = 'abandoned', VALUES(bytes), bytes),
         raw_bytes = IF(state = 'abandoned', VALUES(raw_bytes), raw_bytes),
         sha256 = IF(state = 'abandoned', VALUES(sha256), sha256),
         first_cursor = IF(state = 'abandoned', VALUES(first_cursor), first_cursor),
         last_cursor = IF(state = 'abandoned', VALUES(last_cursor), last_cursor),
         updated_at = IF(state = 'abandoned', VALUES(updated_at), updated_at),
         state = IF(state = 'abandoned', 'planned', state)`,
      params,
    );
    const stored = await this.batchByObjectKey(batch.objectKey);
    if (!stored || stored.state !== 'planned' || stored.sha256 !== batch.sha256 || stored.runId !== batch.runId) {
      throw new ConflictError(
        `object ${batch.objectKey} already belongs to a ${stored?.state ?? 'vanished'} batch of run ${stored?.runId ?? '?'}; ` +
          'a key was reused after its row was archived, or two archivers ran at once',
        { details: { objectKey: batch.objectKey, state: stored?.state } },
      );
    }
    return stored;
  }

  async setBatchState(batch: Pick<ArchiveBatchRecord, 'id' | 'deleteMode'>, from: BatchState, to: BatchState): Promise<void> {
    if (!canTransition(from, to, batch.deleteMode)) throw new ValidationError(`an archive batch cannot go from ${from} to ${to}`);
    const { affectedRows } = await this.sql.execute(
      'UPDATE sk_archive_batches SET state = :to, updated_at = :now WHERE batch_id = :id AND state = :from',
      { id: batch.id, from, to, now: this.now() },
    );
    if (affectedRows !== 1) throw new ConflictError(`archive batch ${batch.id} is no longer ${from}`);
  }

  async checkpointBatch(batch: ArchiveBatchRecord, runId: string, { advanceCursor }: { advanceCursor: boolean }): Promise<void> {
    const from: BatchState = batch.deleteMode === 'rows' ? 'deleted' : 'uploaded';
    await this.sql.transaction(async (tx) => {
      const { affectedRows } = await tx.execute(
        "UPDATE sk_archive_batches SET state = 'checkpointed', updated_at = :now WHERE batch_id = :id AND state = :from",
        { id: batch.id, from, now: this.now() },
      );
      if (affectedRows !== 1) throw new ConflictError(`archive batch ${batch.id} is no longer ${from}`);
      if (advanceCursor) await upsertCursor(tx, batch, runId, batch.lastCursor, this.now());
      await tx.execute(
        `UPDATE sk_archive_runs SET row_count = row_count + :rows, batch_count = batch_count + 1, bytes = bytes + :bytes, raw_bytes = raw_bytes + :rawBytes
         WHERE table_name = :table AND shard_name = :shard AND run_id = :runId`,
        { table: batch.table, shard: batch.shard, runId, rows: batch.rowCount, bytes: batch.bytes, rawBytes: batch.rawBytes },
      );
    });
  }

  async moveCursor(table: string, shard: string, unit: string, runId: string, cursor: CursorValues): Promise<void> {
    await upsertCursor(this.sql, { table, shard, unit }, runId, cursor, this.now());
  }

  async unitBatches(table: string, shard: string, unit: string): Promise<ArchiveBatchRecord[]> {
    const rows = await this.sql.query(`${SELECT_BATCHES} WHERE table_name = :table AND shard_name = :shard AND unit_name = :unit ORDER BY batch_id`, {
      table,
      shard,
      unit,
    });
    return rows.map(toBatch);
  }

  async verifiedBatches(table: string, shard: string, fromDt: string, toDt: string): Promise<ArchiveBatchRecord[]> {
    const rows = await this.sql.query(
      `${SELECT_BATCHES} WHERE table_name = :table AND shard_name = :shard AND dt BETWEEN :fromDt AND :toDt AND state IN (${stateList(VERIFIED_STATES)})
       ORDER BY dt, batch_id`,
      { table, shard, fromDt, toDt },
    );
    return rows.map(toBatch);
  }

  async recordRestored(table: string, shard: string, rows: readonly RestoredRow[]): Promise<void> {
    const now = this.now();
    for (const batch of chunks(rows, RESTORED_ROWS_PER_STATEMENT)) {
      const params: SqlParams = { table, shard, now };
      const tuples = batch.map((row, index) => {
        Object.assign(params, { [`k${index}`]: row.keyId, [`t${index}`]: row.time, [`l${index}`]: row.lineSha256, [`o${index}`]: row.objectKey, [`s${index}`]: row.objectSha256 });
        return `(:table, :shard, :k${index}, :t${index}, :l${index}, :o${index}, :s${index}, :now)`;
      });
      await this.sql.execute(
        `INSERT INTO sk_archive_restored (table_name, shard_name, key_id, row_time, line_sha256, object_key, object_sha256, restored_at) VALUES ${tuples.join(', ')}
         ON DUPLICATE KEY UPDATE row_time = VALUES(row_time), line_sha256 = VALUES(line_sha256), object_key = VALUES(object_key),
           object_sha256 = VALUES(object_sha256), restored_at = VALUES(restored_at)`,
        params,
      );
    }
  }

  async anyRestored(table: string, shard: string, fromTime: string, toTime: string): Promise<boolean> {
    const rows = await this.sql.query(
      'SELECT 1 AS found FROM sk_archive_restored WHERE table_name = :table AND shard_name = :shard AND row_time BETWEEN :fromTime AND :toTime LIMIT 1',
      { table, shard, fromTime, toTime },
    );
    return rows.length > 0;
  }

  async restoredRows(table: string, shard: string, keyIds: readonly string[]): Promise<RestoredRow[]> {
    const found: RestoredRow[] = [];
    for (const batch of chunks(keyIds, RESTORED_ROWS_PER_STATEMENT)) {
      const params: SqlParams = { table, shard };
      const rows = await this.sql.query(
        `SELECT key_id, row_time, line_sha256, object_key, object_sha256 FROM sk_archive_restored
         WHERE table_name = :table AND shard_name = :shard AND ${inList('key_id', batch, params)}`,
        params,
      );
      for (const row of rows) {
        found.push({ keyId: String(row.key_id), time: String(row.row_time), lineSha256: String(row.line_sha256), objectKey: String(row.object_key), objectSha256: String(row.object_sha256) });
      }
    }
    return found;
  }

  async forgetRestored(table: string, shard: string, keyIds: readonly string[]): Promise<void> {
    for (const batch of chunks(keyIds, RESTORED_ROWS_PER_STATEMENT)) {
      const params: SqlParams = { table, shard };
      await this.sql.execute(`DELETE FROM sk_archive_restored WHERE table_name = :table AND shard_name = :shard AND ${inList('key_id', batch, params)}`, params);
    }
  }

  async detachedUnits(table: string, shard: string): Promise<DetachedUnit[]> {
    const rows = await this.sql.query(
      `SELECT table_name, shard_name, unit_name, kind, source_table, partition_name, detached_table, state, row_count, created_at, dropped_at
       FROM sk_archive_units WHERE table_name = :table AND shard_name = :shard AND state <> 'dropped' ORDER BY created_at, unit_name`,
      { table, shard },
    );
    return rows.map(toUnit);
  }

  async recordDetaching(unit: Omit<DetachedUnit, 'state' | 'rowCount' | 'createdAt' | 'droppedAt'>): Promise<void> {
    await this.sql.execute(
      `INSERT IGNORE INTO sk_archive_units (table_name, shard_name, unit_name, kind, source_table, partition_name, detached_table, state, created_at)
       VALUES (:table, :shard, :unit, :kind, :sourceTable, :partition, :detachedTable, 'detaching', :now)`,
      { ...unit, now: this.now() },
    );
  }

  async setUnitState(table: string, shard: string, unit: string, state: DetachedState, rowCount?: number): Promise<void> {
    await this.sql.execute(
      `UPDATE sk_archive_units SET state = :state, row_count = COALESCE(:rowCount, row_count), dropped_at = IF(:state = 'dropped', :now, dropped_at)
       WHERE table_name = :table AND shard_name = :shard AND unit_name = :unit`,
      { table, shard, unit, state, rowCount: rowCount ?? null, now: this.now() },
    );
  }
}

function upsertCursor(sql: SqlExecutor, at: { table: string; shard: string; unit: string }, runId: string, cursor: CursorValues, now: string) {
  return sql.execute(
    `INSERT INTO sk_archive_cursors (table_name, shard_name, unit_name, run_id, cursor_values, updated_at)
     VALUES (:table, :shard, :unit, :runId, :cursor, :now)
     ON DUPLICATE KEY UPDATE run_id = VALUES(run_id), cursor_values = VALUES(cursor_values), updated_at = VALUES(updated_at)`,
    { table: at.table, shard: at.shard, unit: at.unit, runId, cursor: JSON.stringify(cursor), now },
  );
}

const SELECT_RUNS = `SELECT table_name, shard_name, run_id, cutoff, status, row_count, batch_count, bytes, raw_bytes, started_at, finished_at, error
  FROM sk_archive_runs`;

const SELECT_BATCHES = `SELECT batch_id, table_name, shard_name, unit_name, run_id, object_key, dt, state, delete_mode, row_count, restored_rows, bytes, raw_bytes, sha256,
  first_cursor, last_cursor, created_at, updated_at FROM sk_archive_batches`;

/** Only fixed state names from the core reach this; they are quoted literals, not input. */
const stateList = (states: readonly BatchState[]) => states.map((state) => `'${state}'`).join(', ');

function limitOf(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new ValidationError(`limit must be an integer from 1 to 10000, got ${limit}`);
  return limit;
}

/** `convert(value)`, or null for a NULL column. */
const optional = <T>(value: unknown, convert: (value: unknown) => T): T | null => (value === null || value === undefined ? null : convert(value));
const parseJson = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : value);

function toRun(row: SqlRow): ArchiveRun {
  return {
    table: String(row.table_name),
    shard: String(row.shard_name),
    runId: String(row.run_id),
    cutoff: epochFromSql(row.cutoff),
    status: String(row.status) as RunStatus,
    rows: Number(row.row_count),
    batches: Number(row.batch_count),
    bytes: Number(row.bytes),
    rawBytes: Number(row.raw_bytes),
    startedAt: epochFromSql(row.started_at),
    finishedAt: optionalEpochFromSql(row.finished_at),
    error: optional(row.error, String),
  };
}

function toBatch(row: SqlRow): ArchiveBatchRecord {
  return {
    id: Number(row.batch_id),
    table: String(row.table_name),
    shard: String(row.shard_name),
    unit: String(row.unit_name),
    runId: String(row.run_id),
    objectKey: String(row.object_key),
    dt: String(row.dt),
    state: String(row.state) as BatchState,
    deleteMode: String(row.delete_mode) as DeleteMode,
    rowCount: Number(row.row_count),
    restoredRows: Number(row.restored_rows),
    bytes: Number(row.bytes),
    rawBytes: Number(row.raw_bytes),
    sha256: String(row.sha256),
    firstCursor: parseJson(row.first_cursor) as CursorValues,
    lastCursor: parseJson(row.last_cursor) as CursorValues,
    createdAt: epochFromSql(row.created_at),
    updatedAt: epochFromSql(row.updated_at),
  };
}

function toUnit(row: SqlRow): DetachedUnit {
  return {
    table: String(row.table_name),
    shard: String(row.shard_name),
    unit: String(row.unit_name),
    kind: String(row.kind) as DetachedKind,
    sourceTable: String(row.source_table),
    partition: optional(row.partition_name, String),
    detachedTable: String(row.detached_table),
    state: String(row.state) as DetachedState,
    rowCount: optional(row.row_count, Number),
    createdAt: epochFromSql(row.created_at),
    droppedAt: optionalEpochFromSql(row.dropped_at),
  };
}
