import { createHash } from 'node:crypto';

/**
 * The logical backup model: what a manifest records about one shard's dump, the object layout in
 * the bucket, and the checksums that tie restored data back to it. Pure: no I/O.
 */

export const MANIFEST_FORMAT = 1;

/** Where in the source's binary log the backup's data stands (the primary's coordinates). */
export interface BinlogPosition {
  file: string;
  position: number;
  /** MariaDB GTID list (`0-1-42`) or MySQL executed GTID set, when the server has GTIDs. */
  gtid: string | null;
}

/** How a key column's values are bound when a later invocation resumes after them. */
export type KeyKind = 'integer' | 'decimal' | 'binary' | 'other';

/** `text`: FLOAT/DOUBLE widened to their exact decimal text; `bytes`: spatial values as their internal bytes. */
export type ColumnReading = 'text' | 'bytes';

export interface KeyColumn {
  name: string;
  kind: KeyKind;
}

/** A key value as stored in the catalog and manifest: JSON-safe, decoded by the key column's kind. */
export type KeyValue = string | number | { hex: string };

export interface ObjectRef {
  key: string;
  bytes: number;
  /** Base64 SHA-256 of the object's bytes (the compressed file for chunks). */
  sha256: string;
}

export interface ChunkManifest extends ObjectRef {
  index: number;
  rowCount: number;
  /** Hex SHA-256 over the chunk's encoded rows in key order (`multiset` tables: see rowsChecksum). */
  rowsSha256: string;
  /** Key of the chunk's last row, where the next chunk starts after; null for tables without a key. */
  lastKey: KeyValue[] | null;
}

export interface TableManifest {
  name: string;
  /** Columns written and restored, in order; generated columns are left out (the server recomputes them). */
  columns: string[];
  /** Primary key, else a unique key over NOT NULL columns; empty: no usable key, dumped in one chunk. */
  keyColumns: KeyColumn[];
  /** Columns read through an expression (see ColumnReading). */
  readAs: Record<string, ColumnReading>;
  rowCount: number;
  /** Hex SHA-256 over the chunks' rowsSha256 in order. */
  rowsSha256: string;
  chunks: ChunkManifest[];
}

export type DumpMode = 'paused-replica' | 'snapshot';
export type RetentionClass = 'daily' | 'weekly' | 'monthly';

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  backupId: string;
  epochId: string;
  shard: string;
  database: string;
  retentionClass: RetentionClass;
  source: { nodeId: string; host: string; port: number; mode: DumpMode; serverVersion: string };
  position: BinlogPosition | null;
  startedAt: string;
  consistentAt: string;
  finishedAt: string;
  schema: ObjectRef;
  tables: TableManifest[];
  totals: { rows: number; bytes: number; objects: number };
}

/** One DDL statement of the schema object, applied before or after the data. */
export interface SchemaStatement {
  kind: 'sequence' | 'table' | 'view' | 'trigger' | 'routine';
  name: string;
  phase: 'pre-data' | 'post-data';
  sql: string;
  /** The sql_mode a routine or trigger was created under; its body is parsed with it again. */
  sqlMode?: string;
}

export interface SchemaDocument {
  format: typeof MANIFEST_FORMAT;
  database: string;
  statements: SchemaStatement[];
}

/** Object keys of one logical backup; the shard and epoch lead so lifecycle and listing work by prefix. */
export function backupPrefix(shard: string, epochId: string, backupId: string): string {
  return `logical/shard=${encodeURIComponent(shard)}/epoch=${epochId}/${backupId}/`;
}

export const schemaObjectKey = (prefix: string) => `${prefix}schema.json`;
export const manifestObjectKey = (prefix: string) => `${prefix}manifest.json`;
export const chunkObjectKey = (prefix: string, table: string, index: number) =>
  `${prefix}data/${encodeURIComponent(table)}/${String(index).padStart(6, '0')}.sql.gz`;

/** The table-level checksum: chunk checksums folded in chunk order. */
export function tableRowsChecksum(chunks: readonly Pick<ChunkManifest, 'rowsSha256'>[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk.rowsSha256);
  return hash.digest('hex');
}

const MOD_256 = 1n << 256n;

/**
 * Row checksums. Keyed tables are read in key order, so one running SHA-256 over the encoded rows,
 * each followed by a comma, is exact and cheap: it is the text of the INSERT statements' VALUES
 * lists, which the dump hashes as it writes them. Keyless tables come back in no defined order:
 * their checksum is the sum of per-row SHA-256 values modulo 2^256, which ignores order and still
 * counts duplicates.
 */
export class RowsChecksum {
  private readonly ordered = createHash('sha256');
  private sum = 0n;
  count = 0;

  constructor(readonly kind: 'ordered' | 'multiset') {}

  add(encodedRow: string | Buffer): void {
    this.addAll([encodedRow]);
  }

