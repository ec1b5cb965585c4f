import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { backupId as newBackupId } from '../core/backup-epoch';
import {
  backupPrefix,
  checksumKindOf,
  chunkObjectKey,
  manifestObjectKey,
  manifestTotals,
  MANIFEST_FORMAT,
  rowsPerChunk,
  RowsChecksum,
  schemaObjectKey,
  tableRowsChecksum,
  type BackupManifest,
  type DumpMode,
  type KeyValue,
  type ObjectRef,
  type RetentionClass,
  type SchemaDocument,
  type TableManifest,
} from '../core/backup-manifest';
import { expiresAt, retentionClassFor } from '../core/backup-retention';
import { InsertBatcher, insertHead, SESSION_LINE } from '../core/backup-sql-values';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardNode } from '../core/shard-map-types';
import type { DumpConnection, TableShape } from '../ports/backup-mysql';
import type { BackupObjectRecord, BackupRecord, DumpProgress } from '../ports/backup-store';
import type { ObjectStore, StoredObject } from '../ports/object-store';
import { AppError, BackupIntegrityError, NotFoundError, ValidationError } from '../shared/errors';
import { BackupFailed, BackupStarted, BackupSucceeded, buildEvent, EVENT_SCHEMA_VERSION } from '../shared/events';
import type { LogicalBackupDeps } from './backup-deps';
import { checkObjects } from './object-checks';

/**
 * Logical backups: every table of a shard as of one point in time, streamed to the object store
 * in gzip chunks of SQL, with a manifest written last.
 *
 * The point in time survives across invocations by dumping from a replica whose SQL thread is
 * stopped: its data cannot change, and every invocation first checks that the thread is still
 * stopped at the recorded source position (else SnapshotLostError), then reads inside its own
 * consistent snapshot. Progress (the next table, the key to resume after) is saved with each
 * chunk, so a retried invocation continues where the last recorded chunk ended. A shard without a
 * replica is dumped from its primary inside one consistent-snapshot transaction, which cannot
 * outlive an invocation: a partial snapshot dump starts over.
 */

/** The table plan saved with a running dump. */
export interface PlannedTable extends TableShape {
  rowsPerChunk: number;
}

interface DumpDetail {
  mapVersion: number;
  source: ShardNode;
  serverVersion?: string;
  tables?: PlannedTable[];
  schema?: ObjectRef;
}

export interface StartLogicalBackup {
  epochId: string;
  mapVersion: number;
  shard: Shard;
  /** auto: a paused replica when the shard has one, else a snapshot of the primary. */
  mode?: DumpMode | 'auto';
}

export interface DumpStepResult {
  backupId: string;
  done: boolean;
  tablesDone: number;
  tables: number;
  rowsWritten: number;
}

const TAG_KIND = 'sk-kind';
const gzip = promisify(gzipCallback);
/** Statements compressed at once: enough to keep both cores of a small Lambda busy. */
const GZIP_IN_FLIGHT = 4;
/** Output buffer per zlib call: a whole compressed statement, so each comes back in one piece. */
const GZIP_CHUNK_BYTES = 512 * 1024;
const TAG_RETENTION = 'sk-retention';

/** Tags S3 lifecycle rules select on: the retention class decides expiry and storage tiers. */
export const backupObjectTags = (retentionClass: RetentionClass, kind: 'logical' | 'binlog') => ({ [TAG_RETENTION]: retentionClass, [TAG_KIND]: kind });

const nonce = () => randomBytes(4).toString('hex');

function chooseSource(shard: Shard, mode: DumpMode | 'auto'): { node: ShardNode; mode: DumpMode } {
  const primary = primaryOf(shard);
  const replica = shard.nodes.find((node) => node.role === 'replica');
  if (mode === 'paused-replica' || (mode === 'auto' && replica)) {
    if (!replica) throw new ValidationError(`shard ${shard.name} has no replica to pause`);
    return { node: replica, mode: 'paused-replica' };
  }
  if (!primary) throw new ValidationError(`shard ${shard.name} has no primary to dump`);
  return { node: primary, mode: 'snapshot' };
}

