import * as z from 'zod/mini';
import '../shared/zod-messages';
import type { Shard } from '../core/shard-map-types';
import type { ArchiveSource, ShardLoadProbe } from '../ports/archive-source';
import type { ArchiveStore } from '../ports/archive-store';
import type { Catalog } from '../ports/catalog';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';
import { NoShardMapError, NotFoundError, ValidationError } from '../shared/errors';
import { writeMapItems, type MapItemsOutput } from '../shared/map-items';
import type { ArchiveSettings } from './archive-config';
import { reportArchiveFailure } from './archive-failure';
import { planArchiveItems } from './archive-plan';
import { runArchiveSlice, type SliceRequest, type SliceResult } from './archive-slice';

/**
 * The archive workflow's tasks as functions of their Step Functions input: the Lambda handlers
 * call them with deployed dependencies, the workflow tests and the sandbox with local ones.
 */

const text = z.string().check(z.minLength(1));
const sliceRequestSchema = z.object({ table: text, shard: text, runId: text, cutoff: z.number().check(z.int(), z.nonnegative()) });
const planInputSchema = z.object({
  runId: text,
  startedAt: z.iso.datetime({ offset: true }),
  /** The execution input: optional narrowing to some tables or shards. */
  input: z._default(z.object({ tables: z.optional(z.array(text)), shards: z.optional(z.array(text)) }), {}),
});
const summaryInputSchema = z.object({ runId: text, planned: z.number().check(z.int(), z.nonnegative()) });
const failureInputSchema = z.extend(sliceRequestSchema, { error: z.object({ Error: z._default(z.string(), 'Error'), Cause: z._default(z.string(), '') }) });

function parse<S extends z.ZodMiniType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = z.safeParse(schema, input);
  if (!result.success) throw new ValidationError(`invalid ${what} input: ${result.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`).join('; ')}`);
  return result.data;
}

async function shardNamed(catalog: Catalog, name: string): Promise<Shard> {
  const map = await catalog.loadShardMap();
  if (!map) throw new NoShardMapError('the catalog holds no shard map');
  const shard = map.shards.find((candidate) => candidate.name === name);
  if (!shard) throw new NotFoundError(`shard ${name} is no longer in the shard map`);
  return shard;
}

/** The items inline (a Map state reads them from the state), or in S3 (a Distributed Map's ItemReader does). */
export type PlanTaskOutput = { runId: string; count: number } & ({ items: SliceRequest[] } | { itemsKey: string });

/** Plan: one item per (table, shard), with each table's cutoff fixed at the execution's start. */
export function createPlanTask(deps: { settings: ArchiveSettings; catalog: Catalog; itemsOutput?: MapItemsOutput }) {
  return async (event: unknown): Promise<PlanTaskOutput> => {
    const { runId, startedAt, input } = parse(planInputSchema, event, 'archive plan');
    const map = await deps.catalog.loadShardMap();
    if (!map) throw new NoShardMapError('the catalog holds no shard map');
    const items = planArchiveItems(
      deps.settings.tables,
      map.shards.map((shard) => shard.name),
      { now: Date.parse(startedAt), runId, tables: input.tables, shards: input.shards },
    );
    if (!deps.itemsOutput) return { runId, count: items.length, items };
    return { runId, count: items.length, itemsKey: await writeMapItems(deps.itemsOutput, runId, items) };
  };
}

/** How the items of one execution ended, read from the catalog: the Map's own results are not kept. */
export interface SummaryTaskOutput {
  runId: string;
  planned: number;
  done: number;
  failed: number;
  /** Runs recorded but not finished (an item that stopped without an outcome). */
  unfinished: number;
  /** Items that never started a run: another run held the (table, shard). */
  notStarted: number;
  rows: number;
  batches: number;
  bytes: number;
  anyFailed: boolean;
}

/** Summarize: the execution's outcome; it fails when any item failed (each one has published ArchiveFailed). */
export function createSummaryTask(deps: { store: ArchiveStore }) {
  return async (event: unknown): Promise<SummaryTaskOutput> => {
    const { runId, planned } = parse(summaryInputSchema, event, 'archive summary');
    const totals = await deps.store.executionTotals(runId);
    const { done, failed, running } = totals.runs;
    return {
      runId,
      planned,
      done,
      failed,
      unfinished: running,
      notStarted: Math.max(0, planned - done - failed - running),
      rows: totals.rows,
      batches: totals.batches,
      bytes: totals.bytes,
      anyFailed: failed > 0,
    };
  };
}

/** What the workflow loops on: the request again (the next slice's input), the status, and where to wait. */
export interface SliceTaskOutput extends SliceResult {
  cutoff: number;
  /** Seconds the Wait state pauses when throttled (0 otherwise). */
  waitSeconds: number;
  /** When the Wait state resumes after a blackout (now otherwise). */
  resumeAt: string;
}

export interface SliceTaskDependencies {
  settings: ArchiveSettings;
  catalog: Catalog;
  store: ArchiveStore;
  objects: ObjectStore;
  events: EventPublisher;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  source: (shard: Shard) => Promise<ArchiveSource>;
  load?: (shard: Shard) => ShardLoadProbe;
}

/** Archive: batches of one table on one shard until `deadline`. */
export function createSliceTask(deps: SliceTaskDependencies) {
  return async (event: unknown, budget: { deadline: number }): Promise<SliceTaskOutput> => {
    const request = parse(sliceRequestSchema, event, 'archive slice');
    const config = deps.settings.tables.find((table) => table.table === request.table);
    if (!config) throw new ValidationError(`table ${request.table} is not configured for archiving`);
    const shard = await shardNamed(deps.catalog, request.shard);
    const load = deps.load?.(shard);
    const result = await runArchiveSlice(
      config,
      request,
      { store: deps.store, objects: deps.objects, source: await deps.source(shard), ...(load ? { load } : {}), events: deps.events, clock: deps.clock, sleep: deps.sleep },
      { deadline: budget.deadline, blackouts: deps.settings.blackouts },
    );
    return { ...result, cutoff: request.cutoff, waitSeconds: result.waitSeconds ?? 0, resumeAt: result.resumeAt ?? new Date(deps.clock.now()).toISOString() };
  };
}

/** ReportFailure: the run failed for good (retries exhausted or a permanent error); ArchiveFailed goes out. */
export function createFailureTask(deps: { store: ArchiveStore; events: EventPublisher; clock: Clock }) {
  return async (event: unknown) => {
    const { error, ...request } = parse(failureInputSchema, event, 'archive failure');
    const run = await reportArchiveFailure(request, { errorCode: error.Error, error: causeMessage(error.Cause) }, deps);
    return { table: request.table, shard: request.shard, runId: request.runId, outcome: 'failed' as const, rows: run.rows, error: error.Error };
  };
}

/** A Lambda error's Cause is JSON `{errorMessage, errorType, ...}`; other causes are text. */
function causeMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // Not JSON: the cause is the message.
  }
  return cause;
}
