import { describe, expect, it } from 'vitest';
import { activeBlackout } from '../../../functions/core/archive-windows';

const at = (iso: string) => Date.parse(iso);

describe('blackout windows', () => {
  const event = { start: '2024-03-01T18:00:00Z', end: '2024-03-01T22:00:00Z', reason: 'spring event' };

  it('is active inside a one-off window and says when archiving may resume', () => {
    expect(activeBlackout(at('2024-03-01T19:00:00Z'), [event])).toEqual({ until: at('2024-03-01T22:00:00Z'), reason: 'spring event' });
  });

  it('is inactive before the start and at the end (the end is exclusive)', () => {
    expect(activeBlackout(at('2024-03-01T17:59:59Z'), [event])).toBeUndefined();
    expect(activeBlackout(at('2024-03-01T22:00:00Z'), [event])).toBeUndefined();
  });

  it('repeats weekly windows on their days, including ones that run past midnight', () => {
    const weekend = { weekly: { days: ['sat' as const], from: '20:00', to: '02:00' }, reason: 'weekend raid' };
    // 2024-03-02 is a Saturday.
    expect(activeBlackout(at('2024-03-02T21:00:00Z'), [weekend])?.until).toBe(at('2024-03-03T02:00:00Z'));
    expect(activeBlackout(at('2024-03-03T01:00:00Z'), [weekend])?.until).toBe(at('2024-03-03T02:00:00Z'));
    expect(activeBlackout(at('2024-03-03T03:00:00Z'), [weekend])).toBeUndefined();
    expect(activeBlackout(at('2024-03-09T20:30:00Z'), [weekend])?.until).toBe(at('2024-03-10T02:00:00Z'));
    expect(activeBlackout(at('2024-03-08T20:30:00Z'), [weekend])).toBeUndefined();
  });

  it('resumes after the last of windows that overlap or touch the active one', () => {
    const next = { start: '2024-03-01T22:00:00Z', end: '2024-03-02T01:00:00Z', reason: 'maintenance' };
    const later = { start: '2024-03-02T05:00:00Z', end: '2024-03-02T06:00:00Z' };
    const active = activeBlackout(at('2024-03-01T20:00:00Z'), [event, next, later]);
    expect(active?.until).toBe(at('2024-03-02T01:00:00Z'));
    expect(active?.reason).toBe('spring event; maintenance');
  });
});
