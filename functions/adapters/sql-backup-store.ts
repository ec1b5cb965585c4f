import type { DumpMode, KeyValue, RetentionClass } from '../core/backup-manifest';
import type { ShardMap } from '../core/shard-map-types';
import {
  RESTORABLE_STATUSES,
  type BackupFilter,
  type BackupKind,
  type BackupObjectRecord,
  type BackupObjectRole,
  type BackupPatch,
  type BackupRecord,
  type BackupStatus,
  type BackupStore,
  type DumpProgress,
  type EpochKind,
  type EpochRecord,
  type EpochStatus,
  type NewBackup,
} from '../ports/backup-store';
import type { SqlExecutor, SqlParams, SqlRow, SqlValue } from '../ports/sql';
import { ValidationError } from '../shared/errors';
import { inList } from './sql-chunks';
import { epochFromSql, optionalEpochFromSql, sqlTime } from './sql-time';

/** Column of sk_backups for each patchable field, with how its value is written. */
const PATCH_COLUMNS: { [K in keyof Required<BackupPatch>]: [string, (value: Required<BackupPatch>[K]) => SqlValue][] } = {
  status: [['status', (value) => value]],
  position: [
    ['binlog_file', (value) => value?.file ?? null],
    ['binlog_position', (value) => value?.position ?? null],
    ['gtid', (value) => value?.gtid ?? null],
  ],
  consistentAt: [['consistent_at', (value) => optionalTime(value)]],
  finishedAt: [['finished_at', (value) => optionalTime(value)]],
  bytes: [['bytes', (value) => value]],
  rowCount: [['row_count', (value) => value]],
  manifestKey: [['manifest_key', (value) => value]],
  manifestSha256: [['manifest_sha256', (value) => value]],
  snapshotArn: [['snapshot_arn', (value) => value]],
  progress: [['progress', (value) => (value === null ? null : JSON.stringify(value))]],
  error: [['error', (value) => value]],
  verifiedAt: [['verified_at', (value) => optionalTime(value)]],
  restoreSeconds: [['restore_seconds', (value) => value]],
  detail: [['detail', (value) => JSON.stringify(value)]],
  retentionClass: [['retention_class', (value) => value]],
  expiresAt: [['expires_at', (value) => sqlTime(value)]],
};

const BACKUP_COLUMNS = `backup_id, epoch_id, shard_name, database_name, kind, status, retention_class, source_node, dump_mode,
  binlog_file, binlog_position, gtid, started_at, consistent_at, finished_at, expires_at, bytes, row_count, manifest_key,
  manifest_sha256, snapshot_id, snapshot_arn, base_backup_id, progress, error, verified_at, restore_seconds, detail`;

const OBJECT_COLUMNS = `seq, role, object_key, bytes, sha256, table_name, chunk_index, row_count, rows_sha256, last_key, binlog_file,
  first_event_at, last_event_at, covered_until`;

/** Backups in the catalog over any SqlExecutor (mysql2 locally, the Data API in AWS). */
export class SqlBackupStore implements BackupStore {
  constructor(private readonly sql: SqlExecutor) {}

  async createEpoch(epoch: Omit<EpochRecord, 'finishedAt' | 'status'>): Promise<void> {
    await this.sql.execute(
      `INSERT IGNORE INTO sk_backup_epochs (epoch_id, kind, map_version, shards, requested_by, status, started_at)
       VALUES (:epochId, :kind, :mapVersion, :shards, :requestedBy, 'running', :startedAt)`,
      { epochId: epoch.epochId, kind: epoch.kind, mapVersion: epoch.mapVersion, shards: JSON.stringify(epoch.shards), requestedBy: epoch.requestedBy, startedAt: sqlTime(epoch.startedAt) },
    );
  }

  async finishEpoch(epochId: string, status: EpochStatus, finishedAt: number): Promise<void> {
    await this.sql.execute('UPDATE sk_backup_epochs SET status = :status, finished_at = :finishedAt WHERE epoch_id = :epochId', {
      epochId,
      status,
      finishedAt: sqlTime(finishedAt),
    });
  }

  async epoch(epochId: string): Promise<EpochRecord | undefined> {
    const [row] = await this.sql.query('SELECT * FROM sk_backup_epochs WHERE epoch_id = :epochId', { epochId });
    return row && toEpoch(row);
  }

  async restorableShards(epochId: string): Promise<string[]> {
    const params: SqlParams = { epochId };
    const rows = await this.sql.query(`SELECT DISTINCT shard_name FROM sk_backups WHERE epoch_id = :epochId AND ${inList('status', RESTORABLE_STATUSES, params)}`, params);
    return rows.map((row) => String(row.shard_name));
  }

  async listEpochs(limit: number): Promise<EpochRecord[]> {
    assertLimit(limit);
    return (await this.sql.query(`SELECT * FROM sk_backup_epochs ORDER BY started_at DESC, epoch_id DESC LIMIT ${limit}`)).map(toEpoch);
  }

