import * as z from 'zod/mini';
import '../shared/zod-messages';
import type { output, util } from 'zod/v4/core';
import { FILTER_OPS, filterConditionProblem } from '../core/archive-filter';
import { WEEKDAYS, type BlackoutWindow } from '../core/archive-windows';
import { ValidationError } from '../shared/errors';
import { isIdentifier } from '../shared/identifiers';

/**
 * What gets archived, per table. Shared by the deployment config (cdk/config.ts), the archive
 * functions' environment and the CLI's `--config` file. Names are only checked for shape here;
 * `resolveArchiveTable` checks them against the live schema of every shard.
 */

const identifier = z.string().check(z.refine(isIdentifier, 'must be a MySQL identifier (letters, digits, _ and $; at most 64 characters)'));
const int = (min: number, max: number) => z.number().check(z.int(), z.minimum(min), z.maximum(max));
const hhmm = z.string().check(z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (UTC)'));

const filterValue = z.union([z.string().check(z.maxLength(1024)), z.number(), z.boolean()]);
const filterConditionSchema = z
  .strictObject({ column: identifier, op: z.enum(FILTER_OPS), value: z.optional(filterValue), values: z.optional(z.array(filterValue)) })
  .check(
    z.superRefine((condition, ctx) => {
      const problem = filterConditionProblem(condition);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: condition });
    }),
  );

/** One event (`start`, `end`: ISO instants) or a weekly window (`weekly`: days and HH:MM in UTC). */
const blackoutSchema = z.pipe(
  z
    .strictObject({
      start: z.optional(z.iso.datetime({ offset: true })),
      end: z.optional(z.iso.datetime({ offset: true })),
      weekly: z.optional(z.strictObject({ days: z.array(z.enum(WEEKDAYS)).check(z.minLength(1)), from: hhmm, to: hhmm })),
      reason: z.optional(z.string()),
    })
    .check(
      z.superRefine((window, ctx) => {
        if (window.weekly) {
          if (window.start || window.end) ctx.issues.push({ code: 'custom', message: 'a window is either weekly or has start and end, not both', input: window });
        } else if (!window.start || !window.end) {
          ctx.issues.push({ code: 'custom', message: 'needs start and end, or weekly', input: window });
        } else if (Date.parse(window.end) <= Date.parse(window.start)) {
          ctx.issues.push({ code: 'custom', message: 'end must be after start', input: window, path: ['end'] });
        }
      }),
    ),
  z.transform((window): BlackoutWindow => {
    const reason = window.reason === undefined ? {} : { reason: window.reason };
    return window.weekly ? { weekly: window.weekly, ...reason } : { start: window.start!, end: window.end!, ...reason };
  }),
);

const throttleSchema = z.strictObject({
  /** Pause while a replica lags more than this; the chapter's pt-archiver practice: 1 s. */
  maxReplicaLagSeconds: z._default(z.number().check(z.minimum(0)), 1),
  /** Pause while the primary's Threads_running is above this (the chapter's pt-osc max-load). */
  maxThreadsRunning: z._default(int(1, 100_000), 25),
  /** Optional pause after every batch (the chapter sleeps 1 s). */
  sleepBetweenBatchesMs: z._default(int(0, 60_000), 0),
  /** How long to wait before looking again once throttled. */
  pauseSeconds: z._default(int(1, 3_600), 30),
});

const LAYOUTS = ['rows', 'partitioned', 'daily-tables'] as const;

const DEFAULT_SCHEDULE = 'cron(0 3 * * ? *)';

