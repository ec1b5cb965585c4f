import { randomUUID } from 'node:crypto';
import { batchLines, INTEGER_COLUMN_TYPES, INTEGER_TEXT, isoDate, keyString, sqlDateTime, type SourceRow } from '../core/archive-batch';
import { dailyTableDay } from '../core/archive-partitions';
import { lineSha256, restoredKeyId } from '../core/archive-restored';
import type { ArchiveSource, TableDescription } from '../ports/archive-source';
import type { ArchiveStore } from '../ports/archive-store';
import type { ObjectStore } from '../ports/object-store';
import { ArchiveIntegrityError, ConflictError, ValidationError } from '../shared/errors';
import { assertIdentifier } from '../shared/identifiers';
import type { ArchiveTableConfig } from './archive-config';
import { verifiedBody } from './archive-batches';
import { resolveArchiveTable } from './resolve-table';

/** Renewed before each object: a restore holds the table's lease only as long as it keeps reading. */
const RESTORE_LEASE_MS = 15 * 60_000;

export interface RestoreRequest {
  shard: string;
  /** [from, to) in ms since the epoch, by the table's time column. */
  from: number;
  to: number;
  /** Only this player's rows (matched on the table's playerColumn). */
  player?: string;
  /** Target table; default: the archived table itself (created LIKE it when missing). */
  into?: string;
}

export interface RestoreResult {
  target: string;
  objects: number;
  /** Rows in the range (and of the player) found in the archive. */
  matched: number;
  inserted: number;
  /** Matching rows whose key was already in the target. */
  skipped: number;
}

/**
 * Copies archived rows back for a support case: every verified object of the shard in the date
 * range is read, checked against its manifest checksum, filtered, and inserted with its original
 * key; keys already present are skipped, so running it twice restores nothing twice. Rows put back
 * into the live table are recorded first, and the next run deletes them without archiving them again.
 */
export async function restoreArchivedRows(
  config: ArchiveTableConfig,
  request: RestoreRequest,
  deps: { source: ArchiveSource; store: ArchiveStore; objects: ObjectStore; onObject?: (done: number, total: number) => void },
): Promise<RestoreResult> {
  if (!(request.from < request.to)) throw new ValidationError('--from must be before --to');
  const target = assertIdentifier(request.into ?? config.table, '--into');
  // Whole partitions and date-named tables are archived with every row in them, restored ones too.
  if (config.layout === 'daily-tables' && (target === config.table || dailyTableDay(config.table, target) !== undefined)) {
    throw new ValidationError(`${config.table} is archived as date-named tables, which are archived whole; name another table to restore into with --into`);
  }
  if (config.layout === 'partitioned' && target === config.table) {
    throw new ValidationError(`${config.table} is archived by whole partitions, which would archive restored rows again; name a table to restore into with --into`);
  }
  // Rows put back into the live table are recorded, so the next run deletes them without archiving them twice.
  const live = target === config.table ? await resolveArchiveTable(deps.source, config) : undefined;
  // A missing target is created like the archived table, once the request has been checked against that table.
  const existing = await deps.source.describeTable(target);
  const template = existing ? undefined : config.layout === 'daily-tables' ? await newestDailyTable(deps.source, config.table) : config.table;
  const player = request.player === undefined ? undefined : playerValue(existing ?? (await deps.source.describeTable(template!)), config.playerColumn, request.player);
  if (template) await deps.source.createTableLike(target, template);

  const from = sqlDateTime(request.from);
  const to = sqlDateTime(request.to);
  const wanted = (row: SourceRow) => {
    const value = String(row[config.timeColumn]);
    // A DATE is its day's midnight; compared as text it would sort before it.
    const time = value.length === 10 ? `${value} 00:00:00` : value;
    return time >= from && time < to && (player === undefined || String(row[config.playerColumn]) === player);
  };
  // Newest first: a key archived more than once (restored, edited, archived again) comes back as its newest version.
  const batches = (await deps.store.verifiedBatches(config.table, request.shard, isoDate(request.from), isoDate(request.to - 1))).sort((a, b) => b.id - a.id);
  const lease = `archive-restore-${randomUUID()}`;
  let matched = 0;
  let inserted = 0;
  try {
    for (const [index, batch] of batches.entries()) {
      // Into the live table only while no archive run reads it, so no run deletes a record under a row being restored.
      if (live) await holdLease(deps.store, config.table, request.shard, lease);
      const body = await verifiedBody(deps.objects, batch);
      if (!body) throw new ArchiveIntegrityError(`archive object ${batch.objectKey} is missing or does not match its manifest checksum`);
      const lineOf = new Map<SourceRow, string>();
      for (const line of batchLines(body)) {
        const row = JSON.parse(line) as SourceRow;
        if (wanted(row)) lineOf.set(row, line);
      }
      const rows = [...lineOf.keys()];
      matched += rows.length;
      // Recorded right before they go in: exactly the rows inserted, each with the line it came from.
      const record = live
        ? (inserting: readonly SourceRow[]) =>
            deps.store.recordRestored(
              config.table,
              request.shard,
              inserting.map((row) => ({
                keyId: restoredKeyId(keyString(row, live.keyColumns)),
                time: String(row[config.timeColumn]),
                lineSha256: lineSha256(lineOf.get(row)!),
                objectKey: batch.objectKey,
                objectSha256: batch.sha256,
              })),
            )
        : undefined;
      if (rows.length > 0) inserted += await deps.source.insertMissing(target, Object.keys(rows[0]!), rows, record);
      deps.onObject?.(index + 1, batches.length);
    }
  } finally {
    if (live) await deps.store.releaseLease(config.table, request.shard, lease);
  }
  return { target, objects: batches.length, matched, inserted, skipped: matched - inserted };
}

/** Takes or renews the table's archive lease on the shard for the restore; refuses while an archive run holds it. */
async function holdLease(store: ArchiveStore, table: string, shard: string, owner: string): Promise<void> {
  const attempt = await store.tryLease(table, shard, owner, RESTORE_LEASE_MS);
  if (!attempt.acquired) {
    throw new ConflictError(
      `run ${attempt.heldBy} is archiving ${table} on shard ${shard} (its lease runs until ${new Date(attempt.expiresAt).toISOString()}); restore into the live table once it is done, or --into another table`,
    );
  }
}

/** The player id as the archived lines hold it: an integer column's value in canonical decimal. */
function playerValue(table: TableDescription | undefined, column: string, player: string): string {
  const info = table?.columns.find((candidate) => candidate.name === column);
  if (!info) throw new ValidationError(`${table?.name ?? 'the table'} has no column ${column} to find a player's rows by; set playerColumn in the archive config`);
  if (!INTEGER_COLUMN_TYPES.has(info.dataType)) return player;
  if (!INTEGER_TEXT.test(player)) throw new ValidationError(`--player must be an integer: ${column} is ${info.dataType}, got ${JSON.stringify(player)}`);
  return BigInt(player).toString();
}

async function newestDailyTable(source: ArchiveSource, base: string): Promise<string> {
  const newest = (await source.listTables(`${base}_`)).filter((name) => dailyTableDay(base, name) !== undefined).sort().at(-1);
  if (!newest) throw new ValidationError(`no ${base}_YYYYMMDD table exists to create the restore target like`);
  return newest;
}