/** Records the backup and, from a replica, pauses it: from then on the data stands still. */
export async function startLogicalBackup(deps: LogicalBackupDeps, request: StartLogicalBackup): Promise<BackupRecord> {
  const { shard, epochId, mapVersion } = request;
  const { node, mode } = chooseSource(shard, request.mode ?? 'auto');
  const startedAt = deps.clock.now();
  // A backup that failed its restore test holds no period: the next good one takes the month or week.
  const earlier = await deps.store.listBackups({ shard: shard.name, kinds: ['logical'], statuses: ['succeeded', 'verified', 'expired'], limit: 1000 });
  const retentionClass = retentionClassFor(startedAt, earlier.map((backup) => backup.startedAt), deps.settings.timeZone);
  const backupId = newBackupId(startedAt, nonce());
  const detail: DumpDetail = { mapVersion, source: node };
  await deps.store.createBackup({
    backupId,
    epochId,
    shard: shard.name,
    database: shard.database,
    kind: 'logical',
    retentionClass,
    startedAt,
    expiresAt: expiresAt(startedAt, retentionClass, deps.settings.retention),
    sourceNode: node.id,
    dumpMode: mode,
    detail: detail as unknown as Record<string, unknown>,
  });
  await deps.events.publish([
    buildEvent(BackupStarted, { ...eventBase(backupId, epochId, shard.name, mapVersion, startedAt), kind: 'logical', sourceNode: node.id, mode }),
  ]);

  if (mode === 'paused-replica') {
    // Recorded before pausing, so a crash in between still leaves a backup whose failure resumes the replica.
    try {
      const connection = await deps.dumper.connect(node);
      try {
        const position = await connection.pauseReplication();
        await deps.store.updateBackup(backupId, {
          position,
          consistentAt: deps.clock.now(),
          detail: { ...detail, serverVersion: connection.serverVersion } as unknown as Record<string, unknown>,
        });
      } finally {
        await connection.close();
      }
    } catch (error) {
      // The caller never learns the backup id: fail it here, which also resumes the replica.
      await failLogicalBackup(deps, backupId, error);
      throw error;
    }
  }
  return (await deps.store.backup(backupId))!;
}

/**
 * Dumps chunks until the dump is complete or `deadline` (ms since the epoch) has passed; a paused
 * replica dump resumes from its saved progress in the next call.
 */
export async function continueLogicalBackup(deps: LogicalBackupDeps, backupId: string, deadline: number): Promise<DumpStepResult> {
  const backup = await runningBackup(deps, backupId);
  let detail = backup.detail as unknown as DumpDetail;
  const connection = await deps.dumper.connect(detail.source);
  try {
    let progress = backup.progress;
    if (backup.dumpMode === 'paused-replica') {
      await connection.assertPausedAt(backup.position);
      await connection.beginSnapshot();
    } else {
      if (progress !== null) {
        // A snapshot ends with its session: what an earlier invocation wrote belongs to another point in time.
        await deps.store.clearObjects(backupId);
        progress = null;
      }
      const position = await connection.beginSnapshot();
      await deps.store.updateBackup(backupId, { position, consistentAt: deps.clock.now(), progress: null });
    }

    if (progress === null || !detail.tables || !detail.schema) {
      ({ detail, progress } = await dumpSchema(deps, backup, detail, connection));
    }
    const tables = detail.tables!;
    let rowsWritten = 0;
    const budgeted = backup.dumpMode === 'paused-replica';
    // At least one chunk per call, so a short budget still makes progress.
    while (progress.tableIndex < tables.length) {
      const chunk = await dumpChunk(deps, backup, connection, tables[progress.tableIndex]!, progress);
      rowsWritten += chunk.rowCount;
      progress = chunk.next;
      if (budgeted && deps.clock.now() >= deadline) break;
    }
    return { backupId, done: progress.tableIndex >= tables.length, tablesDone: progress.tableIndex, tables: tables.length, rowsWritten };
  } finally {
    await connection.close();
  }
}

async function runningBackup(deps: LogicalBackupDeps, backupId: string): Promise<BackupRecord> {
  const backup = await deps.store.backup(backupId);
  if (!backup) throw new NotFoundError(`backup ${backupId} is not in the catalog`);
  if (backup.kind !== 'logical') throw new ValidationError(`backup ${backupId} is a ${backup.kind} backup, not a logical dump`);
  if (backup.status !== 'running') throw new ValidationError(`backup ${backupId} is ${backup.status}, not running`);
  return backup;
}

