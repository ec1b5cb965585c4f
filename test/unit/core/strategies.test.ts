import { describe, expect, it } from 'vitest';
import { keyspaceId, xxh64 } from '../../../functions/core/hash';
import { bigIntToUint64, parseKey, uint64Key } from '../../../functions/core/keys';
import { equalRangeNames, splitMix64 } from '../../../functions/core/population';
import { buildRing, createLocator, jumpHash, moduloIndex } from '../../../functions/core/strategies';

const jumpOf = (key: bigint, buckets: number) => {
  const { hi, lo } = bigIntToUint64(key);
  return jumpHash(hi, lo, buckets);
};

/** Lamping & Veach's loop over BigInt. */
function referenceJump(key: bigint, buckets: number): number {
  let bucket = -1;
  let next = 0;
  while (next < buckets) {
    bucket = next;
    key = BigInt.asUintN(64, key * 2862933555777941757n + 1n);
    next = Math.floor((bucket + 1) * (2 ** 31 / (Number(key >> 33n) + 1)));
  }
  return bucket;
}

/** Locates a synthetic keyspace id (the key itself is irrelevant to hash-based strategies). */
const locateId = (locator: ReturnType<typeof createLocator>, id: bigint) => locator.locate(uint64Key({ hi: 0, lo: 0 }), bigIntToUint64(id));

describe('jumpHash', () => {
  it('reproduces the published values', () => {
    expect([jumpOf(1n, 1), jumpOf(42n, 57), jumpOf(0xdead10ccn, 1), jumpOf(0xdead10ccn, 666), jumpOf(256n, 1024)]).toEqual([0, 43, 0, 361, 520]);
  });

  it('agrees with a BigInt reference across keys and bucket counts', () => {
    const next = splitMix64(21);
    for (let i = 0; i < 3000; i++) {
      const key = next();
      const buckets = 1 + Number(key % 5000n);
      expect(jumpOf(key, buckets)).toBe(referenceJump(key, buckets));
    }
  });

  it('moves a key only to the new bucket when one is added', () => {
    const next = splitMix64(22);
    for (let i = 0; i < 2000; i++) {
      const key = next();
      const before = jumpOf(key, 16);
      const after = jumpOf(key, 17);
      expect(after === before || after === 16).toBe(true);
    }
  });
});

describe('moduloIndex', () => {
  it('is the 64-bit keyspace id mod n', () => {
    const next = splitMix64(23);
    for (let i = 0; i < 2000; i++) {
      const id = next();
      const n = 1 + (i % 4096);
      const { hi, lo } = bigIntToUint64(id);
      expect(moduloIndex(hi, lo, n)).toBe(Number(id % BigInt(n)));
    }
  });
});

describe('ring', () => {
  const ring = buildRing(3, 4);

  it('places XXH64("shard_<i>_vnode_<j>") points in sorted order', () => {
    expect(ring.owner).toHaveLength(12);
    const points = Array.from(ring.owner, (owner, index) => ({ owner, value: (BigInt(ring.pointHi[index]!) << 32n) | BigInt(ring.pointLo[index]!) }));
    for (let i = 1; i < points.length; i++) expect(points[i]!.value > points[i - 1]!.value).toBe(true);
    const { hi, lo } = xxh64(new TextEncoder().encode('shard_2_vnode_3'));
    expect(points).toContainEqual({ owner: 2, value: (BigInt(hi) << 32n) | BigInt(lo) });
  });

  it('gives a key to the first point at or after it, wrapping past the last', () => {
    const locator = createLocator({ kind: 'ring', virtualNodes: 4 }, ['a', 'b', 'c']);
    const point = (index: number) => (BigInt(ring.pointHi[index]!) << 32n) | BigInt(ring.pointLo[index]!);
    expect(locateId(locator, point(5))).toBe(ring.owner[5]);
    expect(locateId(locator, point(5) - 1n)).toBe(ring.owner[5]);
    expect(locateId(locator, point(5) + 1n)).toBe(ring.owner[6]);
    expect(locateId(locator, point(11) + 1n)).toBe(ring.owner[0]);
    expect(locateId(locator, 0n)).toBe(ring.owner[0]);
  });
});

describe('keyspace locator', () => {
  it('finds the range whose start is the last one at or below the id, whatever the list order', () => {
    const names = ['c0-', '40-80', '-40', '80-c0'];
    const locator = createLocator({ kind: 'keyspace' }, names);
    const owner = (id: bigint) => names[locateId(locator, id)];
    expect(owner(0n)).toBe('-40');
    expect(owner(0x3fffffffffffffffn)).toBe('-40');
    expect(owner(0x4000000000000000n)).toBe('40-80');
    expect(owner(0xbfffffffffffffffn)).toBe('80-c0');
    expect(owner(0xc000000000000000n)).toBe('c0-');
    expect(owner(2n ** 64n - 1n)).toBe('c0-');
  });

  it('agrees with a linear scan over many ids and uneven ranges', () => {
    const names = equalRangeNames(7);
    const locator = createLocator({ kind: 'keyspace' }, names);
    const next = splitMix64(24);
    for (let i = 0; i < 2000; i++) {
      const id = next();
      const expected = names.findIndex((_, index) => id < (BigInt(index + 1) << 64n) / 7n);
      expect(locateId(locator, id)).toBe(expected);
    }
  });
});

describe('range locator', () => {
  it('compares the raw id with inclusive upper bounds, the last shard open-ended', () => {
    const locator = createLocator({ kind: 'range', upperBounds: ['124999', '249999', '9007199254740993'] }, ['0', '1', '2', '3']);
    const shardOf = (text: string) => {
      const key = parseKey(text, 'uint64');
      return locator.locate(key, keyspaceId(key));
    };
    expect(['0', '124999', '125000', '249999', '250000', '9007199254740993', '9007199254740994', '18446744073709551615'].map(shardOf)).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3,
    ]);
  });
});
