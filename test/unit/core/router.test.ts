import { describe, expect, it } from 'vitest';
import { keyspaceIdHex } from '../../../functions/core/hash';
import { parseKeyRange } from '../../../functions/core/key-range';
import { parseKey } from '../../../functions/core/keys';
import { chapterRangeStrategy, demoShardMap, randomUint64Keys } from '../../../functions/core/population';
import { createRouter } from '../../../functions/core/router';
import type { ShardMapDraft } from '../../../functions/core/shard-map-types';
import { InvalidKeyError, ShardMapError } from '../../../functions/shared/errors';

const owns = (shardName: string, keyspaceId: string) => {
  const { start, end } = parseKeyRange(shardName);
  const id = BigInt(`0x${keyspaceId}`);
  return start <= id && id < end;
};

describe('createRouter', () => {
  it('routes a key to the shard owning its range', () => {
    const router = createRouter(demoShardMap(4));
    for (const text of randomUint64Keys(500, 31)) {
      const result = router.routeText(text);
      expect(result.keyspaceId).toBe(keyspaceIdHex(parseKey(text, 'uint64')));
      expect(owns(result.shard.name, result.keyspaceId), `${text} -> ${result.keyspaceId} in ${result.shard.name}`).toBe(true);
      expect(result).toMatchObject({ key: text, moving: false, override: false });
    }
  });

  it('routes by range whatever order the shards are listed in', () => {
    const draft = demoShardMap(16);
    const reversed: ShardMapDraft = { ...draft, shards: [...draft.shards].reverse() };
    const [forwards, backwards] = [createRouter(draft), createRouter(reversed)];
    for (const text of randomUint64Keys(300, 32)) expect(backwards.routeText(text).shard).toBe(forwards.routeText(text).shard);
  });

  it('lets an override take precedence and reports a moving key', () => {
    const draft = demoShardMap(4);
    const natural = createRouter(draft).routeText('12345').shard.name;
    const elsewhere = draft.shards.find((shard) => shard.name !== natural)!.name;
    const router = createRouter({ ...draft, overrides: [{ key: '12345', shard: elsewhere, moving: true }, { key: '777', shard: natural, moving: false }] });
    expect(router.routeText('12345')).toMatchObject({ shard: { name: elsewhere }, moving: true, override: true });
    expect(router.routeText('777')).toMatchObject({ shard: { name: natural }, moving: false, override: true });
    expect(router.routeText('12346').override).toBe(false);
    expect(router.shardIndexOf(parseKey('12345', 'uint64'))).toBe(draft.shards.findIndex((shard) => shard.name === elsewhere));
  });

  it('routes string keys by their UTF-8 hash', () => {
    const router = createRouter(demoShardMap(4, { keyType: 'string' }));
    const result = router.routeText('プレイヤー');
    expect(result.keyspaceId).toBe(keyspaceIdHex(parseKey('プレイヤー', 'string')));
    expect(owns(result.shard.name, result.keyspaceId)).toBe(true);
  });

  it('routes raw ids by range bounds under the range strategy', () => {
    const router = createRouter(demoShardMap(8, { strategy: chapterRangeStrategy() }));
    expect(['1', '124999', '125000', '874999', '875000', '1000000000'].map((key) => router.routeText(key).shard.name)).toEqual(['0', '0', '1', '6', '7', '7']);
  });

  it('agrees between route and shardIndexOf for every strategy', () => {
    for (const strategy of [{ kind: 'modulo' }, { kind: 'jump' }, { kind: 'ring', virtualNodes: 50 }, { kind: 'keyspace' }] as const) {
      const router = createRouter(demoShardMap(5, { strategy }));
      for (const text of randomUint64Keys(200, 33)) {
        const key = parseKey(text, 'uint64');
        expect(router.draft.shards[router.shardIndexOf(key)]).toBe(router.route(key).shard);
      }
    }
  });

  it('rejects invalid keys with InvalidKeyError', () => {
    const router = createRouter(demoShardMap(4));
    expect(() => router.routeText('007')).toThrow(InvalidKeyError);
    expect(() => router.routeText('18446744073709551616')).toThrow(InvalidKeyError);
  });

  it('refuses to build from an invalid map', () => {
    const draft = demoShardMap(4);
    expect(() => createRouter({ ...draft, shards: draft.shards.slice(1) })).toThrow(ShardMapError);
  });
});
