/** DATETIME(3) columns of the catalog hold UTC as `YYYY-MM-DD hh:mm:ss.fff`. */
export function sqlTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}

/** A catalog DATETIME as mysql2 or the Data API returns it (`YYYY-MM-DD hh:mm:ss[.fff]`, UTC; a trailing Z tolerated) in ms since the epoch. */
export function epochFromSql(value: unknown): number {
  const text = String(value);
  return Date.parse(`${text.replace(' ', 'T')}${text.endsWith('Z') ? '' : 'Z'}`);
}

/** epochFromSql of a nullable column: null stays null. */
export function optionalEpochFromSql(value: unknown): number | null {
  return value === null || value === undefined ? null : epochFromSql(value);
}
