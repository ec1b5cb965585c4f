import { createHash } from 'node:crypto';
import { constants, gunzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { ArchiveIntegrityError, ValidationError } from '../shared/errors';

/**
 * One archive batch, planned without I/O: the cutoff, the rows' canonical JSON lines, the
 * deterministic object key and the zstd body. Re-planning the same rows gives byte-identical
 * output, which is what lets a re-run rewrite (or recognise) the object of an interrupted batch.
 */

/** A column value as the shard adapter returns it: numbers, decimal strings for BIGINT/DECIMAL, date strings, bytes. */
export type SourceValue = string | number | null | Buffer;
export type SourceRow = Record<string, SourceValue>;
/** The values of the scan order columns (time, then key) of one row; never null. */
export type CursorValues = Array<string | number>;

/** MySQL integer column types (information_schema DATA_TYPE). */
export const INTEGER_COLUMN_TYPES: ReadonlySet<string> = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
/** A value such a column can hold, written as decimal text. */
export const INTEGER_TEXT = /^-?\d{1,20}$/;

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

/** Midnight (UTC) after the day of a DATE/DATETIME value, as `YYYY-MM-DD HH:MM:SS`. */
export function nextDayStart(time: SourceValue): string {
  return sqlDateTime(Date.parse(`${dtOf(time)}T00:00:00Z`) + DAY_MS);
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

/** A row's identity for matching archived rows to rows found on the shard: a one-column key's value as text, else a JSON array of them. */
export function keyString(row: Record<string, unknown>, keyColumns: readonly string[]): string {
  if (keyColumns.length === 1) return String(row[keyColumns[0]!]);
  return JSON.stringify(keyColumns.map((column) => String(row[column])));
}

/** The key values a keyString was made of. */
export function keyValues(key: string, keyColumnCount: number): string[] {
  return keyColumnCount === 1 ? [key] : (JSON.parse(key) as string[]);
}

const CANONICAL_INTEGER = /^(?:0|-?[1-9]\d{0,19})$/;

/** Orders integers written in canonical decimal (no leading zeros, no plus sign) without parsing them. */
function compareIntegerText(a: string, b: string): number {
  const negative = a.startsWith('-');
  if (negative !== b.startsWith('-')) return negative ? -1 : 1;
  const magnitude = a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  return negative ? -magnitude : magnitude;
}

/** The smallest and largest of integer keys as text; undefined when there are none or one is not a canonical integer. */
export function integerSpan(keys: Iterable<string>): { min: string; max: string } | undefined {
  let min: string | undefined;
  let max: string | undefined;
  for (const key of keys) {
    if (!CANONICAL_INTEGER.test(key)) return undefined;
    if (min === undefined || compareIntegerText(key, min) < 0) min = key;
    if (max === undefined || compareIntegerText(key, max) > 0) max = key;
  }
  return min === undefined || max === undefined ? undefined : { min, max };
}

/**
 * Rows in (time, integer key) order, as a keyset scan reads them. Rows read in key order from a
 * table whose keys grow with time mostly are already; those are returned as they are.
 */
export function inScanOrder<R extends SourceRow>(rows: R[], timeColumn: string, keyColumn: string): R[] {
  const compare = (a: R, b: R) => {
    const timeA = String(a[timeColumn]);
    const timeB = String(b[timeColumn]);
    if (timeA !== timeB) return timeA < timeB ? -1 : 1;
    const keyA = a[keyColumn];
    const keyB = b[keyColumn];
    return typeof keyA === 'number' && typeof keyB === 'number' ? keyA - keyB : compareIntegerText(String(keyA), String(keyB));
  };
  for (let index = 1; index < rows.length; index++) {
    if (compare(rows[index - 1]!, rows[index]!) > 0) return [...rows].sort(compare);
  }
  return rows;
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
  const name = `${parts.unit}.${encodeKey(parts.firstKey, parts.shard)}-${encodeKey(parts.lastKey, parts.shard)}${suffix}.jsonl.zst`;
  return `table=${parts.table}/shard=${parts.shard}/dt=${parts.dt}/${name}`;
}

export interface BatchBody {
  /** zstd of the rows' canonical JSON lines, in scan order, each newline-terminated. */
  body: Buffer;
  sha256: string;
  /** Uncompressed size, for the compression ratio. */
  rawBytes: number;
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function buildBatchBody(rows: readonly SourceRow[], columns: readonly string[]): BatchBody {
  const raw = encodeLines(rows, columns);
  // zstd level 3 (Athena's own default) compresses these lines about 4× faster than gzip -6, and a little smaller.
  const body = zstdCompressSync(raw, { params: { [constants.ZSTD_c_compressionLevel]: 3 } });
  return { body, sha256: sha256Hex(body), rawBytes: raw.length };
}

/** The rows' JSON lines written straight into one buffer, without joining them into a string first. */
function encodeLines(rows: readonly SourceRow[], columns: readonly string[]): Buffer {
  let buffer = Buffer.allocUnsafe(Math.max(4096, rows.length * 256));
  let length = 0;
  for (const row of rows) {
    const line = encodeRow(row, columns);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; one more for the newline.
    const needed = length + line.length * 3 + 1;
    if (needed > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, buffer.length * 2));
      buffer.copy(grown, 0, 0, length);
      buffer = grown;
    }
    length += buffer.write(line, length);
    buffer[length++] = 0x0a;
  }
  return buffer.subarray(0, length);
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** The JSON lines of an archive object: zstd as buildBatchBody writes it, or gzip (`.jsonl.gz` objects are read too). */
export function batchLines(body: Buffer): string[] {
  let raw: Buffer;
  if (body.subarray(0, 4).equals(ZSTD_MAGIC)) raw = zstdDecompressSync(body);
  else if (body.subarray(0, 2).equals(GZIP_MAGIC)) raw = gunzipSync(body);
  else throw new ArchiveIntegrityError('archive object is neither zstd nor gzip');
  return raw.toString().split('\n').filter((line) => line !== '');
}

/** The rows of an archive object, as its JSON lines hold them (bytes as base64). */
export function batchRows(body: Buffer): SourceRow[] {
  return batchLines(body).map((line) => JSON.parse(line) as SourceRow);
}

/**
 * Whether a row on the shard still holds what was archived. The archived row is the row as read,
 * or parsed back from its JSON line, where bytes are base64.
 */
export function sameRow(archived: SourceRow, onShard: SourceRow, columns: readonly string[]): boolean {
  for (const column of columns) {
    const kept = archived[column] ?? null;
    const current = onShard[column] ?? null;
    if (kept === current) continue;
    if (!Buffer.isBuffer(current)) return false;
    if (Buffer.isBuffer(kept) ? !kept.equals(current) : kept !== current.toString('base64')) return false;
  }
  return true;
}

export interface LockedRowsMatch {
  /** Keys on the shard with exactly the archived content: delete these. */
  matching: string[];
  /** Keys on the shard whose content differs from the archived row (updated since it was read). */
  changed: string[];
  /** Archived keys not found in the range: deleted since, or moved out of it (time, filter). */
  missing: string[];
  /** Rows on the shard that were not archived (inserted into the range since it was read). */
  unexpected: number;
}

/** Compares rows of a batch's range, as locked or deleted on the shard, one at a time with the archived rows (by keyString). */
export function lockedRowsMatcher(archived: ReadonlyMap<string, SourceRow>, keyColumns: readonly string[], columns: readonly string[]): { add(row: SourceRow): void; result(): LockedRowsMatch } {
  const matching: string[] = [];
  const changed: string[] = [];
  let unexpected = 0;
  return {
    add(row) {
      const key = keyString(row, keyColumns);
      const kept = archived.get(key);
      if (kept === undefined) unexpected += 1;
      else if (sameRow(kept, row, columns)) matching.push(key);
      else changed.push(key);
    },
    result() {
      let missing: string[] = [];
      if (matching.length + changed.length < archived.size) {
        const found = new Set([...matching, ...changed]);
        missing = [...archived.keys()].filter((key) => !found.has(key));
      }
      return { matching, changed, missing, unexpected };
    },
  };
}
