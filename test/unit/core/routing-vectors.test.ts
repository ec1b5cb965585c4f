import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keyspaceIdHex } from '../../../functions/core/hash';
import { MAX_UINT64, parseKey } from '../../../functions/core/keys';
import { demoShardMap, equalRangeNames } from '../../../functions/core/population';
import { createRouter } from '../../../functions/core/router';

interface Vector {
  keyType: 'uint64' | 'string';
  key: string;
  bytes: string;
  keyspaceId: string;
  shards4: string;
  shards16: string;
}

const file = JSON.parse(readFileSync(new URL('../../vectors/routing.json', import.meta.url), 'utf8')) as {
  hash: { algorithm: string; seed: number };
  maps: { shards4: string[]; shards16: string[] };
  vectors: Vector[];
};

const routerFor = (shards: number, keyType: Vector['keyType']) => createRouter(demoShardMap(shards, { keyType }));
const routers = {
  uint64: { shards4: routerFor(4, 'uint64'), shards16: routerFor(16, 'uint64') },
  string: { shards4: routerFor(4, 'string'), shards16: routerFor(16, 'string') },
};

const hasXxhsum = (() => {
  try {
    execFileSync('xxhsum', ['-H1'], { input: '' });
    return true;
  } catch {
    return false;
  }
})();

describe('routing test vectors', () => {
  it('document XXH64 seed 0 and the two equal-range maps', () => {
    expect(file.hash).toMatchObject({ seed: 0 });
    expect(file.hash.algorithm).toContain('XXH64');
    expect(file.maps).toEqual({ shards4: equalRangeNames(4), shards16: equalRangeNames(16) });
  });

  it('cover the edge keys and non-ASCII strings', () => {
    expect(file.vectors.length).toBeGreaterThanOrEqual(60);
    const uint64 = file.vectors.filter((vector) => vector.keyType === 'uint64').map((vector) => vector.key);
    for (const edge of ['0', '1', '9007199254740991', '9007199254740992', '9007199254740993', '9223372036854775808', MAX_UINT64]) expect(uint64).toContain(edge);
    const strings = file.vectors.filter((vector) => vector.keyType === 'string').map((vector) => vector.key);
    for (const text of ['プレイヤー', 'ñandú', '🎮']) expect(strings).toContain(text);
  });

  it.each(file.vectors.map((vector) => [vector.keyType, vector.key, vector] as const))('%s key %j hashes and routes as recorded', (keyType, text, vector) => {
    const key = parseKey(text, keyType);
    const bytes = key.kind === 'string' ? Buffer.from(key.bytes).toString('hex') : BigInt(text).toString(16).padStart(16, '0');
    expect(bytes).toBe(vector.bytes);
    expect(keyspaceIdHex(key)).toBe(vector.keyspaceId);
    expect(routers[keyType].shards4.route(key).shard.name).toBe(vector.shards4);
    expect(routers[keyType].shards16.route(key).shard.name).toBe(vector.shards16);
  });

  it.skipIf(!hasXxhsum)('agree with xxhsum, an independent XXH64, over the recorded bytes', () => {
    for (const vector of file.vectors) {
      const output = execFileSync('xxhsum', ['-H1'], { input: Buffer.from(vector.bytes, 'hex'), encoding: 'utf8' });
      expect(output.split(/\s/)[0], vector.key).toBe(vector.keyspaceId);
    }
  });
});