  async createBackup(backup: NewBackup): Promise<void> {
    await this.sql.execute(
      `INSERT IGNORE INTO sk_backups (backup_id, epoch_id, shard_name, database_name, kind, status, retention_class, source_node, dump_mode,
         binlog_file, binlog_position, gtid, started_at, consistent_at, expires_at, snapshot_id, base_backup_id, detail)
       VALUES (:backupId, :epochId, :shard, :database, :kind, :status, :retentionClass, :sourceNode, :dumpMode,
         :binlogFile, :binlogPosition, :gtid, :startedAt, :consistentAt, :expiresAt, :snapshotId, :baseBackupId, :detail)`,
      {
        backupId: backup.backupId,
        epochId: backup.epochId,
        shard: backup.shard,
        database: backup.database,
        kind: backup.kind,
        status: backup.status ?? 'running',
        retentionClass: backup.retentionClass,
        sourceNode: backup.sourceNode ?? null,
        dumpMode: backup.dumpMode ?? null,
        binlogFile: backup.position?.file ?? null,
        binlogPosition: backup.position?.position ?? null,
        gtid: backup.position?.gtid ?? null,
        startedAt: sqlTime(backup.startedAt),
        consistentAt: optionalTime(backup.consistentAt ?? null),
        expiresAt: sqlTime(backup.expiresAt),
        snapshotId: backup.snapshotId ?? null,
        baseBackupId: backup.baseBackupId ?? null,
        detail: JSON.stringify(backup.detail ?? {}),
      },
    );
  }

  async backup(backupId: string): Promise<BackupRecord | undefined> {
    const [row] = await this.sql.query(`SELECT ${BACKUP_COLUMNS} FROM sk_backups WHERE backup_id = :backupId`, { backupId });
    return row && toBackup(row);
  }

  async listBackups(filter: BackupFilter): Promise<BackupRecord[]> {
    assertLimit(filter.limit);
    const conditions: string[] = [];
    const params: SqlParams = {};
    if (filter.shard !== undefined) {
      conditions.push('shard_name = :shard');
      params.shard = filter.shard;
    }
    if (filter.epochId !== undefined) {
      conditions.push('epoch_id = :epochId');
      params.epochId = filter.epochId;
    }
    if (filter.kinds) conditions.push(inList('kind', filter.kinds, params));
    if (filter.statuses) conditions.push(inList('status', filter.statuses, params));
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = await this.sql.query(`SELECT ${BACKUP_COLUMNS} FROM sk_backups ${where} ORDER BY started_at DESC, backup_id DESC LIMIT ${filter.limit}`, params);
    return rows.map(toBackup);
  }

  async updateBackup(backupId: string, patch: BackupPatch): Promise<void> {
    const assignments: string[] = [];
    const params: SqlParams = { backupId };
    for (const [field, columns] of Object.entries(PATCH_COLUMNS) as [keyof BackupPatch, [string, (value: never) => SqlValue][]][]) {
      if (!(field in patch) || patch[field] === undefined) continue;
      for (const [column, write] of columns) {
        assignments.push(`${column} = :${column}`);
        params[column] = write(patch[field] as never);
      }
    }
    if (assignments.length === 0) return;
    await this.sql.execute(`UPDATE sk_backups SET ${assignments.join(', ')} WHERE backup_id = :backupId`, params);
  }

