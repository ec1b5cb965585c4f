import type { ShardMap, ShardMapDraft } from '../core/shard-map-types';
import type { Catalog, MigrationResult } from '../ports/catalog';
import { StaleMapVersionError } from '../shared/errors';
import { commitShardMapChange } from './shard-map-changes';

export interface BootstrapResult {
  migrations: MigrationResult;
  map: ShardMap | undefined;
  seeded: boolean;
}

/**
 * Brings a catalog to the current schema and, when it holds no map yet, commits the initial
 * fleet. An existing map is never overwritten: after the first deploy the catalog is the truth.
 */
export async function bootstrapCatalog(catalog: Catalog, initial: ShardMapDraft | undefined): Promise<BootstrapResult> {
  const migrations = await catalog.migrate();
  const existing = await catalog.loadShardMap();
  if (existing || !initial) return { migrations, map: existing, seeded: false };
  try {
    const map = await commitShardMapChange(catalog, initial, 0, 'initial fleet');
    return { migrations, map, seeded: true };
  } catch (error) {
    // Another bootstrap committed first: its map stands.
    if (!(error instanceof StaleMapVersionError)) throw error;
    return { migrations, map: await catalog.loadShardMap(), seeded: false };
  }
}
