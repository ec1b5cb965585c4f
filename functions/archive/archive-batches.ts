import {
  batchObjectKey,
  batchRows,
  buildBatchBody,
  cursorOf,
  dtOf,
  keyString,
  sha256Hex,
  takeSameDay,
  type CursorValues,
  type SourceRow,
} from '../core/archive-batch';
import type { FilterCondition } from '../core/archive-filter';
import { recoveryStep, type DeleteMode } from '../core/archive-manifest';
import { restoredKeyId, unchangedRestoredRows } from '../core/archive-restored';
import type { ArchiveSource, DeleteRequest, TakenBatch } from '../ports/archive-source';
import type { ArchiveBatchRecord, ArchiveStore } from '../ports/archive-store';
import type { ObjectStore } from '../ports/object-store';
import { AppError, ArchiveIntegrityError, ConflictError } from '../shared/errors';
import type { ResolvedTable } from './resolve-table';

/**
 * The exactly-once batch: select → plan (manifest) → upload → verify → uploaded → delete the
 * archived rows → deleted → checkpoint. Each step is recorded before the next side effect, so a
 * re-run finds the batches a crash interrupted and finishes or abandons them (recoverBatch). A
 * batch taken by its delete (takeBatch) runs the same steps with its delete done, uncommitted,
 * from the start: it commits where a checked batch deletes.
 */

/** Points between the side effects of a batch; `onStep` sees each (progress, and where tests inject crashes). */
export type BatchStep = 'selected' | 'planned' | 'uploaded' | 'verified' | 'deleted' | 'marked-deleted' | 'checkpointed';

export interface BatchContext {
  table: ResolvedTable;
  shard: string;
  runId: string;
  source: ArchiveSource;
  store: ArchiveStore;
  objects: ObjectStore;
  onStep?: (step: BatchStep, detail: { objectKey: string; rows: number }) => Promise<void> | void;
}

/** Where a unit's rows are read from and how they leave. */
export interface UnitScan {
  /** Manifest unit name: the table, `table.partition`, or a date-named table. */
  unit: string;
  /** The table the rows are read from (the live table or a detached one). */
  sourceTable: string;
  deleteMode: DeleteMode;
  /** Time bound (`YYYY-MM-DD HH:MM:SS`), or null to take every row (detached units). */
  before: string | null;
  filter: readonly FilterCondition[];
}

export type BatchOutcome =
  | { kind: 'empty' }
  /** `advanced`: the unit's cursor now stands after this batch; `alreadyArchived`: restored rows it deleted that an earlier object holds. */
  | { kind: 'archived'; batch: ArchiveBatchRecord; deleted: number; alreadyArchived: number; advanced: boolean }
  /** Some rows changed between read and delete: nothing was deleted, the object was removed; select again. */
  | { kind: 'changed'; rows: number }
  /** Every row is already in a verified object (restored, then read again unchanged): only deleted. */
  | { kind: 'archived-before'; lastCursor: CursorValues; deleted: number; advanced: boolean }
  /** A take found none of its rows (others deleted them meanwhile): select again from the cursor. */
  | { kind: 'nothing-taken' };

/** The scan range of a batch's rows, first and last included. */
type BatchRange = Pick<ArchiveBatchRecord, 'firstCursor' | 'lastCursor'>;

/**
 * What the delete of a batch's rows is to do besides: `forget` the restored-row records of its keys
 * (their rows leave the shard with it), and count `alreadyArchived` restored rows that an earlier
 * object holds. `recovering`: an interrupted run may already have deleted the rows, so the object
 * may be their only copy.
 */
interface DeletePlan {
  recovering: boolean;
  forget: readonly string[];
  alreadyArchived: number;
}

/**
 * A batch read and waiting for its delete and checkpoint: `verified` with its object written and
 * checked, or `known` when an earlier object holds every row. `archived` holds every row read, the
 * delete's expectation, restored rows among them.
 */
