import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { cli, replacingOption } from '../../unit/cli/run-cli';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';
import { BUCKET, createGameSchema, localNode, seedGameData, startBackupHarness, type BackupHarness } from './backup-fixtures';

describe('shardkeeper backup and restore commands against MariaDB and a local S3', () => {
  let harness: BackupHarness;
  let source: ScratchDatabase;
  let common: string[];
  const created: string[] = [];
  const sqlFile = join(tmpdir(), `sk-player-${process.pid}.sql`);

  const json = async (...argv: string[]) => {
    const run = await cli(...argv, ...common, '--json');
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.out);
  };

  beforeAll(async () => {
    harness = await startBackupHarness();
    source = await createScratchDatabase();
    await createGameSchema(source.pool, source.database);
    await seedGameData(source.pool, source.database, 300);
    await new SqlCatalog(harness.catalog.executor).commitShardMap(
      { keyType: 'uint64', strategy: { kind: 'modulo' }, overrides: [], shards: [{ name: 's0', database: source.database, status: 'serving', kind: 'self-managed', nodes: [localNode('s0-a')] }] },
      0,
      'backup CLI test',
    );
    common = ['--catalog', `${mysqlUrl()}/${harness.catalog.database}`, '--bucket', BUCKET, '--s3-endpoint', harness.s3.endpoint, '--target', mysqlUrl()];
  });

  afterAll(async () => {
    for (const name of created) await source.pool.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    rmSync(sqlFile, { force: true });
    await source.drop();
    await harness.stop();
  });

  it('backs up the fleet as one epoch, lists it, verifies it by restoring it, and restores it, a player and the epoch', async () => {
    const run = await json('backup', 'run');
    expect(run).toMatchObject({ status: 'succeeded', mapVersion: 1, shards: [{ shard: 's0', kind: 'logical', status: 'succeeded', rows: 300 + 900 + 5 + 40 + 3 }] });
    const backupId: string = run.shards[0].backupId;

    expect(await json('backup', 'list', '--shard', 's0')).toMatchObject([{ backupId, epochId: run.epochId, status: 'succeeded', retentionClass: 'monthly' }]);

    const verified = await json('backup', 'verify', backupId, '--restore');
    expect(verified).toMatchObject({ objects: { ok: true }, restore: { ok: true, rows: 1248 } });

    const restored = `${source.database}_cli`;
    created.push(restored);
    expect(await json('restore', 'run', '--shard', 's0', '--backup', backupId, '--database', restored)).toMatchObject({ ok: true, database: restored });

    const player = await json('restore', 'player', '7', '--shard', 's0', '--from', backupId, '--tables', 'players:player_id,inventory:player_id', '--sql-file', sqlFile);
    expect(player.tables).toEqual([
      { table: 'players', rows: 1 },
      { table: 'inventory', rows: 3 },
    ]);
    const sql = readFileSync(sqlFile, 'utf8');
    // The values are UTC: any session that loads the file reads them so.
    expect(sql.startsWith("SET time_zone = '+00:00', NAMES utf8mb4;\n")).toBe(true);
    expect(sql).toMatch(/^INSERT INTO `players` \(.*\) VALUES \('7',/m);
    expect(sql.match(/^INSERT INTO `inventory`/gm)).toHaveLength(1);

    const support = `${source.database}_p`;
    created.push(support);
    await json('restore', 'player', '7', '--shard', 's0', '--from', backupId, '--tables', 'inventory:player_id', '--into-database', support);
    const [[copied]] = (await source.pool.query(`SELECT COUNT(*) AS n, MIN(player_id) AS id FROM ${quoteIdentifier(support)}.inventory`)) as unknown as [[{ n: string; id: string }]];
    expect(copied).toMatchObject({ n: '3', id: '7' });

    created.push(`${source.database}_e`);
    const dryRun = await json('restore', 'epoch', run.epochId, '--suffix', '_e');
    expect(dryRun).toMatchObject({ applied: false, shards: [{ shard: 's0', backupId, kind: 'logical', database: `${source.database}_e` }] });
    const epoch = await json('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply');
    expect(epoch).toMatchObject({ applied: true, shards: [{ report: { ok: true } }], shardMap: { version: 1, shards: [{ name: 's0', database: `${source.database}_e` }] } });
    expect(epoch.shards[0].report.reused).toBeUndefined();
    // A second attempt keeps a shard an earlier one restored, once it matches the backup, and refuses one that does not.
    expect(await json('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply')).toMatchObject({ applied: true, shards: [{ report: { ok: true, reused: true } }] });
    await source.pool.query(`UPDATE ${quoteIdentifier(`${source.database}_e`)}.players SET level = level + 1 WHERE player_id = 7`);
    const altered = await cli('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply', ...common);
    expect(altered.code).toBe(2);
    expect(altered.err).toMatch(new RegExp(`database ${source.database}_e already holds tables that do not match backup ${backupId} \\(players chunk 0: rows differ`));
    await source.pool.query(`DROP TABLE ${quoteIdentifier(`${source.database}_e`)}.inventory`);
    expect((await cli('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply', ...common)).err).toMatch(/\(inventory is missing\); drop it or restore with another --suffix/);
    // A restore cut off part-way left its marker: the next attempt loads that database again, if it was a restore of the same backup.
    const marker = `${quoteIdentifier(`${source.database}_e`)}._sk_restore_incomplete`;
    await source.pool.query(`CREATE TABLE ${marker} (backup_id VARCHAR(64) NOT NULL, started_at DATETIME(3) NOT NULL)`);
    await source.pool.query(`INSERT INTO ${marker} VALUES ('another-backup', UTC_TIMESTAMP(3))`);
    expect((await cli('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply', ...common)).err).toMatch(/a restore of backup another-backup into it did not finish\); drop it/);
    await source.pool.query(`UPDATE ${marker} SET backup_id = ?`, [backupId]);
    const again = await json('restore', 'epoch', run.epochId, '--suffix', '_e', '--apply');
    expect(again).toMatchObject({ applied: true, shards: [{ report: { ok: true } }] });
    expect(again.shards[0].report.reused).toBeUndefined();
    const [tables] = (await source.pool.query('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1', [`${source.database}_e`])) as unknown as [Array<{ name: string }>];
    expect(tables.map((table) => table.name)).not.toContain('_sk_restore_incomplete');
    expect(tables.map((table) => table.name)).toContain('inventory');
  });

  it('explains why a point-in-time plan is impossible when the backup has no binary log position', async () => {
    const run = await cli('restore', 'plan', '--shard', 's0', '--to', new Date().toISOString(), ...common);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/no usable full backup \(with a binary log position\)/);
  });

  it('tells apart a catalog it cannot open, and says how to get one', async () => {
    const run = await cli('backup', 'list', ...replacingOption(common, '--catalog', `${mysqlUrl()}/sk_no_such_catalog`));
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^error: cannot use the catalog at \S+\/sk_no_such_catalog \(ER_BAD_DB_ERROR\); start the sandbox with npm start or pass --catalog$/m);
  });

  it('rejects a malformed time as bad input', async () => {
    const run = await cli('restore', 'plan', '--shard', 's0', '--to', 'yesterday', ...common);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/ISO 8601/);
    const zoneless = await cli('restore', 'plan', '--shard', 's0', '--to', '2026-01-05T14:30:00', ...common);
    expect(zoneless.code).toBe(2);
    expect(zoneless.err).toMatch(/^error: --to needs a time zone \(Z or ±hh:mm\), such as 2026-01-05T14:30:00Z; got "2026-01-05T14:30:00"$/m);
  });

  it('refuses --retention counts it cannot read or the deployment would not take, and prunes with counts it can', async () => {
    const bad = await cli('backup', 'prune', '--retention', '7,four,12', ...common);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--retention must be three counts, dailies,weeklies,monthlies \(at most 366,520,1200; e\.g\. 7,4,12\), got "7,four,12"/);
    const tooMany = await cli('backup', 'prune', '--retention', '7,4,5000', ...common);
    expect(tooMany.code).toBe(2);
    const pruned = await json('backup', 'prune', '--retention', '30,8,24');
    expect(pruned).toMatchObject({ expired: [], promoted: [] });
  });
});
