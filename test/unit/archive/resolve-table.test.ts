import { describe, expect, it } from 'vitest';
import { parseArchiveTables } from '../../../functions/archive/archive-config';
import { resolveDescription } from '../../../functions/archive/resolve-table';
import type { ColumnInfo, TableDescription } from '../../../functions/ports/archive-source';

const column = (name: string, dataType: string, nullable = false): ColumnInfo => ({ name, dataType, nullable, binary: dataType === 'blob', generated: false });
const gameLogs: TableDescription = {
  name: 'game_logs',
  columns: [column('log_id', 'bigint'), column('player_id', 'bigint'), column('action_data', 'json', true), column('created_at', 'datetime')],
  indexes: [
    { name: 'PRIMARY', unique: true, columns: ['log_id'] },
    { name: 'idx_created', unique: false, columns: ['created_at'] },
  ],
  partitions: [],
};
const config = (input: Record<string, unknown> = {}) => parseArchiveTables([{ table: 'game_logs', timeColumn: 'created_at', ...input }], 'test')[0]!;

describe('checking a table config against the live schema', () => {
  it('takes the primary key as the key and scans by (time, key)', () => {
    expect(resolveDescription(gameLogs, config(), 'shard_a')).toMatchObject({
      columns: ['log_id', 'player_id', 'action_data', 'created_at'],
      keyColumns: ['log_id'],
      orderColumns: ['created_at', 'log_id'],
    });
  });

  it('refuses a table without a usable unique key, naming the unique indexes it has', () => {
    const noKey = { ...gameLogs, indexes: gameLogs.indexes.filter((index) => index.name !== 'PRIMARY') };
    expect(() => resolveDescription(noKey, config(), 'shard_a')).toThrow(/has no primary key; set keyColumns/);
    expect(() => resolveDescription(gameLogs, config({ keyColumns: ['player_id'] }), 'shard_a')).toThrow(
      /shard_a\.game_logs has no usable unique key over \(player_id\).*Unique indexes: PRIMARY\(log_id\)/,
    );
  });

  it('refuses nullable keys, unknown columns, a time column that is not a NOT NULL date and a missing time index', () => {
    const nullableKey = { ...gameLogs, columns: [column('log_id', 'bigint', true), ...gameLogs.columns.slice(1)] };
    expect(() => resolveDescription(nullableKey, config(), 'db')).toThrow(/key column log_id .* is nullable/);
    expect(() => resolveDescription(gameLogs, config({ timeColumn: 'nope' }), 'db')).toThrow(/no column nope \(timeColumn\)/);
    expect(() => resolveDescription(gameLogs, config({ timeColumn: 'player_id' }), 'db')).toThrow(/is bigint; it must be DATE, DATETIME or TIMESTAMP/);
    const nullableTime = { ...gameLogs, columns: [...gameLogs.columns.slice(0, 3), column('created_at', 'timestamp', true)] };
    expect(() => resolveDescription(nullableTime, config(), 'db')).toThrow(/is nullable; the archive scan orders by it/);
    const noTimeIndex = { ...gameLogs, indexes: gameLogs.indexes.slice(0, 1) };
    expect(() => resolveDescription(noTimeIndex, config(), 'db')).toThrow(/needs an index starting with created_at/);
    expect(() => resolveDescription(gameLogs, config({ filter: [{ column: 'zone', op: '=', value: 'x' }] }), 'db')).toThrow(/no column zone \(filter\)/);
  });

  it('accepts key columns that cover a unique index, and refuses a partitioned layout on a plain table', () => {
    expect(resolveDescription(gameLogs, config({ keyColumns: ['log_id', 'created_at'] }), 'db').orderColumns).toEqual(['created_at', 'log_id']);
    expect(() => resolveDescription(gameLogs, config({ layout: 'partitioned' }), 'db')).toThrow(/is not partitioned/);
  });
});
