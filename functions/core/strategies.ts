import { ShardMapError } from '../shared/errors';
import { mul64High, xxh64 } from './hash';
import { parseKeyRange } from './key-range';
import { bigIntToUint64, parseKey, type ParsedKey, type Uint64 } from './keys';
import type { StrategyConfig } from './shard-map-types';

/** A compiled strategy: which shard (index into the map's shard list) owns a key. */
export interface Locator {
  /** `id` is the key's keyspace id; only the range strategy looks at the key itself. */
  locate(key: ParsedKey, id: Uint64): number;
}

const TWO_32 = 0x1_0000_0000;
const utf8 = new TextEncoder();

/** Builds the lookup structures once; assumes the strategy and shard list passed validateShardMap. */
export function createLocator(strategy: StrategyConfig, shardNames: readonly string[]): Locator {
  const count = shardNames.length;
  switch (strategy.kind) {
    case 'keyspace':
      return keyspaceLocator(shardNames);
    case 'modulo':
      return { locate: (_key, id) => moduloIndex(id.hi, id.lo, count) };
    case 'jump':
      return { locate: (_key, id) => jumpHash(id.hi, id.lo, count) };
    case 'ring':
      return ringLocator(buildRing(count, strategy.virtualNodes));
    case 'range':
      return rangeLocator(strategy.upperBounds);
  }
}

/** Binary search for the last range start <= the keyspace id. */
function keyspaceLocator(shardNames: readonly string[]): Locator {
  const ranges = shardNames.map((name, index) => ({ index, ...bigIntToUint64(parseKeyRange(name).start) }));
  ranges.sort((a, b) => a.hi - b.hi || a.lo - b.lo);
  const startHi = Uint32Array.from(ranges, (range) => range.hi);
  const startLo = Uint32Array.from(ranges, (range) => range.lo);
  const owner = Int32Array.from(ranges, (range) => range.index);
  return {
    locate(_key, id) {
      const { hi, lo } = id;
      let low = 0;
      let high = owner.length - 1;
      while (low < high) {
        const mid = (low + high + 1) >>> 1;
        const midHi = startHi[mid]!;
        if (midHi < hi || (midHi === hi && startLo[mid]! <= lo)) low = mid;
        else high = mid - 1;
      }
      return owner[low]!;
    },
  };
}

/** keyspace id mod n, without BigInt: (hi * 2^32 + lo) mod n stays exact below 2^53 for n <= 2^20. */
export function moduloIndex(hi: number, lo: number, n: number): number {
  return ((hi % n) * TWO_32 + lo) % n;
}

const JUMP_MULTIPLIER_HI = 0x27bb2ee6; // 2862933555777941757, the LCG of Lamping & Veach
const JUMP_MULTIPLIER_LO = 0x87b0b0fd;

/** Jump consistent hash (Lamping & Veach 2014) of a 64-bit key into [0, buckets). */
export function jumpHash(hi: number, lo: number, buckets: number): number {
  let bucket = -1;
  let next = 0;
  while (next < buckets) {
    bucket = next;
    // key = key * multiplier + 1 (mod 2^64)
    const productLo = Math.imul(lo, JUMP_MULTIPLIER_LO) >>> 0;
    hi = mul64High(hi, lo, JUMP_MULTIPLIER_HI, JUMP_MULTIPLIER_LO);
    lo = (productLo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    // (key >> 33) is the high half shifted by one; the paper divides in double precision too
    next = Math.floor((bucket + 1) * (0x8000_0000 / ((hi >>> 1) + 1)));
  }
  return bucket;
}

export interface Ring {
  pointHi: Uint32Array;
  pointLo: Uint32Array;
  /** Shard index owning each point. */
  owner: Int32Array;
}

/** Ring points XXH64("shard_<i>_vnode_<j>"), sorted; ties (never seen in practice) go to the lower shard index. */
export function buildRing(shardCount: number, virtualNodes: number): Ring {
  const points: Array<Uint64 & { owner: number }> = [];
  for (let shard = 0; shard < shardCount; shard++) {
    for (let vnode = 0; vnode < virtualNodes; vnode++) {
      points.push({ owner: shard, ...xxh64(utf8.encode(`shard_${shard}_vnode_${vnode}`)) });
    }
  }
  points.sort((a, b) => a.hi - b.hi || a.lo - b.lo || a.owner - b.owner);
  return {
    pointHi: Uint32Array.from(points, (point) => point.hi),
    pointLo: Uint32Array.from(points, (point) => point.lo),
    owner: Int32Array.from(points, (point) => point.owner),
  };
}

/** The first point at or after the keyspace id, wrapping past the last point to the first. */
function ringLocator({ pointHi, pointLo, owner }: Ring): Locator {
  const count = owner.length;
  return {
    locate(_key, id) {
      const { hi, lo } = id;
      let low = 0;
      let high = count;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const midHi = pointHi[mid]!;
        if (midHi < hi || (midHi === hi && pointLo[mid]! < lo)) low = mid + 1;
        else high = mid;
      }
      return owner[low === count ? 0 : low]!;
    },
  };
}

/** The raw id against sorted inclusive upper bounds; keys above the last bound go to the last shard. */
function rangeLocator(upperBounds: readonly string[]): Locator {
  const bounds = upperBounds.map((bound) => parseKey(bound, 'uint64') as Extract<ParsedKey, { kind: 'uint64' }>);
  const boundHi = Uint32Array.from(bounds, (bound) => bound.hi);
  const boundLo = Uint32Array.from(bounds, (bound) => bound.lo);
  const count = bounds.length;
  return {
    locate(key) {
      if (key.kind !== 'uint64') throw new ShardMapError('the range strategy routes uint64 keys only');
      const { hi, lo } = key;
      let low = 0;
      let high = count;
      while (low < high) {
        const mid = (low + high) >>> 1;
        const midHi = boundHi[mid]!;
        if (midHi < hi || (midHi === hi && boundLo[mid]! < lo)) low = mid + 1;
        else high = mid;
      }
      return low;
    },
  };
}