export type PreparedBatch =
  | { kind: 'empty' }
  | { kind: 'verified'; batch: ArchiveBatchRecord; archived: Map<string, SourceRow>; plan: DeletePlan }
  | { kind: 'known'; range: BatchRange; archived: Map<string, SourceRow>; plan: DeletePlan }
  /** Rows being deleted in a transaction left open: their object is written and verified, then the delete commits. */
  | { kind: 'taken'; last: CursorValues; taken: Promise<TakenBatch> };

const step = async (context: BatchContext, name: BatchStep, batch: { objectKey: string; rowCount: number }) =>
  context.onStep?.(name, { objectKey: batch.objectKey, rows: batch.rowCount });

/**
 * The first half of a batch. Where the source can take it (takeBatch), its rows are deleted in a
 * transaction left open, and the rest happens as it finishes: the object is written and verified
 * before the delete commits. Otherwise: select → plan → upload → verify → `uploaded`, with nothing
 * deleted, so it may run while the previous batch is being deleted (its rows lie after that
 * batch's range).
 */
export async function prepareNextBatch(context: BatchContext, scan: UnitScan, cursor: CursorValues | null): Promise<PreparedBatch> {
  const { table, source } = context;
  const query = {
    table: scan.sourceTable,
    columns: table.columns,
    orderColumns: table.orderColumns,
    after: cursor,
    before: scan.before,
    filter: scan.filter,
    limit: table.config.batchSize,
  };
  if (scan.deleteMode === 'rows') {
    const planned = await source.takeBatch(query);
    if (planned === 'empty') return { kind: 'empty' };
    if (planned) {
      // Its failure is the batch's, reported where the batch finishes.
      planned.taken.catch(() => {});
      return { kind: 'taken', last: planned.last, taken: planned.taken };
    }
  }
  const selected = await source.selectBatch(query);
  if (selected.length === 0) return { kind: 'empty' };
  const rows = takeSameDay(selected, table.config.timeColumn);
  const archived = rowsByKey(rows, table.keyColumns);
  const range = rangeOf(rows, table.orderColumns);
  const written = await writeObject(context, scan, rows, range);
  return written.kind === 'known' ? { kind: 'known', range, archived, plan: written.plan } : { kind: 'verified', batch: written.batch, archived, plan: written.plan };
}

const sameCursor = (a: CursorValues, b: CursorValues) => a.length === b.length && a.every((value, index) => String(value) === String(b[index]));

const rangeOf = (rows: readonly SourceRow[], orderColumns: readonly string[]): BatchRange => ({
  firstCursor: cursorOf(rows[0]!, orderColumns),
  lastCursor: cursorOf(rows.at(-1)!, orderColumns),
});

/**
 * Writes the object of a batch's rows (those an earlier object does not hold already) and verifies
 * it: plan → upload → verify → `uploaded`. `known` when an earlier object holds every row.
 */
