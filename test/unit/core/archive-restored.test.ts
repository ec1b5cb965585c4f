import { describe, expect, it } from 'vitest';
import { batchLines, buildBatchBody, keyString, type SourceRow } from '../../../functions/core/archive-batch';
import { lineSha256, restoredKeyId, unchangedRestoredRows } from '../../../functions/core/archive-restored';

const table = { columns: ['room', 'seq', 'sent_at', 'body'], keyColumns: ['room', 'seq'] };
const row = (seq: number, body: string | null): SourceRow => ({ room: 'lobby', seq, sent_at: '2024-05-01 10:00:00.000', body });
/** A record as a restore writes it: the digest of the line as the archive object holds it. */
const recordOf = (restored: SourceRow, objectKey: string) => ({
  keyId: restoredKeyId(keyString(restored, table.keyColumns)),
  lineSha256: lineSha256(batchLines(buildBatchBody([restored], table.columns).body)[0]!),
  objectKey,
});

describe('restored rows the archive already holds', () => {
  it('matches a row by its key and its whole archived line, with the record naming the object holding it', () => {
    const rows = [row(1, 'gg'), row(2, 'hi'), row(3, null)];
    const records = [recordOf(row(1, 'gg'), 'a.jsonl.zst'), recordOf(row(3, null), 'b.jsonl.zst')];
    expect([...unchangedRestoredRows(rows, records, table)]).toEqual([
      [keyString(rows[0]!, table.keyColumns), records[0]],
      [keyString(rows[2]!, table.keyColumns), records[1]],
    ]);
  });

  it('leaves a restored row changed since, or a new row under a recorded key, to be archived', () => {
    expect(unchangedRestoredRows([row(1, 'edited')], [recordOf(row(1, 'gg'), 'a.jsonl.zst')], table).size).toBe(0);
    expect(unchangedRestoredRows([{ ...row(1, 'gg'), sent_at: '2024-05-02 10:00:00.000' }], [recordOf(row(1, 'gg'), 'a.jsonl.zst')], table).size).toBe(0);
  });
});
