import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  archiveCutoff,
  batchLines,
  batchObjectKey,
  batchRows,
  buildBatchBody,
  cursorOf,
  dtOf,
  encodeRow,
  inScanOrder,
  integerSpan,
  keyString,
  keyValues,
  lockedRowsMatcher,
  sameRow,
  sqlDateTime,
  takeSameDay,
  type SourceRow,
} from '../../../functions/core/archive-batch';

describe('archive cutoff', () => {
  it('is the start of the UTC day retentionDays before now, so whole days are archived', () => {
    const now = Date.UTC(2024, 6, 1, 13, 45);
    expect(sqlDateTime(archiveCutoff(now, 180))).toBe('2024-01-03 00:00:00');
    expect(sqlDateTime(archiveCutoff(Date.UTC(2024, 6, 1), 30))).toBe('2024-06-01 00:00:00');
  });
});

describe('batch rows', () => {
  const rows = [
    { log_id: '1', created_at: '2024-01-01 23:59:59.999', data: Buffer.from([0, 255]) },
    { log_id: '2', created_at: '2024-01-01 23:59:59.999', data: null },
    { log_id: '3', created_at: '2024-01-02 00:00:00.000', data: null },
  ];

  it('cuts a batch where the day changes, so one object never spans two dt partitions', () => {
    expect(takeSameDay(rows, 'created_at').map((row) => row.log_id)).toEqual(['1', '2']);
    expect(takeSameDay(rows.slice(2), 'created_at')).toHaveLength(1);
    expect(takeSameDay([], 'created_at')).toEqual([]);
  });

  it('encodes a row as JSON in column order with bytes as base64', () => {
    expect(encodeRow(rows[0]!, ['log_id', 'created_at', 'data'])).toBe('{"log_id":"1","created_at":"2024-01-01 23:59:59.999","data":"AP8="}');
    expect(encodeRow({ b: 2, a: 1 }, ['a', 'b'])).toBe('{"a":1,"b":2}');
  });

  it('reads the dt partition from DATE and DATETIME values and refuses anything else', () => {
    expect(dtOf('2024-01-02')).toBe('2024-01-02');
    expect(dtOf('2024-01-02 10:00:00')).toBe('2024-01-02');
    expect(() => dtOf(1704153600)).toThrow(/not a DATE\/DATETIME/);
  });

  it('builds the same compressed bytes and checksum from the same rows, which decompress to their JSON lines', () => {
    const first = buildBatchBody(rows, ['log_id', 'created_at']);
    const again = buildBatchBody(rows.map((row) => ({ ...row })), ['log_id', 'created_at']);
    expect(again.body.equals(first.body)).toBe(true);
    expect(again.sha256).toBe(first.sha256);
    const lines = rows.map((row) => encodeRow(row, ['log_id', 'created_at']));
    expect(batchLines(first.body)).toEqual(lines);
    expect(first.rawBytes).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
  });

  it('writes multi-byte text and many rows into the body intact', () => {
    const wide = Array.from({ length: 3000 }, (_, index) => ({ id: index, note: `${'é🎮'.repeat(index % 50)}\u2028"\\` }));
    expect(batchRows(buildBatchBody(wide, ['id', 'note']).body)).toEqual(wide);
    expect(buildBatchBody([], ['id']).rawBytes).toBe(0);
  });

  it('reads gzip archive objects as well, and refuses bytes that are neither zstd nor gzip', () => {
    expect(batchLines(gzipSync('{"id":1}\n{"id":2}\n'))).toEqual(['{"id":1}', '{"id":2}']);
    expect(() => batchLines(Buffer.from('{"id":1}\n'))).toThrow(/neither zstd nor gzip/);
  });

  it('takes the scan cursor from the order columns and refuses NULLs in them', () => {
    expect(cursorOf(rows[0]!, ['created_at', 'log_id'])).toEqual(['2024-01-01 23:59:59.999', '1']);
    expect(() => cursorOf(rows[1]!, ['data'])).toThrow(/NULL/);
  });

  it('finds the smallest and largest integer key without parsing, and gives up on anything but canonical integers', () => {
    expect(integerSpan(['10', '9', '-3', '-12', '0', '18446744073709551615'])).toEqual({ min: '-12', max: '18446744073709551615' });
    expect(integerSpan(['-1', '-2'])).toEqual({ min: '-2', max: '-1' });
    expect(integerSpan(['7'])).toEqual({ min: '7', max: '7' });
    expect(integerSpan([])).toBeUndefined();
    for (const odd of ['007', '-0', '+1', '1.5', 'x', '123456789012345678901']) expect(integerSpan(['1', odd])).toBeUndefined();
  });

  it('puts rows read in key order into (time, key) order, leaving rows already in it as they are', () => {
    const row = (created_at: string, log_id: number | string) => ({ created_at, log_id });
    const inOrder = [row('2024-01-01 00:00:00.000', 1), row('2024-01-01 00:00:00.000', 2), row('2024-01-01 00:00:01.000', 3)];
    expect(inScanOrder(inOrder, 'created_at', 'log_id')).toBe(inOrder);
    // A late log: an older time under a newer key; a BIGINT beyond 2^53 read as text.
    const late = [row('2024-01-01 00:00:05.000', 7), row('2024-01-01 00:00:02.000', 9), row('2024-01-01 00:00:05.000', '18446744073709551615'), row('2024-01-01 00:00:05.000', 8)];
    expect(inScanOrder(late, 'created_at', 'log_id').map((r) => r.log_id)).toEqual([9, 7, 8, '18446744073709551615']);
    expect(late.map((r) => r.log_id)).toEqual([7, 9, '18446744073709551615', 8]);
    expect(inScanOrder([row('2024-01-01', -3), row('2024-01-01', -12)], 'created_at', 'log_id').map((r) => r.log_id)).toEqual([-12, -3]);
  });

  it('identifies rows by their key values as text, whatever their JS type', () => {
    expect(keyString({ id: 5, at: 'x' }, ['id'])).toBe(keyString({ id: '5' }, ['id']));
    expect(keyString({ a: 1, b: 2 }, ['a', 'b'])).not.toBe(keyString({ a: 2, b: 1 }, ['a', 'b']));
    expect(keyValues(keyString({ id: '18446744073709551615' }, ['id']), 1)).toEqual(['18446744073709551615']);
    expect(keyValues(keyString({ a: 'x,"y"', b: 2 }, ['a', 'b']), 2)).toEqual(['x,"y"', '2']);
  });
});

