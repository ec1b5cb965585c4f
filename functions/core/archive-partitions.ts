import { isoDate } from './archive-batch';
import { ValidationError } from '../shared/errors';

/**
 * Partition maintenance, planned without I/O: which RANGE partitions or date-named tables to create
 * ahead, and which whole ones are past retention. Old ones are archived from a detached copy (an
 * atomic CONVERT PARTITION / RENAME TABLE) and dropped once every row is in a verified object, so
 * a late insert can never land in a partition between its last check and its drop.
 */

const DAY_MS = 86_400_000;
/** MySQL's TO_DAYS('1970-01-01'). */
const TO_DAYS_EPOCH = 719_528;
const MAX_IDENTIFIER = 64;
const DETACHED_PREFIX = 'sk_archiving_';

export type PartitionUnit = 'day' | 'month';

export const DEFAULT_PARTITIONS_AHEAD: Record<PartitionUnit, number> = { day: 7, month: 2 };

/** How a RANGE partitioning maps the time column to bounds. */
export type BoundKind = 'to_days' | 'unix_timestamp' | 'columns';

export interface PartitionScheme {
  kind: BoundKind;
  column: string;
}

export interface RawPartition {
  name: string;
  method: string;
  expression: string;
  /** PARTITION_DESCRIPTION: the VALUES LESS THAN literal, or MAXVALUE. */
  description: string;
}

export interface Partition {
  name: string;
  /** Exclusive upper bound in ms since the epoch; null for MAXVALUE. */
  lessThan: number | null;
}

const stripQuotes = (text: string) => text.trim().replace(/^`|`$/g, '');

/** Reads the scheme from information_schema.PARTITIONS; anything but RANGE over the time column is refused. */
export function partitionScheme(method: string, expression: string, timeColumn: string): PartitionScheme {
  const upper = method.toUpperCase();
  let scheme: PartitionScheme | undefined;
  if (upper === 'RANGE COLUMNS') scheme = { kind: 'columns', column: stripQuotes(expression) };
  else if (upper === 'RANGE') {
    const match = /^\s*(to_days|unix_timestamp)\s*\(\s*`?([A-Za-z0-9_$]+)`?\s*\)\s*$/i.exec(expression);
    if (match) scheme = { kind: match[1]!.toLowerCase() as BoundKind, column: match[2]! };
  }
  if (!scheme) {
    throw new ValidationError(
      `partitioning ${method} (${expression}) is not supported: use RANGE COLUMNS(${timeColumn}), RANGE (TO_DAYS(${timeColumn})) or RANGE (UNIX_TIMESTAMP(${timeColumn}))`,
    );
  }
  if (scheme.column !== timeColumn) throw new ValidationError(`the table is partitioned by ${scheme.column}, not by the time column ${timeColumn}`);
  return scheme;
}

