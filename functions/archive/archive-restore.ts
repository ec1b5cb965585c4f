import { batchLines, INTEGER_COLUMN_TYPES, INTEGER_TEXT, isoDate, keyString, sqlDateTime, type SourceRow } from '../core/archive-batch';
import { dailyTableDay } from '../core/archive-partitions';
import { lineSha256, restoredKeyId } from '../core/archive-restored';
import type { ArchiveSource, TableDescription } from '../ports/archive-source';
import type { ArchiveStore } from '../ports/archive-store';
import type { ObjectStore } from '../ports/object-store';
import { ArchiveIntegrityError, ValidationError } from '../shared/errors';
import { assertIdentifier } from '../shared/identifiers';
import type { ArchiveTableConfig } from './archive-config';
import { verifiedBody } from './archive-batches';
import { resolveArchiveTable } from './resolve-table';

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
  const batches = await deps.store.verifiedBatches(config.table, request.shard, isoDate(request.from), isoDate(request.to - 1));
  let matched = 0;
  let inserted = 0;
  for (const [index, batch] of batches.entries()) {
    const body = await verifiedBody(deps.objects, batch);
    if (!body) throw new ArchiveIntegrityError(`archive object ${batch.objectKey} is missing or does not match its manifest checksum`);
    const lines = batchLines(body)
      .map((line) => ({ line, row: JSON.parse(line) as SourceRow }))
      .filter(({ row }) => {
        const value = String(row[config.timeColumn]);
        // A DATE is its day's midnight; compared as text it would sort before it.
        const time = value.length === 10 ? `${value} 00:00:00` : value;
        return time >= from && time < to && (player === undefined || String(row[config.playerColumn]) === player);
      });
    matched += lines.length;
    const rows = lines.map(({ row }) => row);
    const first = rows[0];
    if (!first) continue;
    if (live) {
      await deps.store.recordRestored(
        config.table,
        request.shard,
        lines.map(({ line, row }) => ({ keyId: restoredKeyId(keyString(row, live.keyColumns)), time: String(row[config.timeColumn]), lineSha256: lineSha256(line), objectKey: batch.objectKey })),
      );
    }
    inserted += await deps.source.insertMissing(target, Object.keys(first), rows);
    deps.onObject?.(index + 1, batches.length);
  }
  return { target, objects: batches.length, matched, inserted, skipped: matched - inserted };
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
