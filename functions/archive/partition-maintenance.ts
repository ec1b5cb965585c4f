import {
  DEFAULT_PARTITIONS_AHEAD,
  dailyTableDay,
  detachedTableName,
  planDailyTables,
  planPartitions,
  readPartitions,
  type DailyTablePlan,
  type PartitionPlan,
  type PartitionScheme,
} from '../core/archive-partitions';
import { unitReadyToDrop, VERIFIED_STATES } from '../core/archive-manifest';
import type { ArchiveSource } from '../ports/archive-source';
import type { ArchiveStore, DetachedUnit } from '../ports/archive-store';
import type { ObjectStore } from '../ports/object-store';
import { ArchiveIntegrityError, ConflictError, ValidationError } from '../shared/errors';
import type { ArchiveTableConfig } from './archive-config';
import { storedObjectMatches, type UnitScan } from './archive-batches';

/**
 * Partition maintenance for the `partitioned` and `daily-tables` layouts: create partitions or
 * tables ahead, detach whole ones past retention (one atomic DDL each), and drop a detached table
 * once every one of its rows is in a verified object.
 */

export interface MaintenanceContext {
  config: ArchiveTableConfig;
  shard: string;
  source: ArchiveSource;
  store: ArchiveStore;
  now: number;
  cutoff: number;
}

export type LayoutPlan =
  | { layout: 'partitioned'; scheme: PartitionScheme; plan: PartitionPlan }
  | { layout: 'daily-tables'; plan: DailyTablePlan; template: string | undefined };

/** What maintenance would do now; no side effects. */
export async function planLayout(context: MaintenanceContext): Promise<LayoutPlan | undefined> {
  const { config, source, now, cutoff } = context;
  if (config.layout === 'partitioned') {
    const description = await source.describeTable(config.table);
    if (!description) throw new ValidationError(`table ${config.table} does not exist in shard database ${source.database}`);
    const { scheme, partitions } = readPartitions(description.partitions, config.timeColumn);
    const unit = config.partitions.unit;
    return { layout: 'partitioned', scheme, plan: planPartitions(partitions, { unit, ahead: config.partitions.ahead ?? DEFAULT_PARTITIONS_AHEAD[unit], now, cutoff }) };
  }
  if (config.layout === 'daily-tables') {
    const existing = (await source.listTables(`${config.table}_`)).filter((name) => dailyTableDay(config.table, name) !== undefined).sort();
    return { layout: 'daily-tables', plan: planDailyTables(config.table, existing, { ahead: config.dailyTables.ahead, now, cutoff }), template: existing.at(-1) };
  }
  return undefined;
}

export interface MaintenanceResult {
  created: string[];
  detached: string[];
}

/** Finishes interrupted detaches, creates what is missing ahead and detaches what is past retention. */
export async function maintainLayout(context: MaintenanceContext): Promise<MaintenanceResult> {
  const { config, shard, source, store } = context;
  for (const unit of await store.detachedUnits(config.table, shard)) {
    if (unit.state === 'detaching') await completeDetach(context, unit);
  }
  const layout = await planLayout(context);
  if (!layout) return { created: [], detached: [] };

  const detached: string[] = [];
  /** Records the unit as detaching before the DDL, so an interrupted detach is finished on the next run. */
  const detach = async (unit: Pick<DetachedUnit, 'unit' | 'kind' | 'sourceTable' | 'partition' | 'detachedTable'>) => {
    const recorded: DetachedUnit = { ...unit, table: config.table, shard, state: 'detaching', rowCount: null, createdAt: context.now, droppedAt: null };
    await store.recordDetaching(recorded);
    await completeDetach(context, recorded);
    detached.push(recorded.unit);
  };
  if (layout.layout === 'partitioned') {
    const { plan, scheme } = layout;
    await source.addPartitions(config.table, scheme, plan.create, plan.maxValuePartition);
    for (const partition of plan.pastRetention) {
      await detach({ unit: `${config.table}.${partition}`, kind: 'partition', sourceTable: config.table, partition, detachedTable: detachedTableName(`${config.table}_${partition}`) });
    }
    return { created: plan.create.map((partition) => partition.name), detached };
  }

  const { plan, template } = layout;
  if (plan.create.length > 0 && !template) throw new ValidationError(`no ${config.table}_YYYYMMDD table exists to copy the structure of new tables from`);
  for (const name of plan.create) await source.createTableLike(name, template!);
  for (const name of plan.pastRetention) {
    await detach({ unit: name, kind: 'daily-table', sourceTable: name, partition: null, detachedTable: detachedTableName(name) });
  }
  return { created: plan.create, detached };
}

/** The DDL of a recorded detach, repeated safely: each step checks what a crash may already have done. */
async function completeDetach(context: MaintenanceContext, unit: DetachedUnit): Promise<void> {
  const { source, store } = context;
  if (unit.kind === 'partition') {
    await source.detachPartition(unit.sourceTable, unit.partition!, unit.detachedTable);
  } else if (!(await source.describeTable(unit.detachedTable))) {
    if (!(await source.describeTable(unit.sourceTable))) {
      throw new ConflictError(`neither ${unit.sourceTable} nor its detached copy ${unit.detachedTable} exists on shard ${unit.shard}; was it dropped by hand?`);
    }
    // Atomic, and a late writer to the old table gets an error instead of writing rows nobody archives.
    await source.renameTable(unit.sourceTable, unit.detachedTable);
  }
  await store.setUnitState(unit.table, unit.shard, unit.unit, 'archiving');
}

/** How a detached unit's rows are read: all of them, in key order, never deleted one by one. */
export function detachedScan(unit: DetachedUnit): UnitScan {
  return { unit: unit.unit, sourceTable: unit.detachedTable, deleteMode: 'none', before: null, filter: [] };
}

/**
 * Drops a detached table whose rows are exactly those of its verified batches, after checking
 * every one of those objects again. A crash after the drop is recognised by the missing table.
 */
export async function finishDetachedUnit(context: MaintenanceContext & { objects: ObjectStore }, unit: DetachedUnit): Promise<void> {
  const { source, store, objects } = context;
  const batches = await store.unitBatches(unit.table, unit.shard, unit.unit);
  const archivedRows = batches.filter((batch) => VERIFIED_STATES.includes(batch.state)).reduce((sum, batch) => sum + batch.rowCount, 0);
  if (!(await source.describeTable(unit.detachedTable))) {
    await store.setUnitState(unit.table, unit.shard, unit.unit, 'dropped', archivedRows);
    return;
  }
  const ready = unitReadyToDrop(await source.countRows(unit.detachedTable), batches);
  if (!ready.ready) throw new ArchiveIntegrityError(`${unit.detachedTable} on shard ${unit.shard} is not fully archived: ${ready.reason}; it is kept`);
  for (const batch of batches.filter((candidate) => VERIFIED_STATES.includes(candidate.state))) {
    if (!(await storedObjectMatches(objects, batch))) {
      throw new ArchiveIntegrityError(`archive object ${batch.objectKey} no longer matches its manifest; ${unit.detachedTable} is kept until it is restored`);
    }
  }
  await source.dropTable(unit.detachedTable);
  await store.setUnitState(unit.table, unit.shard, unit.unit, 'dropped', archivedRows);
}
