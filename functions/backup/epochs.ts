import { randomBytes } from 'node:crypto';
import { epochId as newEpochId } from '../core/backup-epoch';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardKind, ShardMap } from '../core/shard-map-types';
import type { SnapshotService } from '../ports/backup-snapshots';
import { RESTORABLE_STATUSES, type BackupRecord, type BackupStore, type EpochKind, type EpochRecord, type EpochStatus } from '../ports/backup-store';
import type { Catalog } from '../ports/catalog';
import type { Clock } from '../ports/clock';
import { NoShardMapError, NotFoundError, ValidationError } from '../shared/errors';
import { checkEarlierRestore, loadManifest, restoreLogicalBackup, type RestoreDeps, type RestoreReport } from './restore-backup';

/** One shard's part of a backup run, as the workflow's Map state iterates it. */
export interface ShardTask {
  epochId: string;
  mapVersion: number;
  kind: EpochKind;
  shard: string;
  shardKind: ShardKind;
}

export interface BegunEpoch {
  epochId: string;
  mapVersion: number;
  kind: EpochKind;
  tasks: ShardTask[];
}

/**
 * Starts a backup run: one epoch id for every shard, recorded with the shard map version it
 * started from. `shards` narrows the run (a manual backup of some shards); unknown names are refused.
 */
export async function beginEpoch(
  deps: { store: BackupStore; catalog: Pick<Catalog, 'loadShardMap'>; clock: Clock },
  request: { kind: EpochKind; shards?: string[]; requestedBy: string },
): Promise<BegunEpoch> {
  const map = await deps.catalog.loadShardMap();
  if (!map) throw new NoShardMapError('the catalog holds no shard map; there is nothing to back up');
  const chosen = request.shards?.length ? request.shards : map.shards.map((shard) => shard.name);
  const unknown = chosen.filter((name) => !map.shards.some((shard) => shard.name === name));
  if (unknown.length > 0) throw new ValidationError(`unknown shard(s): ${unknown.join(', ')}`);
  const startedAt = deps.clock.now();
  const epochId = newEpochId(startedAt, map.version, randomBytes(3).toString('hex'));
  await deps.store.createEpoch({ epochId, kind: request.kind, mapVersion: map.version, startedAt, shards: chosen, requestedBy: request.requestedBy });
  const tasks = map.shards
    .filter((shard) => chosen.includes(shard.name))
    .map((shard): ShardTask => ({ epochId, mapVersion: map.version, kind: request.kind, shard: shard.name, shardKind: shard.kind }));
  return { epochId, mapVersion: map.version, kind: request.kind, tasks };
}

/** The shard a task names, from the map version the epoch started with (so a run sees one map throughout). */
export async function shardOfTask(store: BackupStore, task: Pick<ShardTask, 'mapVersion' | 'shard'>, catalog?: Pick<Catalog, 'loadShardMap'>): Promise<Shard> {
  const map = (await store.shardMapAt(task.mapVersion)) ?? (await catalog?.loadShardMap());
  const shard = map?.shards.find((candidate) => candidate.name === task.shard);
  if (!shard) throw new NotFoundError(`shard ${task.shard} is not in shard map version ${task.mapVersion}`);
  return shard;
}

/** Failed shards named in a finished epoch's answer; the catalog holds them all. */
const FAILED_SHARDS_SHOWN = 50;

/**
 * Closes the run from the catalog, so no per-shard outcome has to travel through the workflow's
 * state: succeeded when every shard of the epoch has a restorable backup from it, partial when
 * some do, failed when none do.
 */
export async function finishEpoch(store: BackupStore, epochId: string, at: number): Promise<{ status: EpochStatus; failedCount: number; failed: string[] }> {
  const epoch = await store.epoch(epochId);
  if (!epoch) throw new NotFoundError(`backup epoch ${epochId} does not exist`);
  const restorable = new Set(await store.restorableShards(epochId));
  const failed = epoch.shards.filter((shard) => !restorable.has(shard));
  const status: EpochStatus = failed.length === 0 ? 'succeeded' : failed.length === epoch.shards.length ? 'failed' : 'partial';
  await store.finishEpoch(epochId, status, at);
  return { status, failedCount: failed.length, failed: failed.slice(0, FAILED_SHARDS_SHOWN) };
}

export interface EpochShardRestore {
  shard: string;
  database: string;
  backupId: string | null;
  kind: 'logical' | 'snapshot' | 'missing';
  /** Logical: the verified restore; snapshot: the new cluster or instance. */
  report?: RestoreReport;
  restoredArn?: string;
  targetIdentifier?: string;
  /** Snapshot restores: where the restored writer answers, once known (an RDS instance's appears when it is available). */
  endpoint?: { host: string; port: number };
}

