import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBinlogReplayer, createBinlogSource } from '../../../functions/adapters/binlog-archiver';
import { archiveBinlogs } from '../../../functions/backup/binlog-archive';
import { runLogicalBackup } from '../../../functions/backup/logical-backup';
import { planShardRecovery, runBinlogRecovery } from '../../../functions/backup/recovery';
import { epochId } from '../../../functions/core/backup-epoch';
import type { SelfManagedRecoveryPlan } from '../../../functions/core/backup-pitr';
import type { Shard } from '../../../functions/core/shard-map-types';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { NotFoundError } from '../../../functions/shared/errors';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { mysqlUrl } from '../helpers/mariadb';
import { startTestShard } from '../helpers/replication';
import { credentialsOf, localNode, startBackupHarness, type BackupHarness } from './backup-fixtures';

const sleepUntil = async (at: number) => {
  while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, Math.min(50, at - Date.now())));
};

describe('point-in-time recovery of a self-managed shard from a full backup and archived binary logs', () => {
  let shard: ReplicatedShard;
  let harness: BackupHarness;
  let admin: mysql.Pool;
  let inMap: Shard;
  let target: number;
  const database = 'sk_pitr';
  const restored = `sk_pitr_restored_${Date.now().toString(36)}`;
  const failing = `${restored}_failed`;

  beforeAll(async () => {
    [shard, harness] = await Promise.all([startTestShard({ shard: '80-', database, replicas: 0 }), startBackupHarness()]);
    admin = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 });
    inMap = { name: '80-', database, status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] };
    const db = quoteIdentifier(database);
    await shard.query(0, `CREATE TABLE ${db}.events (id INT PRIMARY KEY, label VARCHAR(32) NOT NULL) ENGINE=InnoDB`);
    await shard.query(0, `INSERT INTO ${db}.events VALUES (1, 'seed'), (2, 'seed'), (3, 'seed')`);

    const deps = harness.deps({}, shard.url(0));
    const full = await runLogicalBackup(deps, { epochId: epochId(Date.now(), 1, 'full01'), mapVersion: 1, shard: inMap });
    expect(full.position).toMatchObject({ file: expect.stringMatching(/^mysql-bin\.\d+$/) });

    // Known writes on either side of a whole second: the target.
    await shard.query(0, `INSERT INTO ${db}.events VALUES (10, 'before')`);
    await shard.query(0, `UPDATE ${db}.events SET label = 'changed before' WHERE id = 1`);
    target = Math.floor(Date.now() / 1000) * 1000 + 1000;
    await sleepUntil(target + 150);
    await shard.query(0, `INSERT INTO ${db}.events VALUES (20, 'after')`);
    await shard.query(0, `DELETE FROM ${db}.events WHERE id = 2`);
    // A second binary log, so the replay spans files.
    await shard.query(0, 'FLUSH BINARY LOGS');
    await shard.query(0, `UPDATE ${db}.events SET label = 'changed after' WHERE id = 3`);

    await archiveBinlogs(
      { ...deps, binlogs: createBinlogSource({ credentials: credentialsOf(shard.url(0)), tls: 'off' }) },
      { epochId: epochId(Date.now(), 1, 'incr01'), mapVersion: 1, shard: inMap },
    );
  }, 60_000);

  afterAll(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(restored)}`);
    await admin?.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(failing)}`);
    await admin?.end();
    await Promise.all([shard?.stop(), harness?.stop()]);
  });

  it('plans the full backup plus every archived binary log from its position, with an estimate', async () => {
    const plan = (await planShardRecovery(harness.store, inMap, target, Date.now())) as SelfManagedRecoveryPlan;
    expect(plan.kind).toBe('binlog-replay');
    expect(plan.binlogs.length).toBeGreaterThanOrEqual(1);
    expect(plan.binlogs[0]!.file).toBe(plan.base.position.file);
    expect(plan.stopDatetime).toBe(new Date(target).toISOString().replace('T', ' ').slice(0, 19));
    expect(plan.estimatedSeconds).toBeGreaterThanOrEqual(1);
  });

  it('replays up to the target: the writes before it are there, the writes after it are not', async () => {
    const plan = (await planShardRecovery(harness.store, inMap, target, Date.now())) as SelfManagedRecoveryPlan;
    const binlogs = createBinlogReplayer({ credentials: credentialsOf(), tls: 'off', target: localNode('restore-target') });
    const during: Array<string | undefined> = [];
    // While the replay runs, the database is held and still marked unfinished.
    const replayer: typeof binlogs = {
      async replay(request) {
        const other = await harness.restorer().connect();
        try {
          during.push(await other.unfinishedRestore(restored));
          await expect(other.claimDatabase(restored)).rejects.toThrow(/another restore into database/);
        } finally {
          await other.close();
        }
        return binlogs.replay(request);
      },
    };
    const report = await runBinlogRecovery({ ...harness.deps(), restorer: harness.restorer(), replayer }, plan, { database: restored });
    expect(report.base.ok).toBe(true);
    expect(during).toEqual([plan.base.backupId]);
    const [markers] = (await admin.query('SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [restored, '_sk_restore_incomplete'])) as unknown as [[{ n: number }]];
    expect(Number(markers[0].n)).toBe(0);
    const [rows] = (await admin.query(`SELECT id, label FROM ${quoteIdentifier(restored)}.events ORDER BY id`)) as unknown as [{ id: number; label: string }[]];
    expect(rows).toEqual([
      { id: 1, label: 'changed before' },
      { id: 2, label: 'seed' },
      { id: 3, label: 'seed' },
      { id: 10, label: 'before' },
    ]);
  });

  it('drops the database when the replay fails, leaving no copy that stops short of the target', async () => {
    const plan = (await planShardRecovery(harness.store, inMap, target, Date.now())) as SelfManagedRecoveryPlan;
    const replayer = { replay: async () => Promise.reject(new Error('mariadb-binlog exited with 1')) };
    await expect(runBinlogRecovery({ ...harness.deps(), restorer: harness.restorer(), replayer }, plan, { database: failing })).rejects.toThrow(
      `mariadb-binlog exited with 1; the partly recovered database ${failing} was dropped`,
    );
    const [schemas] = (await admin.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [failing])) as unknown as [unknown[]];
    expect(schemas).toEqual([]);
  });

  it('refuses a target later than the archived binary logs cover', async () => {
    await expect(planShardRecovery(harness.store, inMap, Date.now() + 60_000, Date.now())).rejects.toThrow(NotFoundError);
    await expect(planShardRecovery(harness.store, inMap, Date.now() + 60_000, Date.now())).rejects.toThrow(/archived only up to/);
  });
});
