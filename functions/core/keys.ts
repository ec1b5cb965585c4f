import { InvalidKeyError } from '../shared/errors';
import type { KeyType } from './shard-map-types';

/** An unsigned 64-bit value as two uint32 halves, so the hot path never needs BigInt. */
export interface Uint64 {
  hi: number;
  lo: number;
}

export type ParsedKey =
  | { kind: 'uint64'; text: string; hi: number; lo: number }
  | { kind: 'string'; text: string; bytes: Uint8Array };

export const MAX_UINT64 = '18446744073709551615';
export const MAX_STRING_KEY_BYTES = 255;

const TWO_32 = 0x1_0000_0000;
const utf8 = new TextEncoder();

/** Parses and validates a key; the resulting `text` is canonical (what overrides and the catalog store). */
export function parseKey(text: string, keyType: KeyType): ParsedKey {
  if (text.length === 0) throw new InvalidKeyError('key is empty');
  return keyType === 'uint64' ? parseUint64Key(text) : parseStringKey(text);
}

function parseUint64Key(text: string): ParsedKey {
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) throw notADigit(text, i);
    // value = value * 10 + digit, carried across the halves; exact because every term stays below 2^53
    const low = lo * 10 + digit;
    lo = low >>> 0;
    hi = (hi * 10 + Math.floor(low / TWO_32)) >>> 0;
  }
  if (text.length > 1 && text.charCodeAt(0) === 48) {
    throw new InvalidKeyError(`key ${shown(text)} has leading zeros; write it without them`);
  }
  if (text.length > MAX_UINT64.length) {
    throw new InvalidKeyError(`key ${shown(text)} is too long: ${text.length} digits, at most ${MAX_UINT64.length}`);
  }
  if (text.length === MAX_UINT64.length && text > MAX_UINT64) {
    throw new InvalidKeyError(`key ${shown(text)} is greater than ${MAX_UINT64}, the largest unsigned 64-bit integer`);
  }
  return { kind: 'uint64', text, hi, lo };
}

/** The key as quoted in errors: clients may send megabytes, answers stay short. */
function shown(text: string): string {
  return JSON.stringify(text.length > 32 ? `${text.slice(0, 32)}…` : text);
}

function notADigit(text: string, index: number): InvalidKeyError {
  if (index === 0 && text[0] === '-' && /^-\d+$/.test(text)) {
    return new InvalidKeyError(`key ${shown(text)} is negative; player ids are unsigned 64-bit integers`);
  }
  const codePoint = text.codePointAt(index) ?? 0;
  return new InvalidKeyError(
    `key ${shown(text)} is not an unsigned 64-bit integer: character ${describeCharacter(codePoint)} at position ${index + 1} is not a digit`,
  );
}

function parseStringKey(text: string): ParsedKey {
  let byteLength = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) {
      throw new InvalidKeyError(`string key contains control character ${describeCharacter(unit)} at position ${i + 1}`);
    }
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (unit > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        throw new InvalidKeyError(`string key contains a lone surrogate ${describeCharacter(unit)} at position ${i + 1}`);
      }
      byteLength += 4;
      i++;
    } else {
      byteLength += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    }
  }
  if (byteLength > MAX_STRING_KEY_BYTES) {
    throw new InvalidKeyError(`string key is too long: ${byteLength} UTF-8 bytes, at most ${MAX_STRING_KEY_BYTES}`);
  }
  return { kind: 'string', text, bytes: utf8.encode(text) };
}

function describeCharacter(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  const printable = codePoint >= 0x20 && codePoint !== 0x7f && !(codePoint >= 0x80 && codePoint <= 0x9f) && !(codePoint >= 0xd800 && codePoint <= 0xdfff);
  return printable ? `"${String.fromCodePoint(codePoint)}" (${hex})` : hex;
}

/** A uint64 key from its halves (e.g. a generated id); the text is derived, so it is canonical. */
export function uint64Key(value: Uint64): ParsedKey {
  return { kind: 'uint64', text: uint64ToBigInt(value).toString(), hi: value.hi, lo: value.lo };
}

export function uint64ToBigInt(value: Uint64): bigint {
  return (BigInt(value.hi) << 32n) | BigInt(value.lo);
}

/** Splits a value in [0, 2^64) into halves; off the hot path. */
export function bigIntToUint64(value: bigint): Uint64 {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${value} is not an unsigned 64-bit integer`);
  return { hi: Number(value >> 32n), lo: Number(value & 0xffff_ffffn) };
}
