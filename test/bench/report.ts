import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

export type BenchValue = string | number | boolean | null;
export type BenchRow = Record<string, BenchValue>;

const RESULTS_DIR = fileURLToPath(new URL('../../bench-results/', import.meta.url));

/**
 * Prints `rows` as an aligned table (columns in first-seen order, numbers right-aligned) with `extra`
 * below it, and writes everything to bench-results/<name>.json with the machine it ran on.
 */
export function report(name: string, rows: readonly BenchRow[], extra: Record<string, unknown> = {}): void {
  const machine = { timestamp: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length };
  console.log(`\n## ${name}\n${formatTable(rows)}`);
  for (const [key, value] of Object.entries(extra)) {
    console.log(`${key}: ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}.json`;
  writeFileSync(file, `${JSON.stringify({ name, ...machine, rows, ...extra }, null, 2)}\n`);
  console.log(`(${machine.cpu}, ${machine.cores} cores, node ${machine.node}; written to ${file})`);
}

/** The nearest-rank `p`th percentile of `values` (p 50: the median, the lower middle one of an even count). */
export const percentile = (values: readonly number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;

export function formatTable(rows: readonly BenchRow[]): string {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cells = rows.map((row) => columns.map((column) => formatValue(row[column])));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => line[index]!.length)));
  const numeric = columns.map((column) => rows.some((row) => typeof row[column] === 'number'));
  const line = (values: string[]) =>
    values.map((value, index) => (numeric[index] ? value.padStart(widths[index]!) : value.padEnd(widths[index]!))).join('  ').trimEnd();
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}

function formatValue(value: BenchValue | undefined): string {
  if (value === undefined || value === null) return '-';
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value) || Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(4)));
}
