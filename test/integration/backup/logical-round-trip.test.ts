import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { continueLogicalBackup, finishLogicalBackup, runLogicalBackup, startLogicalBackup } from '../../../functions/backup/logical-backup';
import { loadManifest, restoreLogicalBackup } from '../../../functions/backup/restore-backup';
import { restoreTest, verifyBackupObjects } from '../../../functions/backup/verify-backup';
import { epochId } from '../../../functions/core/backup-epoch';
import type { BackupManifest } from '../../../functions/core/backup-manifest';
import type { RestoreConnection, RestoreConnector } from '../../../functions/ports/backup-mysql';
import { systemClock } from '../../../functions/ports/clock';
import { BackupIntegrityError } from '../../../functions/shared/errors';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';
import { createGameSchema, seedGameData, serverChecksums, shardOf, startBackupHarness, type BackupHarness } from './backup-fixtures';

const TABLES = ['chat_log', 'counters', 'inventory', 'landmarks', 'players'];

describe('logical backup to S3 and restore, against MariaDB and a local S3', () => {
  let harness: BackupHarness;
  let source: ScratchDatabase;
  const restored: string[] = [];

  // Chunks of 1,000 rows (the minimum), so 2,500 players and 7,500 inventory rows span several objects.
  const settings = { targetChunkBytes: 1 };
  const request = (nonce: string) => ({ epochId: epochId(Date.now(), 3, nonce), mapVersion: 3, shard: shardOf(source.database), mode: 'snapshot' as const });
  const restoreTarget = () => {
    const name = `${source.database}_r${restored.length}`;
    restored.push(name);
    return name;
  };

  beforeAll(async () => {
    harness = await startBackupHarness();
    source = await createScratchDatabase();
    await createGameSchema(source.pool, source.database);
    await seedGameData(source.pool, source.database, 2_500);
  });

  afterAll(async () => {
    for (const name of restored) await source.pool.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
    await source.drop();
    await harness.stop();
  });

  describe('round trip', () => {
    let manifest: BackupManifest;
    let target: string;

    beforeAll(async () => {
      manifest = await runLogicalBackup(harness.deps(settings), request('trip01'));
      target = restoreTarget();
    });

    it('dumps every table in key-ordered chunks with row counts and checksums, and writes the manifest last', async () => {
      expect(manifest.tables.map((table) => table.name)).toEqual(TABLES);
      const players = manifest.tables.find((table) => table.name === 'players')!;
      expect(players.chunks.map((chunk) => chunk.rowCount)).toEqual([1000, 1000, 500]);
      expect(players.columns).not.toContain('level_squared');
      expect(players.columns).not.toContain('name_length');
      const inventory = manifest.tables.find((table) => table.name === 'inventory')!;
      expect(inventory.keyColumns.map((column) => column.name)).toEqual(['player_id', 'slot']);
      expect(inventory.rowCount).toBe(7_500);
      expect(manifest.tables.find((table) => table.name === 'chat_log')).toMatchObject({ keyColumns: [], rowCount: 40 });
      expect(manifest.totals.rows).toBe(2_500 + 7_500 + 5 + 40 + 3);

      const backup = (await harness.store.backup(manifest.backupId))!;
      expect(backup).toMatchObject({ status: 'succeeded', rowCount: manifest.totals.rows, dumpMode: 'snapshot', manifestKey: expect.stringMatching(/manifest\.json$/) });
      const objects = await harness.store.objects(manifest.backupId);
      expect(objects.at(-1)).toMatchObject({ role: 'manifest' });
      expect(objects.filter((object) => object.role === 'chunk')).toHaveLength(manifest.tables.reduce((sum, table) => sum + table.chunks.length, 0));
      expect(harness.events.filter((event) => (event.detail as { backupId: string }).backupId === manifest.backupId).map((event) => event.detailType)).toEqual([
        'BackupStarted',
        'BackupSucceeded',
      ]);
    });

    it('restores into a new database whose every table matches the source, checked by the manifest and by CHECKSUM TABLE', async () => {
      const report = await restoreLogicalBackup({ objects: harness.objects, restorer: harness.restorer(), clock: systemClock }, { manifest: await loadManifest(harness.objects, (await harness.store.backup(manifest.backupId))!), database: target });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.tables.map((check) => [check.table, check.restoredRows])).toEqual([
        ['chat_log', 40],
        ['counters', 3],
        ['inventory', 7_500],
        ['landmarks', 5],
        ['players', 2_500],
      ]);
      expect(await serverChecksums(source.pool, target, TABLES)).toEqual(await serverChecksums(source.pool, source.database, TABLES));
    });

    it('fails a restore whose chunk download breaks off mid-body, instead of waiting for the rest, and drops what it had loaded', async () => {
      const loaded = await loadManifest(harness.objects, (await harness.store.backup(manifest.backupId))!);
      const broken = {
        ...harness.objects,
        getBuffer: harness.objects.getBuffer.bind(harness.objects),
        async getStream(key: string) {
          const body = await harness.objects.getBuffer(key);
          return new Readable({
            read() {
              this.push(body.subarray(0, body.length >> 1));
              this.destroy(new Error('socket hang up'));
            },
          });
        },
      };
      const target = restoreTarget();
      const restore = restoreLogicalBackup({ objects: broken, restorer: harness.restorer(), clock: systemClock }, { manifest: loaded, database: target });
      await expect(restore).rejects.toThrow(`socket hang up; the partly restored database ${target} was dropped`);
      const [schemas] = (await source.pool.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target])) as unknown as [unknown[]];
      expect(schemas).toEqual([]);
    }, 20_000);

    it('loads a chunk with the stock client in a session of another time zone, TIMESTAMP values unchanged', async () => {
      const chunk = (await harness.store.objects(manifest.backupId)).find((object) => object.table === 'players' && object.chunkIndex === 0)!;
      const target = restoreTarget();
      await source.pool.query(`CREATE DATABASE ${quoteIdentifier(target)}`);
      await source.pool.query(`CREATE TABLE ${quoteIdentifier(target)}.players LIKE ${quoteIdentifier(source.database)}.players`);
      const url = new URL(mysqlUrl());
      execFileSync('mariadb', [`-h${url.hostname}`, `-P${url.port || 3306}`, `-u${decodeURIComponent(url.username) || 'root'}`, "--init-command=SET time_zone = '-05:00'", target], {
        input: gunzipSync(await harness.objects.getBuffer(chunk.key)),
        env: { ...process.env, MYSQL_PWD: decodeURIComponent(url.password) },
      });
      const seen = async (database: string) =>
        (await source.pool.query(`SELECT player_id, UNIX_TIMESTAMP(seen_at) AS at FROM ${quoteIdentifier(database)}.players WHERE player_id IN (SELECT player_id FROM ${quoteIdentifier(target)}.players) ORDER BY player_id`))[0];
      expect(((await seen(target)) as unknown[]).length).toBe(chunk.rowCount);
      expect(await seen(target)).toEqual(await seen(source.database));
    });

    it('keeps generated columns, the stored zero id, views on views, and creates the trigger only after the data', async () => {
      const db = quoteIdentifier(target);
      const [[player]] = (await source.pool.query(`SELECT level, level_squared, name_length, player_name FROM ${db}.players WHERE player_id = 1`)) as unknown as [[Record<string, unknown>]];
      expect(player).toMatchObject({ level: 2, level_squared: 4, name_length: [...String(player.player_name)].length });
      const [[zero]] = (await source.pool.query(`SELECT label FROM ${db}.counters WHERE id = 0`)) as unknown as [[{ label: string }]];
      expect(zero.label).toBe('zero');
      const [[rich]] = (await source.pool.query(`SELECT COUNT(*) AS n FROM ${db}.rich_names`)) as unknown as [[{ n: number }]];
      const [[richSource]] = (await source.pool.query(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(source.database)}.rich_names`)) as unknown as [[{ n: number }]];
      expect(Number(rich.n)).toBe(Number(richSource.n));
      const [[maxQuantity]] = (await source.pool.query(`SELECT MAX(quantity) AS q FROM ${db}.inventory`)) as unknown as [[{ q: number }]];
      expect(Number(maxQuantity.q)).toBeLessThan(1000);
      const [triggers] = (await source.pool.query(`SHOW TRIGGERS FROM ${db}`)) as unknown as [{ Trigger: string }[]];
      expect(triggers.map((trigger) => trigger.Trigger)).toEqual(['inventory_bonus']);
    });

    it('restores a sequence with its options, past every value it had handed out', async () => {
      const db = quoteIdentifier(target);
      const [[next]] = (await source.pool.query(`SELECT NEXTVAL(${db}.ticket_seq) AS a, NEXTVAL(${db}.ticket_seq) AS b`)) as unknown as [[{ a: number; b: number }]];
      expect(Number(next.a)).toBeGreaterThan(110);
      expect(Number(next.b) - Number(next.a)).toBe(5);
    });

    it('refuses to restore over a database that holds tables unless told to replace it', async () => {
      const deps = { objects: harness.objects, restorer: harness.restorer(), clock: systemClock };
      const loaded = await loadManifest(harness.objects, (await harness.store.backup(manifest.backupId))!);
      await expect(restoreLogicalBackup(deps, { manifest: loaded, database: target })).rejects.toThrow(/already holds/);
      const again = await restoreLogicalBackup(deps, { manifest: loaded, database: target, replace: true, verify: false });
      expect(again).toMatchObject({ ok: true, verified: false });
    });

    it('keeps the database --replace would drop when an object of the backup is missing or altered', async () => {
      const other = await runLogicalBackup(harness.deps(settings), request('keep01'));
      const chunk = other.tables.find((table) => table.name === 'counters')!.chunks[0]!;
      await harness.objects.put(chunk.key, 'not the chunk');
      const loaded = await loadManifest(harness.objects, (await harness.store.backup(other.backupId))!);
      const before = await serverChecksums(source.pool, target, TABLES);
      const deps = { objects: harness.objects, restorer: harness.restorer(), clock: systemClock };
      await expect(restoreLogicalBackup(deps, { manifest: loaded, database: target, replace: true })).rejects.toThrow(`cannot replace database ${target}, which is kept: ${chunk.key}: `);
      expect(await serverChecksums(source.pool, target, TABLES)).toEqual(before);
    });

    it('restore-tests the backup into a scratch database and records it verified with its restore duration', async () => {
      const report = await restoreTest({ ...harness.deps(settings), restorer: harness.restorer() }, manifest.backupId);
      expect(report.ok).toBe(true);
      const backup = (await harness.store.backup(manifest.backupId))!;
      expect(backup.status).toBe('verified');
      expect(backup.restoreSeconds).toBeGreaterThan(0);
      expect(harness.events.at(-1)).toMatchObject({ detailType: 'BackupVerified', detail: { backupId: manifest.backupId, rows: manifest.totals.rows } });
      const [leftovers] = (await source.pool.query("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'sk\\_restore\\_test\\_%'")) as unknown as [[{ n: number }]];
      expect(Number(leftovers[0]!.n)).toBe(0);
    });
  });

  describe('verification', () => {
    /** Dumps everything, then lets `tamper` touch the first players chunk before the backup is finished. */
    async function dumpThenTamper(nonce: string, tamper: (key: string, body: Buffer) => Promise<void>) {
      const deps = harness.deps(settings);
      const backup = await startLogicalBackup(deps, request(nonce));
      while (!(await continueLogicalBackup(deps, backup.backupId, Number.POSITIVE_INFINITY)).done);
      const chunk = (await harness.store.objects(backup.backupId)).find((object) => object.table === 'players')!;
      await tamper(chunk.key, await harness.objects.getBuffer(chunk.key));
      return { deps, backupId: backup.backupId, key: chunk.key };
    }

    it.each([
      ['deleted', (key: string) => harness.objects.delete([key]), /missing/],
      ['truncated', (key: string, body: Buffer) => harness.objects.put(key, body.subarray(0, body.length - 10)).then(() => {}), /truncated/],
      [
        'altered (same size)',
        (key: string, body: Buffer) => {
          const altered = Buffer.from(body);
          const middle = altered.length >> 1;
          altered.writeUInt8(altered[middle]! ^ 0xff, middle);
          return harness.objects.put(key, altered).then(() => {});
        },
        /altered/,
      ],
    ])('fails the backup when a chunk was %s before the check', async (_label, tamper, problem) => {
      const { deps, backupId, key } = await dumpThenTamper(`tamp${restored.length}${String(Math.random()).slice(2, 6)}`, tamper);
      const failure = finishLogicalBackup(deps, backupId);
      await expect(failure).rejects.toBeInstanceOf(BackupIntegrityError);
      await expect(failure).rejects.toThrow(problem);
      const backup = (await harness.store.backup(backupId))!;
      expect(backup.status).toBe('failed');
      expect(backup.manifestKey).toBeNull();
      expect(harness.events.at(-1)).toMatchObject({ detailType: 'BackupFailed', detail: { backupId, error: expect.stringContaining(key) } });
    });

    it('marks a finished backup verification-failed when one of its objects later disappears', async () => {
      const manifest = await runLogicalBackup(harness.deps(settings), request('gone01'));
      expect((await verifyBackupObjects(harness.deps(), manifest.backupId)).ok).toBe(true);
      await harness.objects.delete([manifest.tables.find((table) => table.name === 'inventory')!.chunks[1]!.key]);
      const result = await verifyBackupObjects(harness.deps(), manifest.backupId);
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([expect.stringMatching(/inventory\/000001\.sql\.gz: missing/)]);
      expect((await harness.store.backup(manifest.backupId))!.status).toBe('verification-failed');
      expect(harness.events.at(-1)).toMatchObject({ detailType: 'BackupVerificationFailed', detail: { check: 'objects' } });
    });

    it('fails a restore test whose restored rows differ from the manifest', async () => {
      const manifest = await runLogicalBackup(harness.deps(settings), request('diff01'));
      // A server that stores one value otherwise than it was dumped: only the row checksum can tell.
      const altering = rewritingStatements(harness.restorer(), (statement) => statement.replace("'five'", "'FIVE'"));
      const report = await restoreTest({ ...harness.deps(settings), restorer: altering }, manifest.backupId);
      expect(report.ok).toBe(false);
      expect(report.problems.join('\n')).toMatch(/counters chunk 0: rows differ/);
      expect((await harness.store.backup(manifest.backupId))!.status).toBe('verification-failed');
      expect(harness.events.at(-1)).toMatchObject({ detailType: 'BackupVerificationFailed', detail: { check: 'restore' } });
    });

    it('refuses a chunk altered since the backup before loading any of it, and drops the database it was restoring into', async () => {
      const manifest = await runLogicalBackup(harness.deps(settings), request('alter1'));
      // Still valid gzip, one value changed.
      const chunk = manifest.tables.find((table) => table.name === 'counters')!.chunks[0]!;
      const { gzipSync } = await import('node:zlib');
      await harness.objects.put(chunk.key, gzipSync(gunzipSync(await harness.objects.getBuffer(chunk.key)).toString('utf8').replace("'five'", "'FIVE'")));
      const applied: string[] = [];
      const watching = rewritingStatements(harness.restorer(), (statement) => (applied.push(statement), statement));
      const target = restoreTarget();
      const loaded = await loadManifest(harness.objects, (await harness.store.backup(manifest.backupId))!);
      const restore = restoreLogicalBackup({ objects: harness.objects, restorer: watching, clock: systemClock }, { manifest: loaded, database: target, concurrency: 1 });
      await expect(restore).rejects.toBeInstanceOf(BackupIntegrityError);
      await expect(restore).rejects.toThrow(new RegExp(`${chunk.key}: read \\d+ bytes .*; none of it was loaded; the partly restored database ${target} was dropped`));
      expect(applied.filter((statement) => statement.includes('FIVE'))).toEqual([]);
      const [schemas] = (await source.pool.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target])) as unknown as [unknown[]];
      expect(schemas).toEqual([]);

      const report = await restoreTest({ ...harness.deps(settings), restorer: harness.restorer() }, manifest.backupId);
      expect(report).toMatchObject({ ok: false, problems: [expect.stringContaining(`${chunk.key}: read`)] });
      expect((await harness.store.backup(manifest.backupId))!.status).toBe('verification-failed');
    });
  });
});

/** The restorer, with every statement a backup applies passed through `rewrite` first. */
function rewritingStatements(restorer: RestoreConnector, rewrite: (statement: string) => string): RestoreConnector {
  return {
    async connect(): Promise<RestoreConnection> {
      const connection = await restorer.connect();
      return {
        tableNames: (database) => connection.tableNames(database),
        claimDatabase: (database) => connection.claimDatabase(database),
        markUnfinished: (database, backupId) => connection.markUnfinished(database, backupId),
        markFinished: (database) => connection.markFinished(database),
        unfinishedRestore: (database) => connection.unfinishedRestore(database),
        prepareDatabase: (database, options) => connection.prepareDatabase(database, options),
        copyAtomically: (database, tables) => connection.copyAtomically(database, tables),
        apply: (database, statement, sqlMode) => connection.apply(database, rewrite(statement), sqlMode),
        rows: (database, table, where) => connection.rows(database, table, where),
        dropDatabase: (database) => connection.dropDatabase(database),
        close: () => connection.close(),
      };
    },
  };
}
