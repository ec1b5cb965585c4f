import { describe, expect, it } from 'vitest';
import { progressLine } from '../../../functions/cli/format';

function recorder() {
  let output = '';
  let clock = 0;
  return {
    write: (text: string) => void (output += text),
    now: () => clock,
    advance: (ms: number) => void (clock += ms),
    output: () => output,
  };
}

describe('progressLine', () => {
  it('redraws one line in place on a terminal and closes it at the end', () => {
    const screen = recorder();
    const progress = progressLine(screen.write, { interactive: true, now: screen.now });
    progress.update('a', 'a 10 rows');
    progress.update('a', 'a 20 rows');
    progress.end();
    expect(screen.output()).toBe('\ra 10 rows   \ra 20 rows   \n');
  });

  it('writes plain lines to a log, at most one per interval, and the latest line at the end', () => {
    const log = recorder();
    const progress = progressLine(log.write, { interactive: false, intervalMs: 1_000, now: log.now });
    progress.update('a', 'a 10 rows');
    log.advance(400);
    progress.update('a', 'a 20 rows');
    log.advance(700);
    progress.update('a', 'a 30 rows');
    progress.update('a', 'a 40 rows');
    progress.end();
    expect(log.output()).toBe('a 10 rows\na 30 rows\na 40 rows\n');
    expect(log.output()).not.toContain('\r');
  });

  it("logs a subject's latest line before the next subject's first", () => {
    const log = recorder();
    const progress = progressLine(log.write, { interactive: false, intervalMs: 1_000, now: log.now });
    progress.update('a', 'a 10 rows');
    progress.update('a', 'a 20 rows');
    progress.update('b', 'b 5 rows');
    progress.update('b', 'b 9 rows');
    progress.end();
    expect(log.output()).toBe('a 10 rows\na 20 rows\nb 5 rows\nb 9 rows\n');
  });

  it('writes nothing at the end when nothing was reported', () => {
    const log = recorder();
    progressLine(log.write, { interactive: true }).end();
    progressLine(log.write, { interactive: false }).end();
    expect(log.output()).toBe('');
  });
});
