import type { ParsedKey, Uint64 } from './keys';

/**
 * XXH64 (seed 0 for routing) in 32-bit halves: no BigInt and no allocation on the hot path.
 * A uint64 key hashes as its 8 big-endian bytes, a string key as its UTF-8 bytes.
 */
const P1_HI = 0x9e3779b1, P1_LO = 0x85ebca87;
const P2_HI = 0xc2b2ae3d, P2_LO = 0x27d4eb4f;
const P3_HI = 0x165667b1, P3_LO = 0x9e3779f9;
const P4_HI = 0x85ebca77, P4_LO = 0xc2b2ae63;
const P5_HI = 0x27d4eb2f, P5_LO = 0x165667c5;

/**
 * High 32 bits of a * b mod 2^64, as int32 bits (`>>> 0` makes them unsigned); the low 32 bits are
 * Math.imul(aLo, bLo). The low halves are multiplied in 16-bit limbs so every partial product is exact.
 */
export function mul64High(aHi: number, aLo: number, bHi: number, bLo: number): number {
  const a0 = aLo & 0xffff, a1 = aLo >>> 16, b0 = bLo & 0xffff, b1 = bLo >>> 16;
  const cross = a1 * b0 + a0 * b1 + ((a0 * b0) >>> 16);
  return (a1 * b1 + Math.floor(cross / 0x10000) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
}

function byteSwap(value: number): number {
  return (value << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24);
}

// The fast paths keep halves as int32 bits (`| 0`, not `>>> 0`) so V8 never leaves 32-bit registers.
function avalancheInto(hi: number, lo: number, out: Uint64): void {
  lo ^= hi >>> 1;
  let high = mul64High(hi, lo, P2_HI, P2_LO);
  lo = Math.imul(lo, P2_LO);
  hi = high;
  lo ^= (lo >>> 29) | (hi << 3);
  hi ^= hi >>> 29;
  high = mul64High(hi, lo, P3_HI, P3_LO);
  out.hi = high >>> 0;
  out.lo = (Math.imul(lo, P3_LO) ^ high) >>> 0;
}

/** XXH64 of the 8 big-endian bytes of a uint64, seed 0, as straight-line code: one lane, no tail. */
function hashUint64Into(keyHi: number, keyLo: number, out: Uint64): void {
  // XXH64 reads the lane little-endian, so the key's big-endian bytes arrive byte-swapped.
  let hi = byteSwap(keyLo);
  let lo = byteSwap(keyHi);
  // k1 = rotl(lane * P2, 31) * P1
  let high = mul64High(hi, lo, P2_HI, P2_LO);
  lo = Math.imul(lo, P2_LO);
  hi = high;
  high = (hi << 31) | (lo >>> 1);
  lo = (lo << 31) | (hi >>> 1);
  hi = high;
  high = mul64High(hi, lo, P1_HI, P1_LO);
  lo = Math.imul(lo, P1_LO);
  hi = high;
  // h = rotl((P5 + 8) ^ k1, 27) * P1 + P4; adding 8 to P5's low half does not carry
  hi ^= P5_HI;
  lo ^= P5_LO + 8;
  high = (hi << 27) | (lo >>> 5);
  lo = (lo << 27) | (hi >>> 5);
  hi = high;
  high = mul64High(hi, lo, P1_HI, P1_LO);
  lo = Math.imul(lo, P1_LO);
  const sum = (lo + P4_LO) | 0;
  const carry = sum >>> 0 < lo >>> 0 ? 1 : 0;
  avalancheInto((high + P4_HI + carry) | 0, sum, out);
}

// The general path (string keys, any length) composes helpers that leave their result here.
let resultHi = 0;
let resultLo = 0;

function mul(aHi: number, aLo: number, bHi: number, bLo: number): void {
  resultHi = mul64High(aHi, aLo, bHi, bLo) >>> 0;
  resultLo = Math.imul(aLo, bLo) >>> 0;
}

function add(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo;
  resultLo = lo >>> 0;
  resultHi = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** Rotate left by 0 < r < 32. */
function rotl(hi: number, lo: number, r: number): void {
  resultHi = ((hi << r) | (lo >>> (32 - r))) >>> 0;
  resultLo = ((lo << r) | (hi >>> (32 - r))) >>> 0;
}

/** XXH64 round: rotl(acc + lane * P2, 31) * P1. */
function round(accHi: number, accLo: number, laneHi: number, laneLo: number): void {
  mul(laneHi, laneLo, P2_HI, P2_LO);
  add(accHi, accLo, resultHi, resultLo);
  rotl(resultHi, resultLo, 31);
  mul(resultHi, resultLo, P1_HI, P1_LO);
}

/** h = (h ^ round(0, v)) * P1 + P4 */
function mergeRound(hHi: number, hLo: number, vHi: number, vLo: number): void {
  round(0, 0, vHi, vLo);
  mul((hHi ^ resultHi) >>> 0, (hLo ^ resultLo) >>> 0, P1_HI, P1_LO);
  add(resultHi, resultLo, P4_HI, P4_LO);
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function hashBytesInto(bytes: Uint8Array, seedHi: number, seedLo: number, out: Uint64): void {
  const length = bytes.length;
  let at = 0;
  let hHi: number, hLo: number;
  if (length >= 32) {
    add(seedHi, seedLo, P1_HI, P1_LO);
    add(resultHi, resultLo, P2_HI, P2_LO);
    let v1Hi = resultHi, v1Lo = resultLo;
    add(seedHi, seedLo, P2_HI, P2_LO);
    let v2Hi = resultHi, v2Lo = resultLo;
    let v3Hi = seedHi, v3Lo = seedLo;
    // seed - P1 == seed + (2^64 - P1)
    add(seedHi, seedLo, ~P1_HI >>> 0, (~P1_LO + 1) >>> 0);
    let v4Hi = resultHi, v4Lo = resultLo;
    for (; at + 32 <= length; at += 32) {
      round(v1Hi, v1Lo, readUint32(bytes, at + 4), readUint32(bytes, at));
      v1Hi = resultHi; v1Lo = resultLo;
      round(v2Hi, v2Lo, readUint32(bytes, at + 12), readUint32(bytes, at + 8));
      v2Hi = resultHi; v2Lo = resultLo;
      round(v3Hi, v3Lo, readUint32(bytes, at + 20), readUint32(bytes, at + 16));
      v3Hi = resultHi; v3Lo = resultLo;
      round(v4Hi, v4Lo, readUint32(bytes, at + 28), readUint32(bytes, at + 24));
      v4Hi = resultHi; v4Lo = resultLo;
    }
    rotl(v1Hi, v1Lo, 1);
    hHi = resultHi; hLo = resultLo;
    rotl(v2Hi, v2Lo, 7);
    add(hHi, hLo, resultHi, resultLo);
    hHi = resultHi; hLo = resultLo;
    rotl(v3Hi, v3Lo, 12);
    add(hHi, hLo, resultHi, resultLo);
    hHi = resultHi; hLo = resultLo;
    rotl(v4Hi, v4Lo, 18);
    add(hHi, hLo, resultHi, resultLo);
    hHi = resultHi; hLo = resultLo;
    mergeRound(hHi, hLo, v1Hi, v1Lo);
    mergeRound(resultHi, resultLo, v2Hi, v2Lo);
    mergeRound(resultHi, resultLo, v3Hi, v3Lo);
    mergeRound(resultHi, resultLo, v4Hi, v4Lo);
    hHi = resultHi; hLo = resultLo;
  } else {
    add(seedHi, seedLo, P5_HI, P5_LO);
    hHi = resultHi; hLo = resultLo;
  }
  add(hHi, hLo, Math.floor(length / 0x1_0000_0000), length >>> 0);
  hHi = resultHi; hLo = resultLo;
  for (; at + 8 <= length; at += 8) {
    round(0, 0, readUint32(bytes, at + 4), readUint32(bytes, at));
    rotl((hHi ^ resultHi) >>> 0, (hLo ^ resultLo) >>> 0, 27);
    mul(resultHi, resultLo, P1_HI, P1_LO);
    add(resultHi, resultLo, P4_HI, P4_LO);
    hHi = resultHi; hLo = resultLo;
  }
  if (at + 4 <= length) {
    mul(0, readUint32(bytes, at), P1_HI, P1_LO);
    rotl((hHi ^ resultHi) >>> 0, (hLo ^ resultLo) >>> 0, 23);
    mul(resultHi, resultLo, P2_HI, P2_LO);
    add(resultHi, resultLo, P3_HI, P3_LO);
    hHi = resultHi; hLo = resultLo;
    at += 4;
  }
  for (; at < length; at++) {
    mul(0, bytes[at]!, P5_HI, P5_LO);
    rotl((hHi ^ resultHi) >>> 0, (hLo ^ resultLo) >>> 0, 11);
    mul(resultHi, resultLo, P1_HI, P1_LO);
    hHi = resultHi; hLo = resultLo;
  }
  avalancheInto(hHi, hLo, out);
}

/** XXH64 of arbitrary bytes; `seed` is a non-negative safe integer. */
export function xxh64(bytes: Uint8Array, seed = 0): Uint64 {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  const out = { hi: 0, lo: 0 };
  hashBytesInto(bytes, Math.floor(seed / 0x1_0000_0000), seed >>> 0, out);
  return out;
}

/** Writes the key's keyspace id into `out` without allocating. */
export function keyspaceIdInto(key: ParsedKey, out: Uint64): void {
  if (key.kind === 'uint64') hashUint64Into(key.hi, key.lo, out);
  else hashBytesInto(key.bytes, 0, 0, out);
}

export function keyspaceId(key: ParsedKey): Uint64 {
  const out = { hi: 0, lo: 0 };
  keyspaceIdInto(key, out);
  return out;
}

export function keyspaceIdHex(key: ParsedKey): string {
  const id = keyspaceId(key);
  return uint64Hex(id.hi, id.lo);
}

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (digit) => digit.charCodeAt(0));

/** 16 lowercase hex digits, built in one string allocation (the route hot path formats every id). */
export function uint64Hex(hi: number, lo: number): string {
  const d = HEX_DIGITS;
  return String.fromCharCode(
    d[hi >>> 28]!, d[(hi >>> 24) & 15]!, d[(hi >>> 20) & 15]!, d[(hi >>> 16) & 15]!,
    d[(hi >>> 12) & 15]!, d[(hi >>> 8) & 15]!, d[(hi >>> 4) & 15]!, d[hi & 15]!,
    d[lo >>> 28]!, d[(lo >>> 24) & 15]!, d[(lo >>> 20) & 15]!, d[(lo >>> 16) & 15]!,
    d[(lo >>> 12) & 15]!, d[(lo >>> 8) & 15]!, d[(lo >>> 4) & 15]!, d[lo & 15]!,
  );
}
