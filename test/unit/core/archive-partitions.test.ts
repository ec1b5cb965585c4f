import { describe, expect, it } from 'vitest';
import {
  boundLiteral,
  dailyTableDay,
  dailyTableName,
  detachedTableName,
  parseBound,
  partitionScheme,
  planDailyTables,
  planPartitions,
  readPartitions,
} from '../../../functions/core/archive-partitions';

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

describe('RANGE partition schemes', () => {
  it('reads TO_DAYS, UNIX_TIMESTAMP and RANGE COLUMNS over the time column', () => {
    expect(partitionScheme('RANGE', 'to_days(`created_at`)', 'created_at')).toEqual({ kind: 'to_days', column: 'created_at' });
    expect(partitionScheme('RANGE', 'unix_timestamp(`created_at`)', 'created_at')).toEqual({ kind: 'unix_timestamp', column: 'created_at' });
    expect(partitionScheme('RANGE COLUMNS', '`created_at`', 'created_at')).toEqual({ kind: 'columns', column: 'created_at' });
  });

  it('refuses other schemes and partitioning by another column', () => {
    expect(() => partitionScheme('HASH', '`log_id`', 'created_at')).toThrow(/not supported/);
    expect(() => partitionScheme('RANGE', 'year(`created_at`)', 'created_at')).toThrow(/not supported/);
    expect(() => partitionScheme('RANGE COLUMNS', '`updated_at`', 'created_at')).toThrow(/not by the time column/);
  });

  it('turns bounds into instants and back into the literals MySQL prints', () => {
    const toDays = { kind: 'to_days' as const, column: 'created_at' };
    // TO_DAYS('2024-01-16') = 739266.
    expect(parseBound(toDays, '739266')).toBe(day('2024-01-16'));
    expect(boundLiteral(toDays, day('2024-01-16'))).toBe('739266');
    const columns = { kind: 'columns' as const, column: 'created_at' };
    expect(parseBound(columns, "'2024-02-01 00:00:00'")).toBe(day('2024-02-01'));
    expect(parseBound(columns, "'2024-02-01'")).toBe(day('2024-02-01'));
    expect(boundLiteral(columns, day('2024-02-01'))).toBe("'2024-02-01'");
    expect(boundLiteral({ kind: 'unix_timestamp', column: 'created_at' }, day('2024-02-01'))).toBe('1706745600');
    expect(parseBound(columns, 'MAXVALUE')).toBeNull();
  });
});

describe('planning daily partitions', () => {
  const raw = ['2024-06-28', '2024-06-29', '2024-06-30', '2024-07-01', '2024-07-02'].map((date) => ({
    name: `p${date.replace(/-/g, '')}`,
    method: 'RANGE',
    expression: 'to_days(`created_at`)',
    description: boundLiteral({ kind: 'to_days', column: 'created_at' }, day(date) + 86_400_000),
  }));
  const { partitions } = readPartitions([...raw, { name: 'pmax', method: 'RANGE', expression: 'to_days(`created_at`)', description: 'MAXVALUE' }], 'created_at');
  const now = Date.parse('2024-07-01T12:00:00Z');

  it('creates partitions up to `ahead` days after today, named by their day, split from MAXVALUE', () => {
    const plan = planPartitions(partitions, { unit: 'day', ahead: 3, now, cutoff: day('2024-06-29') });
    expect(plan.create.map((partition) => partition.name)).toEqual(['p20240703', 'p20240704']);
    expect(plan.create[1]!.lessThan).toBe(day('2024-07-05'));
    expect(plan.maxValuePartition).toBe('pmax');
  });

  it('lists whole partitions older than the cutoff, oldest first, and none that straddles it', () => {
    expect(planPartitions(partitions, { unit: 'day', ahead: 0, now, cutoff: day('2024-06-30') }).pastRetention).toEqual(['p20240628', 'p20240629']);
    expect(planPartitions(partitions, { unit: 'day', ahead: 0, now, cutoff: day('2024-06-29') + 3_600_000 }).pastRetention).toEqual(['p20240628']);
  });

  it('never plans to remove the last partition of a table', () => {
    const only = [{ name: 'p20200101', lessThan: day('2020-01-02') }];
    expect(planPartitions(only, { unit: 'day', ahead: 0, now: day('2020-01-01'), cutoff: day('2020-03-01') }).pastRetention).toEqual([]);
  });

  it('plans monthly partitions two months ahead from the end of the newest one', () => {
    const monthly = [{ name: 'p202406', lessThan: day('2024-07-01') }, { name: 'p202407', lessThan: day('2024-08-01') }];
    const plan = planPartitions(monthly, { unit: 'month', ahead: 2, now, cutoff: day('2024-01-01') });
    expect(plan.create).toEqual([
      { name: 'p202408', lessThan: day('2024-09-01') },
      { name: 'p202409', lessThan: day('2024-10-01') },
    ]);
    expect(plan.maxValuePartition).toBeUndefined();
  });

  it('refuses to create a partition whose name is taken by one with another bound', () => {
    expect(() => planPartitions([{ name: 'p20240702', lessThan: day('2024-07-01') }], { unit: 'day', ahead: 1, now, cutoff: 0 })).toThrow(/already exists/);
  });
});

describe('date-named tables', () => {
  it('round-trip their day through the name and ignore other names', () => {
    expect(dailyTableName('game_logs', day('2024-01-05'))).toBe('game_logs_20240105');
    expect(dailyTableDay('game_logs', 'game_logs_20240105')).toBe(day('2024-01-05'));
    expect(dailyTableDay('game_logs', 'game_logs_20240230')).toBeUndefined();
    expect(dailyTableDay('game_logs', 'game_logs_archive')).toBeUndefined();
    expect(dailyTableDay('game_logs', 'other_20240105')).toBeUndefined();
  });

  it('creates today and tomorrow when missing and lists whole days before the cutoff', () => {
    const existing = ['game_logs_20240628', 'game_logs_20240629', 'game_logs_20240701', 'game_logs_notes'];
    expect(planDailyTables('game_logs', existing, { ahead: 1, now: Date.parse('2024-07-01T10:00:00Z'), cutoff: day('2024-06-30') })).toEqual({
      create: ['game_logs_20240702'],
      pastRetention: ['game_logs_20240628', 'game_logs_20240629'],
    });
  });
});

describe('detached table names', () => {
  it('are prefixed and refused beyond 64 characters', () => {
    expect(detachedTableName('game_logs_p20240101')).toBe('sk_archiving_game_logs_p20240101');
    expect(() => detachedTableName('x'.repeat(52))).toThrow(/64-character/);
  });
});
