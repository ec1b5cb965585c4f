/**
 * How a logical backup writes rows: as MySQL SQL text (one multi-row INSERT per line), so every chunk
 * loads with the stock client (`gunzip -c chunk.sql.gz | mariadb db`) as well as with Shardkeeper.
 * The same encoding is the canonical form the row checksums are taken over: a restored table is
 * read back, encoded again and must hash to the same value.
 */

/** A column value as mysql2 returns it with string dates, big numbers as strings and JSON as text. */
export type DumpValue = string | number | bigint | boolean | Buffer | Uint8Array | null;

/**
 * Only what a single-quoted literal needs, plus the line breaks (one statement per line) and the
 * bytes some tools choke on: `"` and tabs stay as they are, so JSON text mostly takes the fast path.
 */
const NEEDS_ESCAPE = /[\0\n\r\x1a'\\]/;
const ESCAPES = /[\0\n\r\x1a'\\]/g;
const ESCAPED: Record<string, string> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\x1a': '\\Z',
  "'": "\\'",
  '\\': '\\\\',
};

/** A string literal under the default sql_mode (backslash escapes on); no raw newline survives, so a statement stays one line. */
export function quoteString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? `'${text.replace(ESCAPES, (char) => ESCAPED[char]!)}'` : `'${text}'`;
}

export function sqlLiteral(value: DumpValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot write the number ${value} as SQL`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? '1' : '0';
  // Binary data as a hex literal: immune to the connection character set.
  return value.length === 0 ? "X''" : `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}'`;
}

/** `(v1,v2,...)`: one row as it appears in a VALUES list and in the checksum. */
export function encodeRow(values: readonly DumpValue[]): string {
  let text = '(';
  for (let index = 0; index < values.length; index++) {
    if (index > 0) text += ',';
    text += sqlLiteral(values[index]!);
  }
  return `${text})`;
}

/**
 * Backtick-quotes a table, column or view name read from the live schema. Such names may hold any
 * character MySQL allows in a quoted identifier; a backtick is doubled, as the server expects.
 */
export function quoteSchemaName(name: string): string {
  if (name.length === 0 || name.length > 64 || name.includes('\0')) {
    throw new TypeError(`${JSON.stringify(name)} is not a MySQL identifier`);
  }
  return `\`${name.replaceAll('`', '``')}\``;
}

/**
 * The first line of every chunk and SQL file: values are written as a UTC, utf8mb4 session reads
 * them, and must be loaded in one, whatever the loading client's defaults are.
 */
export const SESSION_LINE = "SET time_zone = '+00:00', NAMES utf8mb4;\n";

/** `INSERT INTO \`t\` (\`a\`,\`b\`) VALUES ` — the head every statement of a table's chunks starts with. */
export function insertHead(table: string, columns: readonly string[]): string {
  return `INSERT INTO ${quoteSchemaName(table)} (${columns.map(quoteSchemaName).join(',')}) VALUES `;
}

/**
 * Packs encoded rows (UTF-8 bytes of encodeRow's text) into VALUES lists of INSERT statements of
 * at most `maxStatementBytes`, far inside max_allowed_packet. A single row longer than the limit
 * gets a statement of its own. `emit` gets each statement (one line) with its VALUES bytes — the
 * comma-joined rows, which the row checksum hashes — and its row count.
 */
export class InsertBatcher {
  private parts: Buffer[] = [];
  private bytes = 0;
  private readonly head: Buffer;

  constructor(
    head: string,
    private readonly maxStatementBytes: number,
    private readonly emit: (statement: Buffer, values: Buffer, rows: number) => void,
  ) {
    this.head = Buffer.from(head, 'utf8');
  }

  add(encodedRow: Buffer): void {
    const size = encodedRow.length + 1;
    if (this.parts.length > 0 && this.head.length + this.bytes + size + 1 > this.maxStatementBytes) this.flush();
    this.parts.push(encodedRow);
    this.bytes += size;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    // The head, the rows joined by commas and ";\n", written once into one buffer.
    const statement = Buffer.allocUnsafe(this.head.length + this.bytes + 1);
    let offset = this.head.copy(statement);
    this.parts.forEach((part, index) => {
      if (index > 0) statement[offset++] = 0x2c;
      offset += part.copy(statement, offset);
    });
    const values = statement.subarray(this.head.length, offset);
    statement.write(';\n', offset, 'latin1');
    const rows = this.parts.length;
    this.parts = [];
    this.bytes = 0;
    this.emit(statement, values, rows);
  }
}

/** A column as the server describes it: information_schema DATA_TYPE and CHARACTER_SET_NAME. */
export interface ColumnType {
  name: string;
  dataType: string;
  charset: string | null;
}

const NUMBER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'year']);
const EXACT_TEXT_TYPES = new Set(['bigint', 'decimal', 'numeric', 'date', 'datetime', 'timestamp', 'time']);
const CHARACTER_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set', 'json']);
const BYTE_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit']);

/**
 * A SELECT expression with which the server writes a whole row as encodeRow writes the values a
 * backup connection reads (see openBackupConnection), byte for byte: the client then only joins
 * bytes, and the per-value work runs in the server's thread, beside ours. Undefined when a
 * column's type is not one this covers; such a table is encoded by encodeRow.
 */
export function serverRowEncoding(columns: readonly ColumnType[], readAs: Readonly<Record<string, 'text' | 'bytes'>>): string | undefined {
  // No backslash escapes in these literals, so NO_BACKSLASH_ESCAPES cannot change them.
  const backslashed = (code: number, letter: string) => `CHAR(${code} USING utf8mb4), CONCAT(CHAR(92 USING utf8mb4), '${letter}')`;
  const quoted = (expression: string) => `REPLACE(REPLACE(QUOTE(${expression}), ${backslashed(10, 'n')}), ${backslashed(13, 'r')})`;
  const parts: string[] = [];
  for (const column of columns) {
    const name = quoteSchemaName(column.name);
    const type = column.dataType.toLowerCase();
    const reading = readAs[column.name];
    if (reading === 'bytes' || (reading === undefined && BYTE_TYPES.has(type))) {
      parts.push(`IF(${name} IS NULL, 'NULL', CONCAT('X''', LOWER(HEX(CAST(${name} AS BINARY))), ''''))`);
    } else if (reading === 'text') {
      // FLOAT and DOUBLE: the server's exact text, as the backup connection reads them.
      parts.push(`QUOTE(CONCAT(${name} + 0e0))`);
    } else if (NUMBER_TYPES.has(type)) {
      // `+ 0` drops ZEROFILL padding, as the client's integer parsing does.
      parts.push(`IFNULL(${name} + 0, 'NULL')`);
    } else if (EXACT_TEXT_TYPES.has(type)) {
      parts.push(`QUOTE(${name})`);
    } else if (CHARACTER_TYPES.has(type)) {
      // The backup connection reads utf8mb4; other character sets are converted as the server would for it.
      parts.push(quoted(column.charset === 'utf8mb4' ? name : `CONVERT(${name} USING utf8mb4)`));
    } else {
      return undefined;
    }
  }
  if (parts.length === 0) return undefined;
  return `CAST(CONCAT('(', CONCAT_WS(',', ${parts.join(', ')}), ')') AS BINARY)`;
}
