import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../../functions/cli/shardkeeper.mjs', import.meta.url));

describe('shardkeeper refusing bad input, as a process', () => {
  // Its own working folder: a command that got as far as starting the sandbox's S3 would keep it here.
  const cwd = mkdtempSync(join(tmpdir(), 'sk-bad-input-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it.each([
    [['backup', 'list', '--target', 'nope'], 2, /"nope" is not a URL like mysql:\/\/user:password@host:3306/],
    [['backup', 'list', '--catalog', 'not a url'], 1, /catalog URL "not a url" is not a URL/],
  ] as const)('%j exits at once with what is wrong, leaving nothing running', (argv, code, message) => {
    // A local S3 started before the input was checked kept the process alive after its error.
    const result = spawnSync(process.execPath, [BIN, ...argv], { cwd, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
    expect(result.signal, 'the process did not exit within 20 s').toBeNull();
    expect(result.status).toBe(code);
    expect(result.stderr).toMatch(message);
  }, 30_000);
});