const archiveTableSchema = z
  .strictObject({
    /** The table; for `daily-tables` the base name of `<table>_YYYYMMDD`. */
    table: identifier,
    /** `rows`: delete archived rows; `partitioned`: RANGE partitions dropped whole; `daily-tables`: date-named tables dropped whole. */
    layout: z._default(z.enum(LAYOUTS), 'rows'),
    /** DATE, DATETIME or TIMESTAMP, NOT NULL; rows older than the retention by this column leave the shard. */
    timeColumn: identifier,
    /** Columns that identify a row; default: the primary key. Must cover a unique index of NOT NULL columns. */
    keyColumns: z.optional(z.array(identifier).check(z.minLength(1), z.maxLength(16))),
    retentionDays: z._default(int(1, 36_500), 180),
    batchSize: z._default(int(1, 100_000), 10_000),
    /** AND-ed conditions (rows layout only): only matching rows are archived. */
    filter: z._default(z.array(filterConditionSchema).check(z.maxLength(32)), []),
    throttle: z.prefault(throttleSchema, {}),
    blackouts: z._default(z.array(blackoutSchema), []),
    /** EventBridge Scheduler expression (UTC). */
    schedule: z._default(z.string().check(z.regex(/^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/, 'must be cron(...) or rate(...)')), DEFAULT_SCHEDULE),
    /** Shards it applies to; default: every shard of the map. */
    shards: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(z.minLength(1))),
    /** Partitioned layout: the partition unit and how many units to create ahead (default 7 days / 2 months). */
    partitions: z.prefault(z.strictObject({ unit: z._default(z.enum(['day', 'month']), 'day'), ahead: z.optional(int(0, 366)) }), {}),
    /** Date-named layout: how many days ahead tables are created (1 = tomorrow). */
    dailyTables: z.prefault(z.strictObject({ ahead: z._default(int(0, 31), 1) }), {}),
    /** Column `archive restore --player` matches. */
    playerColumn: z._default(identifier, 'player_id'),
  })
  .check(
    z.superRefine((table, ctx) => {
      if (table.layout !== 'rows' && table.filter.length > 0) {
        ctx.issues.push({ code: 'custom', message: `a filter cannot apply to the ${table.layout} layout, which drops whole tables`, input: table.filter, path: ['filter'] });
      }
      if (table.keyColumns && new Set(table.keyColumns).size !== table.keyColumns.length) {
        ctx.issues.push({ code: 'custom', message: 'must not repeat a column', input: table.keyColumns, path: ['keyColumns'] });
      }
    }),
  );

export const archiveTablesSchema = z.array(archiveTableSchema).check(
  z.superRefine((tables, ctx) => {
    const seen = new Set<string>();
    tables.forEach((table, index) => {
      if (seen.has(table.table)) ctx.issues.push({ code: 'custom', message: `table ${table.table} is configured twice`, input: table.table, path: [index, 'table'] });
      seen.add(table.table);
    });
  }),
);

/** Windows that apply to every table, added to each table's own. */
export const archiveBlackoutsSchema = z._default(z.array(blackoutSchema), []);

/** A `--config` file or the functions' environment: the tables and the fleet-wide blackout windows. */
export const archiveSettingsSchema = z.strictObject({ tables: z._default(archiveTablesSchema, []), blackouts: archiveBlackoutsSchema });

export type ArchiveTableConfig = output<typeof archiveTableSchema>;
export type ArchiveSettings = output<typeof archiveSettingsSchema>;
export type ArchiveTableInput = z.input<typeof archiveTableSchema>;

function parsed<T>(result: util.SafeParseResult<T>, source: string): T {
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ValidationError(`invalid archive config (${source}): ${problems.join('; ')}`, { details: { problems } });
}

/** Parses a list of table configs, naming every problem as `path: message`. */
export function parseArchiveTables(raw: unknown, source: string): ArchiveTableConfig[] {
  return parsed(z.safeParse(archiveTablesSchema, raw), source);
}

/** Parses `{ tables, blackouts }`, or a bare list of tables. */
export function parseArchiveSettings(raw: unknown, source: string): ArchiveSettings {
  return parsed(z.safeParse(archiveSettingsSchema, Array.isArray(raw) ? { tables: raw } : raw), source);
}
