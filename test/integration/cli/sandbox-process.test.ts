import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { mysqlUrl } from '../helpers/mariadb';

const BIN = fileURLToPath(new URL('../../../functions/cli/shardkeeper.mjs', import.meta.url));

describe('shardkeeper sandbox as a process', () => {
  const databasePrefix = `sk_p${randomBytes(3).toString('hex')}_`;
  // Its own working folder, so the sandbox state file never touches the repository's.
  const cwd = mkdtempSync(join(tmpdir(), 'sk-sandbox-'));

  afterAll(async () => {
    const admin = await mysql.createConnection({ uri: mysqlUrl() });
    const [rows] = await admin.query('SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?', [`${databasePrefix}%`]);
    for (const { name } of rows as Array<{ name: string }>) await admin.query(`DROP DATABASE \`${name}\``);
    await admin.end();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('serves the lookup API until Ctrl-C, then stops cleanly with exit code 0', async () => {
    const child = spawn(process.execPath, [BIN, 'sandbox', '--json', '--port', '0', '--players', '500', '--game-logs', '100', '--database-prefix', databasePrefix, '--mysql-url', mysqlUrl()], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const started = await new Promise<{ lookupUrl: string; shards: string[] }>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('\n')) resolve(JSON.parse(stdout));
      });
      child.once('exit', (code) => reject(new Error(`sandbox exited early with ${code}: ${stderr}`)));
    });
    expect(started.shards).toEqual(['-40', '40-80', '80-c0', 'c0-']);
    const route = (await (await fetch(`${started.lookupUrl}/v1/route/42`)).json()) as { database: string };
    expect(route.database).toMatch(new RegExp(`^${databasePrefix}shard_`));

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toContain('stopping the sandbox');
    await expect(fetch(`${started.lookupUrl}/v1/route/42`)).rejects.toThrow();
  });
});
