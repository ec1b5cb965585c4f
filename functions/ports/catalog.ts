import type { ShardMap, ShardMapDraft } from '../core/shard-map-types';

export interface MigrationResult {
  applied: number[];
  current: number;
}

export interface MapVersionRecord {
  version: number;
  summary: string;
  changedAt: string;
}

/** The catalog: the shard map and, through later migrations, health, backups and archive checkpoints. */
export interface Catalog {
  /** Applies pending schema migrations; safe to run repeatedly and concurrently. */
  migrate(): Promise<MigrationResult>;
  /** The current map, or undefined when none was ever committed. */
  loadShardMap(): Promise<ShardMap | undefined>;
  /** Cheap revalidation probe: the current map version, or undefined when there is no map. */
  mapVersion(): Promise<number | undefined>;
  /**
   * Replaces the map in one transaction and bumps its version.
   * `expectedVersion` is the version the writer read (0 for "no map yet");
   * a mismatch throws StaleMapVersionError and writes nothing.
   */
  commitShardMap(draft: ShardMapDraft, expectedVersion: number, summary: string): Promise<ShardMap>;
  mapHistory(limit: number): Promise<MapVersionRecord[]>;
}
