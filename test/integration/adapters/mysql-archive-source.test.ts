import type { Pool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchivePool, createMysqlArchiveSource } from '../../../functions/adapters/mysql-archive-source';
import { cursorOf, keyString, takeSameDay, type CursorValues, type SourceRow } from '../../../functions/core/archive-batch';
import type { FilterCondition } from '../../../functions/core/archive-filter';
import type { DeleteRequest } from '../../../functions/ports/archive-source';
import { createGameLogsTable, seedGameLogs, type GameLogsPartitioning } from '../../../functions/local/game-logs';
import { createScratchDatabase, lockWaitBefore, lockWaitOf, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

const DAY_MS = 86_400_000;
const FROM = Date.UTC(2024, 0, 1);
const BEFORE = '2024-01-04 00:00:00';
const COLUMNS = ['log_id', 'player_id', 'action_type', 'action_data', 'created_at'];
const ORDER = ['created_at', 'log_id'];

/**
 * 4,000 logs over four days whose keys grow with time, but for two late logs (old times under the
 * newest keys), key 320 moved early and key 310 moved to the time of row 299: inside the first
 * 300-row batch's key range, 310 after its last row.
 */
async function createOrdered(shard: ScratchDatabase, table: string): Promise<void> {
  await createGameLogsTable(shard.pool, shard.database, table);
  await seedGameLogs(shard.pool, shard.database, table, { from: FROM, to: FROM + 4 * DAY_MS, rows: 4_000 });
  await shard.pool.query(`INSERT INTO ${table} (log_id, player_id, action_type, created_at) VALUES (9001, 1, 'late', '2024-01-02 00:00:00.000'), (9002, 2, 'late', '2024-01-02 12:00:00.000')`);
  const timeOf = async (logId: number) => ((await shard.pool.query(`SELECT created_at FROM ${table} WHERE log_id = ?`, [logId]))[0] as Array<{ created_at: string }>)[0]!.created_at;
  await shard.pool.query(`UPDATE ${table} SET created_at = ? WHERE log_id = 320`, [await timeOf(50)]);
  await shard.pool.query(`UPDATE ${table} SET created_at = ? WHERE log_id = 310`, [await timeOf(299)]);
}

describe('MySQL archive source reading batches', () => {
  let shard: ScratchDatabase;
  let pool: Pool;
  let statements: string[];

  beforeAll(async () => {
    shard = await createScratchDatabase();
    pool = createArchivePool({ url: mysqlUrl(), database: shard.database });
    statements = [];
    // Every statement the adapter sends, to see which way it read.
    const query = pool.query.bind(pool) as (sql: string, values?: unknown) => unknown;
    pool.query = ((sql: string, values?: unknown) => {
      statements.push(sql);
      return query(sql, values);
    }) as Pool['query'];

    await createOrdered(shard, 'ordered');

    await createGameLogsTable(shard.pool, shard.database, 'scattered');
    await seedGameLogs(shard.pool, shard.database, 'scattered', { from: FROM, to: FROM + 4 * DAY_MS, rows: 1_000 });
    // Keys that do not grow with time: each row's key moves far from its neighbours'.
    await shard.pool.query('UPDATE scattered SET log_id = (log_id * 7919) % 1000003 + 1000000 ORDER BY log_id DESC');
  });
  afterAll(async () => {
    await pool.end();
    await shard.drop();
  });

  /** Every batch of the table, cursor to cursor, each with whether it was read by primary-key range. */
  async function readAll(table: string, filter: FilterCondition[] = []): Promise<{ rows: SourceRow[]; batches: Array<{ rows: SourceRow[]; byPrimaryKey: boolean }> }> {
    const source = createMysqlArchiveSource(pool, shard.database);
    const batches: Array<{ rows: SourceRow[]; byPrimaryKey: boolean }> = [];
    let after: CursorValues | null = null;
    for (;;) {
      statements.length = 0;
      const batch = await source.selectBatch({ table, columns: COLUMNS, orderColumns: ORDER, after, before: BEFORE, filter, limit: 300 });
      if (batch.length === 0) return { rows: batches.flatMap((read) => read.rows), batches };
      expect(batch.length).toBeLessThanOrEqual(300);
      batches.push({ rows: batch, byPrimaryKey: statements.some((statement) => statement.includes('FORCE INDEX (PRIMARY)')) });
      after = cursorOf(batch.at(-1)!, ORDER);
    }
  }

  async function expected(table: string, where = ''): Promise<SourceRow[]> {
    const [rows] = await pool.query(`SELECT ${COLUMNS.join(', ')} FROM ${table} WHERE created_at < ?${where} ORDER BY created_at, log_id`, [BEFORE]);
    return rows as SourceRow[];
  }

  it('reads the batches of a table whose keys grow with time by primary-key range, in (time, key) order', async () => {
    const { rows, batches } = await readAll('ordered');
    expect(rows).toEqual(await expected('ordered'));
    expect(rows.slice(0, 300).map((row) => row.log_id)).toContain('320');
    expect(rows[300]!.log_id).toBe('310');
    // Only a batch holding a late log spans too many keys; it reads through the time index.
    const late = (batch: { rows: SourceRow[] }) => batch.rows.some((row) => row.action_type === 'late');
    expect(batches.filter(late)).toHaveLength(2);
    for (const batch of batches) expect(batch.byPrimaryKey).toBe(!late(batch));
  });

  it('reads through the time index when keys do not grow with time, or a filter needs other columns', async () => {
    const scattered = await readAll('scattered');
    expect(scattered.rows).toEqual(await expected('scattered'));
    expect(scattered.rows.length).toBeGreaterThan(600);
    expect(scattered.batches.some((batch) => batch.byPrimaryKey)).toBe(false);

    const filtered = await readAll('ordered', [{ column: 'action_type', op: 'in', values: ['login', 'late'] }]);
    expect(filtered.rows).toEqual(await expected('ordered', " AND action_type IN ('login', 'late')"));
    expect(filtered.batches.some((batch) => batch.byPrimaryKey)).toBe(false);
  });
});

describe('MySQL archive source deleting a batch', () => {
  let shard: ScratchDatabase;
  let pool: Pool;

  beforeAll(async () => {
    shard = await createScratchDatabase();
    pool = createArchivePool({ url: mysqlUrl(), database: shard.database });
    await shard.pool.query('CREATE TABLE filler (id INT PRIMARY KEY, v INT NOT NULL)');
    await shard.pool.query('INSERT INTO filler SELECT seq, 0 FROM seq_1_to_1000');
  });
  afterAll(async () => {
    await pool.end();
    await shard.drop();
  });

  for (const deleteStrategy of ['auto', 'lock-then-delete'] as const) {
    it(`runs a delete InnoDB rolled back to end a deadlock again (${deleteStrategy})`, async () => {
      const table = `logs_${deleteStrategy.replace(/-/g, '_')}`;
      const { source, batch, keys } = await firstBatchOf(table, deleteStrategy);
      const [first, last] = [batch[0]!.log_id, batch.at(-1)!.log_id];
      const other = await shard.pool.getConnection();
      try {
        // The other transaction has changed many rows, so InnoDB picks the archiver's delete as the deadlock's victim.
        await other.beginTransaction();
        await other.query('UPDATE filler SET v = v + 1');
        await other.query(`SELECT log_id FROM ${table} WHERE log_id = ? FOR UPDATE`, [last]);
        const deleted = source.deleteArchived(deleteRequest(table, batch));
        // Holding the batch's first row, the delete waits for its last; the other transaction now asks for the first.
        await lockWaitOf(shard.pool, `\`${shard.database}\`.\`${table}\``);
        await other.query(`SELECT log_id FROM ${table} WHERE log_id = ? FOR UPDATE`, [first]);
        await other.commit();
        expect(await deleted).toEqual({ deleted: 10, missing: 0, changed: [] });
      } finally {
        other.release();
      }
      expect(await keysOf(table)).toEqual(keys.filter((key) => !batch.some((row) => row.log_id === key)));
    });
  }

  for (const deleteStrategy of ['auto', 'lock-then-delete'] as const) {
    for (const keyColumns of [['log_id'], ['log_id', 'created_at']]) {
      it(`keeps a row the batch's range gained after the batch was read and deletes the rest (${deleteStrategy}, key ${keyColumns.join(', ')})`, async () => {
        const table = `logs_gained_${deleteStrategy.replace(/-/g, '_')}_${keyColumns.length}`;
        // A partitioned game_logs has the time column in its primary key.
        const partitioning = keyColumns.length > 1 ? { unit: 'day' as const, from: FROM, to: FROM + DAY_MS } : undefined;
        const { source, batch, keys } = await firstBatchOf(table, deleteStrategy, partitioning);
        // The fifth row was not there when the batch was read: in range, and inside its key span.
        const read = batch.filter((_, index) => index !== 4);
        expect(await source.deleteArchived(deleteRequest(table, read, keyColumns))).toEqual({ deleted: 9, missing: 0, changed: [] });
        expect(await keysOf(table)).toEqual([keys[4], ...keys.slice(10)]);
      });
    }
  }

  it('counts the rows of a batch that changed and those still on the shard exactly, deleting nothing', async () => {
    const table = 'logs_changed_and_gained';
    const { source, batch, keys } = await firstBatchOf(table, 'auto');
    await shard.pool.query(`UPDATE ${table} SET action_type = 'edited' WHERE log_id = ?`, [keys[0]]);
    const read = batch.filter((_, index) => index !== 4);
    expect(await source.deleteArchived(deleteRequest(table, read))).toEqual({ deleted: 0, missing: 0, changed: [String(keys[0])] });
    expect(await keysOf(table)).toEqual(keys);
  });

  for (const deleteStrategy of ['auto', 'lock-then-delete'] as const) {
    const moves = [
      { name: 'its time moved past the cutoff', filter: [], move: `SET created_at = '2024-06-01 00:00:00.000'` },
      { name: 'it no longer matches the filter', filter: [{ column: 'action_type', op: '!=' as const, value: 'gone' }], move: `SET action_type = 'gone'` },
    ];
    for (const { name, filter, move } of moves) {
      it(`deletes nothing and reports a row as changed when it left the batch's range after the read, as ${name} (${deleteStrategy})`, async () => {
        const table = `logs_moved_${deleteStrategy.replace(/-/g, '_')}_${filter.length}`;
        const { source, batch, keys } = await firstBatchOf(table, deleteStrategy, undefined, filter);
        await shard.pool.query(`UPDATE ${table} ${move} WHERE log_id = ?`, [keys[3]]);
        // A row the game deleted meanwhile is only missing: it is in the archive, and nowhere else.
        await shard.pool.query(`DELETE FROM ${table} WHERE log_id = ?`, [keys[6]]);
        expect(await source.deleteArchived(deleteRequest(table, batch, ['log_id'], filter))).toEqual({ deleted: 0, missing: 1, changed: [keys[3]] });
        expect(await keysOf(table)).toEqual(keys.filter((key) => key !== keys[6]));
      });
    }
  }

  for (const keyColumns of [['log_id'], ['log_id', 'created_at']]) {
    it(`deletes a batch without waiting for the next batch, whose delete holds the row after it (key ${keyColumns.join(', ')})`, async () => {
      const table = `logs_adjacent_${keyColumns.length}`;
      const partitioning = keyColumns.length > 1 ? { unit: 'day' as const, from: FROM, to: FROM + DAY_MS } : undefined;
      const { source, batch, keys } = await firstBatchOf(table, 'auto', partitioning);
      const next = await shard.pool.getConnection();
      try {
        await next.beginTransaction();
        await next.query(`DELETE FROM ${table} WHERE log_id = ?`, [keys[10]]);
        const deleted = source.deleteArchived(deleteRequest(table, batch, keyColumns));
        const waited = await lockWaitBefore(shard.pool, `DELETE FROM \`${shard.database}\`.\`${table}\``, deleted);
        await next.rollback();
        expect(waited).toBe(false);
        expect(await deleted).toEqual({ deleted: 10, missing: 0, changed: [] });
      } finally {
        next.release();
      }
      expect(await keysOf(table)).toEqual(keys.slice(10));
    });
  }

  /** A table of 20 logs and its first batch of 10, read by a source with `deleteStrategy`. */
  async function firstBatchOf(table: string, deleteStrategy: 'auto' | 'lock-then-delete', partitioning?: GameLogsPartitioning, filter: FilterCondition[] = []) {
    await createGameLogsTable(shard.pool, shard.database, table, partitioning);
    await seedGameLogs(shard.pool, shard.database, table, { from: FROM, to: FROM + DAY_MS, rows: 20 });
    const source = createMysqlArchiveSource(pool, shard.database, { deleteStrategy });
    const batch = await source.selectBatch({ table, columns: COLUMNS, orderColumns: ORDER, after: null, before: BEFORE, filter, limit: 10 });
    return { source, batch, keys: await keysOf(table) };
  }

  /** Deletes exactly the rows of `batch`, as the slice asks once they are archived. */
  function deleteRequest(table: string, batch: readonly SourceRow[], keyColumns = ['log_id'], filter: FilterCondition[] = []): DeleteRequest {
    return {
      table,
      columns: COLUMNS,
      keyColumns,
      archived: new Map(batch.map((row) => [keyString(row, keyColumns), row])),
      range: { orderColumns: ORDER, from: cursorOf(batch[0]!, ORDER), to: cursorOf(batch.at(-1)!, ORDER), before: BEFORE, filter },
    };
  }

  async function keysOf(table: string): Promise<string[]> {
    const [rows] = (await shard.pool.query(`SELECT log_id FROM ${table} ORDER BY log_id`)) as unknown as [Array<{ log_id: string }>];
    return rows.map((row) => String(row.log_id));
  }
});

describe('MySQL archive source taking a batch by its delete', () => {
  let shard: ScratchDatabase;
  let pool: Pool;

  beforeAll(async () => {
    shard = await createScratchDatabase();
    pool = createArchivePool({ url: mysqlUrl(), database: shard.database });
  });
  afterAll(async () => {
    await pool.end();
    await shard.drop();
  });

  const query = (table: string, after: CursorValues | null, filter: FilterCondition[] = []) => ({ table, columns: COLUMNS, orderColumns: ORDER, after, before: BEFORE, filter, limit: 300 });
  const scanOrder = (a: SourceRow, b: SourceRow) => (a.created_at === b.created_at ? Number(a.log_id) - Number(b.log_id) : String(a.created_at) < String(b.created_at) ? -1 : 1);
  async function oldRows(table: string): Promise<SourceRow[]> {
    const [rows] = await shard.pool.query(`SELECT ${COLUMNS.join(', ')} FROM ${table} WHERE created_at < ? ORDER BY created_at, log_id`, [BEFORE]);
    return rows as SourceRow[];
  }

  it('takes every old row once, a day at a time and in (time, key) order, leaving them to other sessions until it commits', async () => {
    await createOrdered(shard, 'taken');
    const expected = await oldRows('taken');
    const source = createMysqlArchiveSource(pool, shard.database);
    const archived: SourceRow[] = [];
    let [taken, checked] = [0, 0];
    let after: CursorValues | null = null;
    for (;;) {
      const planned = await source.takeBatch(query('taken', after));
      if (planned === 'empty') break;
      let rows: SourceRow[];
      if (planned === undefined) {
        // The late logs widen a batch's key span: that batch is selected and deleted as checked.
        rows = takeSameDay(await source.selectBatch(query('taken', after)), 'created_at');
        const outcome = await source.deleteArchived({ table: 'taken', columns: COLUMNS, keyColumns: ['log_id'], archived: new Map(rows.map((row) => [String(row.log_id), row])), range: { orderColumns: ORDER, from: cursorOf(rows[0]!, ORDER), to: cursorOf(rows.at(-1)!, ORDER), before: BEFORE, filter: [] } });
        expect(outcome).toMatchObject({ deleted: rows.length, changed: [] });
        checked += 1;
      } else {
        const batch = await planned.taken;
        rows = batch.rows;
        expect(rows.length).toBeGreaterThan(0);
        expect(planned.last.map(String)).toEqual(cursorOf(rows.at(-1)!, ORDER).map(String));
        expect([...rows].sort(scanOrder)).toEqual(rows);
        expect(new Set(rows.map((row) => String(row.created_at).slice(0, 10))).size).toBe(1);
        // Still there for everyone else until the commit.
        const remaining = await oldRows('taken');
        expect(remaining.slice(0, rows.length)).toEqual(rows);
        await batch.commit();
        taken += 1;
      }
      archived.push(...rows);
      after = cursorOf(rows.at(-1)!, ORDER);
      // What went is a prefix of the scan: nothing left sorts at or before its last row.
      expect((await oldRows('taken')).filter((row) => scanOrder(row, rows.at(-1)!) <= 0)).toEqual([]);
    }
    expect(archived).toEqual(expected);
    // Four batches a day over three days, the two holding a late log checked.
    expect(taken).toBe(10);
    expect(checked).toBe(2);
  });

  it('puts the rows of a batch back when it rolls back, and takes the same rows again', async () => {
    await createOrdered(shard, 'rolled_back');
    const before = await oldRows('rolled_back');
    const source = createMysqlArchiveSource(pool, shard.database);
    const first = await takeNow(source, 'rolled_back', null);
    await first.rollback();
    await first.rollback();
    expect(await oldRows('rolled_back')).toEqual(before);
    const again = await takeNow(source, 'rolled_back', null);
    expect(again.rows).toEqual(first.rows);
    await again.rollback();
  });

  /** The batch after `after`, taken. */
  async function takeNow(source: ReturnType<typeof createMysqlArchiveSource>, table: string, after: CursorValues | null) {
    const planned = await source.takeBatch(query(table, after));
    if (typeof planned !== 'object') throw new Error(`no batch taken: ${planned}`);
    return { ...(await planned.taken), last: planned.last };
  }

  it('takes the next batch while the one before is still open when their key spans are apart, and once it commits when they meet', async () => {
    await createGameLogsTable(shard.pool, shard.database, 'apart');
    await seedGameLogs(shard.pool, shard.database, 'apart', { from: FROM, to: FROM + 4 * DAY_MS, rows: 4_000 });
    const source = createMysqlArchiveSource(pool, shard.database);
    const first = await takeNow(source, 'apart', null);
    const second = await takeNow(source, 'apart', first.last);
    expect(Number(second.rows[0]!.log_id)).toBe(Number(first.rows.at(-1)!.log_id) + 1);
    await first.commit();
    await second.commit();

    // Key 320 of the first batch lies inside the second batch's span, which the second delete walks.
    await createOrdered(shard, 'meeting');
    const before = await takeNow(source, 'meeting', null);
    const planned = await source.takeBatch(query('meeting', before.last));
    if (typeof planned !== 'object') throw new Error(`no batch taken: ${planned}`);
    expect(await lockWaitBefore(shard.pool, 'DELETE FROM', planned.taken)).toBe(true);
    await before.commit();
    const after = await planned.taken;
    expect(after.rows.map((row) => String(row.log_id))).toContain('310');
    expect(after.rows.map((row) => String(row.log_id))).not.toContain('320');
    await after.commit();
  });

  it('starts a delete whose key span meets a running one only once that one has finished, so it never holds rows the other still has to read', async () => {
    await createOrdered(shard, 'overlapping');
    const source = createMysqlArchiveSource(pool, shard.database);
    const ids = (rows: readonly SourceRow[]) => rows.map((row) => String(row.log_id));
    // The first batch's delete waits on its first key; the second batch's rows 300–319 lie inside its span.
    const blocker = await shard.pool.getConnection();
    try {
      await blocker.beginTransaction();
      await blocker.query('SELECT log_id FROM overlapping WHERE log_id = 1 FOR UPDATE');
      const first = await source.takeBatch(query('overlapping', null));
      if (typeof first !== 'object') throw new Error(`no batch taken: ${first}`);
      await lockWaitOf(shard.pool, 'DELETE FROM');
      const second = await source.takeBatch(query('overlapping', first.last));
      if (typeof second !== 'object') throw new Error(`no batch taken: ${second}`);
      await blocker.rollback();
      const before = await first.taken;
      expect(ids(before.rows)).toContain('320');
      expect(ids(before.rows)).not.toContain('300');
      await before.commit();
      const after = await second.taken;
      expect(ids(after.rows)).toEqual(expect.arrayContaining(['300', '310', '319']));
      await after.commit();
    } finally {
      blocker.release();
    }
  });

  it('takes nothing by its delete with a filter, a key that is not one integer primary key, or another delete strategy', async () => {
    await createOrdered(shard, 'untaken');
    await createGameLogsTable(shard.pool, shard.database, 'untaken_partitioned', { unit: 'day', from: FROM, to: FROM + 4 * DAY_MS });
    await seedGameLogs(shard.pool, shard.database, 'untaken_partitioned', { from: FROM, to: FROM + 4 * DAY_MS, rows: 100 });
    const source = createMysqlArchiveSource(pool, shard.database);
    expect(await source.takeBatch(query('untaken', null, [{ column: 'action_type', op: 'in', values: ['login'] }]))).toBeUndefined();
    expect(await source.takeBatch(query('untaken_partitioned', null))).toBeUndefined();
    for (const deleteStrategy of ['checked', 'lock-then-delete'] as const) {
      expect(await createMysqlArchiveSource(pool, shard.database, { deleteStrategy }).takeBatch(query('untaken', null))).toBeUndefined();
    }
    expect(await oldRows('untaken')).toHaveLength(3_002);
    await shard.pool.query('CREATE TABLE untaken_empty LIKE untaken');
    expect(await source.takeBatch(query('untaken_empty', null))).toBe('empty');
  });
});

describe('MySQL archive source detaching a partition by exchange', () => {
  let shard: ScratchDatabase;
  let pool: Pool;

  beforeAll(async () => {
    shard = await createScratchDatabase();
    pool = createArchivePool({ url: mysqlUrl(), database: shard.database });
  });
  afterAll(async () => {
    await pool.end();
    await shard.drop();
  });

  it('keeps a partition that gained rows after an interrupted run exchanged it, instead of dropping them', async () => {
    await createGameLogsTable(shard.pool, shard.database, 'game_logs', { unit: 'day', from: FROM, to: FROM + 3 * DAY_MS });
    await seedGameLogs(shard.pool, shard.database, 'game_logs', { from: FROM, to: FROM + 2 * DAY_MS, rows: 20 });
    const [[first]] = (await shard.pool.query("SELECT PARTITION_NAME AS name FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'game_logs' ORDER BY PARTITION_ORDINAL_POSITION LIMIT 1")) as unknown as [[{ name: string }]];
    const detached = `game_logs_${first.name}_detached`;
    // The interrupted run got as far as the exchange; its lock went with it, and a late log came in.
    await shard.pool.query(`CREATE TABLE ${detached} LIKE game_logs`);
    await shard.pool.query(`ALTER TABLE ${detached} REMOVE PARTITIONING`);
    await shard.pool.query(`ALTER TABLE game_logs EXCHANGE PARTITION ${first.name} WITH TABLE ${detached}`);
    await shard.pool.query("INSERT INTO game_logs (log_id, player_id, action_type, created_at) VALUES (9001, 1, 'late', '2024-01-01 10:00:00.000')");

    const source = createMysqlArchiveSource(pool, shard.database, { detachStrategy: 'exchange' });
    await expect(source.detachPartition('game_logs', first.name, detached)).rejects.toThrow(
      new RegExp(`partition ${first.name} of ${shard.database}\\.game_logs holds 1 rows written after it was exchanged into ${detached}`),
    );
    const [[late]] = (await shard.pool.query(`SELECT COUNT(*) AS n FROM game_logs PARTITION (${first.name}) WHERE log_id = 9001`)) as unknown as [[{ n: number }]];
    expect(Number(late.n)).toBe(1);
  });
});
