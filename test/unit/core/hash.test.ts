import { describe, expect, it } from 'vitest';
import { keyspaceIdHex, mul64High, uint64Hex, xxh64 } from '../../../functions/core/hash';
import { parseKey } from '../../../functions/core/keys';
import { splitMix64 } from '../../../functions/core/population';

/** Straightforward BigInt XXH64 from the specification, to check the 32-bit implementation against. */
function referenceXxh64(bytes: Uint8Array, seed: bigint): bigint {
  const M = (1n << 64n) - 1n;
  const [P1, P2, P3, P4, P5] = [0x9e3779b185ebca87n, 0xc2b2ae3d27d4eb4fn, 0x165667b19e3779f9n, 0x85ebca77c2b2ae63n, 0x27d4eb2f165667c5n];
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const lane = (at: number, size: number) => bytes.slice(at, at + size).reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
  const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M, 31n) * P1) & M;
  const merge = (acc: bigint, value: bigint) => (((acc ^ round(0n, value)) * P1) & M) + P4 & M;
  let at = 0;
  let h: bigint;
  if (bytes.length >= 32) {
    const v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M];
    for (; at + 32 <= bytes.length; at += 32) for (let i = 0; i < 4; i++) v[i] = round(v[i]!, lane(at + 8 * i, 8));
    h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & M;
    for (const value of v) h = merge(h, value);
  } else {
    h = (seed + P5) & M;
  }
  h = (h + BigInt(bytes.length)) & M;
  for (; at + 8 <= bytes.length; at += 8) h = ((rotl(h ^ round(0n, lane(at, 8)), 27n) * P1) & M) + P4 & M;
  if (at + 4 <= bytes.length) {
    h = ((rotl(h ^ ((lane(at, 4) * P1) & M), 23n) * P2) & M) + P3 & M;
    at += 4;
  }
  for (; at < bytes.length; at++) h = (rotl(h ^ ((BigInt(bytes[at]!) * P5) & M), 11n) * P1) & M;
  h = ((h ^ (h >> 33n)) * P2) & M;
  h = ((h ^ (h >> 29n)) * P3) & M;
  return h ^ (h >> 32n);
}

const hexOf = (value: { hi: number; lo: number }) => uint64Hex(value.hi, value.lo);
const utf8 = (text: string) => new TextEncoder().encode(text);

describe('xxh64', () => {
  it('gives the published answers for seed 0', () => {
    expect(hexOf(xxh64(utf8('')))).toBe('ef46db3751d8e999');
    expect(hexOf(xxh64(utf8('a')))).toBe('d24ec4f1a98c6e5b');
    expect(hexOf(xxh64(utf8('abc')))).toBe('44bc2cf5ad770999');
  });

  it('agrees with a BigInt reference for every length from 0 to 100 bytes and several seeds', () => {
    const next = splitMix64(11);
    for (let length = 0; length <= 100; length++) {
      const bytes = Uint8Array.from({ length }, () => Number(next() & 0xffn));
      for (const seed of [0, 1, 0xffffffff, 2 ** 40 + 7]) {
        expect(hexOf(xxh64(bytes, seed)), `length ${length}, seed ${seed}`).toBe(referenceXxh64(bytes, BigInt(seed)).toString(16).padStart(16, '0'));
      }
    }
  });

  it('rejects seeds it cannot represent exactly', () => {
    expect(() => xxh64(utf8('a'), -1)).toThrow(RangeError);
    expect(() => xxh64(utf8('a'), 2 ** 53)).toThrow(RangeError);
  });
});

describe('keyspaceIdHex', () => {
  it('hashes a uint64 key as its 8 big-endian bytes', () => {
    const next = splitMix64(5);
    const values = [0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, ...Array.from({ length: 500 }, next)];
    for (const value of values) {
      const bigEndian = Uint8Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(56 - 8 * i)) & 0xffn));
      expect(keyspaceIdHex(parseKey(value.toString(), 'uint64')), value.toString()).toBe(referenceXxh64(bigEndian, 0n).toString(16).padStart(16, '0'));
    }
  });

  it('hashes a string key as its UTF-8 bytes', () => {
    for (const text of ['abc', 'プレイヤー', 'x'.repeat(200)]) {
      expect(keyspaceIdHex(parseKey(text, 'string'))).toBe(hexOf(xxh64(utf8(text))));
    }
    expect(keyspaceIdHex(parseKey('abc', 'string'))).toBe('44bc2cf5ad770999');
  });

  it('hashes the same digits differently as a uint64 and as a string', () => {
    expect(keyspaceIdHex(parseKey('42', 'uint64'))).not.toBe(keyspaceIdHex(parseKey('42', 'string')));
  });
});

describe('64-bit helpers', () => {
  it('formats 16 zero-padded lowercase hex digits', () => {
    expect(uint64Hex(0, 0)).toBe('0000000000000000');
    expect(uint64Hex(0xabc, 0xffffffff)).toBe('00000abcffffffff');
    expect(uint64Hex(0xdeadbeef, 1)).toBe('deadbeef00000001');
  });

  it('multiplies 64-bit values exactly', () => {
    const next = splitMix64(8);
    for (let i = 0; i < 2000; i++) {
      const [a, b] = [next(), next()];
      const product = BigInt.asUintN(64, a * b);
      const split = (v: bigint) => [Number(v >> 32n), Number(v & 0xffffffffn)] as const;
      const [aHi, aLo] = split(a);
      const [bHi, bLo] = split(b);
      expect(mul64High(aHi, aLo, bHi, bLo) >>> 0).toBe(Number(product >> 32n));
      expect(Math.imul(aLo, bLo) >>> 0).toBe(Number(product & 0xffffffffn));
    }
  });
});
