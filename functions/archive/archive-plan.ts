import { archiveCutoff, sqlDateTime } from '../core/archive-batch';
import { activeBlackout, type BlackoutWindow } from '../core/archive-windows';
import type { ArchiveSource } from '../ports/archive-source';
import type { ArchiveStore } from '../ports/archive-store';
import { ValidationError } from '../shared/errors';
import type { ArchiveTableConfig } from './archive-config';
import { planLayout } from './partition-maintenance';
import { resolveArchiveTable } from './resolve-table';
import type { SliceRequest } from './archive-slice';

/** What one run archives: one item per (table, shard), each with the table's cutoff fixed at the run's start. */
export function planArchiveItems(
  tables: readonly ArchiveTableConfig[],
  shardNames: readonly string[],
  options: { now: number; runId: string; tables?: readonly string[]; shards?: readonly string[] },
): SliceRequest[] {
  const known = new Set(shardNames);
  for (const name of options.tables ?? []) {
    if (!tables.some((table) => table.table === name)) throw new ValidationError(`table ${name} is not configured for archiving (configured: ${tables.map((table) => table.table).join(', ')})`);
  }
  for (const name of options.shards ?? []) {
    if (!known.has(name)) throw new ValidationError(`shard ${name} is not in the shard map`);
  }
  return tables
    .filter((table) => !options.tables || options.tables.includes(table.table))
    .flatMap((table) => {
      for (const name of table.shards ?? []) {
        if (!known.has(name)) throw new ValidationError(`table ${table.table} names shard ${name}, which is not in the shard map`);
      }
      return shardNames
        .filter((shard) => (table.shards ?? shardNames).includes(shard) && (!options.shards || options.shards.includes(shard)))
        .map((shard) => ({ table: table.table, shard, runId: options.runId, cutoff: archiveCutoff(options.now, table.retentionDays) }));
    });
}

export interface ItemPreview {
  table: string;
  shard: string;
  cutoff: string;
  layout: ArchiveTableConfig['layout'];
  /** Why nothing can run on this shard (the live schema refuses the config). */
  problem?: string;
  blackoutUntil?: string;
  /** Rows layout: rows older than the cutoff that match the filter. */
  eligibleRows?: number;
  /** Partitions or date-named tables that would be created ahead. */
  createAhead: string[];
  /** Partitions or date-named tables past retention that would be detached, archived and dropped. */
  pastRetention: string[];
  /** Units detached earlier and still being archived. */
  detachedInProgress: string[];
  unfinishedBatches: number;
}

/** A dry run of one item: what the archiver would do now, without doing any of it. */
export async function previewArchiveItem(
  config: ArchiveTableConfig,
  item: SliceRequest,
  deps: { source: ArchiveSource; store: ArchiveStore; now: number; blackouts?: readonly BlackoutWindow[] },
): Promise<ItemPreview> {
  const preview: ItemPreview = {
    table: item.table,
    shard: item.shard,
    cutoff: new Date(item.cutoff).toISOString(),
    layout: config.layout,
    createAhead: [],
    pastRetention: [],
    detachedInProgress: (await deps.store.detachedUnits(item.table, item.shard)).map((unit) => unit.unit),
    unfinishedBatches: (await deps.store.unfinishedBatches(item.table, item.shard)).length,
  };
  const blackout = activeBlackout(deps.now, [...(deps.blackouts ?? []), ...config.blackouts]);
  if (blackout) preview.blackoutUntil = new Date(blackout.until).toISOString();
  try {
    const table = await resolveArchiveTable(deps.source, config);
    const layout = await planLayout({ config, shard: item.shard, source: deps.source, store: deps.store, now: deps.now, cutoff: item.cutoff });
    if (!layout) {
      preview.eligibleRows = await deps.source.countEligible(table.physicalTable, config.timeColumn, sqlDateTime(item.cutoff), config.filter);
    } else if (layout.layout === 'partitioned') {
      preview.createAhead = layout.plan.create.map((partition) => partition.name);
      preview.pastRetention = layout.plan.pastRetention;
    } else {
      preview.createAhead = layout.plan.create;
      preview.pastRetention = layout.plan.pastRetention;
    }
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    preview.problem = error.message;
  }
  return preview;
}
