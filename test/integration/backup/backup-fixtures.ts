import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'mysql2/promise';
import { createMysqlDumpConnector } from '../../../functions/adapters/mysql-dumper';
import { createMysqlRestoreConnector } from '../../../functions/adapters/mysql-restorer';
import { createS3ObjectStore } from '../../../functions/adapters/s3-object-store';
import { SqlBackupStore } from '../../../functions/adapters/sql-backup-store';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { DEFAULT_BACKUP_SETTINGS, type BackupSettings, type LogicalBackupDeps } from '../../../functions/backup/backup-deps';
import type { Shard, ShardNode } from '../../../functions/core/shard-map-types';
import { startLocalS3, type LocalS3 } from '../../../functions/local/local-s3';
import type { RestoreConnector } from '../../../functions/ports/backup-mysql';
import { systemClock } from '../../../functions/ports/clock';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import type { ObjectStore } from '../../../functions/ports/object-store';
import { quoteIdentifier } from '../../../functions/shared/identifiers';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

export const BUCKET = 'sk-backup-test';

/** The test server as a shard node (root over TCP, no TLS). */
export function localNode(id = 'local-a', url = mysqlUrl()): ShardNode {
  const parsed = new URL(url);
  return { id, role: 'primary', host: parsed.hostname, port: Number(parsed.port || 3306) };
}

export function credentialsOf(url = mysqlUrl()) {
  const parsed = new URL(url);
  return staticCredentials(decodeURIComponent(parsed.username || 'root'), decodeURIComponent(parsed.password));
}

export interface BackupHarness {
  s3: LocalS3;
  objects: ObjectStore;
  catalog: ScratchDatabase;
  store: SqlBackupStore;
  events: AppEvent[];
  deps(settings?: Partial<BackupSettings>, url?: string): LogicalBackupDeps;
  restorer(url?: string): RestoreConnector;
  stop(): Promise<void>;
}

