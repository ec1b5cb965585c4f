import { ValidationError } from '../shared/errors';

/** Blackout windows: time ranges (live-ops events) when archiving must not touch the shards. All times UTC. */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export type BlackoutWindow =
  /** One event: [start, end) as ISO timestamps. */
  | { start: string; end: string; reason?: string }
  /** Every listed weekday from `from` to `to` (HH:MM); a `to` at or before `from` ends the next day. */
  | { weekly: { days: Weekday[]; from: string; to: string }; reason?: string };

export interface ActiveBlackout {
  /** When archiving may resume: the end of the window, or of windows chained onto it. */
  until: number;
  reason: string;
}

const DAY_MS = 86_400_000;
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function minutesOfDay(hhmm: string): number {
  const match = HHMM.exec(hhmm);
  if (!match) throw new ValidationError(`${JSON.stringify(hhmm)} is not a time of day HH:MM`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The concrete [start, end) ranges of a window that overlap [from, to). */
function occurrences(window: BlackoutWindow, from: number, to: number): Array<{ start: number; end: number }> {
  if ('start' in window) {
    const start = Date.parse(window.start);
    const end = Date.parse(window.end);
    return start < to && end > from ? [{ start, end }] : [];
  }
  const { days, from: fromTime, to: toTime } = window.weekly;
  const startMinute = minutesOfDay(fromTime);
  let endMinute = minutesOfDay(toTime);
  if (endMinute <= startMinute) endMinute += 24 * 60;
  const found: Array<{ start: number; end: number }> = [];
  // A window may begin the day before `from` and run past midnight.
  for (let day = Math.floor(from / DAY_MS) * DAY_MS - DAY_MS; day < to; day += DAY_MS) {
    if (!days.includes(WEEKDAYS[new Date(day).getUTCDay()]!)) continue;
    const start = day + startMinute * 60_000;
    const end = day + endMinute * 60_000;
    if (start < to && end > from) found.push({ start, end });
  }
  return found;
}

/**
 * The blackout in force at `now`, if any. Windows that overlap or touch the active one extend it,
 * so the caller resumes once, after the last of them.
 */
export function activeBlackout(now: number, windows: readonly BlackoutWindow[]): ActiveBlackout | undefined {
  const covering = windows.flatMap((window) => occurrences(window, now, now + 1).map((range) => ({ ...range, reason: window.reason ?? 'blackout window' })));
  if (covering.length === 0) return undefined;
  let until = Math.max(...covering.map((range) => range.end));
  const reasons = new Set(covering.map((range) => range.reason));
  // Follow chains for at most a week: weekly windows repeat, absolute ones are finite.
  for (let extended = true; extended && until < now + 7 * DAY_MS; ) {
    extended = false;
    for (const window of windows) {
      for (const range of occurrences(window, until - 1, until + 1)) {
        if (range.start <= until && range.end > until) {
          until = range.end;
          reasons.add(window.reason ?? 'blackout window');
          extended = true;
        }
      }
    }
  }
  return { until, reason: [...reasons].join('; ') };
}
