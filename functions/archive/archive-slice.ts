import { sqlDateTime, type CursorValues } from '../core/archive-batch';
import { decideThrottle } from '../core/archive-throttle';
import { activeBlackout, type BlackoutWindow } from '../core/archive-windows';
import type { ArchiveSource, ShardLoadProbe } from '../ports/archive-source';
import type { ArchiveBatchRecord, ArchiveRun, ArchiveStore, DetachedUnit } from '../ports/archive-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';
import { ConflictError } from '../shared/errors';
import { ArchiveCompleted, ArchiveStarted, buildEvent } from '../shared/events';
import type { ArchiveTableConfig } from './archive-config';
import { abandonPrepared, finishPreparedBatch, mayAdvanceAfter, prepareNextBatch, recoverBatch, releaseTaken, type BatchContext, type BatchOutcome, type UnitScan } from './archive-batches';
import { detachedScan, finishDetachedUnit, maintainLayout } from './partition-maintenance';
import { resolveArchiveTable } from './resolve-table';

/**
 * One invocation's share of an archive run of one table on one shard: batches until the time
 * budget is spent, then a cursor-bearing answer the workflow loops on. Pauses (load, blackout)
 * are answered, not slept through, so the workflow's Wait states do the waiting.
 */

export interface SliceRequest {
  table: string;
  shard: string;
  /** The workflow execution (or CLI run); also the lease owner, so a retried invocation re-enters. */
  runId: string;
  /** ms since the epoch; fixed for the whole run so every shard archives the same days. */
  cutoff: number;
}

export type SliceStatus = 'done' | 'more' | 'throttled' | 'blackout' | 'busy';

export interface SliceResult {
  status: SliceStatus;
  table: string;
  shard: string;
  runId: string;
  /** Rows and batches archived by this invocation. */
  rows: number;
  batches: number;
  /** The run's totals so far. */
  runRows: number;
  runBatches: number;
  /** Where the live table's scan stands (null before the first batch and for whole-table layouts). */
  cursor: CursorValues | null;
  /** Throttled: wait this long, then call again. */
  waitSeconds?: number;
  /** Blackout: call again at this ISO time. */
  resumeAt?: string;
  reason?: string;
  elapsedMs: number;
}

export interface SliceDependencies {
  store: ArchiveStore;
  objects: ObjectStore;
  source: ArchiveSource;
  /** Absent: no throttling (a shard with no replicas and no load limit to honour). */
  load?: ShardLoadProbe;
  events: EventPublisher;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  onStep?: BatchContext['onStep'];
  /** After every batch this slice archives (recovered ones included) or deletes as archived before: progress for the CLI. */
  onBatch?: (progress: { rows: number; alreadyArchived: number; runRows: number; unit: string }) => void;
}

export interface SliceOptions {
  /** Stop starting batches after this instant (ms since the epoch). */
  deadline: number;
  /** Blackout windows that apply to every table, added to the table's own. */
  blackouts?: readonly BlackoutWindow[];
  leaseTtlMs?: number;
}

/**
 * Batches being deleted at once: adjacent ranges do not block each other (see deleteArchived); three
 * ran faster than two (README, bench:archive). The shard's pool has one more connection, for the next read.
 */
const MAX_FINISHING = 3;
/** A batch whose rows keep changing under it is retried this often before the slice gives up. */
const MAX_CONSECUTIVE_CHANGES = 3;
const DEFAULT_LEASE_TTL_MS = 15 * 60_000;

