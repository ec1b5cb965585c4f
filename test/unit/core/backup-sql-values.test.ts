import { describe, expect, it } from 'vitest';
import { backupId, epochId, isBackupId, parseEpochId } from '../../../functions/core/backup-epoch';
import { chunkObjectKey, keyBindValue, keysetAfter, rowsPerChunk, RowsChecksum, tableRowsChecksum } from '../../../functions/core/backup-manifest';
import { managedIdentifierOf, snapshotIdentifier } from '../../../functions/core/backup-snapshot';
import { encodeRow, InsertBatcher, quoteSchemaName, serverRowEncoding, sqlLiteral } from '../../../functions/core/backup-sql-values';

describe('SQL text of dumped rows', () => {
  it('writes each value so the server reads it back exactly, on one line', () => {
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral(42)).toBe('42');
    expect(sqlLiteral(18446744073709551615n)).toBe('18446744073709551615');
    expect(sqlLiteral("it's a \\ \"test\"\n\r\t\0\x1a🐉")).toBe(`'it\\'s a \\\\ "test"\\n\\r\t\\0\\Z🐉'`);
    expect(sqlLiteral(Buffer.from([0, 255, 39]))).toBe("X'00ff27'");
    expect(sqlLiteral(Buffer.alloc(0))).toBe("X''");
    expect(() => sqlLiteral(Number.NaN)).toThrow(/NaN/);
    expect(encodeRow(['7', null, 1.5])).toBe("('7',NULL,1.5)");
  });

  it('quotes names from the live schema, doubling backticks', () => {
    expect(quoteSchemaName('odd`name')).toBe('`odd``name`');
    expect(() => quoteSchemaName('')).toThrow();
  });

  it('packs rows into statements up to the byte limit, a longer row alone, with the VALUES bytes of each', () => {
    const statements: string[] = [];
    const values: string[] = [];
    const counts: number[] = [];
    const batcher = new InsertBatcher('INSERT INTO t VALUES ', 40, (statement, valuesBytes, rows) => {
      statements.push(statement.toString('utf8'));
      values.push(valuesBytes.toString('utf8'));
      counts.push(rows);
    });
    for (const row of ['(1)', '(2)', '(3)', `(${'x'.repeat(50)})`, "('🐉')"]) batcher.add(Buffer.from(row));
    batcher.flush();
    expect(statements).toEqual(['INSERT INTO t VALUES (1),(2),(3);\n', `INSERT INTO t VALUES (${'x'.repeat(50)});\n`, "INSERT INTO t VALUES ('🐉');\n"]);
    expect(values).toEqual(['(1),(2),(3)', `(${'x'.repeat(50)})`, "('🐉')"]);
    expect(counts).toEqual([3, 1, 1]);
  });

  it('has the server encode a row only when every column type is covered', () => {
    const expression = serverRowEncoding(
      [
        { name: 'id', dataType: 'int', charset: null },
        { name: 'score', dataType: 'double', charset: null },
        { name: 'blob`x', dataType: 'blob', charset: null },
      ],
      { score: 'text' },
    );
    expect(expression).toMatch(/^CAST\(CONCAT\('\(', CONCAT_WS\(',', IFNULL\(`id` \+ 0, 'NULL'\), QUOTE\(CONCAT\(`score` \+ 0e0\)\), IF\(`blob``x` IS NULL/);
    expect(serverRowEncoding([{ name: 'id', dataType: 'uuid', charset: null }], {})).toBeUndefined();
    expect(serverRowEncoding([{ name: 'a', dataType: 'varchar', charset: 'utf8mb4' }], {})).not.toContain('CONVERT');
    expect(serverRowEncoding([{ name: 'a', dataType: 'varchar', charset: 'latin1' }], {})).toContain('CONVERT(`a` USING utf8mb4)');
  });
});

describe('chunks, keys and checksums', () => {
  it('resumes after a composite key with the expanded keyset condition, binding BIGINT and DECIMAL exactly', () => {
    const condition = keysetAfter(
      [
        { name: 'player_id', kind: 'integer' },
        { name: 'slot', kind: 'decimal' },
      ],
      ['18446744073709551615', '2.50'],
      quoteSchemaName,
    );
    expect(condition.sql).toBe('(`player_id` > ? OR (`player_id` = ? AND `slot` > ?))');
    expect(condition.values[0]).toBe(18446744073709551615n);
    expect((condition.values[2] as { toSqlString(): string }).toSqlString()).toBe('2.50');
    expect(() => keyBindValue('1; DROP TABLE x', 'decimal')).toThrow(/not a decimal/);
    expect(keyBindValue({ hex: '00ff' }, 'binary')).toEqual(Buffer.from([0, 255]));
  });

  it('sizes chunks by average row length within bounds', () => {
    expect(rowsPerChunk(200, { targetChunkBytes: 64 * 1024 * 1024, minRows: 1_000, maxRows: 2_000_000 })).toBe(335_544);
    expect(rowsPerChunk(0, { targetChunkBytes: 1, minRows: 1_000, maxRows: 5_000 })).toBe(5_000);
    expect(rowsPerChunk(1e9, { targetChunkBytes: 1, minRows: 1_000, maxRows: 5_000 })).toBe(1_000);
  });

  it('checksums keyed rows as their VALUES text in order, and keyless rows in any order, counting duplicates', () => {
    const joined = new RowsChecksum('ordered');
    joined.addJoined('(1),(2)', 2);
    joined.addJoined('(3)', 1);
    const byRow = new RowsChecksum('ordered');
    for (const row of ['(1)', '(2)', '(3)']) byRow.add(row);
    expect([joined.digest(), joined.count]).toEqual([byRow.digest(), 3]);
    const ordered = (rows: string[]) => rows.reduce((sum, row) => (sum.add(row), sum), new RowsChecksum('ordered')).digest();
    const multiset = (rows: string[]) => rows.reduce((sum, row) => (sum.add(row), sum), new RowsChecksum('multiset')).digest();
    expect(ordered(['(1)', '(2)'])).not.toBe(ordered(['(2)', '(1)']));
    expect(multiset(['(1)', '(2)', '(2)'])).toBe(multiset(['(2)', '(1)', '(2)']));
    expect(multiset(['(1)', '(2)', '(2)'])).not.toBe(multiset(['(1)', '(2)']));
    expect(tableRowsChecksum([{ rowsSha256: 'a' }, { rowsSha256: 'b' }])).not.toBe(tableRowsChecksum([{ rowsSha256: 'b' }, { rowsSha256: 'a' }]));
    expect(chunkObjectKey('logical/shard=-40/epoch=e/b/', 'game logs', 3)).toBe('logical/shard=-40/epoch=e/b/data/game%20logs/000003.sql.gz');
  });
});

describe('ids and names', () => {
  it('gives epochs ids that carry their start and shard map version', () => {
    const id = epochId(Date.parse('2026-01-04T02:00:00Z'), 17, 'ab12cd');
    expect(id).toBe('e20260104t020000z-v17-ab12cd');
    expect(parseEpochId(id)).toEqual({ startedAt: Date.parse('2026-01-04T02:00:00Z'), mapVersion: 17 });
    expect(() => parseEpochId('e2026')).toThrow(/not a backup epoch id/);
    expect(isBackupId(backupId(0, 'abcd'))).toBe(true);
  });

  it('names snapshots within RDS rules and finds cluster and instance identifiers in endpoints', () => {
    expect(snapshotIdentifier('e20260104t020000z-v17-ab12cd', '-40')).toBe('sk-e20260104t020000z-v17-ab12cd-to40');
    expect(snapshotIdentifier('e20260104t020000z-v17-ab12cd', 'c0-')).toBe('sk-e20260104t020000z-v17-ab12cd-c0to');
    const aurora = { name: '-80', database: 'p', status: 'serving' as const, kind: 'aurora' as const, nodes: [{ id: 'w', role: 'primary' as const, host: 'players-a.cluster-abc123.eu-west-1.rds.amazonaws.com', port: 3306 }] };
    expect(managedIdentifierOf(aurora)).toEqual({ kind: 'aurora', identifier: 'players-a' });
    expect(managedIdentifierOf({ ...aurora, kind: 'rds', nodes: [{ ...aurora.nodes[0]!, host: 'db1.abc123.eu-west-1.rds.amazonaws.com' }] })).toEqual({ kind: 'rds', identifier: 'db1' });
    expect(() => managedIdentifierOf({ ...aurora, nodes: [{ ...aurora.nodes[0]!, host: '10.0.0.5' }] })).toThrow(/cannot tell the cluster identifier/);
  });
});
