import { describe, expect, it } from 'vitest';
import { ShardMapCache } from '../../../functions/lookup/shard-map-cache';
import { CatalogUnavailableError } from '../../../functions/shared/errors';
import { fourShards } from '../fakes/fleets';
import { InMemoryCatalog, ManualClock } from '../fakes/in-memory-catalog';

/** A catalog whose version query waits until `answer()` is called. */
class SlowCatalog extends InMemoryCatalog {
  private pending: Array<() => void> = [];
  slow = false;

  override async mapVersion(): Promise<number | undefined> {
    if (this.slow) await new Promise<void>((resolve) => this.pending.push(resolve));
    return super.mapVersion();
  }

  answer(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

describe('the lookup shard map cache', () => {
  async function warm(options: { waitMs?: number; timeoutMs?: number } = {}) {
    const catalog = new SlowCatalog();
    await catalog.commitShardMap(fourShards, 0, 'fleet');
    const clock = new ManualClock();
    const cache = new ShardMapCache({ catalog, clock, revalidateMs: 1000, ...options });
    await cache.current();
    return { catalog, clock, cache };
  }

  it('answers from the map it holds while a slow catalog is being asked, and takes up the new map once it answers', async () => {
    const { catalog, clock, cache } = await warm({ waitMs: 20, timeoutMs: 5_000 });
    const moved = structuredClone(fourShards);
    moved.overrides = [{ key: '1', shard: 'c0-', moving: false }];
    await catalog.commitShardMap(moved, 1, 'pin');
    catalog.slow = true;
    clock.advance(1000);

    const started = performance.now();
    expect(await cache.current()).toMatchObject({ map: { version: 1 }, stale: false });
    expect(performance.now() - started).toBeLessThan(1_000);
    catalog.answer();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await cache.current()).toMatchObject({ map: { version: 2 }, stale: false });
    expect(catalog.calls.mapVersion).toBe(2);
  });

  it('counts a catalog that does not answer in time as unreachable: the map held is served stale, and without one the lookup fails fast', async () => {
    const { catalog, clock, cache } = await warm({ waitMs: 10, timeoutMs: 50 });
    catalog.slow = true;
    clock.advance(1000);
    expect(await cache.current()).toMatchObject({ map: { version: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await cache.current()).toMatchObject({ map: { version: 1 }, stale: true });

    const cold = new ShardMapCache({ catalog, clock, revalidateMs: 1000, timeoutMs: 50 });
    const started = performance.now();
    await expect(cold.current()).rejects.toThrow(CatalogUnavailableError);
    expect(performance.now() - started).toBeLessThan(1_000);
    catalog.answer();
  });
});
