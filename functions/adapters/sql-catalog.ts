import type { KeyOverride, KeyType, NodeRole, Shard, ShardKind, ShardMap, ShardMapDraft, ShardNode, ShardStatus, StrategyConfig } from '../core/shard-map-types';
import type { Catalog, MapVersionRecord, MigrationResult } from '../ports/catalog';
import { systemClock, type Clock } from '../ports/clock';
import type { SqlExecutor, SqlParams, SqlRow, SqlValue } from '../ports/sql';
import { StaleMapVersionError, ValidationError } from '../shared/errors';
import { migrate } from './catalog-migrations';
import { chunks } from './sql-chunks';
import { epochFromSql, sqlTime } from './sql-time';

/** Rows per multi-row INSERT or DELETE: few round trips, statements well inside Data API limits. */
const BATCH_ROWS = 100;
/** Override rows per read, so no result outgrows the Data API's 1 MiB response limit. */
const OVERRIDE_PAGE_ROWS = 2_000;

/** The Catalog over any SqlExecutor (mysql2 locally, the Data API in AWS): one SQL text for both. */
export class SqlCatalog implements Catalog {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly clock: Clock = systemClock,
  ) {}

  migrate(): Promise<MigrationResult> {
    return migrate(this.sql);
  }

  async mapVersion(): Promise<number | undefined> {
    const [state] = await this.sql.query('SELECT version FROM sk_shard_map_state WHERE id = 1');
    return versionOf(state);
  }

  async loadShardMap(): Promise<ShardMap | undefined> {
    // One transaction (one REPEATABLE READ snapshot), so the four reads see one committed map.
    return this.sql.transaction(async (tx) => {
      const [state] = await tx.query('SELECT version, key_type, strategy, updated_at FROM sk_shard_map_state WHERE id = 1');
      const version = versionOf(state);
      if (version === undefined || !state) return undefined;
      const keyType = String(state.key_type) as KeyType;
      const shardRows = await tx.query('SELECT name, database_name, status, kind FROM sk_shards ORDER BY ordinal');
      const nodeRows = await tx.query(
        `SELECT node_id, shard_name, role, host, port, secret_ref FROM sk_shard_nodes
         ORDER BY shard_name, CASE role WHEN 'primary' THEN 0 ELSE 1 END, ordinal`,
      );
      const overrides = await readOverrides(tx, SELECT_OVERRIDES_PAGE);
      if (keyType === 'uint64') overrides.sort(byNumericKey);

      const nodesByShard = new Map<string, ShardNode[]>();
      for (const row of nodeRows) {
        const shardName = String(row.shard_name);
        nodesByShard.set(shardName, [...(nodesByShard.get(shardName) ?? []), toNode(row)]);
      }
      const shards = shardRows.map((row): Shard => ({
        name: String(row.name),
        database: String(row.database_name),
        status: String(row.status) as ShardStatus,
        kind: String(row.kind) as ShardKind,
        nodes: nodesByShard.get(String(row.name)) ?? [],
      }));
      return {
        keyType,
        strategy: JSON.parse(String(state.strategy)) as StrategyConfig,
        shards,
        overrides,
        version,
        updatedAt: isoFromSql(String(state.updated_at)),
      };
    });
  }

  async commitShardMap(draft: ShardMapDraft, expectedVersion: number, summary: string): Promise<ShardMap> {
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
      throw new ValidationError(`expected map version must be a non-negative integer, got ${expectedVersion}`);
    }
    const updatedAt = new Date(this.clock.now()).toISOString();
    const map: ShardMap = {
      keyType: draft.keyType,
      strategy: draft.strategy,
      shards: draft.shards,
      overrides: draft.overrides,
      version: expectedVersion + 1,
      updatedAt,
    };
    await this.sql.transaction(async (tx) => {
      // The state row lock serialises writers: a second writer waits here, then matches no row.
      const bumped = await tx.execute(
        `UPDATE sk_shard_map_state SET version = version + 1, key_type = :keyType, strategy = :strategy, updated_at = :updatedAt
         WHERE id = 1 AND version = :expectedVersion`,
        { keyType: map.keyType, strategy: JSON.stringify(map.strategy), updatedAt: sqlTime(Date.parse(updatedAt)), expectedVersion },
      );
      if (bumped.affectedRows !== 1) {
        const [state] = await tx.query('SELECT version FROM sk_shard_map_state WHERE id = 1');
        throw new StaleMapVersionError(expectedVersion, versionOf(state));
      }
      // Nodes go with their shard (ON DELETE CASCADE).
      await tx.execute('DELETE FROM sk_shards');
      await insertRows(
        tx,
        'INSERT INTO sk_shards (name, ordinal, database_name, status, kind) VALUES',
        map.shards.map((shard, ordinal) => [shard.name, ordinal, shard.database, shard.status, shard.kind]),
      );
      await insertRows(
        tx,
        'INSERT INTO sk_shard_nodes (node_id, shard_name, ordinal, role, host, port, secret_ref) VALUES',
        map.shards.flatMap((shard) =>
          shard.nodes.map((node, ordinal) => [node.id, shard.name, ordinal, node.role, node.host, node.port, node.secretRef ?? null]),
        ),
      );
      await replaceOverrides(tx, map.overrides);
      await tx.execute(
        'INSERT INTO sk_shard_map_versions (version, summary, snapshot, changed_at) VALUES (:version, :summary, :snapshot, :changedAt)',
        { version: map.version, summary, snapshot: JSON.stringify(map), changedAt: sqlTime(Date.parse(updatedAt)) },
      );
    });
    return map;
  }

  async mapHistory(limit: number): Promise<MapVersionRecord[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new ValidationError(`history limit must be a positive integer, got ${limit}`);
    const rows = await this.sql.query('SELECT version, summary, changed_at FROM sk_shard_map_versions ORDER BY version DESC LIMIT :limit', {
      limit,
    });
    return rows.map((row) => ({ version: Number(row.version), summary: String(row.summary), changedAt: isoFromSql(String(row.changed_at)) }));
  }
}

