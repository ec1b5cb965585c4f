import { describe, expect, it } from 'vitest';
import { parseArchiveTables } from '../../../functions/archive/archive-config';
import { restoreArchivedRows } from '../../../functions/archive/archive-restore';

const range = { shard: '-80', from: Date.UTC(2024, 4, 1), to: Date.UTC(2024, 4, 2) };
/** Nothing may be read or written before the request is refused. */
const untouchable = new Proxy({}, { get: (_, name) => { throw new Error(`touched ${String(name)}`); } }) as never;
const deps = { source: untouchable, store: untouchable, objects: untouchable };

describe('archive restore: where rows may go back', () => {
  it('refuses the live table of a partitioned layout, whose partitions are archived whole with restored rows in them', async () => {
    const [config] = parseArchiveTables([{ table: 'game_logs', timeColumn: 'created_at', layout: 'partitioned' }], 'test');
    await expect(restoreArchivedRows(config!, range, deps)).rejects.toThrow(/game_logs is archived by whole partitions.*--into/);
  });

  it('refuses the base name or a date-named table of the daily-tables layout', async () => {
    const [config] = parseArchiveTables([{ table: 'game_logs', timeColumn: 'created_at', layout: 'daily-tables' }], 'test');
    await expect(restoreArchivedRows(config!, range, deps)).rejects.toThrow(/date-named tables.*--into/);
    await expect(restoreArchivedRows(config!, { ...range, into: 'game_logs_20240501' }, deps)).rejects.toThrow(/date-named tables.*--into/);
  });
});
