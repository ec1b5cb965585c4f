import { ValidationError } from '../shared/errors';
import { quoteIdentifier } from '../shared/identifiers';

/**
 * The extra filter of an archived table: AND-ed conditions on columns, never SQL text. Columns are
 * checked against the live schema and quoted; values are always bound parameters.
 */
export const FILTER_OPS = ['=', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'is null', 'is not null'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];
export type FilterValue = string | number | boolean;

export interface FilterCondition {
  column: string;
  op: FilterOp;
  /** For comparisons. */
  value?: FilterValue;
  /** For `in` / `not in`. */
  values?: FilterValue[];
}

export interface SqlFragment {
  sql: string;
  params: Record<string, FilterValue>;
}

/** What is wrong with a condition's operands, or undefined. */
export function filterConditionProblem(condition: FilterCondition): string | undefined {
  const { op, value, values } = condition;
  if (op === 'is null' || op === 'is not null') return value === undefined && values === undefined ? undefined : `${op} takes no value`;
  if (op === 'in' || op === 'not in') {
    if (value !== undefined) return `${op} takes "values", not "value"`;
    return values && values.length > 0 && values.length <= 1000 ? undefined : `${op} needs 1 to 1000 "values"`;
  }
  if (values !== undefined) return `${op} takes "value", not "values"`;
  return value === undefined ? `${op} needs a "value"` : undefined;
}

/** The conditions as one SQL predicate with `:filter_…` parameters; `TRUE` when there are none. */
export function filterSql(conditions: readonly FilterCondition[]): SqlFragment {
  const params: Record<string, FilterValue> = {};
  const parts = conditions.map((condition, index) => {
    const problem = filterConditionProblem(condition);
    if (problem) throw new ValidationError(`filter on ${condition.column}: ${problem}`);
    const column = quoteIdentifier(condition.column, 'filter column');
    const { op } = condition;
    if (op === 'is null' || op === 'is not null') return `${column} ${op.toUpperCase()}`;
    if (op === 'in' || op === 'not in') {
      const names = condition.values!.map((value, position) => {
        const name = `filter_${index}_${position}`;
        params[name] = value;
        return `:${name}`;
      });
      return `${column} ${op.toUpperCase()} (${names.join(', ')})`;
    }
    const name = `filter_${index}`;
    params[name] = condition.value!;
    return `${column} ${op === '!=' ? '<>' : op} :${name}`;
  });
  return { sql: parts.length === 0 ? 'TRUE' : parts.map((part) => `(${part})`).join(' AND '), params };
}
