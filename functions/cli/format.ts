/** Terminal rendering for the CLI: aligned tables and horizontal bars. */

export type Cell = string | number | boolean | null | undefined;

const display = (cell: Cell) => (cell === null || cell === undefined ? '' : String(cell));
const isNumeric = (cell: Cell) => typeof cell === 'number';

export function table(headers: string[], rows: Cell[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => display(row[column]).length)));
  const line = (cells: Cell[], numericRight: boolean) =>
    cells
      .map((cell, column) => {
        const text = display(cell);
        const width = widths[column] ?? 0;
        return numericRight && isNumeric(cell) ? text.padStart(width) : text.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers, false), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map((row) => line(row, true))].join('\n');
}

/** A bar scaled so `max` fills `width` columns, with eighth-block precision. */
export function bar(value: number, max: number, width = 40): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.round((value / max) * width * 8);
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8] ?? '';
  return '█'.repeat(Math.floor(eighths / 8)) + partial;
}

export const percent = (fraction: number, digits = 2) => `${(fraction * 100).toFixed(digits)}%`;
