import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlArchiveStore } from '../../../functions/adapters/sql-archive-store';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import type { RestoredRow } from '../../../functions/core/archive-restored';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

describe('SqlArchiveStore on MariaDB', () => {
  let catalog: ScratchDatabase;
  let store: SqlArchiveStore;

  beforeAll(async () => {
    catalog = await createScratchDatabase();
    await new SqlCatalog(catalog.executor).migrate();
    store = new SqlArchiveStore(catalog.executor);
  });
  afterAll(async () => {
    await catalog.drop();
  });

  const restored = (index: number, objectKey = 'table=game_logs/a.jsonl.zst'): RestoredRow => ({
    keyId: index.toString(16).padStart(64, '0'),
    time: `2024-05-01 10:${String(Math.floor(index / 60)).padStart(2, '0')}:${String(index % 60).padStart(2, '0')}.000`,
    lineSha256: `${index}`.padStart(64, 'f'),
    objectKey,
    objectSha256: 'e'.repeat(64),
  });

  it('finds the records of a batch\'s keys, however many, one per key with the newest restore winning', async () => {
    const rows = Array.from({ length: 1_300 }, (_, index) => restored(index));
    await store.recordRestored('game_logs', '-80', rows);
    await store.recordRestored('game_logs', '-80', [restored(5, 'table=game_logs/b.jsonl.zst')]);
    await store.recordRestored('game_logs', '80-', [restored(6)]);

    const asked = [...rows.map((row) => row.keyId), 'f'.repeat(64)];
    const found = await store.restoredRows('game_logs', '-80', asked);
    expect(found).toHaveLength(1_300);
    expect(found.find((row) => row.keyId === rows[5]!.keyId)).toEqual(restored(5, 'table=game_logs/b.jsonl.zst'));
    expect(await store.restoredRows('game_logs', '80-', asked)).toEqual([restored(6)]);
  });

  it('says whether any restored row falls in a time span, bounds included', async () => {
    await store.recordRestored('daily_totals', '-80', [restored(70)]);
    const at = restored(70).time;
    expect(await store.anyRestored('daily_totals', '-80', at, at)).toBe(true);
    expect(await store.anyRestored('daily_totals', '-80', '2024-05-01 10:01:11.000', '2024-05-01 10:01:11.000')).toBe(false);
    expect(await store.anyRestored('daily_totals', '80-', '2000', '3000')).toBe(false);
  });

  it('forgets the records of keys deleted again, and only those', async () => {
    await store.recordRestored('chat', '-80', [restored(1), restored(2), restored(3)]);
    await store.forgetRestored('chat', '-80', [restored(1).keyId, restored(3).keyId]);
    await store.forgetRestored('chat', '80-', [restored(2).keyId]);
    expect((await store.restoredRows('chat', '-80', [1, 2, 3].map((index) => restored(index).keyId))).map((row) => row.keyId)).toEqual([restored(2).keyId]);
  });
});