async function writeObject(
  context: BatchContext,
  scan: UnitScan,
  rows: readonly SourceRow[],
  range: BatchRange,
): Promise<{ kind: 'known'; plan: DeletePlan } | { kind: 'verified'; batch: ArchiveBatchRecord; plan: DeletePlan }> {
  const { table, store } = context;
  const { recorded, held } = scan.deleteMode === 'rows' ? await restoredStillArchived(context, rows) : { recorded: [], held: new Set<string>() };
  const plan: DeletePlan = { recovering: false, forget: recorded, alreadyArchived: held.size };
  const fresh = held.size === 0 ? rows : rows.filter((row) => !held.has(keyString(row, table.keyColumns)));
  if (fresh.length === 0) return { kind: 'known', plan };

  const body = buildBatchBody(fresh, table.columns);
  const first = fresh[0]!;
  const last = fresh.at(-1)!;
  const dt = dtOf(first[table.config.timeColumn] ?? null);
  const keyParts = { table: table.config.table, shard: context.shard, dt, unit: scan.unit, firstKey: cursorOf(first, table.keyColumns), lastKey: cursorOf(last, table.keyColumns) };
  await step(context, 'selected', { objectKey: batchObjectKey(keyParts), rowCount: fresh.length });
  let batch: ArchiveBatchRecord | undefined;
  // A finished batch may own the name already: the same rows (restored before restores were recorded) or other rows between the same keys.
  for (let variant = 1; !batch; variant++) {
    const objectKey = batchObjectKey(keyParts, variant);
    try {
      batch = await store.planBatch({
        table: table.config.table,
        shard: context.shard,
        unit: scan.unit,
        runId: context.runId,
        objectKey,
        dt,
        deleteMode: scan.deleteMode,
        rowCount: fresh.length,
        restoredRows: held.size,
        bytes: body.body.length,
        rawBytes: body.rawBytes,
        sha256: body.sha256,
        // The range spans the restored rows too: the delete expects them.
        ...range,
      });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const owner = await store.batchByObjectKey(objectKey);
      if (owner && owner.sha256 === body.sha256 && owner.state === 'checkpointed' && (await storedObjectMatches(context.objects, owner))) {
        return { kind: 'known', plan };
      }
    }
  }
  await step(context, 'planned', batch);

  const { objectKey } = batch;
  await context.objects.put(objectKey, body.body, {
    contentType: 'application/x-ndjson',
    metadata: { rows: String(fresh.length), shard: context.shard, unit: scan.unit, 'sha256-hex': body.sha256 },
  });
  await step(context, 'uploaded', batch);
  if (!(await storedObjectMatches(context.objects, batch))) {
    // Still `planned`: nothing was deleted, and the next attempt abandons and rewrites the object.
    throw new AppError(`archive object ${objectKey} did not verify after upload (size or SHA-256 differ)`);
  }
  await store.setBatchState(batch, 'planned', 'uploaded');
  await step(context, 'verified', batch);
  return { kind: 'verified', batch: { ...batch, state: 'uploaded' }, plan };
}

/**
 * The key ids of the batch's rows that `archive restore` recorded, and the rows (by keyString) among
 * them that are unchanged since and still held by their object: that very object, checkpointed,
 * there and intact. Once it has expired or been lost, its rows are archived anew. The records are
 * looked up by key only when the batch's time span holds any, so a table without restores pays one
 * indexed probe per batch.
 */
async function restoredStillArchived(context: BatchContext, rows: readonly SourceRow[]): Promise<{ recorded: string[]; held: Set<string> }> {
  const { table, store, shard } = context;
  const time = (row: SourceRow) => String(row[table.config.timeColumn]);
  if (!(await store.anyRestored(table.config.table, shard, time(rows[0]!), time(rows.at(-1)!)))) return { recorded: [], held: new Set() };
  const records = await store.restoredRows(table.config.table, shard, rows.map((row) => restoredKeyId(keyString(row, table.keyColumns))));
  const unchanged = unchangedRestoredRows(rows, records, table);
  // Each object key → the SHA-256 of its checkpointed, intact object, or undefined.
  const intact = new Map<string, string | undefined>();
  for (const { objectKey } of unchanged.values()) {
    if (intact.has(objectKey)) continue;
    const owner = await store.batchByObjectKey(objectKey);
    intact.set(objectKey, owner?.state === 'checkpointed' && (await storedObjectMatches(context.objects, owner)) ? owner.sha256 : undefined);
  }
  const held = new Set([...unchanged].filter(([, record]) => intact.get(record.objectKey) === record.objectSha256).map(([rowKey]) => rowKey));
  return { recorded: records.map((record) => record.keyId), held };
}

/**
 * The second half: delete the archived rows (rows mode), then, once `mayAdvance` resolves (the
 * previous batch has finished), mark them deleted and move the cursor if allowed, so a cursor
 * never moves backwards nor past rows that must be read again.
 */
export async function finishPreparedBatch(context: BatchContext, scan: UnitScan, prepared: PreparedBatch, mayAdvance: Promise<boolean> = Promise.resolve(true)): Promise<BatchOutcome> {
  if (prepared.kind === 'empty') return prepared;
  if (prepared.kind === 'taken') return finishTakenBatch(context, scan, prepared, mayAdvance);
  if (prepared.kind === 'known') return finishArchivedBefore(context, scan, prepared.range, prepared.archived, prepared.plan, mayAdvance);
  return finishVerifiedBatch(context, scan, prepared.batch, prepared.archived, mayAdvance, prepared.plan);
}

