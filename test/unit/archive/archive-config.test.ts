import { describe, expect, it } from 'vitest';
import { parseArchiveTables } from '../../../functions/archive/archive-config';

describe('archive table config', () => {
  it('fills the chapter defaults: 180 days, batches of 10,000, lag 1 s, Threads_running 25, daily at 03:00 UTC', () => {
    const [table] = parseArchiveTables([{ table: 'game_logs', timeColumn: 'created_at' }], 'test');
    expect(table).toMatchObject({
      layout: 'rows',
      retentionDays: 180,
      batchSize: 10_000,
      filter: [],
      blackouts: [],
      schedule: 'cron(0 3 * * ? *)',
      throttle: { maxReplicaLagSeconds: 1, maxThreadsRunning: 25, sleepBetweenBatchesMs: 0, pauseSeconds: 30 },
      partitions: { unit: 'day' },
      dailyTables: { ahead: 1 },
      playerColumn: 'player_id',
    });
    expect(table!.keyColumns).toBeUndefined();
  });

  it('accepts a structured filter, blackout windows and a shard list', () => {
    const [table] = parseArchiveTables(
      [
        {
          table: 'chat_messages',
          timeColumn: 'sent_at',
          keyColumns: ['message_id'],
          filter: [{ column: 'channel', op: 'in', values: ['world', 'trade'] }],
          blackouts: [{ start: '2024-12-24T00:00:00Z', end: '2024-12-27T00:00:00Z', reason: 'winter event' }, { weekly: { days: ['sat', 'sun'], from: '18:00', to: '23:00' } }],
          shards: ['-80'],
        },
      ],
      'test',
    );
    expect(table!.filter).toHaveLength(1);
    expect(table!.blackouts).toHaveLength(2);
  });

  it('names every problem with its path and says what is wrong', () => {
    const attempt = () =>
      parseArchiveTables(
        [
          { table: 'game logs', timeColumn: 'created_at', retentionDays: 0, batchSzie: 500 },
          { table: 'chat', timeColumn: 'sent_at', filter: [{ column: 'x', op: 'in', value: 1 }], blackouts: [{ start: '2024-01-02T00:00:00Z', end: '2024-01-01T00:00:00Z' }] },
        ],
        'archive.json',
      );
    expect(attempt).toThrow(/archive\.json/);
    expect(attempt).toThrow(/0\.table: must be a MySQL identifier/);
    expect(attempt).toThrow(/0\.retentionDays: Too small: expected number to be >=1/);
    expect(attempt).toThrow(/0: Unrecognized key: "batchSzie"/);
    expect(attempt).toThrow(/1\.filter\.0: in takes "values"/);
    expect(attempt).toThrow(/1\.blackouts\.0\.end: end must be after start/);
  });

  it('refuses a filter on layouts that drop whole tables, repeated key columns and a table configured twice', () => {
    expect(() => parseArchiveTables([{ table: 't', timeColumn: 'c', layout: 'partitioned', filter: [{ column: 'a', op: 'is null' }] }], 'x')).toThrow(/drops whole tables/);
    expect(() => parseArchiveTables([{ table: 't', timeColumn: 'c', keyColumns: ['a', 'a'] }], 'x')).toThrow(/must not repeat/);
    expect(() => parseArchiveTables([{ table: 't', timeColumn: 'c' }, { table: 't', timeColumn: 'd' }], 'x')).toThrow(/configured twice/);
  });

  it('refuses raw SQL where only structured conditions are allowed', () => {
    expect(() => parseArchiveTables([{ table: 't', timeColumn: 'c', filter: "action_type = 'chat'" }], 'x')).toThrow(/filter/);
    expect(() => parseArchiveTables([{ table: 't', timeColumn: 'c', filter: [{ column: 'a', op: 'LIKE', value: '%' }] }], 'x')).toThrow(/op/);
  });
});
