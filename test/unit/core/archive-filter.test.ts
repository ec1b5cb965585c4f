import { describe, expect, it } from 'vitest';
import { filterSql } from '../../../functions/core/archive-filter';

describe('archive filters', () => {
  it('become quoted columns and bound parameters, never SQL text', () => {
    expect(
      filterSql([
        { column: 'action_type', op: 'in', values: ['chat', "x' OR 1=1 --"] },
        { column: 'player_id', op: '!=', value: 0 },
        { column: 'deleted_at', op: 'is null' },
      ]),
    ).toEqual({
      sql: '(`action_type` IN (:filter_0_0, :filter_0_1)) AND (`player_id` <> :filter_1) AND (`deleted_at` IS NULL)',
      params: { filter_0_0: 'chat', filter_0_1: "x' OR 1=1 --", filter_1: 0 },
    });
  });

  it('is TRUE without conditions', () => {
    expect(filterSql([])).toEqual({ sql: 'TRUE', params: {} });
  });

  it('refuses column names that are not identifiers and operands that do not fit the operator', () => {
    expect(() => filterSql([{ column: 'a; DROP TABLE t', op: '=', value: 1 }])).toThrow(/not a valid MySQL identifier/);
    expect(() => filterSql([{ column: 'a', op: 'in', values: [] }])).toThrow(/needs 1 to 1000/);
    expect(() => filterSql([{ column: 'a', op: '=' }])).toThrow(/needs a "value"/);
    expect(() => filterSql([{ column: 'a', op: 'is null', value: 1 }])).toThrow(/takes no value/);
  });
});
