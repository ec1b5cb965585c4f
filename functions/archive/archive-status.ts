import type { ArchiveBatchRecord, ArchiveRun, ArchiveStore, DetachedUnit } from '../ports/archive-store';

export interface ArchiveStatus {
  runs: ArchiveRun[];
  /** Batches an interrupted run left; the next run finishes or abandons them. */
  unfinished: ArchiveBatchRecord[];
  /** Partitions or date-named tables detached and not yet dropped. */
  detached: DetachedUnit[];
}

/** Recent runs of the configured tables, with whatever a crash or a pause left open. */
export async function archiveStatus(store: ArchiveStore, scope: { tables: readonly string[]; shards: readonly string[]; limit: number }): Promise<ArchiveStatus> {
  const runs = (await Promise.all(scope.tables.map((table) => store.runs({ table, limit: scope.limit }))))
    .flat()
    .filter((run) => scope.shards.includes(run.shard))
    .sort((a, b) => b.startedAt - a.startedAt)
    .slice(0, scope.limit);
  const pairs = scope.tables.flatMap((table) => scope.shards.map((shard) => ({ table, shard })));
  const unfinished = (await Promise.all(pairs.map(({ table, shard }) => store.unfinishedBatches(table, shard)))).flat();
  const detached = (await Promise.all(pairs.map(({ table, shard }) => store.detachedUnits(table, shard)))).flat();
  return { runs, unfinished, detached };
}
