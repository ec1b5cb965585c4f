import { createRouter, type Router } from '../core/router';
import type { ShardMap } from '../core/shard-map-types';
import type { Catalog } from '../ports/catalog';
import type { Clock } from '../ports/clock';
import { CatalogUnavailableError, NoShardMapError } from '../shared/errors';

export interface CachedShardMap {
  map: ShardMap;
  router: Router;
  /** True when the catalog could not be reached at the last revalidation. */
  stale: boolean;
}

export interface ShardMapCacheOptions {
  catalog: Pick<Catalog, 'loadShardMap' | 'mapVersion'>;
  clock: Clock;
  /** How long a checked map is trusted before the catalog's version is asked again. */
  revalidateMs: number;
  onRevalidateError?: (error: unknown) => void;
}

/**
 * The lookup function's in-memory shard map. Revalidates by map version (one cheap query)
 * at most every `revalidateMs`, reloads only when the version moved, and keeps serving the
 * last good map, marked stale, while the catalog is unreachable.
 */
export class ShardMapCache {
  private entry: CachedShardMap | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<CachedShardMap> | undefined;

  constructor(private readonly options: ShardMapCacheOptions) {}

  async current(): Promise<CachedShardMap> {
    if (this.entry && this.options.clock.now() - this.checkedAt < this.options.revalidateMs) return this.entry;
    this.inFlight ??= this.revalidate().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async revalidate(): Promise<CachedShardMap> {
    const { catalog, clock } = this.options;
    try {
      const version = await catalog.mapVersion();
      if (this.entry && version === this.entry.map.version) {
        this.entry = { ...this.entry, stale: false };
      } else {
        const map = version === undefined ? undefined : await catalog.loadShardMap();
        if (!map) throw new NoShardMapError('the catalog holds no shard map yet');
        this.entry = { map, router: createRouter(map), stale: false };
      }
    } catch (error) {
      this.checkedAt = clock.now();
      if (!this.entry) {
        if (error instanceof NoShardMapError) throw error;
        throw new CatalogUnavailableError('no shard map loaded and the catalog is unreachable', { cause: error });
      }
      this.options.onRevalidateError?.(error);
      this.entry = { ...this.entry, stale: true };
      return this.entry;
    }
    this.checkedAt = clock.now();
    return this.entry;
  }
}