// Keys are stored as bytes; CONVERT hands them back as text through both executors. Pages follow the key index.
const SELECT_OVERRIDES_PAGE = `SELECT CONVERT(override_key USING utf8mb4) AS key_text, shard_name, moving FROM sk_key_overrides
  WHERE override_key > :after ORDER BY override_key LIMIT ${OVERRIDE_PAGE_ROWS}`;
// FOR UPDATE reads the latest committed rows whatever snapshot the transaction started with.
const SELECT_OVERRIDES_PAGE_FOR_UPDATE = `${SELECT_OVERRIDES_PAGE} FOR UPDATE`;

/** All overrides in byte order of their keys, read page by page. */
async function readOverrides(tx: SqlExecutor, pageSql: string): Promise<KeyOverride[]> {
  const overrides: KeyOverride[] = [];
  let page: KeyOverride[];
  do {
    page = (await tx.query(pageSql, { after: overrides.at(-1)?.key ?? '' })).map(toOverride);
    overrides.push(...page);
  } while (page.length === OVERRIDE_PAGE_ROWS);
  return overrides;
}

/** Canonical decimals (no leading zeros) order numerically by length, then digits. */
function byNumericKey(a: KeyOverride, b: KeyOverride): number {
  return a.key.length - b.key.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/** Writes only the overrides that changed: maps can carry many, and most commits touch few. */
async function replaceOverrides(tx: SqlExecutor, overrides: KeyOverride[]): Promise<void> {
  const stored = new Map((await readOverrides(tx, SELECT_OVERRIDES_PAGE_FOR_UPDATE)).map((override) => [override.key, override]));
  const wanted = new Set(overrides.map((override) => override.key));
  const changed = overrides.filter((override) => {
    const current = stored.get(override.key);
    return !current || current.shard !== override.shard || current.moving !== override.moving;
  });
  const removed = [...stored.keys()].filter((key) => !wanted.has(key));

  for (const batch of chunks(removed, BATCH_ROWS)) {
    const params = Object.fromEntries(batch.map((key, index) => [`k${index}`, key]));
    await tx.execute(`DELETE FROM sk_key_overrides WHERE override_key IN (${Object.keys(params).map((name) => `:${name}`).join(', ')})`, params);
  }
  await insertRows(
    tx,
    'INSERT INTO sk_key_overrides (override_key, shard_name, moving) VALUES',
    changed.map((override) => [override.key, override.shard, override.moving]),
    ' ON DUPLICATE KEY UPDATE shard_name = VALUES(shard_name), moving = VALUES(moving)',
  );
}

/** Multi-row INSERT in batches, every value a bound parameter (`:r<row>c<column>`). */
async function insertRows(tx: SqlExecutor, insertInto: string, rows: SqlValue[][], suffix = ''): Promise<void> {
  for (const batch of chunks(rows, BATCH_ROWS)) {
    const params: SqlParams = {};
    const tuples = batch.map((row, r) => {
      const names = row.map((value, c) => {
        params[`r${r}c${c}`] = value;
        return `:r${r}c${c}`;
      });
      return `(${names.join(', ')})`;
    });
    await tx.execute(`${insertInto} ${tuples.join(', ')}${suffix}`, params);
  }
}

/** Version 0 is the seeded "no map yet". */
function versionOf(state: SqlRow | undefined): number | undefined {
  const version = Number(state?.version ?? 0);
  return version > 0 ? version : undefined;
}

function toNode(row: SqlRow): ShardNode {
  const node: ShardNode = { id: String(row.node_id), role: String(row.role) as NodeRole, host: String(row.host), port: Number(row.port) };
  if (row.secret_ref !== null && row.secret_ref !== undefined) node.secretRef = String(row.secret_ref);
  return node;
}

function toOverride(row: SqlRow): KeyOverride {
  // BOOLEAN is TINYINT(1): mysql2 returns 0/1, the Data API a long or a boolean.
  return { key: String(row.key_text), shard: String(row.shard_name), moving: row.moving === true || Number(row.moving) === 1 };
}

function isoFromSql(value: string): string {
  return new Date(epochFromSql(value)).toISOString();
}