export interface EpochRestore {
  epoch: EpochRecord;
  /**
   * The shard map of the epoch, pointing at the restore: logical shards' databases renamed, restored
   * clusters as each shard's primary (its credentials secret kept). A shard whose restored endpoint
   * is not known yet keeps its old nodes: see `shards[].endpoint`.
   */
  shardMap: ShardMap;
  shards: EpochShardRestore[];
  applied: boolean;
}

/**
 * Restores a logical backup of the epoch, or keeps what an earlier attempt restored: a second
 * `--apply` after a failure part-way goes on from the first shard not yet restored, and loads again
 * a database whose restore was cut off.
 */
async function restoreOrReuse(deps: RestoreDeps, backup: BackupRecord, database: string): Promise<RestoreReport> {
  const manifest = await loadManifest(deps.objects, backup);
  // One claim over the check and the restore: nothing else may restore into the database in between.
  const guard = await deps.restorer.connect();
  try {
    await guard.claimDatabase(database);
    const earlier = await checkEarlierRestore(guard, deps.clock, manifest, database);
    if (earlier.kind !== 'checked') return await restoreLogicalBackup(deps, { manifest, database, replace: earlier.kind === 'unfinished', alreadyClaimed: true });
    if (earlier.report.reused) return earlier.report;
    throw new ValidationError(
      `database ${database} already holds tables that do not match backup ${backup.backupId} (${earlier.report.problems.slice(0, 3).join('; ')}); drop it or restore with another --suffix`,
    );
  } finally {
    await guard.close();
  }
}

/**
 * The whole fleet as of one run: each shard's backup of the epoch (logical dumps into
 * `<database><suffix>`, snapshots into new clusters or instances) plus the shard map of the epoch.
 * Without `apply` it only says what it would do.
 */
export async function restoreEpoch(
  deps: RestoreDeps & { store: BackupStore; snapshots?: SnapshotService },
  request: { epochId: string; suffix: string; apply: boolean },
): Promise<EpochRestore> {
  const epoch = await deps.store.epoch(request.epochId);
  if (!epoch) throw new NotFoundError(`backup epoch ${request.epochId} is not in the catalog`);
  const map = await deps.store.shardMapAt(epoch.mapVersion);
  if (!map) throw new NotFoundError(`shard map version ${epoch.mapVersion} of epoch ${epoch.epochId} is not in the catalog history`);
  const backups = await deps.store.listBackups({ epochId: epoch.epochId, kinds: ['logical', 'snapshot'], statuses: [...RESTORABLE_STATUSES], limit: 10_000 });
  const shards: EpochShardRestore[] = [];
  for (const shard of map.shards.filter((candidate) => epoch.shards.includes(candidate.name))) {
    const backup = backups.find((candidate) => candidate.shard === shard.name);
    const database = `${shard.database}${request.suffix}`;
    if (!backup) {
      shards.push({ shard: shard.name, database: shard.database, backupId: null, kind: 'missing' });
      continue;
    }
    if (backup.kind === 'logical') {
      const entry: EpochShardRestore = { shard: shard.name, database, backupId: backup.backupId, kind: 'logical' };
      if (request.apply) entry.report = await restoreOrReuse(deps, backup, database);
      shards.push(entry);
    } else {
      const targetIdentifier = `${String(backup.sourceNode)}${request.suffix.replace(/_/g, '-')}`.slice(0, 63);
      const entry: EpochShardRestore = { shard: shard.name, database: shard.database, backupId: backup.backupId, kind: 'snapshot', targetIdentifier };
      if (request.apply) {
        if (!deps.snapshots) throw new ValidationError('restoring snapshots needs AWS access (the RDS API)');
        const detail = backup.detail as { managedKind?: 'aurora' | 'rds'; identifier?: string };
        const restored = await deps.snapshots.restoreFromSnapshot(detail.managedKind ?? 'aurora', backup.snapshotId!, targetIdentifier, detail.identifier ?? String(backup.sourceNode));
        entry.restoredArn = restored.arn;
        if (restored.endpoint) entry.endpoint = restored.endpoint;
      }
      shards.push(entry);
    }
  }
  const restoredMap: ShardMap = {
    ...map,
    shards: map.shards.map((shard) => {
      const restored = shards.find((entry) => entry.shard === shard.name);
      if (restored?.kind === 'logical') return { ...shard, database: restored.database };
      if (restored?.kind === 'snapshot' && restored.endpoint) {
        const secretRef = primaryOf(shard)?.secretRef;
        return { ...shard, nodes: [{ id: restored.targetIdentifier!, role: 'primary' as const, ...restored.endpoint, ...(secretRef ? { secretRef } : {}) }] };
      }
      return shard;
    }),
  };
  return { epoch, shardMap: restoredMap, shards, applied: request.apply };
}
