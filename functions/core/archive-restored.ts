import { encodeRow, keyString, sha256Hex, type SourceRow } from './archive-batch';

/**
 * Rows `archive restore` put back into a live table. Each is recorded, before it is inserted, with
 * a digest of its key and of its archived line. A later run that reads the row unchanged deletes it
 * without writing it to the archive again, since a verified object already holds that very line.
 */
export interface RestoredRow {
  /** SHA-256 (hex) of the row's keyString. */
  keyId: string;
  /** The time column's value as the archived line holds it. */
  time: string;
  /** SHA-256 (hex) of the archived JSON line. */
  lineSha256: string;
  /** The verified object holding the line, and that object's SHA-256 (hex), so a later object under the same key does not count. */
  objectKey: string;
  objectSha256: string;
}

export const restoredKeyId = (key: string): string => sha256Hex(key);
export const lineSha256 = (line: string): string => sha256Hex(line);

/**
 * The rows (by keyString) that are exactly a recorded restored line, with the record each matched.
 * A row changed since its restore, or read with other columns, no longer matches and is archived anew.
 */
export function unchangedRestoredRows<R extends Pick<RestoredRow, 'keyId' | 'lineSha256'>>(
  rows: readonly SourceRow[],
  recorded: readonly R[],
  table: { columns: readonly string[]; keyColumns: readonly string[] },
): Map<string, R> {
  const unchanged = new Map<string, R>();
  if (recorded.length === 0) return unchanged;
  const byKeyId = new Map(recorded.map((entry) => [entry.keyId, entry]));
  for (const row of rows) {
    const key = keyString(row, table.keyColumns);
    const entry = byKeyId.get(restoredKeyId(key));
    if (entry && entry.lineSha256 === lineSha256(encodeRow(row, table.columns))) unchanged.set(key, entry);
  }
  return unchanged;
}
