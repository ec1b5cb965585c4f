import type { Pool } from 'mysql2/promise';
import { boundLiteral, dailyTableName, nextUnit, partitionName, unitStart, type PartitionUnit } from '../core/archive-partitions';
import { quoteIdentifier } from '../shared/identifiers';

/**
 * The chapter's game_logs (SEED-NOTES §8) for the sandbox, tests and benchmarks: the plain table,
 * a RANGE-partitioned variant (by day or month) and date-named tables (`game_logs_YYYYMMDD`,
 * the practice project of §11), seeded with months of deterministic logs.
 */

const DAY_MS = 86_400_000;
const INSERT_ROWS = 5_000;
const ACTIONS = ['login', 'logout', 'move', 'chat', 'trade', 'quest_complete', 'level_up', 'purchase'];
const ZONES = ['forest', 'desert', 'harbor', 'tundra', 'citadel'];

export interface GameLogsPartitioning {
  unit: PartitionUnit;
  /** Partitions cover [from, to), one per unit, plus a MAXVALUE partition. */
  from: number;
  to: number;
}

/**
 * The chapter's columns and indexes, plus an index on created_at alone: the archiver scans by
 * (created_at, log_id), which InnoDB serves from it since secondary indexes carry the primary key.
 * A partitioned table must have the partitioning column in its primary key.
 */
export function gameLogsDdl(database: string, table: string, partitioning?: GameLogsPartitioning): string {
  const name = `${quoteIdentifier(database, 'database')}.${quoteIdentifier(table, 'table')}`;
  const primaryKey = partitioning ? 'PRIMARY KEY (log_id, created_at)' : 'PRIMARY KEY (log_id)';
  return `CREATE TABLE IF NOT EXISTS ${name} (
    log_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    player_id BIGINT UNSIGNED NOT NULL,
    action_type VARCHAR(50) NOT NULL,
    action_data JSON NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    ${primaryKey},
    KEY idx_player_time (player_id, created_at),
    KEY idx_action_time (action_type, created_at),
    KEY idx_created (created_at)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4${partitioning ? `\n  ${partitionClause(partitioning)}` : ''}`;
}

function partitionClause({ unit, from, to }: GameLogsPartitioning): string {
  const scheme = { kind: unit === 'day' ? ('to_days' as const) : ('columns' as const), column: 'created_at' };
  const partitions: string[] = [];
  for (let start = unitStart(from, unit); start < to; start = nextUnit(start, unit)) {
    partitions.push(`PARTITION ${partitionName(start, unit)} VALUES LESS THAN (${boundLiteral(scheme, nextUnit(start, unit))})`);
  }
  partitions.push('PARTITION pmax VALUES LESS THAN (MAXVALUE)');
  const by = unit === 'day' ? 'RANGE (TO_DAYS(created_at))' : 'RANGE COLUMNS (created_at)';
  return `PARTITION BY ${by} (\n    ${partitions.join(',\n    ')}\n  )`;
}

export async function createGameLogsTable(pool: Pool, database: string, table = 'game_logs', partitioning?: GameLogsPartitioning): Promise<void> {
  await pool.query(gameLogsDdl(database, table, partitioning));
}

export interface SeedOptions {
  /** Logs are spread evenly over [from, to), oldest first, so log_id grows with created_at. */
  from: number;
  to: number;
  rows: number;
  /** Players 1..players. */
  players?: number;
  /** Varies the players and actions for the same time range. */
  seed?: number;
}

/** A log row: [player_id, action_type, action_data, created_at]. Deterministic in (index, seed). */
export function gameLogRow(index: number, time: number, players: number, seed: number): [string, string, string, string] {
  const mix = Math.imul(index + 1, 2654435761) ^ Math.imul(seed + 7, 40503);
  const positive = mix >>> 0;
  const action = ACTIONS[positive % ACTIONS.length]!;
  const data = { zone: ZONES[(positive >>> 3) % ZONES.length], x: (positive >>> 5) % 1000, y: (positive >>> 11) % 1000, item: positive % 5000, note: `${action}#${index}` };
  return [String(1 + (positive % players)), action, JSON.stringify(data), new Date(time).toISOString().slice(0, 23).replace('T', ' ')];
}

/** Inserts `rows` logs into an existing table; returns how many were inserted. */
export async function seedGameLogs(pool: Pool, database: string, table: string, options: SeedOptions): Promise<number> {
  const name = `${quoteIdentifier(database, 'database')}.${quoteIdentifier(table, 'table')}`;
  const players = options.players ?? 100_000;
  const step = (options.to - options.from) / Math.max(1, options.rows);
  let inserted = 0;
  for (let start = 0; start < options.rows; start += INSERT_ROWS) {
    const values = [];
    for (let index = start; index < Math.min(options.rows, start + INSERT_ROWS); index++) {
      values.push(gameLogRow(index, Math.floor(options.from + index * step), players, options.seed ?? 1));
    }
    const [result] = (await pool.query(`INSERT INTO ${name} (player_id, action_type, action_data, created_at) VALUES ?`, [values])) as unknown as [{ affectedRows: number }];
    inserted += result.affectedRows;
  }
  return inserted;
}

/** Date-named tables `<base>_YYYYMMDD` for each day in [from, to), each with `rowsPerDay` logs of its own day. */
export async function createDailyGameLogs(pool: Pool, database: string, base: string, options: { from: number; to: number; rowsPerDay: number; seed?: number }): Promise<string[]> {
  const tables: string[] = [];
  for (let day = Math.floor(options.from / DAY_MS) * DAY_MS; day < options.to; day += DAY_MS) {
    const table = dailyTableName(base, day);
    await createGameLogsTable(pool, database, table);
    await seedGameLogs(pool, database, table, { from: day, to: day + DAY_MS, rows: options.rowsPerDay, seed: options.seed ?? day / DAY_MS });
    tables.push(table);
  }
  return tables;
}
