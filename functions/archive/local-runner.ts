import type { BlackoutWindow } from '../core/archive-windows';
import type { Shard } from '../core/shard-map-types';
import type { ArchiveSource, ShardLoadProbe } from '../ports/archive-source';
import type { ArchiveStore } from '../ports/archive-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';
import { isAppError } from '../shared/errors';
import type { ArchiveTableConfig } from './archive-config';
import { reportArchiveFailure } from './archive-failure';
import { runArchiveSlice, type SliceRequest, type SliceResult } from './archive-slice';

/**
 * The archive workflow's loop without Step Functions, for the CLI: slices until done, waiting out
 * throttles in-process; a blackout ends the item unless asked to wait; a failure is reported as
 * ArchiveFailed and the next item goes on.
 */

export interface LocalRunDependencies {
  store: ArchiveStore;
  objects: ObjectStore;
  events: EventPublisher;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  source: (shard: Shard) => Promise<ArchiveSource>;
  load?: (shard: Shard) => ShardLoadProbe;
  /** After each slice or pause: for a progress line. */
  onProgress?: (item: SliceRequest, update: { result: SliceResult; elapsedMs: number }) => void;
  /**
   * After every checkpointed batch: the run's rows so far, the rows this item deleted that the archive
   * held already (restored rows), and this item's rate since it started.
   */
  onBatch?: (item: SliceRequest, progress: { runRows: number; alreadyArchived: number; rowsPerSecond: number }) => void;
}

export interface LocalRunOptions {
  blackouts?: readonly BlackoutWindow[];
  /** Wait for blackouts to end instead of stopping the item. */
  waitOutBlackouts?: boolean;
  /** Time budget of one slice; progress is reported between slices. */
  sliceMs?: number;
}

export interface ItemOutcome {
  table: string;
  shard: string;
  status: 'done' | 'blackout' | 'busy' | 'failed';
  rows: number;
  runRows: number;
  batches: number;
  elapsedMs: number;
  rowsPerSecond: number;
  throttleWaits: number;
  error?: string;
  resumeAt?: string;
}

export async function runArchiveLocally(
  items: readonly SliceRequest[],
  tables: readonly ArchiveTableConfig[],
  shards: readonly Shard[],
  deps: LocalRunDependencies,
  options: LocalRunOptions = {},
): Promise<ItemOutcome[]> {
  const outcomes: ItemOutcome[] = [];
  for (const item of items) {
    const config = tables.find((table) => table.table === item.table)!;
    const shard = shards.find((candidate) => candidate.name === item.shard)!;
    const started = deps.clock.now();
    let rows = 0;
    let alreadyArchived = 0;
    let batches = 0;
    let throttleWaits = 0;
    const rate = (count: number, elapsedMs: number) => (elapsedMs > 0 ? (count * 1000) / elapsedMs : 0);
    const outcome = (status: ItemOutcome['status'], runRows: number, extra: Partial<ItemOutcome> = {}): ItemOutcome => {
      const elapsedMs = deps.clock.now() - started;
      return { table: item.table, shard: item.shard, status, rows, runRows, batches, elapsedMs, rowsPerSecond: rate(rows, elapsedMs), throttleWaits, ...extra };
    };
    try {
      const source = await deps.source(shard);
      const load = deps.load?.(shard);
      for (;;) {
        const result = await runArchiveSlice(
          config,
          item,
          {
            store: deps.store,
            objects: deps.objects,
            source,
            ...(load ? { load } : {}),
            events: deps.events,
            clock: deps.clock,
            sleep: deps.sleep,
            onBatch: (progress) => {
              rows += progress.rows;
              alreadyArchived += progress.alreadyArchived;
              if (progress.rows > 0) batches += 1;
              deps.onBatch?.(item, { runRows: progress.runRows, alreadyArchived, rowsPerSecond: rate(rows, deps.clock.now() - started) });
            },
          },
          { deadline: deps.clock.now() + (options.sliceMs ?? 10_000), blackouts: options.blackouts },
        );
        deps.onProgress?.(item, { result, elapsedMs: deps.clock.now() - started });
        if (result.status === 'more') continue;
        if (result.status === 'throttled') {
          throttleWaits += 1;
          await deps.sleep((result.waitSeconds ?? 1) * 1000);
          continue;
        }
        if (result.status === 'blackout' && options.waitOutBlackouts && result.resumeAt) {
          await deps.sleep(Math.max(0, Date.parse(result.resumeAt) - deps.clock.now()));
          continue;
        }
        outcomes.push(outcome(result.status, result.runRows, result.resumeAt ? { resumeAt: result.resumeAt } : {}));
        break;
      }
    } catch (error) {
      const errorCode = isAppError(error) ? error.code : error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      const run = await reportArchiveFailure(item, { errorCode, error: message }, deps);
      outcomes.push(outcome('failed', run.rows, { error: `${errorCode}: ${message}` }));
    }
  }
  return outcomes;
}
