import mysql, { type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueLogicalBackup, failLogicalBackup, finishLogicalBackup, startLogicalBackup } from '../../../functions/backup/logical-backup';
import { loadManifest, restoreLogicalBackup } from '../../../functions/backup/restore-backup';
import { epochId } from '../../../functions/core/backup-epoch';
import type { Shard } from '../../../functions/core/shard-map-types';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { systemClock } from '../../../functions/ports/clock';
import { SnapshotLostError } from '../../../functions/shared/errors';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { startTestShard } from '../helpers/replication';
import { mysqlUrl } from '../helpers/mariadb';
import { startBackupHarness, type BackupHarness } from './backup-fixtures';

const ACCOUNTS = 3_000;
const OPENING_BALANCE = 100;

/**
 * Transfers between accounts, each one transaction that moves money and writes a ledger row:
 * any consistent point in time has every balance equal to its opening balance plus what the
 * ledger says came in minus what went out. A dump that mixed two points in time breaks that.
 */
function startTransfers(url: string, database: string) {
  let stopped = false;
  let committed = 0;
  const db = quoteIdentifier(database);
  const done = (async () => {
    const connection: Connection = await mysql.createConnection({ uri: url });
    try {
      for (let round = 0; !stopped; round++) {
        const from = 1 + ((round * 7919) % ACCOUNTS);
        const to = 1 + ((round * 104_729 + 13) % ACCOUNTS);
        await connection.beginTransaction();
        await connection.query(`UPDATE ${db}.accounts SET balance = balance - 1 WHERE id = ?`, [from]);
        await connection.query(`UPDATE ${db}.accounts SET balance = balance + 1 WHERE id = ?`, [to]);
        await connection.query(`INSERT INTO ${db}.ledger (from_id, to_id, amount) VALUES (?, ?, 1)`, [from, to]);
        await connection.commit();
        committed++;
      }
    } finally {
      await connection.end();
    }
  })();
  return {
    get committed() {
      return committed;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function rowsOf<T>(pool: mysql.Pool, sql: string): Promise<T[]> {
  const [rows] = await pool.query(sql);
  return rows as T[];
}

describe('a logical dump spanning several invocations, from a paused replica, while the primary keeps taking writes', () => {
  let shard: ReplicatedShard;
  let harness: BackupHarness;
  let admin: mysql.Pool;
  const database = 'sk_shard';
  const restoredDatabases: string[] = [];
  let shardInMap: Shard;

  beforeAll(async () => {
    [shard, harness] = await Promise.all([startTestShard({ shard: '-80', database, replicas: 1 }), startBackupHarness()]);
    admin = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 });
    const db = quoteIdentifier(database);
    await shard.query(0, `CREATE TABLE ${db}.accounts (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB`);
    await shard.query(0, `CREATE TABLE ${db}.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, from_id INT NOT NULL, to_id INT NOT NULL, amount INT NOT NULL) ENGINE=InnoDB`);
    const accounts = Array.from({ length: ACCOUNTS }, (_, index) => [index + 1, OPENING_BALANCE]);
    await shard.query(0, `INSERT INTO ${db}.accounts (id, balance) VALUES ?`, [accounts]);
    await shard.waitForReplicas();
    shardInMap = { name: '-80', database, status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] };
  }, 60_000);

  afterAll(async () => {
    for (const name of restoredDatabases) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    await admin?.end();
    await Promise.all([shard?.stop(), harness?.stop()]);
  });

  it('dumps one chunk per invocation from the paused replica, and the restore is one consistent point in time', async () => {
    const transfers = startTransfers(shard.url(0), database);
    // Three chunks of 1,000 accounts, and ledger chunks of 1,000 rows.
    const deps = harness.deps({ targetChunkBytes: 1 }, shard.url(1));
    try {
      while (transfers.committed < 200) await new Promise((resolve) => setTimeout(resolve, 20));
      const backup = await startLogicalBackup(deps, { epochId: epochId(Date.now(), 1, 'repl01'), mapVersion: 1, shard: shardInMap });
      expect(backup).toMatchObject({ dumpMode: 'paused-replica', sourceNode: '-80-b', position: { file: expect.stringMatching(/^mysql-bin\.\d+$/) } });

      let invocations = 0;
      for (;;) {
        invocations++;
        const committedBefore = transfers.committed;
        // A deadline already passed: exactly one chunk per invocation, as under a tight Lambda budget.
        const step = await continueLogicalBackup(deps, backup.backupId, 0);
        // Writes go on between invocations.
        while (transfers.committed < committedBefore + 25) await new Promise((resolve) => setTimeout(resolve, 10));
        if (step.done) break;
      }
      expect(invocations).toBeGreaterThanOrEqual(4);
      const [replicaDuringDump] = await shard.query(1, 'SHOW SLAVE STATUS');
      expect(replicaDuringDump).toMatchObject({ Slave_SQL_Running: 'No', Exec_Master_Log_Pos: backup.position!.position });

      const manifest = await finishLogicalBackup(deps, backup.backupId);
      const [replicaAfter] = await shard.query(1, 'SHOW SLAVE STATUS');
      expect(replicaAfter).toMatchObject({ Slave_SQL_Running: 'Yes' });
      expect(manifest.tables.find((table) => table.name === 'accounts')!.chunks).toHaveLength(3);

      const target = `${database}_restored_${Date.now().toString(36)}`;
      restoredDatabases.push(target);
      const report = await restoreLogicalBackup(
        { objects: harness.objects, restorer: harness.restorer(), clock: systemClock },
        { manifest: await loadManifest(harness.objects, (await harness.store.backup(backup.backupId))!), database: target },
      );
      expect(report.problems).toEqual([]);

      const db = quoteIdentifier(target);
      const [totals] = await rowsOf<{ total: string; transfers: number }>(admin, `SELECT SUM(balance) AS total, (SELECT COUNT(*) FROM ${db}.ledger) AS transfers FROM ${db}.accounts`);
      expect(Number(totals!.total)).toBe(ACCOUNTS * OPENING_BALANCE);
      expect(Number(totals!.transfers)).toBeGreaterThanOrEqual(200);
      expect(Number(totals!.transfers)).toBeLessThan(transfers.committed);
      const mismatched = await rowsOf(
        admin,
        `SELECT a.id FROM ${db}.accounts a
         LEFT JOIN (SELECT to_id AS id, SUM(amount) AS amount FROM ${db}.ledger GROUP BY to_id) incoming ON incoming.id = a.id
         LEFT JOIN (SELECT from_id AS id, SUM(amount) AS amount FROM ${db}.ledger GROUP BY from_id) outgoing ON outgoing.id = a.id
         WHERE a.balance <> ${OPENING_BALANCE} + COALESCE(incoming.amount, 0) - COALESCE(outgoing.amount, 0)`,
      );
      expect(mismatched).toEqual([]);
    } finally {
      await transfers.stop();
    }
  });

  it('refuses to go on once the paused replica moved, and resumes it when the backup is failed', async () => {
    const deps = harness.deps({ targetChunkBytes: 1 }, shard.url(1));
    const backup = await startLogicalBackup(deps, { epochId: epochId(Date.now(), 1, 'lost01'), mapVersion: 1, shard: shardInMap });
    await continueLogicalBackup(deps, backup.backupId, 0);
    await shard.query(0, `INSERT INTO ${quoteIdentifier(database)}.ledger (from_id, to_id, amount) VALUES (1, 2, 0)`);
    await shard.query(1, 'START SLAVE SQL_THREAD');
    await shard.waitForReplicas();
    await shard.query(1, 'STOP SLAVE SQL_THREAD');

    const lost = continueLogicalBackup(deps, backup.backupId, 0);
    await expect(lost).rejects.toBeInstanceOf(SnapshotLostError);
    await failLogicalBackup(deps, backup.backupId, await lost.catch((error: unknown) => error));
    expect((await harness.store.backup(backup.backupId))!).toMatchObject({ status: 'failed', error: expect.stringMatching(/moved from mysql-bin/) });
    const [replica] = await shard.query(1, 'SHOW SLAVE STATUS');
    expect(replica).toMatchObject({ Slave_SQL_Running: 'Yes' });
    expect(harness.events.at(-1)).toMatchObject({ detailType: 'BackupFailed', detail: { backupId: backup.backupId } });
  });
});