async function dumpSchema(
  deps: LogicalBackupDeps,
  backup: BackupRecord,
  detail: DumpDetail,
  connection: DumpConnection,
): Promise<{ detail: DumpDetail; progress: DumpProgress }> {
  const schema = await connection.readSchema(backup.database);
  const document: SchemaDocument = { format: MANIFEST_FORMAT, database: backup.database, statements: schema.statements };
  const body = Buffer.from(JSON.stringify(document, null, 1));
  const key = schemaObjectKey(backupPrefix(backup.shard, backup.epochId, backup.backupId));
  const stored = await deps.objects.put(key, body, { contentType: 'application/json', tags: backupObjectTags(backup.retentionClass, 'logical') });
  const ref: ObjectRef = { key, bytes: body.length, sha256: createHash('sha256').update(body).digest('base64') };
  if (stored.size !== ref.bytes) throw new AppError(`schema object ${key} stored ${stored.size} bytes, wrote ${ref.bytes}`);

  const tables = schema.tables.map(
    (table): PlannedTable => ({
      ...table,
      rowsPerChunk: rowsPerChunk(table.avgRowLength, { targetChunkBytes: deps.settings.targetChunkBytes, minRows: 1_000, maxRows: 2_000_000 }),
    }),
  );
  const next: DumpDetail = { ...detail, serverVersion: connection.serverVersion, tables, schema: ref };
  await deps.store.updateBackup(backup.backupId, { detail: next as unknown as Record<string, unknown> });
  const progress: DumpProgress = { tableIndex: 0, chunkIndex: 0, after: null, nextSeq: 1 };
  await deps.store.recordObject(backup.backupId, objectRecord({ seq: 0, role: 'schema', ...ref }), progress);
  return { detail: next, progress };
}

/** Streams one chunk (gzip, hashed on the way) into the store; records it with the progress after it. */
async function dumpChunk(
  deps: LogicalBackupDeps,
  backup: BackupRecord,
  connection: DumpConnection,
  table: PlannedTable,
  progress: DumpProgress,
): Promise<{ rowCount: number; next: DumpProgress }> {
  const keyed = table.keyColumns.length > 0;
  const limit = keyed ? table.rowsPerChunk : null;
  const key = chunkObjectKey(backupPrefix(backup.shard, backup.epochId, backup.backupId), table.name, progress.chunkIndex);
  const checksum = new RowsChecksum(checksumKindOf(table));
  let lastKey: KeyValue[] | null = null;
  let upload: ChunkUpload | undefined;
  let rowCount = 0;

  try {
    for await (const batch of connection.rows(backup.database, table, progress.after, limit)) {
      upload ??= new ChunkUpload(deps.objects, key, deps.settings.compressionLevel, backup.retentionClass, insertHead(table.name, table.columns), deps.settings.maxStatementLength, checksum);
      upload.addRows(batch.encoded);
      rowCount += batch.encoded.length;
      await upload.drain();
      lastKey = batch.lastKey;
    }
  } catch (error) {
    await upload?.abort(error);
    throw error;
  }

  const tableDone = !keyed || rowCount < limit!;
  const finished: DumpProgress = tableDone
    ? { tableIndex: progress.tableIndex + 1, chunkIndex: 0, after: null, nextSeq: progress.nextSeq + (upload ? 1 : 0) }
    : { tableIndex: progress.tableIndex, chunkIndex: progress.chunkIndex + 1, after: lastKey, nextSeq: progress.nextSeq + 1 };
  if (!upload) {
    // Nothing after the last chunk (or an empty table): no object, just the move to the next table.
    await deps.store.updateBackup(backup.backupId, { progress: finished });
    return { rowCount: 0, next: finished };
  }
  const ref = await upload.finish();
  await deps.store.recordObject(
    backup.backupId,
    objectRecord({ seq: progress.nextSeq, role: 'chunk', ...ref, table: table.name, chunkIndex: progress.chunkIndex, rowCount, rowsSha256: checksum.digest(), lastKey }),
    finished,
  );
  return { rowCount, next: finished };
}

/**
 * SQL text → gzip → SHA-256 and byte count → multipart upload. Each statement (about 1 MB) is
 * compressed as its own gzip member, several at once on the thread pool, and written in order: a
 * concatenation of members is one valid gzip file (gunzip and zlib read it whole), and compression
 * no longer waits behind the single thread reading rows. Backpressure holds all the way.
 */
class ChunkUpload {
  private readonly body = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private readonly uploaded: Promise<StoredObject>;
  private readonly batcher: InsertBatcher;
  private pending: Buffer[] = [Buffer.from(SESSION_LINE)];
  private readonly compressing: Promise<Buffer>[] = [];

  constructor(
    objects: ObjectStore,
    private readonly key: string,
    private readonly level: number,
    retentionClass: RetentionClass,
    head: string,
    maxStatementLength: number,
    private readonly checksum: RowsChecksum,
  ) {
    this.uploaded = objects.putStream(key, this.body, { contentType: 'application/sql', tags: backupObjectTags(retentionClass, 'logical') });
    // Surfaces through finish() or abort(); never an unhandled rejection in between.
    this.uploaded.catch(() => {});
    this.batcher = new InsertBatcher(head, maxStatementLength, (statement, values, rows) => {
      // Keyed rows are hashed as the VALUES list they are written as: the same bytes.
      if (checksum.kind === 'ordered') checksum.addJoined(values, rows);
      this.pending.push(statement);
    });
  }

