import type { RetentionClass } from './backup-manifest';

/**
 * Grandfather-father-son retention. A backup's class is fixed when it starts (the first backup of
 * a month is monthly, else the first of an ISO week is weekly, else daily) because its objects are
 * tagged with it and S3 lifecycle rules expire them by that tag. The catalog prunes by the same
 * rules, and treats a backup as gone once its lifecycle expiry has passed, so it never points at an
 * object S3 may already have deleted.
 */

export interface RetentionPolicy {
  dailies: number;
  weeklies: number;
  monthlies: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { dailies: 7, weeklies: 4, monthlies: 12 };
/** The most of each a policy may keep (a year of dailies, ten years of weeklies, a hundred of monthlies). */
export const RETENTION_LIMITS: RetentionPolicy = { dailies: 366, weeklies: 520, monthlies: 1200 };

const DAY_MS = 86_400_000;

export interface Periods {
  day: string;
  week: string;
  month: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, format);
  }
  return format;
}

export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The calendar day, ISO week and month an instant falls in, in `timeZone`. */
export function periodsOf(at: number, timeZone: string): Periods {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(at)).map((part) => [part.type, part.value]));
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  const date = Date.UTC(year, month - 1, day);
  // ISO 8601: the week belongs to the year of its Thursday.
  const weekday = (new Date(date).getUTCDay() + 6) % 7;
  const thursday = new Date(date + (3 - weekday) * DAY_MS);
  const isoYear = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * DAY_MS));
  const pad = (value: number) => String(value).padStart(2, '0');
  return { day: `${year}-${pad(month)}-${pad(day)}`, week: `${isoYear}-W${pad(week)}`, month: `${year}-${pad(month)}` };
}

/** The class of a backup starting at `at`, given when the shard's earlier backups of the same kind started. */
export function retentionClassFor(at: number, earlier: readonly number[], timeZone: string): RetentionClass {
  const periods = periodsOf(at, timeZone);
  const before = earlier.filter((time) => time < at).map((time) => periodsOf(time, timeZone));
  if (!before.some((other) => other.month === periods.month)) return 'monthly';
  if (!before.some((other) => other.week === periods.week)) return 'weekly';
  return 'daily';
}

/**
 * Days until S3 may expire a class: longer than the GFS count can keep a representative
 * (7 dailies span < 7 days, 4 weeklies < 28, 12 monthlies < 366), with a day to spare.
 */
export function retentionDays(retentionClass: RetentionClass, policy: RetentionPolicy): number {
  switch (retentionClass) {
    case 'daily':
      return policy.dailies + 1;
    case 'weekly':
      return policy.weeklies * 7 + 1;
    case 'monthly':
      return policy.monthlies * 31 + 1;
  }
}

export function expiresAt(startedAt: number, retentionClass: RetentionClass, policy: RetentionPolicy): number {
  return startedAt + retentionDays(retentionClass, policy) * DAY_MS;
}

export interface RetainedBackup {
  id: string;
  startedAt: number;
  expiresAt: number;
}

export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: string[];
  /** For a kept backup: the longest period it represents, whose class its lifecycle must have. */
  holds?: RetentionClass;
}

const RANK: Record<RetentionClass, number> = { daily: 0, weekly: 1, monthly: 2 };

/** Whether a backup of class `held` must be promoted to stay for the period it represents. */
export const outlivedBy = (held: RetentionClass, needed: RetentionClass | undefined): needed is RetentionClass => needed !== undefined && RANK[needed] > RANK[held];

/**
 * Which backups of one shard (one kind) to keep: the first backup of each of the newest `dailies`
 * days, `weeklies` ISO weeks and `monthlies` months that have backups, and always the newest;
 * anything past its lifecycle expiry goes regardless.
 */
export function planRetention(backups: readonly RetainedBackup[], policy: RetentionPolicy, now: number, timeZone: string): RetentionDecision[] {
  const ordered = [...backups].sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  const reasons = new Map<string, string[]>(ordered.map((backup) => [backup.id, []]));
  const holds = new Map<string, RetentionClass>();
  const alive = ordered.filter((backup) => backup.expiresAt > now);

  const keepFirstOfNewestPeriods = (period: keyof Periods, count: number, label: RetentionClass) => {
    const firsts = new Map<string, RetainedBackup>();
    for (const backup of alive) {
      const key = periodsOf(backup.startedAt, timeZone)[period];
      if (!firsts.has(key)) firsts.set(key, backup);
    }
    const newest = [...firsts.entries()].sort(([a], [b]) => b.localeCompare(a)).slice(0, count);
    for (const [key, backup] of newest) {
      reasons.get(backup.id)!.push(`${label} ${key}`);
      holds.set(backup.id, label);
    }
  };
  keepFirstOfNewestPeriods('day', policy.dailies, 'daily');
  keepFirstOfNewestPeriods('week', policy.weeklies, 'weekly');
  keepFirstOfNewestPeriods('month', policy.monthlies, 'monthly');
  const latest = alive.at(-1);
  if (latest) reasons.get(latest.id)!.push('latest');

  return ordered.map((backup) => {
    if (backup.expiresAt <= now) return { id: backup.id, keep: false, reasons: ['past its lifecycle expiry'] };
    const kept = reasons.get(backup.id)!;
    if (kept.length === 0) return { id: backup.id, keep: false, reasons: ['not kept by the GFS policy'] };
    const held = holds.get(backup.id);
    return { id: backup.id, keep: true, reasons: kept, ...(held ? { holds: held } : {}) };
  });
}
