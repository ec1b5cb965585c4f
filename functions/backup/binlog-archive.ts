import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupId as newBackupId } from '../core/backup-epoch';
import { expiresAt } from '../core/backup-retention';
import { binlogSequence, compareBinlogFiles } from '../core/backup-pitr';
import { primaryOf } from '../core/shard-map';
import type { Shard } from '../core/shard-map-types';
import type { BinlogSource } from '../ports/backup-binlog';
import { RESTORABLE_STATUSES, type BackupRecord, type BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';
import { NotFoundError, ValidationError } from '../shared/errors';
import { BackupFailed, BackupStarted, BackupSucceeded, buildEvent } from '../shared/events';
import type { BackupSettings } from './backup-deps';
import { backupObjectTags, eventBase } from './logical-backup';

export interface BinlogArchiveDeps {
  store: BackupStore;
  objects: ObjectStore;
  binlogs: BinlogSource;
  events: EventPublisher;
  clock: Clock;
  settings: Pick<BackupSettings, 'retention'>;
}

export interface BinlogArchiveRequest {
  epochId: string;
  mapVersion: number;
  shard: Shard;
}

export const binlogObjectKey = (shard: string, file: string) => `binlog/shard=${encodeURIComponent(shard)}/${file}`;

/**
 * The incremental backup of a self-managed shard: closes the primary's current binary log and
 * copies every closed log from the newest full backup's position on that is not archived yet.
 * Together with that backup they make every second up to the close recoverable.
 */
export async function archiveBinlogs(deps: BinlogArchiveDeps, request: BinlogArchiveRequest): Promise<BackupRecord> {
  const { shard, epochId, mapVersion } = request;
  if (shard.kind !== 'self-managed') throw new ValidationError(`shard ${shard.name} is ${shard.kind}: its point-in-time recovery is the service's own, not archived binary logs`);
  const primary = primaryOf(shard);
  if (!primary) throw new ValidationError(`shard ${shard.name} has no primary`);
  const [base] = (await deps.store.listBackups({ shard: shard.name, kinds: ['logical'], statuses: [...RESTORABLE_STATUSES], limit: 20 })).filter((backup) => backup.position);
  if (!base?.position) throw new NotFoundError(`shard ${shard.name} has no full backup with a binary log position; run a full backup first`);

  const startedAt = deps.clock.now();
  const backupId = newBackupId(startedAt, randomBytes(4).toString('hex'));
  await deps.store.createBackup({
    backupId,
    epochId,
    shard: shard.name,
    database: shard.database,
    kind: 'binlog',
    retentionClass: 'daily',
    startedAt,
    expiresAt: expiresAt(startedAt, 'daily', deps.settings.retention),
    sourceNode: primary.id,
    baseBackupId: base.backupId,
    detail: { mapVersion },
  });
  await deps.events.publish([buildEvent(BackupStarted, { ...eventBase(backupId, epochId, shard.name, mapVersion, startedAt), kind: 'binlog', sourceNode: primary.id, mode: null })]);

  const workDir = await mkdtemp(join(tmpdir(), 'sk-binlog-'));
  try {
    const archived = await archivedFiles(deps.store, shard.name);
    const { closed, closedAt } = await deps.binlogs.closeCurrent(primary);
    const [baseName, baseSeq] = binlogSequence(base.position.file);
    const pending = closed
      .filter((file) => {
        const [name, seq] = binlogSequence(file.name);
        return name === baseName && seq >= baseSeq && !archived.has(file.name);
      })
      .sort((a, b) => compareBinlogFiles(a.name, b.name));
    const available = new Set([...archived, ...closed.map((file) => file.name)]);
    if (!available.has(base.position.file)) {
      throw new NotFoundError(`binary log ${base.position.file} (the position of full backup ${base.backupId}) was purged before it was archived; run a full backup`);
    }
    // Archiving past a purged log would leave a gap no recovery can replay across.
    const lastSeq = Math.max(baseSeq, ...pending.map((file) => binlogSequence(file.name)[1]));
    for (let seq = baseSeq + 1; seq <= lastSeq; seq++) {
      const file = `${baseName}.${String(seq).padStart(6, '0')}`;
      if (!available.has(file)) throw new NotFoundError(`binary log ${file} was purged before it was archived; run a full backup to start a new chain`);
    }

    let bytes = 0;
    for (const [index, file] of pending.entries()) {
      const local = await deps.binlogs.fetch(primary, file.name, workDir);
      const key = binlogObjectKey(shard.name, file.name);
      const hash = createHash('sha256');
      const stored = await deps.objects.putStream(key, createReadStream(local.path).on('data', (piece) => hash.update(piece as Buffer)), {
        contentType: 'application/octet-stream',
        tags: backupObjectTags('daily', 'binlog'),
      });
      if (stored.size !== local.bytes) throw new ValidationError(`${key} stored ${stored.size} bytes, the binary log has ${local.bytes}`);
      await deps.store.recordObject(backupId, {
        seq: index,
        role: 'binlog',
        key,
        bytes: local.bytes,
        sha256: hash.digest('base64'),
        table: null,
        chunkIndex: null,
        rowCount: null,
        rowsSha256: null,
        lastKey: null,
        binlogFile: file.name,
        firstEventAt: local.firstEventAt,
        lastEventAt: local.lastEventAt,
        coveredUntil: closedAt,
      });
      await rm(local.path, { force: true });
      bytes += local.bytes;
    }

    const finishedAt = deps.clock.now();
    const first = pending[0]?.name ?? null;
    await deps.store.updateBackup(backupId, {
      status: 'succeeded',
      finishedAt,
      consistentAt: closedAt,
      bytes,
      position: first === null ? null : { file: first, position: 4, gtid: null },
      detail: { mapVersion, files: pending.map((file) => file.name), coveredUntil: closedAt },
    });
    await deps.events.publish([
      buildEvent(BackupSucceeded, {
        ...eventBase(backupId, epochId, shard.name, mapVersion, finishedAt),
        kind: 'binlog',
        retentionClass: 'daily',
        bytes,
        rows: 0,
        objects: pending.length,
        durationMs: finishedAt - startedAt,
        position: first === null ? null : { file: first, position: 4, gtid: null },
      }),
    ]);
    return (await deps.store.backup(backupId))!;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = deps.clock.now();
    await deps.store.updateBackup(backupId, { status: 'failed', finishedAt: at, error: message });
    await deps.events.publish([buildEvent(BackupFailed, { ...eventBase(backupId, epochId, shard.name, mapVersion, at), kind: 'binlog', error: message })]);
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function archivedFiles(store: BackupStore, shard: string): Promise<Set<string>> {
  const files = new Set<string>();
  for (const backup of await store.listBackups({ shard, kinds: ['binlog'], statuses: [...RESTORABLE_STATUSES], limit: 1000 })) {
    for (const object of await store.objects(backup.backupId)) if (object.binlogFile) files.add(object.binlogFile);
  }
  return files;
}
