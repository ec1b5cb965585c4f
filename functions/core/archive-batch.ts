import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ValidationError } from '../shared/errors';

/**
 * One archive batch, planned without I/O: the cutoff, the rows' canonical JSON lines, the
 * deterministic object key and the gzip body. Re-planning the same rows gives byte-identical
 * output, which is what lets a re-run rewrite (or recognise) the object of an interrupted batch.
 */

/** A column value as the shard adapter returns it: numbers, decimal strings for BIGINT/DECIMAL, date strings, bytes. */
export type SourceValue = string | number | null | Buffer;
export type SourceRow = Record<string, SourceValue>;
/** The values of the scan order columns (time, then key) of one row; never null. */
export type CursorValues = Array<string | number>;

const DAY_MS = 86_400_000;
const DT = /^\d{4}-\d{2}-\d{2}$/;

/** Rows strictly before this UTC instant are archived: the start of the day `retentionDays` ago, so dt partitions are whole. */
export function archiveCutoff(now: number, retentionDays: number): number {
  return Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
}

/** `YYYY-MM-DD HH:MM:SS` in UTC: how the cutoff is bound against DATETIME/TIMESTAMP columns (sessions run in UTC). */
export function sqlDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The dt partition of a time value (`YYYY-MM-DD…` as MySQL prints DATE, DATETIME and TIMESTAMP). */
export function dtOf(time: SourceValue): string {
  const dt = typeof time === 'string' ? time.slice(0, 10) : '';
  if (!DT.test(dt)) throw new ValidationError(`time value ${JSON.stringify(time)} is not a DATE/DATETIME string`);
  return dt;
}

/** The leading rows that share the first row's day: one object never spans two dt partitions. */
export function takeSameDay<R extends SourceRow>(rows: readonly R[], timeColumn: string): R[] {
  if (rows.length === 0) return [];
  const dt = dtOf(rows[0]![timeColumn] ?? null);
  const end = rows.findIndex((row) => dtOf(row[timeColumn] ?? null) !== dt);
  return end === -1 ? [...rows] : rows.slice(0, end);
}

/** One row as a JSON object in column order; bytes as base64 (restore decodes them by column type). */
export function encodeRow(row: SourceRow, columns: readonly string[]): string {
  const object: Record<string, string | number | null> = {};
  for (const column of columns) {
    const value = row[column] ?? null;
    object[column] = Buffer.isBuffer(value) ? value.toString('base64') : value;
  }
  return JSON.stringify(object);
}

export function cursorOf(row: SourceRow, orderColumns: readonly string[]): CursorValues {
  return orderColumns.map((column) => {
    const value = row[column];
    if (value === null || value === undefined || Buffer.isBuffer(value)) throw new ValidationError(`scan column ${column} is ${value === null ? 'NULL' : 'binary'}; it cannot order a keyset scan`);
    return value;
  });
}

/** A row's identity for matching archived rows to rows found on the shard. */
export function keyString(row: Record<string, unknown>, keyColumns: readonly string[]): string {
  return JSON.stringify(keyColumns.map((column) => String(row[column])));
}

const READABLE_KEY = /^\d{1,20}$/;

/** Integer keys stay readable in the object name; anything else becomes a hash that still depends only on the key. */
function encodeKey(values: readonly (string | number)[], shard: string): string {
  const text = values.map(String);
  if (text.every((value) => READABLE_KEY.test(value)) && text.join('_').length <= 80) return text.join('_');
  return `h${createHash('sha256').update(JSON.stringify([shard, text])).digest('hex').slice(0, 24)}`;
}

export interface ObjectKeyParts {
  table: string;
  shard: string;
  dt: string;
  /** Where the rows came from: the table, a partition (`game_logs.p20240115`) or a date-named table. */
  unit: string;
  firstKey: readonly (string | number)[];
  lastKey: readonly (string | number)[];
}

/**
 * Hive-style partitions for Athena; the name depends only on shard, unit and the batch's first and
 * last key. `variant` > 1 names a later batch with the same first and last key but other rows
 * (rows restored into the table and archived again).
 */
export function batchObjectKey(parts: ObjectKeyParts, variant = 1): string {
  if (!DT.test(parts.dt)) throw new ValidationError(`dt ${JSON.stringify(parts.dt)} is not YYYY-MM-DD`);
  const suffix = variant > 1 ? `.v${variant}` : '';
  const name = `${parts.unit}.${encodeKey(parts.firstKey, parts.shard)}-${encodeKey(parts.lastKey, parts.shard)}${suffix}.jsonl.gz`;
  return `table=${parts.table}/shard=${parts.shard}/dt=${parts.dt}/${name}`;
}

export interface BatchBody {
  /** Canonical JSON lines, one per row, in scan order. */
  lines: string[];
  /** gzip of the lines, newline-terminated. */
  body: Buffer;
  sha256: string;
  /** Uncompressed size, for the compression ratio. */
  rawBytes: number;
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function buildBatchBody(rows: readonly SourceRow[], columns: readonly string[]): BatchBody {
  const lines = rows.map((row) => encodeRow(row, columns));
  const raw = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  const body = gzipSync(raw, { level: 6 });
  return { lines, body, sha256: sha256Hex(body), rawBytes: raw.length };
}

/** The lines of a batch body, as written by buildBatchBody. */
export function splitLines(raw: Buffer | string): string[] {
  return raw.toString().split('\n').filter((line) => line !== '');
}

export interface LockedRowsMatch {
  /** Keys still on the shard with exactly the archived content: delete these. */
  matching: string[];
  /** Keys on the shard whose content differs from the archived line (updated since it was read). */
  changed: string[];
  /** Archived keys no longer on the shard (already deleted). */
  missing: number;
}

/** Compares the archived lines with the same keys' rows as locked on the shard, both keyed by keyString. */
export function matchLockedRows(archived: ReadonlyMap<string, string>, onShard: ReadonlyMap<string, string>): LockedRowsMatch {
  const matching: string[] = [];
  const changed: string[] = [];
  let missing = 0;
  for (const [key, line] of archived) {
    const current = onShard.get(key);
    if (current === undefined) missing += 1;
    else if (current === line) matching.push(key);
    else changed.push(key);
  }
  return { matching, changed, missing };
}
