import { describe, expect, it } from 'vitest';
import { parseArchiveTables } from '../../../functions/archive/archive-config';
import { planArchiveItems } from '../../../functions/archive/archive-plan';

const tables = parseArchiveTables(
  [
    { table: 'game_logs', timeColumn: 'created_at' },
    { table: 'chat', timeColumn: 'sent_at', retentionDays: 30, shards: ['80-'] },
  ],
  'test',
);
const now = Date.UTC(2024, 6, 1, 3);

describe('planning an archive run', () => {
  it('makes one item per table and shard it applies to, with the cutoff of the table fixed for the run', () => {
    expect(planArchiveItems(tables, ['-80', '80-'], { now, runId: 'r1' })).toEqual([
      { table: 'game_logs', shard: '-80', runId: 'r1', cutoff: Date.UTC(2024, 0, 3) },
      { table: 'game_logs', shard: '80-', runId: 'r1', cutoff: Date.UTC(2024, 0, 3) },
      { table: 'chat', shard: '80-', runId: 'r1', cutoff: Date.UTC(2024, 5, 1) },
    ]);
  });

  it('narrows to the requested tables and shards', () => {
    expect(planArchiveItems(tables, ['-80', '80-'], { now, runId: 'r1', tables: ['game_logs'], shards: ['80-'] }).map((item) => `${item.table}@${item.shard}`)).toEqual(['game_logs@80-']);
  });

  it('refuses unknown tables and shards, including shards named in the config', () => {
    expect(() => planArchiveItems(tables, ['-80', '80-'], { now, runId: 'r1', tables: ['nope'] })).toThrow(/not configured/);
    expect(() => planArchiveItems(tables, ['-80', '80-'], { now, runId: 'r1', shards: ['c0-'] })).toThrow(/not in the shard map/);
    expect(() => planArchiveItems(tables, ['-40', '40-'], { now, runId: 'r1' })).toThrow(/chat names shard 80-/);
  });
});
