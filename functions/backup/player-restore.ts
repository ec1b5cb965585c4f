import { randomBytes } from 'node:crypto';
import type { TableManifest } from '../core/backup-manifest';
import { encodeRow, InsertBatcher, insertHead, SESSION_LINE } from '../core/backup-sql-values';
import type { Shard } from '../core/shard-map-types';
import type { BinlogReplayer } from '../ports/backup-binlog';
import type { AtomicCopy } from '../ports/backup-mysql';
import type { BackupStore } from '../ports/backup-store';
import { NotFoundError, ValidationError } from '../shared/errors';
import { assertIdentifier } from '../shared/identifiers';
import { planShardRecovery, runBinlogRecovery } from './recovery';
import { loadManifest, restoreLogicalBackup, type RestoreDeps } from './restore-backup';

/** A table that holds player rows, and the column with the player id. */
export interface PlayerTable {
  table: string;
  column: string;
}

export interface PlayerRestoreRequest {
  shard: Shard;
  playerId: string;
  tables: PlayerTable[];
  /** A backup id, or a time to recover to (self-managed shards: backup plus binary logs). */
  from: { backupId: string } | { time: number };
  /** A schema to copy the rows into (created if missing), or SQL text to hand back. */
  into: { database: string } | { sql: true };
}

export interface PlayerRestoreResult {
  playerId: string;
  from: string;
  tables: { table: string; rows: number }[];
  database?: string;
  sql?: string;
}

/**
 * The support-ticket case: one player's rows as they were in a backup or at a point in time.
 * The backup is restored (and verified) into a scratch database, the player's rows are copied
 * out as INSERT statements into the target schema or returned as SQL, and the scratch database
 * is dropped.
 */
export async function restorePlayer(
  deps: RestoreDeps & { store: BackupStore; replayer?: BinlogReplayer },
  request: PlayerRestoreRequest,
): Promise<PlayerRestoreResult> {
  if (request.tables.length === 0) throw new ValidationError('name at least one table with its player id column');
  for (const { table, column } of request.tables) {
    assertIdentifier(table, 'player table');
    assertIdentifier(column, 'player id column');
  }
  if ('database' in request.into) assertIdentifier(request.into.database, 'target database');
  const scratch = `sk_player_${randomBytes(4).toString('hex')}`;
  try {
    let manifestTables: readonly TableManifest[];
    let from: string;
    if ('backupId' in request.from) {
      const backup = await deps.store.backup(request.from.backupId);
      if (!backup || backup.shard !== request.shard.name) throw new NotFoundError(`backup ${request.from.backupId} of shard ${request.shard.name} is not in the catalog`);
      const manifest = await loadManifest(deps.objects, backup);
      const report = await restoreLogicalBackup(deps, { manifest, database: scratch });
      if (!report.ok) throw new ValidationError(`backup ${backup.backupId} did not restore cleanly: ${report.problems.join('; ')}`);
      manifestTables = manifest.tables;
      from = `backup ${backup.backupId}`;
    } else {
      if (!deps.replayer) throw new ValidationError('recovering to a time needs the binary log tools');
      const plan = await planShardRecovery(deps.store, request.shard, request.from.time, deps.clock.now());
      if (plan.kind !== 'binlog-replay') throw new ValidationError(`shard ${request.shard.name} is ${request.shard.kind}: restore a point-in-time cluster with restore plan/run, then copy the player from it`);
      const report = await runBinlogRecovery({ ...deps, replayer: deps.replayer }, plan, { database: scratch });
      manifestTables = (await loadManifest(deps.objects, (await deps.store.backup(plan.base.backupId))!)).tables;
      from = `${plan.base.backupId} + ${report.replayed.length} binary log(s) up to ${plan.stopDatetime} UTC`;
    }
    return { ...(await copyPlayerRows(deps, scratch, manifestTables, request)), from };
  } finally {
    const connection = await deps.restorer.connect();
    await connection.dropDatabase(scratch).finally(() => connection.close());
  }
}

async function copyPlayerRows(
  deps: Pick<RestoreDeps, 'restorer'>,
  scratch: string,
  manifestTables: readonly TableManifest[],
  request: PlayerRestoreRequest,
): Promise<Omit<PlayerRestoreResult, 'from'>> {
  const connection = await deps.restorer.connect();
  const counts: { table: string; rows: number }[] = [];
  const copies: AtomicCopy[] = [];
  try {
    for (const { table, column } of request.tables) {
      const shape = manifestTables.find((candidate) => candidate.name === table);
      if (!shape) throw new NotFoundError(`table ${table} is not in the backup`);
      if (!shape.columns.includes(column)) throw new ValidationError(`table ${table} has no column ${column}`);
      const statements: string[] = [];
      const batcher = new InsertBatcher(insertHead(table, shape.columns), 1024 * 1024, (statement) => statements.push(statement.toString('utf8')));
      let rows = 0;
      for await (const batch of connection.rows(scratch, shape, { column, value: request.playerId })) {
        for (const row of batch) batcher.add(Buffer.from(encodeRow(row), 'utf8'));
        rows += batch.length;
      }
      batcher.flush();
      counts.push({ table, rows });
      copies.push({ table, like: { database: scratch, table }, inserts: statements });
    }
    if (!('database' in request.into)) {
      const sql = [SESSION_LINE, ...copies.flatMap((copy, index) => [`-- ${copy.table}: ${counts[index]!.rows} row(s) of player ${request.playerId}\n`, ...copy.inserts])];
      return { playerId: request.playerId, tables: counts, sql: sql.join('') };
    }
    // Every table's rows or none: a duplicate key in one table leaves no rows copied into another.
    await connection.copyAtomically(request.into.database, copies);
    return { playerId: request.playerId, tables: counts, database: request.into.database };
  } finally {
    await connection.close();
  }
}
