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
  {
    version: 2,
    name: 'node-health',
    statements: [
      // No foreign keys to the map tables: every map commit rewrites them, and health must outlive that.
      `CREATE TABLE IF NOT EXISTS sk_node_health (
        shard_name VARCHAR(64) NOT NULL,
        node_id VARCHAR(128) NOT NULL,
        state VARCHAR(16) NOT NULL,
        consecutive_failures INT UNSIGNED NOT NULL,
        consecutive_successes INT UNSIGNED NOT NULL,
        last_uptime_seconds BIGINT UNSIGNED NULL,
        changed_at DATETIME(3) NOT NULL,
        last_probe JSON NULL,
        last_probe_at DATETIME(3) NULL,
        PRIMARY KEY (shard_name, node_id)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_shard_health (
        shard_name VARCHAR(64) NOT NULL,
        verdict VARCHAR(32) NOT NULL,
        findings JSON NOT NULL,
        since DATETIME(3) NOT NULL,
        updated_at DATETIME(3) NOT NULL,
        PRIMARY KEY (shard_name)
      ) ${TABLE_OPTIONS}`,
      // One row per monitored partition of the fleet; an expired row may be taken over.
      `CREATE TABLE IF NOT EXISTS sk_monitor_leases (
        name VARCHAR(128) NOT NULL,
        owner VARCHAR(255) NOT NULL,
        acquired_at DATETIME(3) NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        PRIMARY KEY (name)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 3,
    name: 'recovery',
    statements: [
      // A shard without a row has recovery enabled and no failover on record.
      `CREATE TABLE IF NOT EXISTS sk_recovery_settings (
        shard_name VARCHAR(64) NOT NULL,
        enabled BOOLEAN NOT NULL DEFAULT TRUE,
        last_failover_at DATETIME(3) NULL,
        acknowledged_at DATETIME(3) NULL,
        updated_by VARCHAR(255) NULL,
        updated_at DATETIME(3) NOT NULL,
        PRIMARY KEY (shard_name)
      ) ${TABLE_OPTIONS}`,
      // One row per shard under recovery; an expired row may be taken over.
      `CREATE TABLE IF NOT EXISTS sk_recovery_locks (
        shard_name VARCHAR(64) NOT NULL,
        recovery_id VARCHAR(128) NOT NULL,
        acquired_at DATETIME(3) NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        PRIMARY KEY (shard_name)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_recovery_audit (
        audit_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        recovery_id VARCHAR(128) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        step VARCHAR(64) NOT NULL,
        outcome VARCHAR(16) NOT NULL,
        detail JSON NOT NULL,
        recorded_at DATETIME(3) NOT NULL,
        PRIMARY KEY (audit_id),
        KEY sk_recovery_audit_shard (shard_name, audit_id),
        KEY sk_recovery_audit_recovery (recovery_id, audit_id)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_recovery_approvals (
        recovery_id VARCHAR(128) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        kind VARCHAR(32) NOT NULL,
        task_token TEXT NOT NULL,
        reason TEXT NOT NULL,
        requested_at DATETIME(3) NOT NULL,
        decision VARCHAR(16) NULL,
        decided_by VARCHAR(255) NULL,
        decided_at DATETIME(3) NULL,
        PRIMARY KEY (recovery_id),
        KEY sk_recovery_approvals_requested (requested_at)
      ) ${TABLE_OPTIONS}`,
      // Nodes a recovery took out of the map, kept whole so they can be put back.
      `CREATE TABLE IF NOT EXISTS sk_recovery_removed_nodes (
        shard_name VARCHAR(64) NOT NULL,
        node_id VARCHAR(128) NOT NULL,
        node JSON NOT NULL,
        reason VARCHAR(32) NOT NULL,
        recovery_id VARCHAR(128) NOT NULL,
        removed_at DATETIME(3) NOT NULL,
        PRIMARY KEY (shard_name, node_id)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 4,
    name: 'archive',
    statements: [
      // One row per archive batch, written before each side effect (see core/archive-manifest.ts).
      `CREATE TABLE IF NOT EXISTS sk_archive_batches (
        batch_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        unit_name VARCHAR(130) NOT NULL,
        run_id VARCHAR(128) NOT NULL,
        object_key VARCHAR(700) NOT NULL,
        dt CHAR(10) NOT NULL,
        state VARCHAR(16) NOT NULL,
        delete_mode VARCHAR(8) NOT NULL,
        row_count INT UNSIGNED NOT NULL,
        bytes BIGINT UNSIGNED NOT NULL,
        raw_bytes BIGINT UNSIGNED NOT NULL,
        sha256 CHAR(64) NOT NULL,
        first_cursor JSON NOT NULL,
        last_cursor JSON NOT NULL,
        created_at DATETIME(3) NOT NULL,
        updated_at DATETIME(3) NOT NULL,
        PRIMARY KEY (batch_id),
        UNIQUE KEY sk_archive_batches_object (object_key),
        KEY sk_archive_batches_state (table_name, shard_name, state, batch_id),
        KEY sk_archive_batches_unit (table_name, shard_name, unit_name, batch_id),
        KEY sk_archive_batches_dt (table_name, shard_name, dt)
      ) ${TABLE_OPTIONS}`,
      // Scan position per unit within a run; a new run of the live table starts from the oldest row again.
      `CREATE TABLE IF NOT EXISTS sk_archive_cursors (
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        unit_name VARCHAR(130) NOT NULL,
        run_id VARCHAR(128) NOT NULL,
        cursor_values JSON NOT NULL,
        updated_at DATETIME(3) NOT NULL,
        PRIMARY KEY (table_name, shard_name, unit_name)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_archive_runs (
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        run_id VARCHAR(128) NOT NULL,
        cutoff DATETIME(3) NOT NULL,
        status VARCHAR(16) NOT NULL,
        row_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
        batch_count INT UNSIGNED NOT NULL DEFAULT 0,
        bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
        raw_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
        started_at DATETIME(3) NOT NULL,
        finished_at DATETIME(3) NULL,
        error TEXT NULL,
        PRIMARY KEY (table_name, shard_name, run_id),
        KEY sk_archive_runs_started (started_at)
      ) ${TABLE_OPTIONS}`,
      // Partitions and date-named tables taken out of service to be archived whole, then dropped.
      `CREATE TABLE IF NOT EXISTS sk_archive_units (
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        unit_name VARCHAR(130) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        source_table VARCHAR(64) NOT NULL,
        partition_name VARCHAR(64) NULL,
        detached_table VARCHAR(64) NOT NULL,
        state VARCHAR(16) NOT NULL,
        row_count BIGINT UNSIGNED NULL,
        created_at DATETIME(3) NOT NULL,
        dropped_at DATETIME(3) NULL,
        PRIMARY KEY (table_name, shard_name, unit_name)
      ) ${TABLE_OPTIONS}`,
      // One archiver per table and shard at a time; an expired lease may be taken over.
      `CREATE TABLE IF NOT EXISTS sk_archive_leases (
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        owner VARCHAR(128) NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        PRIMARY KEY (table_name, shard_name)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 5,
    name: 'backups',
    statements: [
      // One row per backup run; every shard's backup of the run shares its id and map version.
      `CREATE TABLE IF NOT EXISTS sk_backup_epochs (
        epoch_id VARCHAR(64) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        map_version INT UNSIGNED NOT NULL,
        shards JSON NOT NULL,
        requested_by VARCHAR(255) NOT NULL,
        status VARCHAR(16) NOT NULL,
        started_at DATETIME(3) NOT NULL,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (epoch_id),
        KEY sk_backup_epochs_started (started_at)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS sk_backups (
        backup_id VARCHAR(64) NOT NULL,
        epoch_id VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        database_name VARCHAR(64) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        status VARCHAR(24) NOT NULL,
        retention_class VARCHAR(8) NOT NULL,
        source_node VARCHAR(128) NULL,
        dump_mode VARCHAR(16) NULL,
        binlog_file VARCHAR(255) NULL,
        binlog_position BIGINT UNSIGNED NULL,
        gtid TEXT NULL,
        started_at DATETIME(3) NOT NULL,
        consistent_at DATETIME(3) NULL,
        finished_at DATETIME(3) NULL,
        expires_at DATETIME(3) NOT NULL,
        bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
        row_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
        manifest_key VARCHAR(1024) NULL,
        manifest_sha256 VARCHAR(64) NULL,
        snapshot_id VARCHAR(255) NULL,
        snapshot_arn VARCHAR(2048) NULL,
        base_backup_id VARCHAR(64) NULL,
        progress JSON NULL,
        error TEXT NULL,
        verified_at DATETIME(3) NULL,
        restore_seconds DOUBLE NULL,
        detail JSON NOT NULL,
        PRIMARY KEY (backup_id),
        KEY sk_backups_shard (shard_name, kind, started_at),
        KEY sk_backups_epoch (epoch_id),
        KEY sk_backups_expiry (status, expires_at)
      ) ${TABLE_OPTIONS}`,
      // Every object a backup wrote, with what verification and recovery planning need to know of it.
      `CREATE TABLE IF NOT EXISTS sk_backup_objects (
        backup_id VARCHAR(64) NOT NULL,
        seq INT UNSIGNED NOT NULL,
        role VARCHAR(16) NOT NULL,
        object_key VARCHAR(1024) NOT NULL,
        bytes BIGINT UNSIGNED NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        table_name VARCHAR(64) NULL,
        chunk_index INT UNSIGNED NULL,
        row_count BIGINT UNSIGNED NULL,
        rows_sha256 CHAR(64) NULL,
        last_key JSON NULL,
        binlog_file VARCHAR(255) NULL,
        first_event_at DATETIME(3) NULL,
        last_event_at DATETIME(3) NULL,
        covered_until DATETIME(3) NULL,
        PRIMARY KEY (backup_id, seq)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 6,
    name: 'archive-runs-by-execution',
    // The workflow's Summarize step reads every (table, shard) run of one execution.
    statements: ['ALTER TABLE sk_archive_runs ADD KEY sk_archive_runs_run (run_id)'],
  },
  {
    version: 7,
    name: 'archive-restored-rows',
    statements: [
      // Rows `archive restore` put back into a live table, each a line of a verified object: the next
      // run deletes them again without archiving them twice (see core/archive-restored.ts).
      `CREATE TABLE IF NOT EXISTS sk_archive_restored (
        table_name VARCHAR(64) NOT NULL,
        shard_name VARCHAR(64) NOT NULL,
        key_id CHAR(64) NOT NULL,
        row_time VARCHAR(40) NOT NULL,
        line_sha256 CHAR(64) NOT NULL,
        object_key VARCHAR(700) NOT NULL,
        object_sha256 CHAR(64) NOT NULL,
        restored_at DATETIME(3) NOT NULL,
        PRIMARY KEY (table_name, shard_name, key_id),
        KEY sk_archive_restored_time (table_name, shard_name, row_time)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 8,
    name: 'archive-batch-restored-rows',
    // Rows of a batch's range that an earlier object holds (restored rows), beside the row_count its own object holds.
    statements: ['ALTER TABLE sk_archive_batches ADD COLUMN restored_rows INT UNSIGNED NOT NULL DEFAULT 0 AFTER row_count'],
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
