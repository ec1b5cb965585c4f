import type { Pool } from 'mysql2/promise';
import { createRouter } from '../core/router';
import type { Shard, ShardMapDraft } from '../core/shard-map-types';
import { quoteIdentifier } from '../shared/identifiers';

/** The chapter's players table (SEED-NOTES §2), created in every demo shard. */
const playersDdl = (database: string) => `CREATE TABLE IF NOT EXISTS ${database}.players (
  player_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  player_name VARCHAR(64) NOT NULL,
  level INT NOT NULL DEFAULT 1,
  experience BIGINT NOT NULL DEFAULT 0,
  location_data JSON NULL,
  last_updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY idx_players_name (player_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const INSERT_BATCH = 1000;
const ZONES = ['forest', 'desert', 'harbor', 'tundra', 'citadel'];

/** Where a shard's primary takes writes: one server for a plain demo fleet, one per shard when replicated. */
export type PoolForShard = (shard: Shard) => Pool;

export async function provisionShardDatabases(poolFor: PoolForShard, draft: ShardMapDraft): Promise<void> {
  for (const shard of draft.shards) {
    const database = quoteIdentifier(shard.database, 'shard database');
    await poolFor(shard).query(`CREATE DATABASE IF NOT EXISTS ${database} CHARACTER SET utf8mb4`);
    await poolFor(shard).query(playersDdl(database));
  }
}

function playerRow(id: number): [string, string, number, number, string] {
  const level = 1 + (id % 97);
  const location = { zone: ZONES[id % ZONES.length], x: (id * 37) % 1000, y: (id * 91) % 1000 };
  return [String(id), `player_${id}`, level, level * 1000 + (id % 1000), JSON.stringify(location)];
}

/**
 * Seeds players 1..count, each into the shard the map routes it to.
 * Idempotent: existing rows are left alone, so a re-run only fills what is missing.
 */
export async function seedPlayers(poolFor: PoolForShard, draft: ShardMapDraft, count: number): Promise<{ inserted: number; perShard: Record<string, number> }> {
  const router = createRouter(draft);
  const byShard = new Map<Shard, number[]>();
  for (let id = 1; id <= count; id++) {
    const shard = router.routeText(String(id)).shard;
    let ids = byShard.get(shard);
    if (!ids) byShard.set(shard, (ids = []));
    ids.push(id);
  }
  let inserted = 0;
  const perShard: Record<string, number> = {};
  for (const [shard, ids] of byShard) {
    const { database } = shard;
    const admin = poolFor(shard);
    const table = `${quoteIdentifier(database)}.players`;
    const [[existing]] = (await admin.query(`SELECT COUNT(*) AS n FROM ${table} WHERE player_id BETWEEN 1 AND ?`, [count])) as unknown as [[{ n: number }]];
    perShard[database] = ids.length;
    if (Number(existing.n) === ids.length) continue;
    for (let start = 0; start < ids.length; start += INSERT_BATCH) {
      const rows = ids.slice(start, start + INSERT_BATCH).map(playerRow);
      const [result] = (await admin.query(`INSERT IGNORE INTO ${table} (player_id, player_name, level, experience, location_data) VALUES ?`, [rows])) as unknown as [{ affectedRows: number }];
      inserted += result.affectedRows;
    }
  }
  return { inserted, perShard };
}

/** Drops the sandbox catalog and every shard database of a fleet, whatever its size. */
export async function dropSandboxDatabases(admin: Pool, databasePrefix: string): Promise<void> {
  const escaped = databasePrefix.replace(/[\\_%]/g, (char) => `\\${char}`);
  const [rows] = (await admin.query('SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = ? OR schema_name LIKE ?', [
    `${databasePrefix}catalog`,
    `${escaped}shard\\_%`,
  ])) as unknown as [Array<{ name: string }>];
  for (const { name } of rows) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
}