  addAll(encodedRows: readonly (string | Buffer)[]): void {
    this.count += encodedRows.length;
    if (this.kind === 'ordered') {
      // The same bytes as the comma-joined VALUES list addJoined takes.
      for (const row of encodedRows) this.ordered.update(row).update(',');
      return;
    }
    for (const row of encodedRows) this.sum = (this.sum + BigInt(`0x${createHash('sha256').update(row).digest('hex')}`)) % MOD_256;
  }

  /** Ordered only: `rows` encoded rows already joined with commas (a VALUES list), as text or UTF-8 bytes. */
  addJoined(joinedRows: string | Buffer, rows: number): void {
    if (this.kind !== 'ordered') throw new TypeError('a keyless table is checksummed row by row');
    this.count += rows;
    this.ordered.update(joinedRows);
    this.ordered.update(',');
  }

  digest(): string {
    return this.kind === 'ordered' ? this.ordered.digest('hex') : this.sum.toString(16).padStart(64, '0');
  }
}

export const checksumKindOf = (table: Pick<TableManifest, 'keyColumns'>) => (table.keyColumns.length > 0 ? 'ordered' : 'multiset');

/** A key value from mysql2 (number, string, Buffer) in its JSON form. */
export function toKeyValue(value: unknown): KeyValue {
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString('hex') };
  throw new TypeError(`a key column value must be a number, string or bytes, got ${value === null ? 'NULL' : typeof value}`);
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

/** A stored key value as the value to bind for its column's kind (exact for BIGINT and DECIMAL). */
export function keyBindValue(value: KeyValue, kind: KeyKind): string | number | bigint | Buffer | { toSqlString(): string } {
  if (typeof value === 'object') return Buffer.from(value.hex, 'hex');
  if (kind === 'integer') return BigInt(value);
  if (kind === 'decimal') {
    const text = String(value);
    if (!DECIMAL.test(text)) throw new TypeError(`${JSON.stringify(text)} is not a decimal key value`);
    // Unquoted, so the comparison stays DECIMAL instead of falling back to DOUBLE.
    return { toSqlString: () => text };
  }
  return value;
}

/** Per-table totals and the whole backup's totals from its chunks. */
export function manifestTotals(schema: ObjectRef, tables: readonly TableManifest[]): BackupManifest['totals'] {
  const chunks = tables.flatMap((table) => table.chunks);
  return {
    rows: chunks.reduce((sum, chunk) => sum + chunk.rowCount, 0),
    bytes: schema.bytes + chunks.reduce((sum, chunk) => sum + chunk.bytes, 0),
    objects: 1 + chunks.length,
  };
}

/** Every object a manifest names (the manifest itself aside), in restore order. */
export function manifestObjects(manifest: Pick<BackupManifest, 'schema' | 'tables'>): ObjectRef[] {
  return [manifest.schema, ...manifest.tables.flatMap((table) => table.chunks)];
}

/**
 * Rows per chunk: about `targetChunkBytes` of table data (InnoDB's average row length), within
 * bounds, so one chunk is one object that one invocation writes well inside its time budget.
 */
export function rowsPerChunk(avgRowLength: number, options: { targetChunkBytes: number; minRows: number; maxRows: number }): number {
  const estimate = avgRowLength > 0 ? Math.floor(options.targetChunkBytes / avgRowLength) : options.maxRows;
  return Math.min(options.maxRows, Math.max(options.minRows, estimate));
}

export type KeyBindValue = ReturnType<typeof keyBindValue>;

/**
 * The keyset condition "key after `after`", expanded as `a > ? OR (a = ? AND b > ?)`: the form
 * both MySQL's and MariaDB's range optimizers turn into an index range (row constructors are not
 * always), with its positional values.
 */
export function keysetAfter(keyColumns: readonly KeyColumn[], after: readonly KeyValue[], quote: (name: string) => string): { sql: string; values: KeyBindValue[] } {
  if (after.length !== keyColumns.length) throw new TypeError(`a resume key needs ${keyColumns.length} values, got ${after.length}`);
  const disjuncts: string[] = [];
  const values: KeyBindValue[] = [];
  keyColumns.forEach((column, last) => {
    const terms: string[] = [];
    for (let index = 0; index < last; index++) {
      terms.push(`${quote(keyColumns[index]!.name)} = ?`);
      values.push(keyBindValue(after[index]!, keyColumns[index]!.kind));
    }
    terms.push(`${quote(column.name)} > ?`);
    values.push(keyBindValue(after[last]!, column.kind));
    disjuncts.push(terms.length === 1 ? terms[0]! : `(${terms.join(' AND ')})`);
  });
  return { sql: disjuncts.length === 1 ? disjuncts[0]! : `(${disjuncts.join(' OR ')})`, values };
}