/**
 * Waits for the previous batch, whatever its outcome (its failure is reported where it is
 * awaited), and says whether this one may move the cursor: not past a batch that changed or
 * failed, whose rows must be read again.
 */
export async function mayAdvanceAfter(after: Promise<BatchOutcome> | undefined): Promise<boolean> {
  if (!after) return true;
  const previous = await after.then(
    (outcome) => outcome,
    () => undefined,
  );
  return previous !== undefined && (previous.kind === 'archived' || previous.kind === 'archived-before') && previous.advanced;
}

/** Gives up a prepared batch whose predecessor turned out changed: its object goes, its rows stay (or come back). */
export async function abandonPrepared(context: BatchContext, prepared: PreparedBatch): Promise<void> {
  if (prepared.kind === 'verified') await abandon(context, prepared.batch);
  if (prepared.kind === 'taken') await releaseTaken(prepared.taken);
}

/** Puts the rows of a take back, whether its delete has finished or not; a failed one holds nothing. */
export async function releaseTaken(taken: Promise<TakenBatch>): Promise<void> {
  await taken.then(
    (batch) => batch.rollback(),
    () => {},
  );
}

/**
 * Writes and verifies the object of rows taken in an open transaction, then commits their delete:
 * no row leaves the shard before its object is verified. Commits do not wait for the batches
 * before (only the cursor does): a delete that reads rows a later take holds then waits for that
 * take's upload, never for itself. Any failure before the commit puts the rows back; a batch
 * already planned is then finished or undone by recovery, as a checked delete.
 */
async function finishTakenBatch(context: BatchContext, scan: UnitScan, planned: { last: CursorValues; taken: Promise<TakenBatch> }, mayAdvance: Promise<boolean>): Promise<BatchOutcome> {
  const taken = await planned.taken;
  try {
    if (taken.rows.length === 0) return { kind: 'nothing-taken' };
    const range = rangeOf(taken.rows, context.table.orderColumns);
    // Rows that changed between the plan and the delete can leave one before the planned end, where
    // the next batch did not start: the cursor then stays, and the scan reads again from it.
    if (!sameCursor(range.lastCursor, planned.last)) mayAdvance = Promise.resolve(false);
    const written = await writeObject(context, scan, taken.rows, range);
    await taken.commit();
    return written.kind === 'known'
      ? deletedArchivedBefore(context, scan, range, written.plan, taken.rows.length, mayAdvance)
      : deletedArchived(context, written.batch, written.plan, taken.rows.length, mayAdvance);
  } finally {
    await taken.rollback();
  }
}

/** Deletes (rows mode) and checkpoints a verified batch whose archived lines are known. */
async function finishVerifiedBatch(
  context: BatchContext,
  scan: UnitScan,
  batch: ArchiveBatchRecord,
  archived: Map<string, SourceRow>,
  mayAdvance: Promise<boolean>,
  plan: DeletePlan,
): Promise<BatchOutcome> {
  if (batch.deleteMode !== 'rows') return { kind: 'archived', batch, deleted: 0, alreadyArchived: plan.alreadyArchived, advanced: await checkpoint(context, batch, await mayAdvance) };
  const outcome = await context.source.deleteArchived(deleteRequest(context, scan, batch, archived));
  if (outcome.changed.length > 0) {
    if (plan.recovering && outcome.missing > 0) {
      throw new ArchiveIntegrityError(
        `archive object ${batch.objectKey}: ${outcome.missing} of its ${batch.rowCount} rows are gone from shard ${context.shard}, perhaps deleted by the interrupted run, ` +
          `and ${outcome.changed.length} changed since; the object is kept as the only copy of the rows that are gone: compare it with the shard before archiving this table again`,
        { details: { batchId: batch.id, objectKey: batch.objectKey, changed: outcome.changed.slice(0, 20) } },
      );
    }
    await abandon(context, batch);
    return { kind: 'changed', rows: outcome.changed.length };
  }
  return deletedArchived(context, batch, plan, outcome.deleted, mayAdvance);
}

