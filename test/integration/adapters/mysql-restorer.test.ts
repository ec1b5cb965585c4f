import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMysqlRestoreConnector } from '../../../functions/adapters/mysql-restorer';
import type { RestoreConnection } from '../../../functions/ports/backup-mysql';
import { credentialsOf, localNode } from '../backup/backup-fixtures';
import { createScratchDatabase, lockWaitOf, type ScratchDatabase } from '../helpers/mariadb';

describe('MySQL restore connection', () => {
  let scratch: ScratchDatabase;
  let restore: RestoreConnection;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    restore = await createMysqlRestoreConnector({ credentials: credentialsOf(), tls: 'off', target: localNode('restore-target') }).connect();
  });
  afterAll(async () => {
    await restore.close();
    await scratch.drop();
  });

  it('runs again a statement InnoDB rolled back to end a deadlock with another load', async () => {
    await scratch.pool.query('CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL)');
    await scratch.pool.query('INSERT INTO counters SELECT seq, 0 FROM seq_1_to_1000');
    const other = await scratch.pool.getConnection();
    try {
      // The other transaction locks many rows, so InnoDB picks the restore's one-row statement as the deadlock's victim.
      await other.beginTransaction();
      await other.query('UPDATE counters SET v = v + 1 WHERE id >= 2');
      const applied = restore.apply(scratch.database, 'UPDATE counters SET v = v + 10 WHERE id IN (1, 500)');
      // Holding row 1, the restore's statement waits for row 500; the other transaction now asks for row 1.
      await lockWaitOf(scratch.pool, 'UPDATE counters SET v = v + 10');
      await other.query('UPDATE counters SET v = v + 1 WHERE id = 1');
      await other.commit();
      await applied;
    } finally {
      other.release();
    }
    const [rows] = (await scratch.pool.query('SELECT id, v FROM counters WHERE id IN (1, 2, 500) ORDER BY id')) as unknown as [Array<{ id: number; v: number }>];
    expect(rows).toEqual([
      { id: 1, v: 11 },
      { id: 2, v: 1 },
      { id: 500, v: 11 },
    ]);
  });

  it('copies every table\'s rows or none: a duplicate key in the second table leaves no rows and no new table behind', async () => {
    const target = await createScratchDatabase();
    try {
      await scratch.pool.query('CREATE TABLE players (player_id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)');
      await scratch.pool.query('CREATE TABLE items (item_id INT PRIMARY KEY, player_id INT NOT NULL, serial VARCHAR(20) NOT NULL, UNIQUE KEY (serial))');
      await target.pool.query(`CREATE TABLE items LIKE ${scratch.database}.items`);
      await target.pool.query("INSERT INTO items VALUES (1, 3, 'A-1')");
      const copies = (serial: string) => [
        { table: 'players', like: { database: scratch.database, table: 'players' }, inserts: ["INSERT INTO `players` (`player_id`, `name`) VALUES (7, 'kim')"] },
        { table: 'items', like: { database: scratch.database, table: 'items' }, inserts: [`INSERT INTO \`items\` VALUES (2, 7, 'B-2'), (3, 7, '${serial}')`] },
      ];

      await expect(restore.copyAtomically(target.database, copies('A-1'))).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
      const tables = async () => ((await target.pool.query('SHOW TABLES')) as unknown as [Array<Record<string, string>>])[0].map((row) => Object.values(row)[0]);
      expect(await tables()).toEqual(['items']);
      const items = async () => ((await target.pool.query('SELECT item_id FROM items ORDER BY item_id')) as unknown as [Array<{ item_id: number }>])[0].map((row) => row.item_id);
      expect(await items()).toEqual([1]);

      await restore.copyAtomically(target.database, copies('C-3'));
      expect((await tables()).sort()).toEqual(['items', 'players']);
      expect(await items()).toEqual([1, 2, 3]);
    } finally {
      await target.drop();
    }
  });

  it('lets one session at a time restore into a database, until it closes', async () => {
    const connect = () => createMysqlRestoreConnector({ credentials: credentialsOf(), tls: 'off', target: localNode('restore-target') }).connect();
    const claimed = `${scratch.database}_claimed`;
    const first = await connect();
    const second = await connect();
    try {
      await first.claimDatabase(claimed);
      await expect(second.claimDatabase(claimed)).rejects.toThrow(/another restore into database .*_claimed is running/);
      await second.claimDatabase(`${claimed}_other`);
      await first.close();
      await second.claimDatabase(claimed);
    } finally {
      await second.close();
    }
  });

  it('reads which backup an unfinished restore was loading, and a marker from before markers named it as an unknown one', async () => {
    const database = `${scratch.database}_marked`;
    try {
      expect(await restore.unfinishedRestore(database)).toBeUndefined();
      await scratch.pool.query(`CREATE DATABASE \`${database}\``);
      await restore.markUnfinished(database, 'b-20261126-1');
      expect(await restore.unfinishedRestore(database)).toBe('b-20261126-1');
      await restore.markFinished(database);
      expect(await restore.unfinishedRestore(database)).toBeUndefined();
      await scratch.pool.query(`CREATE TABLE \`${database}\`._sk_restore_incomplete (started_at DATETIME(3) NOT NULL)`);
      expect(await restore.unfinishedRestore(database)).toBe('');
    } finally {
      await scratch.pool.query(`DROP DATABASE IF EXISTS \`${database}\``);
    }
  });

  describe('copying into a support schema', () => {
    const copy = (table: string, values: string) => ({ table, like: { database: scratch.database, table }, inserts: [`INSERT INTO \`${table}\` VALUES ${values}`] });
    const rowsOf = async (database: string, table: string) =>
      ((await scratch.pool.query(`SELECT * FROM \`${database}\`.\`${table}\` ORDER BY 1`)) as unknown as [Array<Record<string, unknown>>])[0].map((row) => Object.values(row)[0]);
    const schemaExists = async (database: string) => ((await scratch.pool.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [database])) as unknown as [unknown[]])[0].length > 0;
    let target: string;

    beforeAll(async () => {
      await scratch.pool.query('CREATE TABLE IF NOT EXISTS guilds (guild_id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)');
      await scratch.pool.query('CREATE TABLE IF NOT EXISTS members (guild_id INT NOT NULL, player_id INT NOT NULL, PRIMARY KEY (guild_id, player_id))');
    });
    beforeEach(() => {
      target = `${scratch.database}_support_${Math.random().toString(36).slice(2, 8)}`;
    });
    afterEach(async () => {
      await scratch.pool.query(`DROP DATABASE IF EXISTS \`${target}\``);
    });

    it('lets a failed copy drop only what it created itself, never a table another copy has filled since', async () => {
      const second = await createMysqlRestoreConnector({ credentials: credentialsOf(), tls: 'off', target: localNode('restore-target') }).connect();
      try {
        const failing = restore.copyAtomically(target, [copy('guilds', "(1, 'red')"), copy('members', '(1, 7), (1, 7)')]);
        const succeeding = second.copyAtomically(target, [copy('guilds', "(2, 'blue')")]);
        const [failed, succeeded] = await Promise.allSettled([failing, succeeding]);
        expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'ER_DUP_ENTRY' } });
        expect(succeeded.status).toBe('fulfilled');
        expect(await rowsOf(target, 'guilds')).toEqual([2]);
      } finally {
        await second.close();
      }
    });

    it('creates a table named twice once, and copies both parts', async () => {
      await restore.copyAtomically(target, [copy('members', '(1, 7)'), copy('members', '(2, 7)')]);
      expect(await rowsOf(target, 'members')).toEqual([1, 2]);
    });

    it('refuses a target table that cannot roll back before copying anything, and drops the database it created', async () => {
      await scratch.pool.query('CREATE TABLE IF NOT EXISTS notes (note_id INT PRIMARY KEY) ENGINE=MyISAM');
      await expect(restore.copyAtomically(target, [copy('guilds', "(3, 'green')"), copy('notes', '(1)')])).rejects.toThrow(/notes \(MyISAM\) cannot roll back a failed copy/);
      expect(await schemaExists(target)).toBe(false);
    });

    it('tells the cause when the connection is lost mid-copy, with what it could not clean up', async () => {
      await scratch.pool.query(`CREATE DATABASE \`${target}\``);
      await scratch.pool.query(`CREATE TABLE \`${target}\`.guilds LIKE ${scratch.database}.guilds`);
      await scratch.pool.query(`INSERT INTO \`${target}\`.guilds VALUES (4, 'held')`);
      const holder = await scratch.pool.getConnection();
      try {
        await holder.beginTransaction();
        await holder.query(`SELECT * FROM \`${target}\`.guilds WHERE guild_id = 4 FOR UPDATE`);
        const copying = restore.copyAtomically(target, [copy('members', '(4, 9)'), copy('guilds', "(4, 'again')")]);
        copying.catch(() => undefined);
        await lockWaitOf(scratch.pool, "INSERT INTO `guilds` VALUES (4, 'again')");
        const [[waiting]] = (await scratch.pool.query("SELECT trx_mysql_thread_id AS id FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'")) as unknown as [[{ id: number }]];
        await scratch.pool.query(`KILL ${waiting.id}`);
        const failure = await copying.then(() => undefined, (error: Error) => error);
        expect(failure?.message).toMatch(/^(Connection lost|The server closed|Connection was killed)/);
        expect(failure?.message).toMatch(/then DROP TABLE IF EXISTS \S+\.`members` failed too/);
      } finally {
        await holder.rollback();
        holder.release();
      }
      restore = await createMysqlRestoreConnector({ credentials: credentialsOf(), tls: 'off', target: localNode('restore-target') }).connect();
    });
  });
});
