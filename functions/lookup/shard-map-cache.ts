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
  /** How long a request waits for a due check before it is answered from the map held (default 200 ms). */
  waitMs?: number;
  /** A catalog call slower than this counts as the catalog being unreachable (default 4 s). */
  timeoutMs?: number;
  onRevalidateError?: (error: unknown) => void;
}

/**
 * The lookup function's in-memory shard map. Revalidates by map version (one cheap query)
 * at most every `revalidateMs`, reloads only when the version moved, and keeps serving the
 * last good map, marked stale, while the catalog is unreachable. A slow catalog (a paused
 * Serverless cluster resuming) holds no request up for long: past `waitMs` a request is answered
 * from the map held while the check goes on, and past `timeoutMs` the check counts as failed.
 */
export class ShardMapCache {
  private entry: CachedShardMap | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<CachedShardMap> | undefined;

  constructor(private readonly options: ShardMapCacheOptions) {}

  async current(): Promise<CachedShardMap> {
    const held = this.entry;
    if (held && this.options.clock.now() - this.checkedAt < this.options.revalidateMs) return held;
    this.inFlight ??= this.revalidate().finally(() => {
      this.inFlight = undefined;
    });
    if (!held) return this.inFlight;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<CachedShardMap>((resolve) => {
      timer = setTimeout(() => resolve(held), this.options.waitMs ?? 200);
    });
    try {
      return await Promise.race([this.inFlight, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async revalidate(): Promise<CachedShardMap> {
    const { catalog, clock } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 4000;
    try {
      const version = await withinTime(catalog.mapVersion(), timeoutMs, 'the shard map version query');
      if (this.entry && version === this.entry.map.version) {
        this.entry = { ...this.entry, stale: false };
      } else {
        const map = version === undefined ? undefined : await withinTime(catalog.loadShardMap(), timeoutMs, 'loading the shard map');
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

/** `work`, or CatalogUnavailableError once `ms` have passed without an answer. */
async function withinTime<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CatalogUnavailableError(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
