import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDumpConnector } from '../../../functions/adapters/mysql-dumper';
import type { DumpConnection, TableShape } from '../../../functions/ports/backup-mysql';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';
import { credentialsOf, localNode } from '../backup/backup-fixtures';

/** Every type the server-side row encoding covers, with the values that are hard to write back exactly. */
const EDGE_TABLE = `CREATE TABLE edge (
  id INT NOT NULL PRIMARY KEY,
  tiny TINYINT NULL, small SMALLINT UNSIGNED ZEROFILL NULL, medium MEDIUMINT NULL, year_col YEAR NULL,
  big BIGINT UNSIGNED NULL, amount DECIMAL(30,10) NULL,
  score DOUBLE NULL, speed FLOAT NULL,
  day DATE NULL, moment DATETIME(6) NULL, stamp TIMESTAMP(3) NULL DEFAULT NULL, duration TIME(2) NULL,
  code CHAR(4) NULL, name VARCHAR(64) NULL, body MEDIUMTEXT NULL, legacy VARCHAR(32) CHARACTER SET latin1 NULL,
  mood ENUM('calm', 'angry', 'it''s') NULL, tags SET('a', 'b', 'c') NULL, doc JSON NULL,
  raw VARBINARY(16) NULL, image BLOB NULL, fixed BINARY(3) NULL, flags BIT(12) NULL,
  spot POINT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const EDGE_ROWS = [
  `(1, -128, 7, -8388608, 1901, 18446744073709551615, -12345678901234567890.0123456789, 1.7976931348623157e308, 3.4028234e38,
    '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '-838:59:59.99',
    'ab', 'O''Brien \\\\ "quoted"\\nline\\r\\0nul\\Zend', '🐉 dragon 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 héros ⚔️', 'café crème',
    'it''s', 'a,c', '{"a": [1, 2.5, "x\\\\ny"], "b": null}',
    X'00ff275c0a', X'', X'01', b'101000000001', ST_GeomFromText('POINT(1.5 -2.25)'))`,
  '(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)',
  `(3, 0, 0, 0, 2155, 0, 0.0000000001, 5e-324, -1.17549435e-38, '2024-02-29', '2024-01-01 00:00:00.000001', '1970-01-01 00:00:01.000', '00:00:00',
    '', '', '', '', 'calm', '', '[]', X'', X'0000', X'000000', b'0', ST_GeomFromText('POINT(0 0)'))`,
];

async function collect(connection: DumpConnection, database: string, table: TableShape): Promise<Buffer[]> {
  const rows: Buffer[] = [];
  for await (const batch of connection.rows(database, table, null, null)) rows.push(...batch.encoded);
  return rows;
}

describe('MySQL dumper against MariaDB', () => {
  let source: ScratchDatabase;
  let connection: DumpConnection;

  beforeAll(async () => {
    source = await createScratchDatabase();
    await source.pool.query(EDGE_TABLE);
    await source.pool.query(`INSERT INTO edge VALUES ${EDGE_ROWS.join(', ')}`);
    connection = await createMysqlDumpConnector({ credentials: credentialsOf(), tls: 'off' }).connect(localNode());
  });

  afterAll(async () => {
    await connection?.close();
    await source?.drop();
  });

  it('has the server write each row byte for byte as the client encoder would, on every covered type', async () => {
    const { tables } = await connection.readSchema(source.database);
    const edge = tables.find((table) => table.name === 'edge')!;
    expect(edge.columnTypes).toHaveLength(25);
    const byServer = await collect(connection, source.database, edge);
    const byClient = await collect(connection, source.database, { ...edge, columnTypes: undefined });
    expect(byServer).toHaveLength(3);
    expect(byServer.map((row) => row.toString('utf8'))).toEqual(byClient.map((row) => row.toString('utf8')));
    expect(byServer[1]!.toString()).toBe(`(2,${Array.from({ length: 24 }, () => 'NULL').join(',')})`);
  });

  it('gives the key of the last row read, so the next chunk starts after it', async () => {
    const { tables } = await connection.readSchema(source.database);
    const edge = tables.find((table) => table.name === 'edge')!;
    const batches = [];
    for await (const batch of connection.rows(source.database, edge, [1], 1)) batches.push(batch);
    expect(batches).toEqual([{ encoded: [expect.any(Buffer)], lastKey: [2] }]);
  });

  it('reads a table keyed only by ENUM or FLOAT columns whole, since resuming after such a key skips or repeats rows', async () => {
    await source.pool.query("CREATE TABLE inventory (player_id INT NOT NULL, slot ENUM('weapon', 'armor', 'helmet') NOT NULL, PRIMARY KEY (player_id, slot))");
    await source.pool.query("INSERT INTO inventory VALUES (1, 'weapon'), (1, 'armor'), (1, 'helmet'), (2, 'weapon')");
    await source.pool.query('CREATE TABLE readings (level FLOAT NOT NULL PRIMARY KEY, note VARCHAR(8) NOT NULL, UNIQUE KEY by_note (note))');
    await source.pool.query("INSERT INTO readings VALUES (1000.2, 'a'), (1000.3, 'b')");
    const { tables } = await connection.readSchema(source.database);
    expect(tables.find((table) => table.name === 'inventory')!.keyColumns).toEqual([]);
    // Another unique key serves instead.
    expect(tables.find((table) => table.name === 'readings')!.keyColumns).toEqual([{ name: 'note', kind: 'other' }]);
    expect(await collect(connection, source.database, tables.find((table) => table.name === 'inventory')!)).toHaveLength(4);
  });
});
