import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { startPrivateMysqld, type PrivateMysqld } from '../../../functions/local/private-mysqld';
import { freePortBlock } from '../helpers/ports';

describe('private MySQL server', () => {
  const datadir = mkdtempSync(join(tmpdir(), 'sk-private-mysqld-'));
  let server: PrivateMysqld | undefined;

  afterAll(async () => {
    await server?.stop();
    rmSync(datadir, { recursive: true, force: true });
  });

  it('initialises a data directory, accepts connections on its own port and stops cleanly', async () => {
    const port = await freePortBlock();
    server = await startPrivateMysqld({ datadir: join(datadir, 'data'), port, serverId: 7, args: ['--log-bin=mysql-bin'] });
    const connection = await mysql.createConnection({ uri: server.url });
    const [rows] = await connection.query('SELECT @@port AS port, @@server_id AS serverId, @@log_bin AS logBin');
    await connection.end();
    expect(rows).toEqual([{ port, serverId: 7, logBin: 1 }]);
    await server.stop();
    expect(server.process.exitCode ?? server.process.signalCode).not.toBeNull();
    await expect(mysql.createConnection({ uri: server.url, connectTimeout: 500 })).rejects.toThrow();
  });
});