  async recordObject(backupId: string, object: BackupObjectRecord, progress?: DumpProgress): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.execute(
        `INSERT INTO sk_backup_objects (backup_id, ${OBJECT_COLUMNS})
         VALUES (:backupId, :seq, :role, :key, :bytes, :sha256, :tableName, :chunkIndex, :rowCount, :rowsSha256, :lastKey, :binlogFile,
           :firstEventAt, :lastEventAt, :coveredUntil)
         ON DUPLICATE KEY UPDATE role = VALUES(role), object_key = VALUES(object_key), bytes = VALUES(bytes), sha256 = VALUES(sha256),
           table_name = VALUES(table_name), chunk_index = VALUES(chunk_index), row_count = VALUES(row_count), rows_sha256 = VALUES(rows_sha256),
           last_key = VALUES(last_key), binlog_file = VALUES(binlog_file), first_event_at = VALUES(first_event_at),
           last_event_at = VALUES(last_event_at), covered_until = VALUES(covered_until)`,
        {
          backupId,
          seq: object.seq,
          role: object.role,
          key: object.key,
          bytes: object.bytes,
          sha256: object.sha256,
          tableName: object.table,
          chunkIndex: object.chunkIndex,
          rowCount: object.rowCount,
          rowsSha256: object.rowsSha256,
          lastKey: object.lastKey === null ? null : JSON.stringify(object.lastKey),
          binlogFile: object.binlogFile,
          firstEventAt: optionalTime(object.firstEventAt),
          lastEventAt: optionalTime(object.lastEventAt),
          coveredUntil: optionalTime(object.coveredUntil),
        },
      );
      if (progress) {
        await tx.execute('UPDATE sk_backups SET progress = :progress WHERE backup_id = :backupId', { backupId, progress: JSON.stringify(progress) });
      }
    });
  }

  async objects(backupId: string): Promise<BackupObjectRecord[]> {
    const rows = await this.sql.query(`SELECT ${OBJECT_COLUMNS} FROM sk_backup_objects WHERE backup_id = :backupId ORDER BY seq`, { backupId });
    return rows.map(toObject);
  }

  async clearObjects(backupId: string): Promise<void> {
    await this.sql.execute('DELETE FROM sk_backup_objects WHERE backup_id = :backupId', { backupId });
  }

  async expire(backupIds: string[], at: number): Promise<void> {
    for (const backupId of backupIds) {
      // Status first, in the same transaction: nothing reads the backup as restorable once its objects may go.
      await this.sql.transaction(async (tx) => {
        await tx.execute("UPDATE sk_backups SET status = 'expired', finished_at = COALESCE(finished_at, :at) WHERE backup_id = :backupId", { backupId, at: sqlTime(at) });
        await tx.execute('DELETE FROM sk_backup_objects WHERE backup_id = :backupId', { backupId });
      });
    }
  }

  async shardMapAt(version: number): Promise<ShardMap | undefined> {
    const [row] = await this.sql.query('SELECT snapshot FROM sk_shard_map_versions WHERE version = :version', { version });
    return row ? (parseJson<ShardMap>(row.snapshot) ?? undefined) : undefined;
  }
}

function toEpoch(row: SqlRow): EpochRecord {
  return {
    epochId: String(row.epoch_id),
    kind: String(row.kind) as EpochKind,
    mapVersion: Number(row.map_version),
    startedAt: epochFromSql(row.started_at),
    finishedAt: optionalEpochFromSql(row.finished_at),
    status: String(row.status) as EpochStatus,
    shards: parseJson<string[]>(row.shards) ?? [],
    requestedBy: String(row.requested_by),
  };
}

function toBackup(row: SqlRow): BackupRecord {
  const file = optionalString(row.binlog_file);
  return {
    backupId: String(row.backup_id),
    epochId: String(row.epoch_id),
    shard: String(row.shard_name),
    database: String(row.database_name),
    kind: String(row.kind) as BackupKind,
    status: String(row.status) as BackupStatus,
    retentionClass: String(row.retention_class) as RetentionClass,
    sourceNode: optionalString(row.source_node),
    dumpMode: optionalString(row.dump_mode) as DumpMode | null,
    position: file === null ? null : { file, position: Number(row.binlog_position), gtid: optionalString(row.gtid) },
    startedAt: epochFromSql(row.started_at),
    consistentAt: optionalEpochFromSql(row.consistent_at),
    finishedAt: optionalEpochFromSql(row.finished_at),
    expiresAt: epochFromSql(row.expires_at),
    bytes: Number(row.bytes),
    rowCount: Number(row.row_count),
    manifestKey: optionalString(row.manifest_key),
    manifestSha256: optionalString(row.manifest_sha256),
    snapshotId: optionalString(row.snapshot_id),
    snapshotArn: optionalString(row.snapshot_arn),
    baseBackupId: optionalString(row.base_backup_id),
    progress: parseJson<DumpProgress>(row.progress),
    error: optionalString(row.error),
    verifiedAt: optionalEpochFromSql(row.verified_at),
    restoreSeconds: row.restore_seconds === null || row.restore_seconds === undefined ? null : Number(row.restore_seconds),
    detail: parseJson<Record<string, unknown>>(row.detail) ?? {},
  };
}

function toObject(row: SqlRow): BackupObjectRecord {
  const optionalNumber = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return {
    seq: Number(row.seq),
    role: String(row.role) as BackupObjectRole,
    key: String(row.object_key),
    bytes: Number(row.bytes),
    sha256: String(row.sha256),
    table: optionalString(row.table_name),
    chunkIndex: optionalNumber(row.chunk_index),
    rowCount: optionalNumber(row.row_count),
    rowsSha256: optionalString(row.rows_sha256),
    lastKey: parseJson<KeyValue[]>(row.last_key),
    binlogFile: optionalString(row.binlog_file),
    firstEventAt: optionalEpochFromSql(row.first_event_at),
    lastEventAt: optionalEpochFromSql(row.last_event_at),
    coveredUntil: optionalEpochFromSql(row.covered_until),
  };
}

function parseJson<T>(value: unknown): T | null {
  if (value === null || value === undefined) return null;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}


function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new ValidationError(`limit must be a positive integer, got ${limit}`);
}

const optionalString = (value: unknown) => (value === null || value === undefined ? null : String(value));
const optionalTime = (value: number | null) => (value === null ? null : sqlTime(value));