/** A local S3 with the backup bucket and a migrated scratch catalog. */
export async function startBackupHarness(): Promise<BackupHarness> {
  const directory = mkdtempSync(join(tmpdir(), 'sk-backup-s3-'));
  const s3 = await startLocalS3({ directory, buckets: [BUCKET] });
  const objects = createS3ObjectStore({ client: s3.client, bucket: BUCKET, partSizeBytes: 5 * 1024 * 1024 });
  const catalog = await createScratchDatabase();
  await new SqlCatalog(catalog.executor).migrate();
  const store = new SqlBackupStore(catalog.executor);
  const events: AppEvent[] = [];
  return {
    s3,
    objects,
    catalog,
    store,
    events,
    deps: (settings = {}, url = mysqlUrl()) => ({
      store,
      objects,
      dumper: createMysqlDumpConnector({ credentials: credentialsOf(url), tls: 'off' }),
      events: { publish: async (published) => void events.push(...published) },
      clock: systemClock,
      settings: { ...DEFAULT_BACKUP_SETTINGS, ...settings },
    }),
    restorer: (url = mysqlUrl()) => createMysqlRestoreConnector({ credentials: credentialsOf(url), tls: 'off', target: localNode('restore-target', url) }),
    async stop() {
      await catalog.drop();
      await s3.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function shardOf(database: string, nodes: ShardNode[] = [localNode()]): Shard {
  return { name: '-80', database, status: 'serving', kind: 'self-managed', nodes };
}

/**
 * A game schema that exercises every value a dump must carry exactly: JSON, BLOB with NUL bytes, FLOAT and DOUBLE to the last bit,
 * DATETIME(6), DECIMAL, NULLs, utf8mb4 emoji, BIT, a spatial column with its SRID, a stored 0 in an AUTO_INCREMENT column,
 * generated columns, a composite key, a foreign key, a keyless table, views on views and a
 * trigger that would change rows if it fired during the load.
 */
export async function createGameSchema(pool: Pool, database: string): Promise<void> {
  const db = quoteIdentifier(database);
  const statements = [
    `CREATE TABLE ${db}.players (
      player_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
      player_name VARCHAR(64) NOT NULL,
      level INT NOT NULL,
      level_squared INT AS (level * level) VIRTUAL,
      name_length INT AS (CHAR_LENGTH(player_name)) STORED,
      profile JSON NULL,
      avatar BLOB NULL,
      balance DECIMAL(20,6) NOT NULL,
      score DOUBLE NULL,
      speed FLOAT NULL,
      flags BIT(8) NULL,
      created_at DATETIME(6) NOT NULL,
      seen_at TIMESTAMP(3) NULL DEFAULT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE ${db}.inventory (
      player_id BIGINT UNSIGNED NOT NULL,
      slot SMALLINT NOT NULL,
      item VARCHAR(32) CHARACTER SET utf8mb4 NULL,
      quantity INT NOT NULL,
      PRIMARY KEY (player_id, slot),
      CONSTRAINT inventory_player FOREIGN KEY (player_id) REFERENCES ${db}.players (player_id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE ${db}.chat_log (message TEXT NULL, sent_at DATETIME(6) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    `CREATE TABLE ${db}.counters (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, label VARCHAR(16) NOT NULL) ENGINE=InnoDB`,
    `CREATE TABLE ${db}.landmarks (landmark_id INT NOT NULL PRIMARY KEY, location POINT NOT NULL, name VARCHAR(32) NOT NULL) ENGINE=InnoDB`,
    `CREATE SEQUENCE ${db}.ticket_seq START WITH 100 INCREMENT BY 5`,
    `CREATE VIEW ${db}.rich_players AS SELECT player_id, player_name FROM ${db}.players WHERE balance > 100`,
    `CREATE VIEW ${db}.rich_names AS SELECT player_name FROM ${db}.rich_players`,
  ];
  for (const statement of statements) await pool.query(statement);
}

const EMOJI = ['🐉 dragon', 'héros ⚔️', "O'Brien \\ \"quoted\"", 'line\nbreak\ttab', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', ''];

export function playerRow(id: number): unknown[] {
  const maybe = <T>(value: T) => (id % 7 === 0 ? null : value);
  return [
    id,
    `${EMOJI[id % EMOJI.length]} #${id}`,
    1 + (id % 90),
    maybe(JSON.stringify({ zone: '🌋 volcano', hp: id % 1000, tags: ['a', `b${id}`], nested: { ok: id % 2 === 0 } })),
    maybe(Buffer.from([0, id % 256, 255, 39, 92, 10, 0])),
    `${id % 3 === 0 ? '-' : ''}${id}.${String(id % 1_000_000).padStart(6, '0')}`,
    maybe(id / 7),
    maybe(id / 3),
    maybe(Buffer.from([id % 256])),
    `2026-01-${String(1 + (id % 28)).padStart(2, '0')} 12:34:56.${String(id % 1_000_000).padStart(6, '0')}`,
    maybe(`2026-02-01 00:00:0${id % 10}.123`),
  ];
}

/** Players 1..n, three inventory slots each, five landmarks, a keyless chat log, counters including id 0; then the trigger. */
export async function seedGameData(pool: Pool, database: string, players: number): Promise<void> {
  const db = quoteIdentifier(database);
  // Tickets 100, 105 and 110 are handed out.
  await pool.query(`SELECT NEXTVAL(${db}.ticket_seq), NEXTVAL(${db}.ticket_seq), NEXTVAL(${db}.ticket_seq)`);
  for (let start = 1; start <= players; start += 500) {
    const rows = Array.from({ length: Math.min(500, players - start + 1) }, (_, index) => playerRow(start + index));
    await pool.query(`INSERT INTO ${db}.players (player_id, player_name, level, profile, avatar, balance, score, speed, flags, created_at, seen_at) VALUES ?`, [rows]);
    const slots = rows.flatMap(([id]) => [0, 1, 2].map((slot) => [id, slot, slot === 2 ? null : `item-${slot}-✨`, (Number(id) * 3 + slot) % 50]));
    await pool.query(`INSERT INTO ${db}.inventory (player_id, slot, item, quantity) VALUES ?`, [slots]);
  }
  const chat = Array.from({ length: 40 }, (_, index) => [index % 5 === 0 ? null : `msg ${index % 10} 💬`, index % 4 === 0 ? null : `2026-03-01 10:00:00.00000${index % 10}`]);
  await pool.query(`INSERT INTO ${db}.chat_log (message, sent_at) VALUES ?`, [chat]);
  for (let id = 1; id <= 5; id++) {
    await pool.query(`INSERT INTO ${db}.landmarks VALUES (?, ST_GeomFromText(?, 4326), ?)`, [id, `POINT(${id * 1.25} ${-id / 3})`, `landmark ${id}`]);
  }
  const connection = await pool.getConnection();
  try {
    await connection.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')`);
    await connection.query(`INSERT INTO ${db}.counters (id, label) VALUES (0, 'zero'), (5, 'five'), (6, 'six')`);
  } finally {
    connection.release();
  }
  await pool.query(`CREATE TRIGGER ${db}.inventory_bonus BEFORE INSERT ON ${db}.inventory FOR EACH ROW SET NEW.quantity = NEW.quantity + 1000`);
}

/** CHECKSUM TABLE per table: the server's own view of whether two databases hold the same rows. */
export async function serverChecksums(pool: Pool, database: string, tables: string[]): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of tables) {
    const [[row]] = (await pool.query(`CHECKSUM TABLE ${quoteIdentifier(database)}.${quoteIdentifier(table)} EXTENDED`)) as unknown as [[{ Checksum: string | number }]];
    result[table] = String(row.Checksum);
  }
  return result;
}
