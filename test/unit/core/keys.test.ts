import { describe, expect, it } from 'vitest';
import { bigIntToUint64, MAX_STRING_KEY_BYTES, MAX_UINT64, parseKey, uint64Key, uint64ToBigInt } from '../../../functions/core/keys';
import { splitMix64 } from '../../../functions/core/population';
import { InvalidKeyError } from '../../../functions/shared/errors';

const halves = (text: string) => {
  const key = parseKey(text, 'uint64');
  if (key.kind !== 'uint64') throw new Error('expected a uint64 key');
  return uint64ToBigInt(key);
};

const rejection = (text: string, keyType: 'uint64' | 'string' = 'uint64') => {
  try {
    parseKey(text, keyType);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidKeyError);
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
};

describe('parseKey for uint64 keys', () => {
  it.each(['0', '1', '4294967295', '4294967296', '9007199254740991', '9007199254740992', '9007199254740993', '9223372036854775808', MAX_UINT64])(
    'parses %s exactly, past 2^53 too',
    (text) => {
      expect(halves(text)).toBe(BigInt(text));
    },
  );

  it('parses random 64-bit values exactly', () => {
    const next = splitMix64(3);
    for (let i = 0; i < 2000; i++) {
      const value = next();
      expect(halves(value.toString())).toBe(value);
    }
  });

  it('keeps the text as the canonical key', () => {
    expect(parseKey('12345', 'uint64')).toEqual({ kind: 'uint64', text: '12345', hi: 0, lo: 12345 });
  });

  it.each([
    ['', 'key is empty'],
    ['12a4', 'character "a" (U+0061) at position 3 is not a digit'],
    [' 1', 'character " " (U+0020) at position 1 is not a digit'],
    ['+5', 'character "+" (U+002B) at position 1 is not a digit'],
    ['1.5', 'character "." (U+002E) at position 2 is not a digit'],
    ['-5', 'key "-5" is negative'],
    ['-0', 'key "-0" is negative'],
    ['007', 'key "007" has leading zeros'],
    ['00', 'key "00" has leading zeros'],
    ['18446744073709551616', 'is greater than 18446744073709551615'],
    ['99999999999999999999', 'is greater than 18446744073709551615'],
    ['123456789012345678901', 'is too long: 21 digits, at most 20'],
  ])('rejects %j naming the problem', (text, problem) => {
    expect(rejection(text)).toContain(problem);
  });
});

describe('parseKey for string keys', () => {
  it.each(['プレイヤー', 'ñandú', '🎮', '👩‍🚀', 'player 1', '12345', '007'])('accepts %j and keeps its UTF-8 bytes', (text) => {
    const key = parseKey(text, 'string');
    expect(key).toEqual({ kind: 'string', text, bytes: new TextEncoder().encode(text) });
  });

  it('accepts exactly 255 UTF-8 bytes and rejects 256', () => {
    expect(parseKey(`${'é'.repeat(127)}x`, 'string').kind).toBe('string');
    expect(rejection('é'.repeat(128), 'string')).toContain(`too long: 256 UTF-8 bytes, at most ${MAX_STRING_KEY_BYTES}`);
    expect(rejection('🎮'.repeat(64), 'string')).toContain('256 UTF-8 bytes');
  });

  it.each([
    ['a\nb', 'control character U+000A at position 2'],
    ['\u0000', 'control character U+0000 at position 1'],
    ['x\u007f', 'control character U+007F at position 2'],
    ['x\u0085', 'control character U+0085 at position 2'],
    ['\ud800', 'lone surrogate U+D800 at position 1'],
    ['a\udc00', 'lone surrogate U+DC00 at position 2'],
    ['ab\ud83d', 'lone surrogate U+D83D at position 3'],
    ['', 'key is empty'],
  ])('rejects %j naming the problem', (text, problem) => {
    expect(rejection(text, 'string')).toContain(problem);
  });
});

describe('uint64 helpers', () => {
  it('round-trips halves through BigInt and builds canonical keys', () => {
    for (const value of [0n, 1n, 2n ** 32n, 2n ** 64n - 1n]) {
      const parts = bigIntToUint64(value);
      expect(uint64ToBigInt(parts)).toBe(value);
      expect(uint64Key(parts).text).toBe(value.toString());
    }
    expect(() => bigIntToUint64(2n ** 64n)).toThrow(RangeError);
  });
});