export function parseBound(scheme: PartitionScheme, description: string): number | null {
  const text = description.trim();
  if (/^maxvalue$/i.test(text)) return null;
  if (scheme.kind === 'to_days') return (Number(text) - TO_DAYS_EPOCH) * DAY_MS;
  if (scheme.kind === 'unix_timestamp') return Number(text) * 1000;
  const literal = text.replace(/^'|'$/g, '');
  const ms = Date.parse(`${literal.length === 10 ? `${literal}T00:00:00` : literal.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new ValidationError(`cannot read the partition bound ${description}`);
  return ms;
}

/** The VALUES LESS THAN literal for a day-aligned bound; generated from a number, never from input text. */
export function boundLiteral(scheme: PartitionScheme, lessThan: number): string {
  if (scheme.kind === 'to_days') return String(Math.round(lessThan / DAY_MS) + TO_DAYS_EPOCH);
  if (scheme.kind === 'unix_timestamp') return String(Math.round(lessThan / 1000));
  return `'${isoDate(lessThan)}'`;
}

export function readPartitions(raw: readonly RawPartition[], timeColumn: string): { scheme: PartitionScheme; partitions: Partition[] } {
  const first = raw[0];
  if (!first) throw new ValidationError('the table is not partitioned');
  const scheme = partitionScheme(first.method, first.expression, timeColumn);
  return { scheme, partitions: raw.map((partition) => ({ name: partition.name, lessThan: parseBound(scheme, partition.description) })) };
}

/** The start of the day or month holding `ms`. */
export function unitStart(ms: number, unit: PartitionUnit): number {
  const date = new Date(ms);
  return unit === 'day' ? Math.floor(ms / DAY_MS) * DAY_MS : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** The start of the day or month after the one holding `ms`. */
export function nextUnit(ms: number, unit: PartitionUnit): number {
  const date = new Date(unitStart(ms, unit));
  return unit === 'day' ? date.getTime() + DAY_MS : Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** `p20240115` for the day starting 2024-01-15, `p202401` for January 2024. */
export function partitionName(start: number, unit: PartitionUnit): string {
  const digits = isoDate(start).replace(/-/g, '');
  return `p${unit === 'day' ? digits : digits.slice(0, 6)}`;
}

export interface PartitionPlan {
  /** New partitions in bound order, each `[name, lessThan)`; inserted before MAXVALUE when there is one. */
  create: Partition[];
  /** Whole partitions whose every row is older than the cutoff, oldest first. */
  pastRetention: string[];
  /** The MAXVALUE partition the new ones are split from, if any. */
  maxValuePartition: string | undefined;
}

/**
 * Partitions ahead so that rows up to the end of the day (month) `ahead` units from now have a
 * partition of their own; and the partitions entirely before the cutoff. The newest finite
 * partition is never listed as past retention when it is the table's only finite one and there
 * is no MAXVALUE partition, since a partitioned table cannot lose its last partition.
 */
export function planPartitions(partitions: readonly Partition[], options: { unit: PartitionUnit; ahead: number; now: number; cutoff: number }): PartitionPlan {
  const { unit, ahead, now, cutoff } = options;
  const finite = partitions.filter((partition): partition is Partition & { lessThan: number } => partition.lessThan !== null);
  const maxValuePartition = partitions.find((partition) => partition.lessThan === null)?.name;

  let target = unitStart(now, unit);
  for (let step = 0; step <= ahead; step++) target = nextUnit(target, unit);
  const highest = finite.length === 0 ? undefined : Math.max(...finite.map((partition) => partition.lessThan));
  const create: Partition[] = [];
  // With no finite partition yet, the first new one ends with the current unit and holds everything older.
  let start = highest ?? unitStart(now, unit);
  const names = new Set(partitions.map((partition) => partition.name));
  while (start < target) {
    const lessThan = nextUnit(start, unit);
    const name = partitionName(start, unit);
    if (names.has(name)) throw new ValidationError(`partition ${name} already exists with another bound; rename it or drop it before maintenance`);
    create.push({ name, lessThan });
    start = lessThan;
  }

  const removable = finite.length + create.length + (maxValuePartition ? 1 : 0) - 1;
  const pastRetention = finite
    .filter((partition) => partition.lessThan <= cutoff)
    .sort((a, b) => a.lessThan - b.lessThan)
    .slice(0, Math.max(0, removable))
    .map((partition) => partition.name);
  return { create, pastRetention, maxValuePartition };
}

/** `game_logs_20240115` for 2024-01-15. */
export function dailyTableName(base: string, day: number): string {
  return `${base}_${isoDate(day).replace(/-/g, '')}`;
}

/** The day a date-named table holds, or undefined when the name is not `<base>_YYYYMMDD`. */
export function dailyTableDay(base: string, name: string): number | undefined {
  if (!name.startsWith(`${base}_`)) return undefined;
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(name.slice(base.length + 1));
  if (!match) return undefined;
  const day = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return dailyTableName(base, day) === name ? day : undefined;
}

export interface DailyTablePlan {
  /** Missing tables from today through `ahead` days from now. */
  create: string[];
  /** Tables whose whole day is before the cutoff, oldest first. */
  pastRetention: string[];
}

export function planDailyTables(base: string, existing: readonly string[], options: { ahead: number; now: number; cutoff: number }): DailyTablePlan {
  const days = existing.flatMap((name) => {
    const day = dailyTableDay(base, name);
    return day === undefined ? [] : [{ name, day }];
  });
  const present = new Set(days.map(({ name }) => name));
  const today = Math.floor(options.now / DAY_MS) * DAY_MS;
  const create: string[] = [];
  for (let offset = 0; offset <= options.ahead; offset++) {
    const name = dailyTableName(base, today + offset * DAY_MS);
    if (!present.has(name)) create.push(name);
  }
  const pastRetention = days
    .filter(({ day }) => day + DAY_MS <= options.cutoff)
    .sort((a, b) => a.day - b.day)
    .map(({ name }) => name);
  return { create, pastRetention };
}

/** Where a partition or date-named table waits while it is archived; refused if the name would be too long. */
export function detachedTableName(source: string): string {
  const name = `${DETACHED_PREFIX}${source}`;
  if (name.length > MAX_IDENTIFIER) {
    throw new ValidationError(`cannot detach ${source}: ${name} would exceed MySQL's ${MAX_IDENTIFIER}-character identifier limit`);
  }
  return name;
}
