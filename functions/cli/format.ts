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

export interface ProgressLine {
  /** The subject's latest progress, e.g. `game_logs@-40 … 1,200 rows, 3,400 rows/s`. */
  update(subject: string, text: string): void;
  /** Ends the progress output: the terminal line is closed; elsewhere the latest line not yet written is. */
  end(): void;
}

/**
 * Progress for stderr. A terminal gets one line redrawn in place. A log or pipe (CI) gets plain
 * lines: at most one per subject every `intervalMs`, and a subject's latest line once another
 * subject reports or the progress ends, so each subject's last state is logged in order.
 */
export function progressLine(write: (text: string) => void, options: { interactive: boolean; intervalMs?: number; now?: () => number }): ProgressLine {
  const { interactive, intervalMs = 5_000, now = Date.now } = options;
  let drawn = false;
  let current: string | undefined;
  let pending: string | undefined;
  const writtenAt = new Map<string, number>();
  const flush = () => {
    if (pending !== undefined) write(`${pending}\n`);
    pending = undefined;
  };
  return {
    update(subject, text) {
      if (interactive) {
        write(`\r${text}   `);
        drawn = true;
        return;
      }
      if (subject !== current) flush();
      current = subject;
      const last = writtenAt.get(subject);
      if (last !== undefined && now() - last < intervalMs) {
        pending = text;
        return;
      }
      pending = undefined;
      write(`${text}\n`);
      writtenAt.set(subject, now());
    },
    end() {
      if (drawn) write('\n');
      drawn = false;
      flush();
    },
  };
}
