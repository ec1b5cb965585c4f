/**
 * Writes test/vectors/routing.json: key -> keyspace id -> shard for a 4- and a 16-shard map of equal
 * ranges. Every keyspace id is cross-checked against xxhsum (apt-get install -y xxhash) over the exact
 * bytes, so the file does not merely echo our own implementation.
 *   npx tsx test/vectors/generate-routing-vectors.ts
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { keyspaceIdHex } from '../../functions/core/hash';
import { parseKey, type ParsedKey } from '../../functions/core/keys';
import { demoShardMap, equalRangeNames, splitMix64 } from '../../functions/core/population';
import { createRouter } from '../../functions/core/router';

const OUTPUT = fileURLToPath(new URL('./routing.json', import.meta.url));

const powersOfTwo = [31, 32, 53, 63].flatMap((exponent) => {
  const power = 1n << BigInt(exponent);
  return [power - 1n, power, power + 1n];
});
const uint64Keys = [
  ...[0n, 1n, 2n, 3n, 7n, 10n, 42n, 100n, 255n, 256n, 1000n, 12_345n, 65_535n, 65_536n],
  ...[50_000n, 124_999n, 125_000n, 999_999n, 1_000_000n, 1_000_019n, 4_294_967_295n, 4_294_967_296n],
  ...powersOfTwo,
  ...[10n ** 12n, 10n ** 18n, 12_345_678_901_234_567_890n, (1n << 64n) - 2n, (1n << 64n) - 1n],
  ...Array.from({ length: 12 }, splitMix64(2024)),
].map(String);

const stringKeys = [
  'a', 'abc', '0', '42', '18446744073709551616', 'player-1', 'player:42', 'Player_ABC', 'guild/7/member/99', ' padded ',
  'プレイヤー', 'ñandú', 'Zoë', 'Łódź', 'Ελληνικά', '中文玩家', '🎮', '👩‍🚀', 'gg 😀🔥',
  'x'.repeat(7), 'x'.repeat(8), 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33), 'x'.repeat(64),
  'k'.repeat(255), `${'é'.repeat(127)}x`,
];

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytesOf = (key: ParsedKey) => (key.kind === 'string' ? key.bytes : Buffer.from(BigInt(key.text).toString(16).padStart(16, '0'), 'hex'));

function xxhsum(bytes: Uint8Array): string {
  return execFileSync('xxhsum', ['-H1'], { input: bytes, encoding: 'utf8' }).split(/\s/)[0]!;
}

const maps = { shards4: equalRangeNames(4), shards16: equalRangeNames(16) };
const routers = { shards4: createRouter(demoShardMap(4)), shards16: createRouter(demoShardMap(16)) };
const stringRouters = {
  shards4: createRouter(demoShardMap(4, { keyType: 'string' })),
  shards16: createRouter(demoShardMap(16, { keyType: 'string' })),
};

const vectors = [
  ...uint64Keys.map((text) => parseKey(text, 'uint64')),
  ...stringKeys.map((text) => parseKey(text, 'string')),
].map((key) => {
  const bytes = bytesOf(key);
  const keyspaceId = keyspaceIdHex(key);
  const independent = xxhsum(bytes);
  if (independent !== keyspaceId) throw new Error(`xxhsum disagrees on ${JSON.stringify(key.text)}: ${independent} vs ${keyspaceId}`);
  const byMap = key.kind === 'uint64' ? routers : stringRouters;
  return {
    keyType: key.kind,
    key: key.text,
    bytes: hex(bytes),
    keyspaceId,
    shards4: byMap.shards4.route(key).shard.name,
    shards16: byMap.shards16.route(key).shard.name,
  };
});

const header = {
  description:
    'Shardkeeper routing test vectors: key -> keyspace id -> shard. A port in another language must reproduce every row. Regenerate with: npx tsx test/vectors/generate-routing-vectors.ts',
  hash: { algorithm: 'XXH64 (xxHash 64-bit)', seed: 0, keyspaceId: 'the 64-bit hash as 16 lowercase hex digits' },
  encoding: {
    uint64: 'decimal key 0..18446744073709551615 -> its 8 bytes, big-endian',
    string: 'the key\'s UTF-8 bytes (1..255 bytes, no control characters or lone surrogates)',
  },
  ranges:
    'a shard named <start>-<end> owns keyspace ids with start <= id < end; a bound is an even number of lowercase hex digits (at most 16) read as the leading bytes of the 64-bit id (40 = 0x4000000000000000); an empty start is 0, an empty end is 2^64',
  maps,
  crossCheck: 'every keyspaceId was verified with `xxhsum -H1` over the bytes column',
};
const json = JSON.stringify(header, null, 2).replace(/\n}$/, '');
writeFileSync(OUTPUT, `${json},\n  "vectors": [\n${vectors.map((vector) => `    ${JSON.stringify(vector)}`).join(',\n')}\n  ]\n}\n`);
console.log(`wrote ${vectors.length} vectors to ${OUTPUT}`);
