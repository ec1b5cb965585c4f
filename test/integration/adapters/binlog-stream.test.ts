import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyBinlog } from '../../../functions/adapters/binlog-stream';
import { openBackupConnection } from '../../../functions/adapters/mysql-dumper';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { NotFoundError } from '../../../functions/shared/errors';
import { startTestShard } from '../helpers/replication';

describe('copying a binary log over the replication protocol', () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'sk-binlog-stream-'));
  const out = mkdtempSync(join(tmpdir(), 'sk-binlog-copy-'));
  let shard: ReplicatedShard;
  let writesStarted = 0;
  let writesEnded = 0;
  const connect = () => openBackupConnection(shard.nodes[0]!, { credentials: staticCredentials('root', ''), tls: 'off' });

  beforeAll(async () => {
    // The server's own first change (creating the database) counts too: the window opens before it starts.
    writesStarted = Math.floor(Date.now() / 1000) * 1000;
    shard = await startTestShard({ shard: '-80', database: 'sk_binlog', replicas: 0, baseDir });
    // Room for a row event larger than one protocol packet (16 MB), which arrives split.
    await shard.query(0, 'SET GLOBAL max_allowed_packet = 64 * 1024 * 1024');
    await shard.query(0, 'CREATE TABLE sk_binlog.items (id INT PRIMARY KEY, label VARCHAR(64), payload LONGBLOB) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4');
    await shard.query(0, "INSERT INTO sk_binlog.items VALUES (1, 'small 🐉', NULL), (2, 'other', x'00ff')");
    await shard.query(0, 'INSERT INTO sk_binlog.items VALUES (3, ?, REPEAT(?, 20 * 1024 * 1024))', ['large', 'x']);
    await shard.query(0, "UPDATE sk_binlog.items SET label = 'changed' WHERE id = 1");
    writesEnded = Date.now();
    await shard.query(0, 'FLUSH BINARY LOGS');
  }, 60_000);

  afterAll(async () => {
    await shard?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it('writes the closed file byte for byte as the server stores it, events over 16 MB included, with the times of its changes', async () => {
    const [first] = await shard.query(0, 'SHOW BINARY LOGS');
    const file = String(first!.Log_name);
    const copied = join(out, file);
    const archived = await copyBinlog(await connect(), file, copied);
    const original = readFileSync(join(baseDir, shard.nodes[0]!.id, file));
    expect(archived.path).toBe(copied);
    expect(archived.bytes).toBe(original.length);
    expect(archived.bytes).toBeGreaterThan(20 * 1024 * 1024);
    expect(readFileSync(copied).equals(original)).toBe(true);
    // Event times have one-second resolution: every change happened while the test wrote.
    expect(archived.firstEventAt).toBeGreaterThanOrEqual(writesStarted);
    expect(archived.lastEventAt).toBeGreaterThanOrEqual(archived.firstEventAt!);
    expect(archived.lastEventAt).toBeLessThanOrEqual(writesEnded);
  });

  it('refuses a binary log the server does not have', async () => {
    await expect(copyBinlog(await connect(), 'mysql-bin.999999', join(out, 'missing'))).rejects.toThrow(NotFoundError);
  });
});