/** Once a batch's rows have left the shard: forgets their restored-row records, marks the batch deleted and checkpoints it. */
async function deletedArchived(context: BatchContext, batch: ArchiveBatchRecord, plan: DeletePlan, deleted: number, mayAdvance: Promise<boolean>): Promise<BatchOutcome> {
  await step(context, 'deleted', batch);
  await forgetRestored(context, plan.forget);
  await context.store.setBatchState(batch, 'uploaded', 'deleted');
  await step(context, 'marked-deleted', batch);
  return { kind: 'archived', batch, deleted, alreadyArchived: plan.alreadyArchived, advanced: await checkpoint(context, batch, await mayAdvance) };
}

/**
 * Marks the batch checkpointed and moves the cursor past it when allowed. Detached units continue
 * from the batch across runs; the live table is rescanned by each new run, so an older run's batch
 * leaves the cursor alone. Returns whether the cursor moved.
 */
async function checkpoint(context: BatchContext, batch: ArchiveBatchRecord, mayAdvance: boolean): Promise<boolean> {
  const advanceCursor = mayAdvance && (batch.deleteMode === 'none' || batch.runId === context.runId);
  await context.store.checkpointBatch(batch, context.runId, { advanceCursor });
  await step(context, 'checkpointed', batch);
  return advanceCursor;
}

/** Rows every one of which a verified object holds already: delete them (rows mode) and move the cursor, without a new object. */
async function finishArchivedBefore(
  context: BatchContext,
  scan: UnitScan,
  range: BatchRange,
  archived: Map<string, SourceRow>,
  plan: DeletePlan,
  mayAdvance: Promise<boolean>,
): Promise<BatchOutcome> {
  if (scan.deleteMode !== 'rows') return deletedArchivedBefore(context, scan, range, plan, 0, mayAdvance);
  const outcome = await context.source.deleteArchived(deleteRequest(context, scan, range, archived));
  if (outcome.changed.length > 0) return { kind: 'changed', rows: outcome.changed.length };
  return deletedArchivedBefore(context, scan, range, plan, outcome.deleted, mayAdvance);
}

/** Once rows an earlier object holds have left the shard (if they were to): forgets their restored-row records and moves the cursor past them, once the previous batch allows. */
async function deletedArchivedBefore(context: BatchContext, scan: UnitScan, range: BatchRange, plan: DeletePlan, deleted: number, mayAdvance: Promise<boolean>): Promise<BatchOutcome> {
  await forgetRestored(context, plan.forget);
  const advanced = await mayAdvance;
  if (advanced) await context.store.moveCursor(context.table.config.table, context.shard, scan.unit, context.runId, range.lastCursor);
  return { kind: 'archived-before', lastCursor: range.lastCursor, deleted, advanced };
}

/** Once the batch's rows are deleted. A crash before leaves records of keys that are gone: a row that comes back under one must be identical to its recorded line to match. */
async function forgetRestored(context: BatchContext, keyIds: readonly string[]): Promise<void> {
  if (keyIds.length > 0) await context.store.forgetRestored(context.table.config.table, context.shard, keyIds);
}

function deleteRequest(context: BatchContext, scan: UnitScan, batch: BatchRange, archived: Map<string, SourceRow>): DeleteRequest {
  return {
    table: scan.sourceTable,
    columns: context.table.columns,
    keyColumns: context.table.keyColumns,
    archived,
    range: { orderColumns: context.table.orderColumns, from: batch.firstCursor, to: batch.lastCursor, before: scan.before, filter: scan.filter },
  };
}

/**
 * Removes the object first, then records the abandonment. A crash in between leaves the batch in its
 * state without its object: recovery abandons it again when all its rows are still on the shard, and
 * otherwise stops for an operator.
 */