export async function runArchiveSlice(config: ArchiveTableConfig, request: SliceRequest, deps: SliceDependencies, options: SliceOptions): Promise<SliceResult> {
  const { store, clock } = deps;
  const started = clock.now();
  const windows = [...(options.blackouts ?? []), ...config.blackouts];
  let rows = 0;
  let batches = 0;
  /** Set once a batch of restored rows that an earlier object holds was deleted: progress, with no batch archived. */
  let deletedArchivedBefore = false;
  let cursor: CursorValues | null = null;
  let run: Pick<ArchiveRun, 'rows' | 'batches'> = { rows: 0, batches: 0 };
  const answer = (status: SliceStatus, extra: Partial<SliceResult> = {}): SliceResult => ({
    status,
    table: request.table,
    shard: request.shard,
    runId: request.runId,
    rows,
    batches,
    runRows: run.rows + rows,
    runBatches: run.batches + batches,
    cursor,
    elapsedMs: clock.now() - started,
    ...extra,
  });

  const blackout = activeBlackout(clock.now(), windows);
  if (blackout) return answer('blackout', { resumeAt: new Date(blackout.until).toISOString(), reason: blackout.reason });

  // Checked before the lease is taken: a config the live schema refuses fails without holding anything.
  const table = await resolveArchiveTable(deps.source, config);
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const lease = await store.tryLease(request.table, request.shard, request.runId, leaseTtlMs);
  if (!lease.acquired) return answer('busy', { reason: `run ${lease.heldBy} is archiving ${request.table} on ${request.shard}` });
  let leaseRenewedAt = clock.now();

  const begun = await store.startRun({ table: request.table, shard: request.shard, runId: request.runId, cutoff: request.cutoff });
  if (begun.run.status === 'done') return answer('done', { runRows: begun.run.rows, runBatches: begun.run.batches });
  run = begun.run;
  if (begun.created) {
    await deps.events.publish([
      buildEvent(ArchiveStarted, { ...eventCommon(request, clock.now()), layout: config.layout }),
    ]);
  }

  const context: BatchContext = { table, shard: request.shard, runId: request.runId, source: deps.source, store, objects: deps.objects, onStep: deps.onStep };
  const before = sqlDateTime(request.cutoff);
  const liveScan: UnitScan = { unit: config.table, sourceTable: config.table, deleteMode: 'rows', before, filter: config.filter };
  const maintenance = { config, shard: request.shard, source: deps.source, store, now: clock.now(), cutoff: request.cutoff };

  if (config.layout !== 'rows') await maintainLayout(maintenance);
  const detached = new Map((await store.detachedUnits(config.table, request.shard)).map((unit) => [unit.unit, unit]));
  const scanOf = (unit: string): UnitScan => {
    const found = detached.get(unit);
    return found ? detachedScan(found) : liveScan;
  };

  // A crash leaves the few batches that were in flight unfinished; finish or undo them, oldest
  // first, before reading on. After one is undone, later ones of its unit leave the cursor alone.
  /** Counts a batch this slice archived, recovered ones included, and reports it with the rows it deleted that an earlier object holds. */
  const archived = (batch: ArchiveBatchRecord, unit: string, alreadyArchived = 0): void => {
    rows += batch.rowCount;
    batches += 1;
    deps.onBatch?.({ rows: batch.rowCount, alreadyArchived, runRows: run.rows + rows, unit });
  };
  const held = new Set<string>();
  for (const batch of await store.unfinishedBatches(config.table, request.shard)) {
    const outcome = await recoverBatch(context, scanOf(batch.unit), batch, !held.has(batch.unit));
    if (outcome.kind === 'archived') archived(batch, batch.unit);
    if (outcome.kind !== 'archived' || !outcome.advanced) held.add(batch.unit);
  }

  let changes = 0;
  let unit: DetachedUnit | undefined = config.layout === 'rows' ? undefined : [...detached.values()][0];
  // Batches overlap: up to MAX_FINISHING are being deleted while the next is read and uploaded.
  // `position` is where the next batch starts; undefined means "read the stored cursor".
  const finishing: Array<{ scan: UnitScan; outcome: Promise<BatchOutcome> }> = [];
  let position: CursorValues | null | undefined;
  /** Set when batches changed too often; thrown by drain(), once nothing is in flight any more. */
  let conflict: ConflictError | undefined;

  /** Counts a finished batch; a changed one means re-reading from the stored cursor. */
  const account = (scan: UnitScan, outcome: BatchOutcome): void => {
    if (outcome.kind === 'changed') {
      changes += 1;
      position = undefined;
      if (changes > MAX_CONSECUTIVE_CHANGES) {
        conflict ??= new ConflictError(`rows of ${request.table} on ${request.shard} changed between read and delete ${changes} times in a row; archiving stops so as not to race the writer`);
      }
      return;
    }
    if (outcome.kind === 'empty') return;
    if (outcome.kind === 'nothing-taken') {
      position = undefined;
      return;
    }
    changes = 0;
    if (scan.deleteMode === 'rows') {
      cursor = outcome.kind === 'archived-before' ? outcome.lastCursor : outcome.batch.lastCursor;
      // A live batch that left the cursor behind it (one before it did not finish, or its rows moved): read again from the cursor.
      if (!outcome.advanced) position = undefined;
    }
    if (outcome.kind === 'archived') {
      archived(outcome.batch, scan.unit, outcome.alreadyArchived);
    } else {
      deletedArchivedBefore = true;
      deps.onBatch?.({ rows: 0, alreadyArchived: outcome.deleted, runRows: run.rows + rows, unit: scan.unit });
    }
  };
  /** Waits for every batch in flight, in order; the first failure (or the conflict) is thrown once all have settled. */
  const drain = async (): Promise<void> => {
    const pending = finishing.splice(0);
    const outcomes = await Promise.allSettled(pending.map((batch) => batch.outcome));
    let failure: { reason: unknown } | undefined;
    outcomes.forEach((outcome, index) => {
      if (outcome.status === 'rejected') failure ??= { reason: outcome.reason };
      else if (!failure) account(pending[index]!.scan, outcome.value);
    });
    if (failure) throw failure.reason;
    if (conflict) throw conflict;
  };

  try {
    for (;;) {
      // At least one batch per invocation, so even a late start makes progress.
      if ((batches > 0 || deletedArchivedBefore) && clock.now() >= options.deadline) {
        await drain();
        return answer('more');
      }
      const window = activeBlackout(clock.now(), windows);
      if (window) {
        await drain();
        return answer('blackout', { resumeAt: new Date(window.until).toISOString(), reason: window.reason });
      }
      if (deps.load) {
        const decision = decideThrottle(await deps.load.sample(), config.throttle);
        if (!decision.proceed) {
          await drain();
          return answer('throttled', { waitSeconds: decision.waitSeconds, reason: decision.reason });
        }
      }
      if (config.throttle.sleepBetweenBatchesMs > 0 && finishing.length > 0) {
        await drain();
        await deps.sleep(config.throttle.sleepBetweenBatchesMs);
      }
      if (clock.now() - leaseRenewedAt > leaseTtlMs / 3) {
        const renewed = await store.tryLease(request.table, request.shard, request.runId, leaseTtlMs);
        if (!renewed.acquired) {
          // This run stalled past its lease and another took the table over: read no further.
          await drain();
          return answer('busy', { reason: `run ${renewed.heldBy} took over ${request.table} on ${request.shard} after this run's lease ran out` });
        }
        leaseRenewedAt = clock.now();
      }

      if (config.layout !== 'rows' && !unit) break;
      const scan = unit ? detachedScan(unit) : liveScan;
      position ??= await store.cursor(config.table, request.shard, scan.unit, request.runId);
      if (!unit && batches === 0) cursor = position;
      const oldest = finishing.length >= MAX_FINISHING ? finishing[0] : undefined;
      const [prepared, finished] = await Promise.allSettled([prepareNextBatch(context, scan, position), oldest?.outcome]);
      if (finished.status === 'rejected' || prepared.status === 'rejected') {
        // drain() throws a failed batch in flight; otherwise the failure is this batch's.
        if (prepared.status === 'fulfilled' && prepared.value.kind === 'taken') await releaseTaken(prepared.value.taken);
        await drain();
        throw (prepared as PromiseRejectedResult).reason;
      }
      if (oldest) account(finishing.shift()!.scan, finished.value!);
      const next = prepared.value;
      if (position === undefined) {
        // A batch changed under us: this one was read past rows that must be read again, and the
        // stored cursor is only right once every batch in flight has finished.
        await abandonPrepared(context, next);
        await drain();
        continue;
      }
      if (next.kind === 'empty') {
        await drain();
        position = undefined;
        if (!unit) break;
        await finishDetachedUnit({ ...maintenance, objects: deps.objects }, unit);
        detached.delete(unit.unit);
        unit = [...detached.values()][0];
        continue;
      }
      position = next.kind === 'verified' ? next.batch.lastCursor : next.kind === 'taken' ? next.last : next.range.lastCursor;
      const outcome = finishPreparedBatch(context, scan, next, mayAdvanceAfter(finishing.at(-1)?.outcome));
      // Observed here so a batch failing while the loop is elsewhere is not an unhandled rejection; drain() reports it.
      outcome.catch(() => {});
      finishing.push({ scan, outcome });
    }
  } catch (error) {
    // Whatever stopped the loop, the batches in flight finish or put their rows back before it is reported:
    // a take left open would hold its rows, and its connection, past this invocation.
    await drain().catch(() => {});
    throw error;
  }

  const finished = await store.finishRun(request.table, request.shard, request.runId, 'done');
  await store.releaseLease(request.table, request.shard, request.runId);
  await deps.events.publish([
    buildEvent(ArchiveCompleted, {
      ...eventCommon(request, clock.now()),
      rows: finished.rows,
      batches: finished.batches,
      bytes: finished.bytes,
      durationMs: Math.max(0, (finished.finishedAt ?? clock.now()) - finished.startedAt),
    }),
  ]);
  return answer('done', { runRows: finished.rows, runBatches: finished.batches });
}

export function eventCommon(request: SliceRequest, now: number) {
  return {
    schemaVersion: 1 as const,
    table: request.table,
    shard: request.shard,
    runId: request.runId,
    cutoff: new Date(request.cutoff).toISOString(),
    observedAt: new Date(now).toISOString(),
  };
}
