import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlExecutor, createMysqlPool } from '../../../functions/adapters/mysql-executor';
import { CatalogUnavailableError } from '../../../functions/shared/errors';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

describe('mysql2 executor on MariaDB', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await createScratchDatabase();
    await scratch.executor.execute(
      'CREATE TABLE sample (id INT PRIMARY KEY, big BIGINT UNSIGNED NULL, doc JSON NULL, at DATETIME(3) NULL, flag BOOLEAN NULL, label VARCHAR(64) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    );
  });
  afterAll(async () => {
    await scratch.drop();
  });

  it('binds named parameters and returns BIGINT, JSON and DATETIME values as exact strings', async () => {
    await scratch.executor.execute('INSERT INTO sample (id, big, doc, at, flag, label) VALUES (:id, :big, :doc, :at, :flag, :label)', {
      id: 1,
      big: '18446744073709551615',
      doc: '{"ring": {"virtualNodes": 150}}',
      at: '2025-06-01 12:00:00.125',
      flag: true,
      label: null,
    });
    const rows = await scratch.executor.query('SELECT big, CAST(big AS CHAR) AS big_text, doc, at, flag, label FROM sample WHERE id = :id', { id: 1 });
    expect(rows).toEqual([
      { big: '18446744073709551615', big_text: '18446744073709551615', doc: expect.any(String), at: '2025-06-01 12:00:00.125', flag: 1, label: null },
    ]);
    expect(JSON.parse(String(rows[0]?.doc))).toEqual({ ring: { virtualNodes: 150 } });
  });

  it('reports affected rows', async () => {
    await scratch.executor.execute('INSERT INTO sample (id, label) VALUES (2, :a), (3, :b)', { a: 'x', b: 'y' });
    await expect(scratch.executor.execute('UPDATE sample SET label = :label WHERE id IN (2, 3)', { label: 'z' })).resolves.toEqual({ affectedRows: 2 });
    await expect(scratch.executor.execute('DELETE FROM sample WHERE id = 999')).resolves.toEqual({ affectedRows: 0 });
  });

  it('commits a transaction whose work resolves, including nested calls', async () => {
    await scratch.executor.transaction(async (tx) => {
      await tx.execute('INSERT INTO sample (id, label) VALUES (10, :label)', { label: 'outer' });
      await tx.transaction((inner) => inner.execute('INSERT INTO sample (id, label) VALUES (11, :label)', { label: 'inner' }));
    });
    const rows = await scratch.executor.query('SELECT id FROM sample WHERE id IN (10, 11) ORDER BY id');
    expect(rows).toEqual([{ id: 10 }, { id: 11 }]);
  });

  it('rolls back a transaction whose work throws and rethrows the error', async () => {
    const failing = scratch.executor.transaction(async (tx) => {
      await tx.execute('INSERT INTO sample (id, label) VALUES (20, :label)', { label: 'doomed' });
      throw new Error('work failed');
    });
    await expect(failing).rejects.toThrow('work failed');
    await expect(scratch.executor.query('SELECT id FROM sample WHERE id = 20')).resolves.toEqual([]);
  });

  it('turns an unreachable server into CatalogUnavailableError', async () => {
    const pool = createMysqlPool({ host: '127.0.0.1', port: 1, user: 'root', connectTimeoutMs: 1_000 });
    try {
      await expect(createMysqlExecutor(pool).query('SELECT 1')).rejects.toBeInstanceOf(CatalogUnavailableError);
    } finally {
      await pool.end();
    }
  });
});
