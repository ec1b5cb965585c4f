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
    // Several rows share each second, so pages end inside a run of equal times.
    time: `2024-05-01 10:${String(Math.floor(index / 60 / 7)).padStart(2, '0')}:${String(Math.floor(index / 7) % 60).padStart(2, '0')}.000`,
    lineSha256: `${index}`.padStart(64, 'f'),
    objectKey,
  });

  it('reads back the restored rows of a time range across pages, one record per key, newest restore winning', async () => {
    const rows = Array.from({ length: 1_300 }, (_, index) => restored(index));
    await store.recordRestored('game_logs', '-80', rows);
    await store.recordRestored('game_logs', '-80', [restored(5, 'table=game_logs/b.jsonl.zst')]);
    await store.recordRestored('game_logs', '80-', [restored(6)]);

    const all = await store.restoredRows('game_logs', '-80', rows[0]!.time, rows.at(-1)!.time);
    expect(all).toHaveLength(1_300);
    expect(new Set(all.map((row) => row.keyId)).size).toBe(1_300);
    expect(all.find((row) => row.keyId === rows[5]!.keyId)?.objectKey).toBe('table=game_logs/b.jsonl.zst');

    const some = await store.restoredRows('game_logs', '-80', rows[700]!.time, rows[710]!.time);
    expect(some.map((row) => row.time).every((time) => time >= rows[700]!.time && time <= rows[710]!.time)).toBe(true);
    expect(some.length).toBe(rows.filter((row) => row.time >= rows[700]!.time && row.time <= rows[710]!.time).length);
  });

  it('forgets the records of keys deleted again, and only those', async () => {
    await store.recordRestored('chat', '-80', [restored(1), restored(2), restored(3)]);
    await store.forgetRestored('chat', '-80', [restored(1).keyId, restored(3).keyId]);
    await store.forgetRestored('chat', '80-', [restored(2).keyId]);
    expect((await store.restoredRows('chat', '-80', '2000', '3000')).map((row) => row.keyId)).toEqual([restored(2).keyId]);
  });
});
