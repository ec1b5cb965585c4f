import type { SqlParams } from '../ports/sql';

/** `items` in consecutive slices of at most `size`: one multi-row statement each. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));
}

/** `column IN (:column0, …)`, its values added to `params` one named parameter each (both executors bind scalars only); FALSE for none. */
export function inList(column: string, values: readonly string[], params: SqlParams): string {
  const names = values.map((value, index) => {
    params[`${column}${index}`] = value;
    return `:${column}${index}`;
  });
  return names.length === 0 ? 'FALSE' : `${column} IN (${names.join(', ')})`;
}