  addRows(encoded: readonly Buffer[]): void {
    if (this.checksum.kind === 'multiset') this.checksum.addAll(encoded);
    for (const row of encoded) this.batcher.add(row);
  }

  /** Starts compressing complete statements; waits while too many are in flight or the upload is behind. */
  async drain(): Promise<void> {
    for (const statement of this.pending.splice(0)) {
      this.compressing.push(gzip(statement, { level: this.level, chunkSize: GZIP_CHUNK_BYTES }));
      while (this.compressing.length >= GZIP_IN_FLIGHT) await this.writeNext();
    }
  }

  private async writeNext(): Promise<void> {
    const member = await this.compressing.shift()!;
    this.hash.update(member);
    this.bytes += member.length;
    if (!this.body.write(member)) await Promise.race([once(this.body, 'drain'), this.uploaded]);
  }

  async finish(): Promise<ObjectRef> {
    this.batcher.flush();
    await this.drain();
    while (this.compressing.length > 0) await this.writeNext();
    this.body.end();
    const stored = await this.uploaded;
    if (stored.size !== this.bytes) throw new AppError(`chunk ${this.key} stored ${stored.size} bytes, wrote ${this.bytes}`);
    return { key: this.key, bytes: this.bytes, sha256: this.hash.digest('base64') };
  }

  async abort(error: unknown): Promise<void> {
    await Promise.allSettled(this.compressing.splice(0));
    this.body.destroy(error instanceof Error ? error : new Error(String(error)));
    await this.uploaded.catch(() => {});
  }
}

function objectRecord(fields: Pick<BackupObjectRecord, 'seq' | 'role' | 'key' | 'bytes' | 'sha256'> & Partial<BackupObjectRecord>): BackupObjectRecord {
  return {
    table: null,
    chunkIndex: null,
    rowCount: null,
    rowsSha256: null,
    lastKey: null,
    binlogFile: null,
    firstEventAt: null,
    lastEventAt: null,
    coveredUntil: null,
    ...fields,
  };
}