async function abandon(context: BatchContext, batch: ArchiveBatchRecord): Promise<void> {
  await context.objects.delete([batch.objectKey]);
  await context.store.setBatchState(batch, batch.state, 'abandoned');
}

/**
 * Finishes or undoes a batch an interrupted run left behind:
 * - planned: the object was never verified, so no row was deleted → remove the object, abandon.
 * - uploaded (rows mode): re-verify the object, then delete exactly its keys that are still on the
 *   shard with the archived content. If the object is gone or altered, abandon only when every
 *   row of the batch is provably still on the shard; otherwise stop for an operator.
 * - uploaded (detached unit) or deleted: re-verify if needed, then checkpoint.
 */
export async function recoverBatch(context: BatchContext, scan: UnitScan, batch: ArchiveBatchRecord, mayAdvance: boolean): Promise<BatchOutcome | { kind: 'abandoned' }> {
  switch (recoveryStep(batch.state, batch.deleteMode)) {
    case 'abandon':
      await abandon(context, batch);
      return { kind: 'abandoned' };
    case 'checkpoint':
      if (batch.state === 'uploaded' && !(await storedObjectMatches(context.objects, batch))) {
        // A detached unit deletes nothing per batch: its rows are all still in the detached table.
        await abandon(context, batch);
        return { kind: 'abandoned' };
      }
      return { kind: 'archived', batch, deleted: 0, alreadyArchived: 0, advanced: await checkpoint(context, batch, mayAdvance) };
    case 'finish-delete': {
      const body = await verifiedBody(context.objects, batch);
      if (!body) {
        const onShard = await context.source.countRange({
          table: scan.sourceTable,
          orderColumns: context.table.orderColumns,
          from: batch.firstCursor,
          to: batch.lastCursor,
          before: scan.before,
          filter: scan.filter,
        });
        // The range also holds the restored rows the batch was to delete without writing them again.
        const expected = batch.rowCount + batch.restoredRows;
        if (onShard !== expected) {
          throw new ArchiveIntegrityError(
            `archive object ${batch.objectKey} is missing or altered, and ${onShard} of the ${expected} rows of its range are on shard ${context.shard}: ` +
              'some may have been deleted; restore the object from a previous version before archiving this table again',
            { details: { batchId: batch.id, objectKey: batch.objectKey } },
          );
        }
        await abandon(context, batch);
        return { kind: 'abandoned' };
      }
      return finishVerifiedBatch(context, scan, batch, rowsByKey(batchRows(body), context.table.keyColumns), Promise.resolve(mayAdvance), { recovering: true, forget: [], alreadyArchived: 0 });
    }
  }
}

/** The archived rows by keyString, as the delete checks them against the shard. */
function rowsByKey(rows: readonly SourceRow[], keyColumns: readonly string[]): Map<string, SourceRow> {
  const byKey = new Map<string, SourceRow>();
  for (const row of rows) byKey.set(keyString(row, keyColumns), row);
  return byKey;
}

/** Size and SHA-256 as recorded at planning: from S3's own checksum when it reports one, else by reading the object. */
export async function storedObjectMatches(objects: ObjectStore, batch: Pick<ArchiveBatchRecord, 'objectKey' | 'bytes' | 'sha256'>): Promise<boolean> {
  const head = await objects.head(batch.objectKey);
  if (!head || head.size !== batch.bytes) return false;
  if (head.checksumSha256) return Buffer.from(head.checksumSha256, 'base64').toString('hex') === batch.sha256;
  return sha256Hex(await objects.getBuffer(batch.objectKey)) === batch.sha256;
}

/** The object's bytes if they are exactly what was recorded; undefined if missing or altered. */
export async function verifiedBody(objects: ObjectStore, batch: Pick<ArchiveBatchRecord, 'objectKey' | 'bytes' | 'sha256'>): Promise<Buffer | undefined> {
  if (!(await objects.head(batch.objectKey))) return undefined;
  const body = await objects.getBuffer(batch.objectKey);
  return body.length === batch.bytes && sha256Hex(body) === batch.sha256 ? body : undefined;
}
