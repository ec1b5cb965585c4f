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

/** `INSERT INTO \`t\` (\`a\`,\`b\`) VALUES ` — the head every statement of a table's chunks starts with. */
export function insertHead(table: string, columns: readonly string[]): string {
  return `INSERT INTO ${quoteSchemaName(table)} (${columns.map(quoteSchemaName).join(',')}) VALUES `;
}

/**
 * Packs encoded rows into VALUES lists of INSERT statements of at most `maxStatementLength`
 * characters; UTF-8 needs at most 3 bytes per character, so 1M characters stays far inside
 * max_allowed_packet. A single row longer than the limit gets a statement of its own. `emit` gets
 * the comma-joined rows and their count; `statement` makes the line of them.
 */
export class InsertBatcher {
  private parts: string[] = [];
  private length = 0;
  private readonly headBytes: Buffer;

  constructor(
    private readonly head: string,
    private readonly maxStatementLength: number,
    private readonly emit: (values: string, rows: number) => void,
  ) {
    this.headBytes = Buffer.from(head, 'utf8');
  }

  add(encodedRow: string): void {
    const size = encodedRow.length + 1;
    if (this.parts.length > 0 && this.head.length + this.length + size > this.maxStatementLength) this.flush();
    this.parts.push(encodedRow);
    this.length += size;
  }

  flush(): void {
    if (this.parts.length === 0) return;
    this.emit(this.parts.join(','), this.parts.length);
    this.parts = [];
    this.length = 0;
  }

  /** One statement, on one line. */
  statement(values: string): string {
    return `${this.head}${values};\n`;
  }

  /**
   * The same statement as UTF-8 bytes, written straight into one buffer (the VALUES text is
   * encoded once), with the bytes of the VALUES list, which the row checksum hashes.
   */
  statementBytes(values: string): { statement: Buffer; values: Buffer } {
    const buffer = Buffer.allocUnsafe(this.headBytes.length + values.length * 3 + 2);
    this.headBytes.copy(buffer);
    const end = this.headBytes.length + buffer.write(values, this.headBytes.length, 'utf8');
    buffer.write(';\n', end, 'latin1');
    return { statement: buffer.subarray(0, end + 2), values: buffer.subarray(this.headBytes.length, end) };
  }
}