describe('object keys', () => {
  const parts = { table: 'game_logs', shard: '40-80', dt: '2024-01-01', unit: 'game_logs', firstKey: ['1001'], lastKey: ['1400'] };

  it('are Hive-style and derived only from shard, unit and the first and last key', () => {
    expect(batchObjectKey(parts)).toBe('table=game_logs/shard=40-80/dt=2024-01-01/game_logs.1001-1400.jsonl.zst');
    expect(batchObjectKey({ ...parts })).toBe(batchObjectKey(parts));
    expect(batchObjectKey({ ...parts, lastKey: ['1401'] })).not.toBe(batchObjectKey(parts));
  });

  it('hash keys that are not plain integers, differently per shard', () => {
    const textual = { ...parts, firstKey: ['a/b'], lastKey: ['2024-01-01 00:00:00', '7'] };
    expect(batchObjectKey(textual)).toMatch(/^table=game_logs\/shard=40-80\/dt=2024-01-01\/game_logs\.h[0-9a-f]{24}-h[0-9a-f]{24}\.jsonl\.zst$/);
    expect(batchObjectKey({ ...textual, shard: '80-c0' }).split('/')[3]).not.toBe(batchObjectKey(textual).split('/')[3]);
  });

  it('refuse a dt that is not a date', () => {
    expect(() => batchObjectKey({ ...parts, dt: '2024-1-1' })).toThrow(/YYYY-MM-DD/);
  });
});

describe('matching locked rows to archived rows', () => {
  const columns = ['id', 'note', 'bytes'];
  const archived = new Map<string, SourceRow>([
    ['1', { id: '1', note: 'a', bytes: Buffer.from([1, 2]) }],
    ['2', { id: '2', note: 'b', bytes: null }],
    ['3', { id: '3', note: 'c', bytes: null }],
  ]);

  it('deletes only rows whose content is what was archived and reports changed, missing and unexpected ones, row by row', () => {
    const onShard: SourceRow[] = [
      { id: '1', note: 'a', bytes: Buffer.from([1, 2]) },
      { id: '2', note: 'B', bytes: null },
      { id: '9', note: 'new', bytes: null },
    ];
    const matcher = lockedRowsMatcher(archived, ['id'], columns);
    for (const row of onShard) matcher.add(row);
    expect(matcher.result()).toEqual({ matching: ['1'], changed: ['2'], missing: ['3'], unexpected: 1 });
  });

  it('compares rows parsed back from an archived line, bytes as base64, with the rows on the shard', () => {
    const line = encodeRow({ id: '1', note: 'a', bytes: Buffer.from([1, 2]) }, columns);
    const parsed = JSON.parse(line) as SourceRow;
    expect(sameRow(parsed, { id: '1', note: 'a', bytes: Buffer.from([1, 2]) }, columns)).toBe(true);
    expect(sameRow(parsed, { id: '1', note: 'a', bytes: Buffer.from([1, 3]) }, columns)).toBe(false);
    expect(sameRow(parsed, { id: 1, note: 'a', bytes: Buffer.from([1, 2]) }, columns)).toBe(false);
    expect(sameRow({ id: '1', note: null }, { id: '1', note: '' }, ['id', 'note'])).toBe(false);
    expect(sameRow({ id: '1', bytes: Buffer.from([1]) }, { id: '1', bytes: 'AQ==' }, ['id', 'bytes'])).toBe(false);
  });
});
