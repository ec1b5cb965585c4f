import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
