import { createHash } from 'node:crypto';
import type { MigrationResult } from '../ports/catalog';
import type { SqlExecutor } from '../ports/sql';
import { CatalogUnavailableError, ConfigError } from '../shared/errors';

/**
 * One schema step. Statements must be idempotent (CREATE TABLE IF NOT EXISTS, INSERT IGNORE, ...):
 * DDL commits implicitly, so a migration that fails half-way is simply applied again.
 * Never edit an applied migration; append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

/** Shared by every table: InnoDB, utf8mb4, binary collation so names compare exactly. */
const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** The catalog schema, in version order. Later capabilities append their tables here. */
export const catalogMigrations: Migration[] = [
  {
    version: 1,
    name: 'shard-map',
    statements: [
      // One row (id = 1), seeded at version 0 = "no map yet", so every commit is the same conditional UPDATE.
      `CREATE TABLE IF NOT EXISTS sk_shard_map_state (
        id TINYINT UNSIGNED NOT NULL,
        version INT UNSIGNED NOT NULL,
        key_type VARCHAR(16) NULL,
        strategy JSON NULL,
        updated_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        CONSTRAINT sk_shard_map_state_single_row CHECK (id = 1)
      ) ${TABLE_OPTIONS}`,
      `INSERT IGNORE INTO sk_shard_map_state (id, version) VALUES (1, 0)`,
      `CREATE TABLE IF NOT EXISTS sk_shards (
        name VARCHAR(64) NOT NULL,
        ordinal INT UNSIGNED NOT NULL,
        database_name VARCHAR(64) NOT NULL,
        status VARCHAR(16) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        PRIMARY KEY (name),
        UNIQUE KEY sk_shards_ordinal (ordinal)
      ) ${TABLE_OPTIONS}`,
      // Node ids are unique within a shard: a logical split leaves both halves on the same nodes.
      `CREATE TABLE IF NOT EXISTS sk_shard_nodes (
        node_id VARCHAR(128) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        ordinal INT UNSIGNED NOT NULL,
        role VARCHAR(16) NOT NULL,
        host VARCHAR(255) NOT NULL,
        port SMALLINT UNSIGNED NOT NULL,
        secret_ref VARCHAR(2048) NULL,
        PRIMARY KEY (shard_name, node_id),
        CONSTRAINT sk_shard_nodes_shard_fk FOREIGN KEY (shard_name) REFERENCES sk_shards (name) ON DELETE CASCADE
      ) ${TABLE_OPTIONS}`,
      // Keys are bytes: no trailing-space padding or collation folding can merge two distinct keys.
      `CREATE TABLE IF NOT EXISTS sk_key_overrides (
        override_key VARBINARY(1020) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        moving BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (override_key),
        KEY sk_key_overrides_shard (shard_name)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_shard_map_versions (
        version INT UNSIGNED NOT NULL,
        summary TEXT NOT NULL,
        snapshot JSON NOT NULL,
        changed_at DATETIME(3) NOT NULL,
        PRIMARY KEY (version)
      ) ${TABLE_OPTIONS}`,
    ],
  },
];

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS sk_schema_migrations (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(128) NOT NULL,
  checksum CHAR(64) NOT NULL,
  applied_at DATETIME(3) NOT NULL,
  PRIMARY KEY (version)
) ${TABLE_OPTIONS}`;

/** Server-wide lock names are at most 64 characters; scoping by database lets catalogs sharing a server migrate independently. */
const LOCK_NAME_SQL = "CONCAT('sk_migrate.', LEFT(DATABASE(), 53))";
const LOCK_WAIT_SECONDS = 20;

/** sha256 of the statements with whitespace collapsed, so re-indenting source does not count as a change. */
export function migrationChecksum(migration: Migration): string {
  const normalized = migration.statements.map((statement) => statement.replace(/\s+/g, ' ').trim());
  return createHash('sha256').update(JSON.stringify(normalized)).digest('hex');
}

/**
 * Applies pending migrations in version order under a named server lock, so concurrent callers
 * queue instead of racing; refuses to run when an applied migration's statements changed.
 */
export async function migrate(executor: SqlExecutor, migrations: readonly Migration[] = catalogMigrations): Promise<MigrationResult> {
  const ordered = inVersionOrder(migrations);
  // GET_LOCK belongs to a session; a transaction is how both executors pin one connection.
  return executor.transaction(async (session) => {
    const [lock] = await session.query(`SELECT GET_LOCK(${LOCK_NAME_SQL}, :waitSeconds) AS acquired`, { waitSeconds: LOCK_WAIT_SECONDS });
    if (Number(lock?.acquired) !== 1) {
      throw new CatalogUnavailableError(`another process held the catalog migration lock for more than ${LOCK_WAIT_SECONDS}s`);
    }
    try {
      await session.execute(CREATE_MIGRATIONS_TABLE);
      const rows = await session.query('SELECT version, checksum FROM sk_schema_migrations');
      const recorded = new Map(rows.map((row) => [Number(row.version), String(row.checksum)]));
      for (const migration of ordered) assertUnchanged(migration, recorded.get(migration.version));

      const applied: number[] = [];
      for (const migration of ordered.filter(({ version }) => !recorded.has(version))) {
        for (const statement of migration.statements) await session.execute(statement);
        await session.execute(
          'INSERT INTO sk_schema_migrations (version, name, checksum, applied_at) VALUES (:version, :name, :checksum, UTC_TIMESTAMP(3))',
          { version: migration.version, name: migration.name, checksum: migrationChecksum(migration) },
        );
        applied.push(migration.version);
      }
      return { applied, current: Math.max(0, ...recorded.keys(), ...applied) };
    } finally {
      await session.query(`SELECT RELEASE_LOCK(${LOCK_NAME_SQL}) AS released`);
    }
  });
}

function inVersionOrder(migrations: readonly Migration[]): Migration[] {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((migration, index) => {
    if (!Number.isSafeInteger(migration.version) || migration.version < 1 || migration.version === ordered[index - 1]?.version) {
      throw new ConfigError(`catalog migration versions must be unique positive integers; got ${migration.version} (${migration.name})`);
    }
  });
  return ordered;
}

function assertUnchanged(migration: Migration, recordedChecksum: string | undefined): void {
  const checksum = migrationChecksum(migration);
  if (recordedChecksum !== undefined && recordedChecksum !== checksum) {
    throw new ConfigError(
      `catalog migration ${migration.version} (${migration.name}) changed after it was applied ` +
        `(recorded checksum ${recordedChecksum.slice(0, 12)}, now ${checksum.slice(0, 12)}); add a new migration instead of editing an applied one`,
      { details: { version: migration.version, recordedChecksum, checksum } },
    );
  }
}