/** The manifest a finished dump's catalog records describe. */
export function buildManifest(backup: BackupRecord, objects: readonly BackupObjectRecord[], finishedAt: number): BackupManifest {
  const detail = backup.detail as unknown as DumpDetail;
  if (!detail.tables || !detail.schema) throw new ValidationError(`backup ${backup.backupId} has no schema on record`);
  const chunksOf = (table: string) =>
    objects
      .filter((object) => object.role === 'chunk' && object.table === table)
      .sort((a, b) => a.chunkIndex! - b.chunkIndex!)
      .map((object) => ({
        index: object.chunkIndex!,
        key: object.key,
        bytes: object.bytes,
        sha256: object.sha256,
        rowCount: object.rowCount!,
        rowsSha256: object.rowsSha256!,
        lastKey: object.lastKey,
      }));
  const tables: TableManifest[] = detail.tables.map((table) => {
    const chunks = chunksOf(table.name);
    return {
      name: table.name,
      columns: table.columns,
      keyColumns: table.keyColumns,
      readAs: table.readAs,
      rowCount: chunks.reduce((sum, chunk) => sum + chunk.rowCount, 0),
      rowsSha256: tableRowsChecksum(chunks),
      chunks,
    };
  });
  return {
    format: MANIFEST_FORMAT,
    backupId: backup.backupId,
    epochId: backup.epochId,
    shard: backup.shard,
    database: backup.database,
    retentionClass: backup.retentionClass,
    source: { nodeId: detail.source.id, host: detail.source.host, port: detail.source.port, mode: backup.dumpMode!, serverVersion: detail.serverVersion ?? '' },
    position: backup.position,
    startedAt: new Date(backup.startedAt).toISOString(),
    consistentAt: new Date(backup.consistentAt ?? backup.startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    schema: detail.schema,
    tables,
    totals: manifestTotals(detail.schema, tables),
  };
}

/**
 * Resumes the replica, checks every object the dump wrote against its recorded size and
 * checksum, and writes the manifest last. A failed check fails the backup (BackupIntegrityError).
 */
export async function finishLogicalBackup(deps: LogicalBackupDeps, backupId: string): Promise<BackupManifest> {
  const backup = await runningBackup(deps, backupId);
  if (backup.dumpMode === 'paused-replica') await resumeSource(deps, backup);
  const progress = backup.progress;
  const detail = backup.detail as unknown as DumpDetail;
  if (!progress || !detail.tables || progress.tableIndex < detail.tables.length) {
    throw new ValidationError(`backup ${backupId} has not dumped every table yet`);
  }
  const objects = await deps.store.objects(backupId);
  const problems = await checkObjects(deps.objects, objects);
  if (problems.length > 0) {
    const error = new BackupIntegrityError(`backup ${backupId} failed its object check: ${problems.join('; ')}`, { details: { problems } });
    await failLogicalBackup(deps, backupId, error);
    throw error;
  }

  const finishedAt = deps.clock.now();
  const manifest = buildManifest(backup, objects, finishedAt);
  const body = Buffer.from(JSON.stringify(manifest, null, 1));
  const key = manifestObjectKey(backupPrefix(backup.shard, backup.epochId, backup.backupId));
  await deps.objects.put(key, body, { contentType: 'application/json', tags: backupObjectTags(backup.retentionClass, 'logical') });
  const sha256 = createHash('sha256').update(body).digest('base64');
  // The seq after the last chunk, so a retried finish replaces its own record.
  await deps.store.recordObject(backupId, objectRecord({ seq: progress.nextSeq, role: 'manifest', key, bytes: body.length, sha256 }));
  await deps.store.updateBackup(backupId, {
    status: 'succeeded',
    finishedAt,
    bytes: manifest.totals.bytes + body.length,
    rowCount: manifest.totals.rows,
    manifestKey: key,
    manifestSha256: sha256,
    progress: null,
  });
  await deps.events.publish([
    buildEvent(BackupSucceeded, {
      ...eventBase(backupId, backup.epochId, backup.shard, detail.mapVersion, finishedAt),
      kind: 'logical',
      retentionClass: backup.retentionClass,
      bytes: manifest.totals.bytes + body.length,
      rows: manifest.totals.rows,
      objects: manifest.totals.objects + 1,
      durationMs: finishedAt - backup.startedAt,
      position: manifest.position,
    }),
  ]);
  return manifest;
}

async function resumeSource(deps: LogicalBackupDeps, backup: BackupRecord): Promise<void> {
  const connection = await deps.dumper.connect((backup.detail as unknown as DumpDetail).source);
  try {
    await connection.resumeReplication();
  } finally {
    await connection.close();
  }
}

/**
 * Marks a running backup failed (a retried call is a no-op), resumes its replica and reports it.
 * The objects it wrote stay until retention removes the failed backup's prefix.
 */
export async function failLogicalBackup(deps: LogicalBackupDeps, backupId: string, error: unknown): Promise<void> {
  const backup = await deps.store.backup(backupId);
  if (!backup || backup.status !== 'running') return;
  const message = error instanceof Error ? error.message : String(error);
  const problems: string[] = [];
  if (backup.dumpMode === 'paused-replica') {
    await resumeSource(deps, backup).catch((resumeError: unknown) => problems.push(`the replica could not be resumed: ${(resumeError as Error).message}`));
  }
  const at = deps.clock.now();
  await deps.store.updateBackup(backupId, { status: 'failed', finishedAt: at, error: [message, ...problems].join('; '), progress: null });
  const detail = backup.detail as unknown as DumpDetail;
  await deps.events.publish([
    buildEvent(BackupFailed, { ...eventBase(backupId, backup.epochId, backup.shard, detail.mapVersion, at), kind: 'logical', error: [message, ...problems].join('; ') }),
  ]);
}

/** The whole dump in one process (CLI, sandbox, tests): start, dump until done, finish; a failure is recorded and rethrown. */
export async function runLogicalBackup(deps: LogicalBackupDeps, request: StartLogicalBackup): Promise<BackupManifest> {
  const backup = await startLogicalBackup(deps, request);
  try {
    while (!(await continueLogicalBackup(deps, backup.backupId, Number.POSITIVE_INFINITY)).done);
    return await finishLogicalBackup(deps, backup.backupId);
  } catch (error) {
    await failLogicalBackup(deps, backup.backupId, error);
    throw error;
  }
}

/** The fields every backup event carries. */
export function eventBase(backupId: string, epochId: string, shard: string, mapVersion: number, at: number) {
  return { schemaVersion: EVENT_SCHEMA_VERSION as typeof EVENT_SCHEMA_VERSION, epochId, backupId, shard, mapVersion, observedAt: new Date(at).toISOString() };
}
