import type { ShardMap, ShardMapDraft } from '../../../functions/core/shard-map-types';
import type { Catalog, MapVersionRecord, MigrationResult } from '../../../functions/ports/catalog';
import { CatalogUnavailableError, StaleMapVersionError } from '../../../functions/shared/errors';

/** A Catalog in memory, with a switch to make it unreachable and counters to see what was asked. */
export class InMemoryCatalog implements Catalog {
  map: ShardMap | undefined;
  history: MapVersionRecord[] = [];
  unreachable = false;
  calls = { mapVersion: 0, loadShardMap: 0 };

  private check(): void {
    if (this.unreachable) throw new CatalogUnavailableError('catalog unreachable (test)');
  }

  async migrate(): Promise<MigrationResult> {
    this.check();
    return { applied: [], current: 1 };
  }

  async loadShardMap(): Promise<ShardMap | undefined> {
    this.check();
    this.calls.loadShardMap++;
    return this.map && structuredClone(this.map);
  }

  async mapVersion(): Promise<number | undefined> {
    this.check();
    this.calls.mapVersion++;
    return this.map?.version;
  }

  async commitShardMap(draft: ShardMapDraft, expectedVersion: number, summary: string): Promise<ShardMap> {
    this.check();
    const current = this.map?.version ?? 0;
    if (current !== expectedVersion) throw new StaleMapVersionError(expectedVersion, this.map?.version);
    const changedAt = new Date(0 + current).toISOString();
    this.map = { ...structuredClone(draft), version: current + 1, updatedAt: changedAt };
    this.history.unshift({ version: current + 1, summary, changedAt });
    return structuredClone(this.map);
  }

  async mapHistory(limit: number): Promise<MapVersionRecord[]> {
    this.check();
    return this.history.slice(0, limit);
  }
}

export class ManualClock {
  constructor(public time = 1_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}
