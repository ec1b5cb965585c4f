import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION, expiresAt, outlivedBy, periodsOf, planRetention, retentionClassFor, retentionDays, type RetainedBackup } from '../../../functions/core/backup-retention';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);

describe('GFS retention', () => {
  it('names the day, ISO week and month of an instant in the configured zone', () => {
    // 2026-01-04 23:30 UTC is Monday 2026-01-05 in Berlin: another day and another ISO week.
    expect(periodsOf(at('2026-01-04T23:30:00Z'), 'UTC')).toEqual({ day: '2026-01-04', week: '2026-W01', month: '2026-01' });
    expect(periodsOf(at('2026-01-04T23:30:00Z'), 'Europe/Berlin')).toEqual({ day: '2026-01-05', week: '2026-W02', month: '2026-01' });
    // ISO weeks belong to the year of their Thursday.
    expect(periodsOf(at('2027-01-01T12:00:00Z'), 'UTC').week).toBe('2026-W53');
  });

  it('classes the first backup of a month monthly, the first of a week weekly, the rest daily', () => {
    const sundayJan4 = at('2026-01-04T02:00:00Z');
    expect(retentionClassFor(sundayJan4, [], 'UTC')).toBe('monthly');
    expect(retentionClassFor(at('2026-01-05T02:00:00Z'), [sundayJan4], 'UTC')).toBe('weekly');
    expect(retentionClassFor(at('2026-01-06T02:00:00Z'), [sundayJan4, at('2026-01-05T02:00:00Z')], 'UTC')).toBe('daily');
    expect(retentionClassFor(at('2026-02-01T02:00:00Z'), [sundayJan4], 'UTC')).toBe('monthly');
  });

  it('lets S3 expire a class only after the catalog has stopped keeping it', () => {
    expect(retentionDays('daily', DEFAULT_RETENTION)).toBe(8);
    expect(retentionDays('weekly', DEFAULT_RETENTION)).toBe(29);
    expect(retentionDays('monthly', DEFAULT_RETENTION)).toBe(373);
    expect(expiresAt(0, 'weekly', DEFAULT_RETENTION)).toBe(29 * DAY);
  });

  it('keeps 7 dailies, 4 weeklies and 12 monthlies of a year of nightly backups, and prunes the rest', () => {
    const start = at('2025-01-01T02:00:00Z');
    const now = at('2026-01-01T12:00:00Z');
    const backups: RetainedBackup[] = [];
    const earlier: number[] = [];
    for (let day = 0; day <= 365; day++) {
      const startedAt = start + day * DAY;
      backups.push({ id: `b${day}`, startedAt, expiresAt: expiresAt(startedAt, retentionClassFor(startedAt, earlier, 'UTC'), DEFAULT_RETENTION) });
      earlier.push(startedAt);
    }
    const kept = planRetention(backups, DEFAULT_RETENTION, now, 'UTC').filter((decision) => decision.keep);
    const keptDays = kept.map((decision) => new Date(backups.find((backup) => backup.id === decision.id)!.startedAt).toISOString().slice(0, 10));
    // Dailies: the last 7 days; weeklies: Mondays of the last 4 ISO weeks; monthlies: the 1st of the last 12 months.
    expect(keptDays).toEqual([
      '2025-02-01', '2025-03-01', '2025-04-01', '2025-05-01', '2025-06-01', '2025-07-01', '2025-08-01', '2025-09-01', '2025-10-01', '2025-11-01',
      '2025-12-01', '2025-12-08', '2025-12-15', '2025-12-22', '2025-12-26', '2025-12-27', '2025-12-28', '2025-12-29', '2025-12-30', '2025-12-31', '2026-01-01',
    ]);
    expect(kept.find((decision) => decision.id === 'b365')!.reasons).toEqual(expect.arrayContaining(['latest', 'monthly 2026-01']));
  });

  it('drops a backup past its lifecycle expiry even when the counts would keep it, and always keeps the newest otherwise', () => {
    const now = at('2026-03-01T00:00:00Z');
    const decisions = planRetention(
      [
        { id: 'old-daily', startedAt: now - 20 * DAY, expiresAt: now - 12 * DAY },
        { id: 'newest', startedAt: now - 10 * DAY, expiresAt: now + 19 * DAY },
      ],
      { dailies: 0, weeklies: 0, monthlies: 0 },
      now,
      'UTC',
    );
    expect(decisions).toEqual([
      { id: 'old-daily', keep: false, reasons: ['past its lifecycle expiry'] },
      { id: 'newest', keep: true, reasons: ['latest'] },
    ]);
  });
});

describe('the period a kept backup holds', () => {
  it('is the longest period it is the first backup of: the month goes to the next backup when the first is not there', () => {
    const now = at('2026-02-10T12:00:00Z');
    const backup = (id: string, iso: string, retentionClass: 'daily' | 'weekly' | 'monthly') => ({ id, startedAt: at(iso), expiresAt: expiresAt(at(iso), retentionClass, DEFAULT_RETENTION) });
    // 1 February's backup failed its restore test and is not offered; 2 February (a Monday) and 3 February follow.
    const decisions = planRetention([backup('feb2', '2026-02-02T02:00:00Z', 'weekly'), backup('feb3', '2026-02-03T02:00:00Z', 'daily'), backup('feb9', '2026-02-09T02:00:00Z', 'weekly')], DEFAULT_RETENTION, now, 'UTC');
    expect(decisions.map((decision) => [decision.id, decision.holds])).toEqual([
      ['feb2', 'monthly'],
      ['feb3', 'daily'],
      ['feb9', 'weekly'],
    ]);
    expect([outlivedBy('weekly', 'monthly'), outlivedBy('monthly', 'monthly'), outlivedBy('monthly', 'daily'), outlivedBy('daily', undefined)]).toEqual([true, false, false, false]);
  });
});
