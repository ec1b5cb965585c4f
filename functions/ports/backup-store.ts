import type { BinlogPosition, DumpMode, KeyValue, RetentionClass } from '../core/backup-manifest';
import type { ShardMap } from '../core/shard-map-types';

/** What a backup is: a logical dump, a cluster/instance snapshot, archived binary logs, or Aurora's PITR window on record. */
export type BackupKind = 'logical' | 'snapshot' | 'binlog' | 'pitr-window';

/**
 * running → succeeded (objects written and checked) | failed; succeeded → verified | verification-failed
 * (restore tests); any → expired (pruned: the catalog no longer offers it and its objects are gone or going).
 */
export type BackupStatus = 'running' | 'succeeded' | 'failed' | 'verified' | 'verification-failed' | 'expired';

export const RESTORABLE_STATUSES: readonly BackupStatus[] = ['succeeded', 'verified'];

export type EpochKind = 'full' | 'incremental';
export type EpochStatus = 'running' | 'succeeded' | 'partial' | 'failed';

export interface EpochRecord {
  epochId: string;
  kind: EpochKind;
  mapVersion: number;
  startedAt: number;
  finishedAt: number | null;
  status: EpochStatus;
  shards: string[];
  requestedBy: string;
}

/** Where a logical dump stands between invocations; saved with each chunk it records. */
export interface DumpProgress {
  tableIndex: number;
  chunkIndex: number;
  after: KeyValue[] | null;
  nextSeq: number;
}

export interface BackupRecord {
  backupId: string;
  epochId: string;
  shard: string;
  database: string;
  kind: BackupKind;
  status: BackupStatus;
  retentionClass: RetentionClass;
  sourceNode: string | null;
  dumpMode: DumpMode | null;
  /** Logical: where the data stands; binlog: where the archived range starts. */
  position: BinlogPosition | null;
  startedAt: number;
  consistentAt: number | null;
  finishedAt: number | null;
  expiresAt: number;
  bytes: number;
  rowCount: number;
  manifestKey: string | null;
  manifestSha256: string | null;
  snapshotId: string | null;
  snapshotArn: string | null;
  baseBackupId: string | null;
  progress: DumpProgress | null;
  error: string | null;
  verifiedAt: number | null;
  restoreSeconds: number | null;
  /** Kind-specific facts: table shapes of a running dump, a PITR window, a snapshot copy. */
  detail: Record<string, unknown>;
}

export type NewBackup = Pick<BackupRecord, 'backupId' | 'epochId' | 'shard' | 'database' | 'kind' | 'retentionClass' | 'startedAt' | 'expiresAt'> &
  Partial<Pick<BackupRecord, 'sourceNode' | 'dumpMode' | 'position' | 'baseBackupId' | 'snapshotId' | 'detail' | 'status' | 'consistentAt'>>;

export type BackupPatch = Partial<
  Pick<
    BackupRecord,
    | 'status'
    | 'position'
    | 'consistentAt'
    | 'finishedAt'
    | 'bytes'
    | 'rowCount'
    | 'manifestKey'
    | 'manifestSha256'
    | 'snapshotArn'
    | 'progress'
    | 'error'
    | 'verifiedAt'
    | 'restoreSeconds'
    | 'detail'
    | 'retentionClass'
    | 'expiresAt'
  >
>;

export type BackupObjectRole = 'schema' | 'chunk' | 'manifest' | 'binlog';

export interface BackupObjectRecord {
  /** Order within the backup: schema 0, chunks in dump order, binlogs in file order, manifest last. */
  seq: number;
  role: BackupObjectRole;
  key: string;
  bytes: number;
  sha256: string;
  table: string | null;
  chunkIndex: number | null;
  rowCount: number | null;
  rowsSha256: string | null;
  lastKey: KeyValue[] | null;
  binlogFile: string | null;
  firstEventAt: number | null;
  lastEventAt: number | null;
  coveredUntil: number | null;
}

export interface BackupFilter {
  shard?: string;
  kinds?: BackupKind[];
  statuses?: BackupStatus[];
  epochId?: string;
  limit: number;
}

/** Backups in the catalog: epochs, every backup with its positions and status, and every object it wrote. */
export interface BackupStore {
  /** Idempotent: a retried start of the same epoch changes nothing. */
  createEpoch(epoch: Omit<EpochRecord, 'finishedAt' | 'status'>): Promise<void>;
  finishEpoch(epochId: string, status: EpochStatus, finishedAt: number): Promise<void>;
  epoch(epochId: string): Promise<EpochRecord | undefined>;
  /** Newest first. */
  listEpochs(limit: number): Promise<EpochRecord[]>;
  /** The shards with a restorable backup (RESTORABLE_STATUSES) taken in the epoch. */
  restorableShards(epochId: string): Promise<string[]>;

  /** Idempotent on backupId. */
  createBackup(backup: NewBackup): Promise<void>;
  backup(backupId: string): Promise<BackupRecord | undefined>;
  /** Newest first. */
  listBackups(filter: BackupFilter): Promise<BackupRecord[]>;
  updateBackup(backupId: string, patch: BackupPatch): Promise<void>;

  /** Records (or replaces, on retry) one object, together with the dump progress it completes, in one transaction. */
  recordObject(backupId: string, object: BackupObjectRecord, progress?: DumpProgress): Promise<void>;
  objects(backupId: string): Promise<BackupObjectRecord[]>;
  /** Forgets every object of a backup (a dump restarting from scratch). */
  clearObjects(backupId: string): Promise<void>;
  /** Marks backups expired and forgets their objects, before the objects themselves are deleted. */
  expire(backupIds: string[], at: number): Promise<void>;

  /** The shard map as it was at `version` (from the catalog's map history), so an epoch restores with its map. */
  shardMapAt(version: number): Promise<ShardMap | undefined>;
}
