import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShardRoutingClient } from '../../../functions/client';
import { LookupApi, MAX_BODY_BYTES } from '../../../functions/lookup/lookup-api';
import { ShardMapCache } from '../../../functions/lookup/shard-map-cache';
import { startLocalHttpServer, type LocalHttpServer } from '../../../functions/local/http-server';
import { InMemoryCatalog, ManualClock } from '../fakes/in-memory-catalog';
import { fourShards } from '../fakes/fleets';

describe('in-process routing client', () => {
  let catalog: InMemoryCatalog;
  let clock: ManualClock;
  let server: LocalHttpServer;
  let client: ShardRoutingClient | undefined;
  const requests: Array<{ path: string; ifNoneMatch?: string }> = [];

  beforeEach(async () => {
    catalog = new InMemoryCatalog();
    clock = new ManualClock();
    await catalog.commitShardMap(fourShards, 0, 'fleet');
    const api = new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 }));
    requests.length = 0;
    server = await startLocalHttpServer({
      port: 0,
      maxBodyBytes: MAX_BODY_BYTES,
      handle: (request) => {
        requests.push({ path: request.path, ifNoneMatch: request.headers['if-none-match'] });
        return api.handle(request);
      },
    });
  });
  afterEach(async () => {
    client?.close();
    await server.close().catch(() => {});
  });

  it('routes locally exactly as the lookup API does', async () => {
    client = await ShardRoutingClient.connect({ endpoint: server.url, refreshMs: 0 });
    for (const key of ['0', '1', '777', '12345', '9007199254740993', '18446744073709551615']) {
      const remote = (await (await fetch(`${server.url}/v1/route/${key}`)).json()) as Record<string, unknown>;
      const { stale: _stale, ...expected } = remote;
      expect(client.route(key)).toEqual(expected);
    }
    expect(requests.filter((r) => r.path === '/v1/shard-map')).toHaveLength(1);
  });

  it('revalidates with If-None-Match and picks up a new map version', async () => {
    client = await ShardRoutingClient.connect({ endpoint: server.url, refreshMs: 0 });
    expect(await client.refresh()).toBe(false);
    expect(requests.at(-1)).toEqual({ path: '/v1/shard-map', ifNoneMatch: '"1"' });
    const pinned = structuredClone(fourShards);
    pinned.overrides = [{ key: '12345', shard: 'c0-', moving: true }];
    await catalog.commitShardMap(pinned, 1, 'pin');
    clock.advance(1000);
    expect(await client.refresh()).toBe(true);
    expect(client.route('12345')).toMatchObject({ shard: 'c0-', moving: true, mapVersion: 2 });
  });

  it('keeps its map when a lookup instance still serves an older version, and fetches one map at a time', async () => {
    const older = await (await fetch(`${server.url}/v1/shard-map`)).text();
    const moved = structuredClone(fourShards);
    moved.shards[0]!.nodes = moved.shards[0]!.nodes.map((node) => ({ ...node, role: node.role === 'primary' ? 'replica' : node.role }));
    moved.shards[0]!.nodes[1] = { ...moved.shards[0]!.nodes[1]!, role: 'primary' };
    await catalog.commitShardMap(moved, 1, 'failover');
    clock.advance(1000);
    const newer = await (await fetch(`${server.url}/v1/shard-map`)).text();
    const answers = [newer, older];
    let fetches = 0;
    const errors: unknown[] = [];
    client = await ShardRoutingClient.connect({
      endpoint: server.url,
      refreshMs: 0,
      onRefreshError: (error) => errors.push(error),
      fetch: async () => {
        fetches += 1;
        return new Response(answers.shift() ?? older, { headers: { etag: '"x"', 'content-type': 'application/json' } });
      },
    });
    const key = ['0', '1', '2', '3', '4', '5', '6', '7'].find((candidate) => client!.route(candidate).shard === moved.shards[0]!.name)!;
    const promoted = { host: moved.shards[0]!.nodes[1]!.host, port: moved.shards[0]!.nodes[1]!.port };
    expect(client.route(key).writer).toEqual(promoted);
    expect(await client.refresh()).toBe(false);
    expect(client.mapVersion).toBe(2);
    expect(client.route(key).writer).toEqual(promoted);
    expect(String(errors[0])).toMatch(/served shard map version 1, older than version 2 held here/);

    await Promise.all([client.refresh(), client.refresh()]);
    expect(fetches).toBe(3);
  });

  it('keeps routing with the last map when the lookup API is unreachable', async () => {
    client = await ShardRoutingClient.connect({ endpoint: server.url, refreshMs: 0 });
    await server.close();
    await expect(client.refresh()).rejects.toThrow(/cannot reach the lookup API/);
    expect(client.route('12345').mapVersion).toBe(1);
  });

  it('signs every request when given a signer', async () => {
    const signed: string[] = [];
    client = await ShardRoutingClient.connect({
      endpoint: server.url,
      refreshMs: 0,
      sign: async (request) => {
        signed.push(`${request.method} ${request.url}`);
        return { authorization: 'AWS4-HMAC-SHA256 test' };
      },
    });
    expect(signed).toEqual([`GET ${server.url}/v1/shard-map`]);
  });

  it('rejects an invalid key with the same error as the API', async () => {
    client = await ShardRoutingClient.connect({ endpoint: server.url, refreshMs: 0 });
    expect(() => client!.route('-1')).toThrow(/negative/);
  });

  it('keeps the path of its endpoint, a stage or a base path, when it asks for the map', async () => {
    const asked: string[] = [];
    const body = await (await fetch(`${server.url}/v1/shard-map`)).text();
    const stub = (async (url: string) => (asked.push(url), new Response(body, { headers: { etag: '"1"' } }))) as unknown as typeof fetch;
    for (const endpoint of ['https://abc.execute-api.eu-west-1.amazonaws.com/api', 'https://abc.execute-api.eu-west-1.amazonaws.com/api/', 'https://routing.example.com']) {
      (await ShardRoutingClient.connect({ endpoint, refreshMs: 0, fetch: stub })).close();
    }
    expect(asked).toEqual(['https://abc.execute-api.eu-west-1.amazonaws.com/api/v1/shard-map', 'https://abc.execute-api.eu-west-1.amazonaws.com/api/v1/shard-map', 'https://routing.example.com/v1/shard-map']);
  });

  it('gives up a fetch of the map that does not answer in time, so the next refresh asks again', async () => {
    let hang = false;
    let fetches = 0;
    const switching = ((url: string, init: RequestInit) => {
      fetches += 1;
      if (!hang) return fetch(url, init);
      return new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    }) as unknown as typeof fetch;
    client = await ShardRoutingClient.connect({ endpoint: server.url, refreshMs: 0, fetch: switching, timeoutMs: 50 });
    hang = true;
    await expect(client.refresh()).rejects.toThrow(/cannot reach the lookup API/);
    await expect(client.refresh()).rejects.toThrow(/cannot reach the lookup API/);
    expect(fetches).toBe(3);
    expect(client.route('1').mapVersion).toBe(1);
  });
});
