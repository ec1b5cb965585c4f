/** DATETIME(3) columns of the catalog hold UTC as `YYYY-MM-DD hh:mm:ss.fff`. */
export function sqlTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}
