import { beforeEach, describe, expect, it } from 'vitest';
import { LookupApi, MAX_BATCH_KEYS } from '../../../functions/lookup/lookup-api';
import { ShardMapCache } from '../../../functions/lookup/shard-map-cache';
import { apiGatewayHandler, type HttpRequest, type HttpResponse } from '../../../functions/shared/http';
import { fourShards } from '../fakes/fleets';
import { InMemoryCatalog, ManualClock } from '../fakes/in-memory-catalog';
import { v1Event, v2Event } from './api-gateway-events';

const get = (path: string, headers: Record<string, string> = {}): HttpRequest => ({ method: 'GET', path, headers, body: undefined });
const post = (body: string | undefined, contentType: string | null = 'application/json', path = '/v1/route'): HttpRequest => ({
  method: 'POST',
  path,
  headers: contentType ? { 'content-type': contentType } : {},
  body,
});

/** Every request goes through the Lambda edge, as an HTTP API (payload 2.0) event. */
function throughApiGateway(lookup: LookupApi) {
  const handler = apiGatewayHandler((request) => lookup.handle(request));
  return {
    async handle(request: HttpRequest): Promise<HttpResponse> {
      const result = await handler(v2Event(request));
      return { status: result.statusCode, headers: result.headers as Record<string, string>, body: result.body };
    },
  };
}

describe('lookup API', () => {
  let catalog: InMemoryCatalog;
  let clock: ManualClock;
  let api: ReturnType<typeof throughApiGateway>;

  beforeEach(async () => {
    catalog = new InMemoryCatalog();
    clock = new ManualClock();
    await catalog.commitShardMap(fourShards, 0, 'test fleet');
    api = throughApiGateway(new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })));
  });

  it('routes a key to its shard with writer, readers and map version', async () => {
    const response = await api.handle(get('/v1/route/12345'));
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ key: '12345', mapVersion: 1, moving: false, stale: false });
    expect(body.keyspaceId).toMatch(/^[0-9a-f]{16}$/);
    const owner = fourShards.shards.find((s) => s.name === body.shard)!;
    expect(body.database).toBe(owner.database);
    expect(body.writer).toEqual({ host: owner.nodes[0]!.host, port: 3306 });
    expect(body.readers).toEqual([{ host: owner.nodes[1]!.host, port: 3306 }]);
    expect(response.headers['x-shard-map-version']).toBe('1');
  });

  it('routes the largest 64-bit player id exactly', async () => {
    const body = JSON.parse((await api.handle(get('/v1/route/18446744073709551615'))).body);
    expect(body.key).toBe('18446744073709551615');
  });

  it('reports an override marked moving so writers can pause', async () => {
    const body = JSON.parse((await api.handle(get('/v1/route/777'))).body);
    expect(body).toMatchObject({ shard: 'c0-', moving: true });
  });

  it('groups a batch by shard and keeps every key', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => String(i * 7919));
    const response = await api.handle(post(JSON.stringify({ keys })));
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body);
    expect(body.count).toBe(200);
    const routed = body.shards.flatMap((group: { keys: Array<{ key: string }> }) => group.keys.map((k) => k.key));
    expect(routed.sort()).toEqual([...keys].sort());
    for (const group of body.shards) {
      for (const { key } of group.keys) {
        const single = JSON.parse((await api.handle(get(`/v1/route/${key}`))).body);
        expect(single.shard).toBe(group.shard);
      }
    }
  });

  it('accepts a batch of exactly the maximum size', async () => {
    const keys = Array.from({ length: MAX_BATCH_KEYS }, (_, i) => String(i));
    expect((await api.handle(post(JSON.stringify({ keys })))).status).toBe(200);
  });

  it('serves the shard map with an ETag and answers 304 when unchanged', async () => {
    const first = await api.handle(get('/v1/shard-map'));
    expect(first.status).toBe(200);
    expect(first.headers.etag).toBe('"1"');
    const map = JSON.parse(first.body);
    expect(map.version).toBe(1);
    expect(map.shards).toHaveLength(4);
    const second = await api.handle(get('/v1/shard-map', { 'if-none-match': '"1"' }));
    expect(second.status).toBe(304);
    expect(second.body).toBe('');
    expect((await api.handle(get('/v1/shard-map', { 'if-none-match': '"0"' }))).status).toBe(200);
  });

  it('never exposes secret references in the shard map', async () => {
    const withSecrets = structuredClone(fourShards);
    withSecrets.shards[0]!.nodes[0]!.secretRef = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shard-0';
    await catalog.commitShardMap(withSecrets, 1, 'secrets');
    clock.advance(1000);
    const response = await api.handle(get('/v1/shard-map'));
    expect(response.body).not.toContain('secretsmanager');
  });

  it('follows a map change once the revalidation interval has passed', async () => {
    const moved = structuredClone(fourShards);
    moved.overrides = [{ key: '12345', shard: '-40', moving: false }];
    const before = JSON.parse((await api.handle(get('/v1/route/12345'))).body);
    await catalog.commitShardMap(moved, 1, 'pin 12345');
    clock.advance(999);
    expect(JSON.parse((await api.handle(get('/v1/route/12345'))).body).mapVersion).toBe(before.mapVersion);
    clock.advance(1);
    const after = JSON.parse((await api.handle(get('/v1/route/12345'))).body);
    expect(after).toMatchObject({ shard: '-40', mapVersion: 2 });
  });

  it('revalidates with one version query and reloads only when the version moved', async () => {
    await api.handle(get('/v1/route/1'));
    clock.advance(1000);
    await api.handle(get('/v1/route/1'));
    clock.advance(1000);
    await api.handle(get('/v1/route/1'));
    expect(catalog.calls).toEqual({ mapVersion: 3, loadShardMap: 1 });
  });

  it('serves the last good map marked stale while the catalog is unreachable', async () => {
    await api.handle(get('/v1/route/1'));
    catalog.unreachable = true;
    clock.advance(5000);
    const response = await api.handle(get('/v1/route/1'));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).stale).toBe(true);
    expect(response.headers['x-shard-map-stale']).toBe('true');
    catalog.unreachable = false;
    clock.advance(1000);
    expect(JSON.parse((await api.handle(get('/v1/route/1'))).body).stale).toBe(false);
  });

  it('answers 503 when no map was ever loaded and the catalog is unreachable', async () => {
    catalog.unreachable = true;
    const fresh = throughApiGateway(new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })));
    const response = await fresh.handle(get('/v1/route/1'));
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body).error).toBe('CatalogUnavailable');
  });

  it('answers 503 when the catalog holds no map yet', async () => {
    const empty = throughApiGateway(new LookupApi(new ShardMapCache({ catalog: new InMemoryCatalog(), clock, revalidateMs: 1000 })));
    const response = await empty.handle(get('/v1/shard-map'));
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body).error).toBe('NoShardMap');
  });

  const tooManyKeys = JSON.stringify({ keys: Array.from({ length: MAX_BATCH_KEYS + 1 }, (_, i) => String(i)) });
  const badInputs: Array<[string, HttpRequest, number, RegExp]> = [
    ['letters', get('/v1/route/abc'), 400, /not a decimal|non-numeric|digit/i],
    ['trailing letter', get('/v1/route/12a'), 400, /not a decimal|non-numeric|digit/i],
    ['negative', get('/v1/route/-5'), 400, /negative/i],
    ['minus zero', get('/v1/route/-0'), 400, /negative/i],
    ['2^64', get('/v1/route/18446744073709551616'), 400, /18446744073709551615|too large|exceeds|greater/i],
    ['20 nines', get('/v1/route/99999999999999999999'), 400, /18446744073709551615|too large|exceeds|greater/i],
    ['21 digits', get('/v1/route/123456789012345678901'), 400, /too long|18446744073709551615|exceeds/i],
    ['10,000 digits', get(`/v1/route/${'1'.repeat(10_000)}`), 400, /too long|exceeds/i],
    ['empty key', get('/v1/route/'), 400, /empty/i],
    ['space', get('/v1/route/%20'), 400, /not a decimal|non-numeric|digit/i],
    ['leading space', get('/v1/route/%2012'), 400, /not a decimal|non-numeric|digit/i],
    ['trailing space', get('/v1/route/12%20'), 400, /not a decimal|non-numeric|digit/i],
    ['decimal point', get('/v1/route/1.5'), 400, /not a decimal|non-numeric|digit/i],
    ['exponent', get('/v1/route/1e10'), 400, /not a decimal|non-numeric|digit/i],
    ['hex', get('/v1/route/0x10'), 400, /not a decimal|non-numeric|digit/i],
    ['plus sign', get('/v1/route/+5'), 400, /not a decimal|non-numeric|digit/i],
    ['leading zeros', get('/v1/route/007'), 400, /leading zero/i],
    ['NaN', get('/v1/route/NaN'), 400, /not a decimal|non-numeric|digit/i],
    ['Infinity', get('/v1/route/Infinity'), 400, /not a decimal|non-numeric|digit/i],
    ['full-width digits', get('/v1/route/%EF%BC%91%EF%BC%92'), 400, /not a decimal|non-numeric|digit/i],
    ['NUL byte', get('/v1/route/%00'), 400, /not a decimal|non-numeric|digit/i],
    // The HTTP API hands an undecodable path over as sent: a key of those characters.
    ['broken percent-encoding', get('/v1/route/%E0%A4%A'), 400, /"%E0%A4%A" is not an unsigned 64-bit/i],
    ['no content type', post('{"keys":["1"]}', null), 400, /content-type/i],
    ['text/plain', post('{"keys":["1"]}', 'text/plain'), 400, /content-type/i],
    ['form encoded', post('keys=1', 'application/x-www-form-urlencoded'), 400, /content-type/i],
    ['malformed JSON', post('{"keys": ['), 400, /not valid JSON/i],
    ['empty body', post(undefined), 400, /not valid JSON/i],
    ['JSON array', post('["1"]'), 400, /JSON object/i],
    ['JSON string', post('"1"'), 400, /JSON object/i],
    ['JSON null', post('null'), 400, /JSON object/i],
    ['missing keys', post('{}'), 400, /"keys" must be an array/i],
    ['keys not an array', post('{"keys":"1"}'), 400, /"keys" must be an array/i],
    ['empty batch', post('{"keys":[]}'), 400, /must not be empty/i],
    ['oversized batch', post(tooManyKeys), 400, /at most 1000/i],
    ['numeric key', post('{"keys":[1]}'), 400, /keys\[0\] must be a string/i],
    ['null key', post('{"keys":[null]}'), 400, /keys\[0\] must be a string/i],
    ['nested array key', post('{"keys":[["1"]]}'), 400, /keys\[0\] must be a string/i],
    ['unknown field', post('{"keys":["1"],"shard":"-40"}'), 400, /unknown field.*shard/i],
    ['invalid key in batch', post('{"keys":["1","abc"]}'), 400, /keys\[1\]/],
    ['negative key in batch', post('{"keys":["1","2","-1"]}'), 400, /keys\[2\].*negative/i],
    ['body over the size limit', post(JSON.stringify({ keys: ['1'], pad: 'x'.repeat(1_100_000) })), 400, /exceeds/i],
    ['DELETE a route', { ...get('/v1/route/1'), method: 'DELETE' }, 405, /GET/],
    ['PUT the batch route', { ...post('{}'), method: 'PUT' }, 405, /POST/],
    ['POST the shard map', post('{}', 'application/json', '/v1/shard-map'), 405, /GET/],
    ['HEAD the shard map', { ...get('/v1/shard-map'), method: 'HEAD' }, 405, /GET/],
    ['unknown version', get('/v2/route/1'), 404, /no such resource/],
    ['root', get('/'), 404, /no such resource/],
    ['extra path segment', get('/v1/route/1/extra'), 404, /no such resource/],
  ];

  it.each(badInputs)('rejects %s with a JSON error naming the problem', async (_name, request, status, message) => {
    const response = await api.handle(request);
    expect(response.status).toBe(status);
    expect(response.headers['content-type']).toBe('application/json');
    const body = JSON.parse(response.body);
    expect(body.message).toMatch(message);
    expect(typeof body.error).toBe('string');
    expect(response.body).not.toMatch(/\bat .*\.ts:\d+/);
    expect(response.body.length).toBeLessThan(400);
  });

  it('answers REST API (payload 1.0) events from the private endpoint the same way', async () => {
    const rest = apiGatewayHandler((request) => new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })).handle(request));
    const single = await rest(v1Event(get('/v1/route/12345')));
    const viaHttpApi = await api.handle(get('/v1/route/12345'));
    expect(single.statusCode).toBe(200);
    expect(JSON.parse(single.body)).toEqual(JSON.parse(viaHttpApi.body));
    const batch = await rest(v1Event(post('{"keys":["1","2"]}')));
    expect(JSON.parse(batch.body).count).toBe(2);
    expect((await rest(v1Event(get('/v1/route/abc')))).statusCode).toBe(400);
  });

  it('rejects a path that is not valid percent-encoding where it arrives encoded (the local server)', async () => {
    const response = await new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })).handle(get('/v1/route/%E0%A4%A'));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).message).toMatch(/percent-encoded/i);
  });

  it('names the allowed methods in the Allow header of a 405', async () => {
    const response = await api.handle({ ...get('/v1/route/1'), method: 'DELETE' });
    expect(response.headers.allow).toBe('GET');
  });

  describe('with string keys', () => {
    beforeEach(async () => {
      catalog = new InMemoryCatalog();
      await catalog.commitShardMap({ ...fourShards, keyType: 'string', overrides: [] }, 0, 'string keys');
      api = throughApiGateway(new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })));
    });

    it.each(['a%41', '100%', 'é', 'two words'])('routes the string id %j alike through HTTP API and REST API events', async (key) => {
      const path = `/v1/route/${encodeURIComponent(key)}`;
      const viaHttpApi = await api.handle(get(path));
      expect(viaHttpApi.status).toBe(200);
      expect(JSON.parse(viaHttpApi.body).key).toBe(key);
      const rest = apiGatewayHandler((request) => new LookupApi(new ShardMapCache({ catalog, clock, revalidateMs: 1000 })).handle(request));
      const viaRest = await rest(v1Event(get(path)));
      expect(JSON.parse(viaRest.body)).toEqual(JSON.parse(viaHttpApi.body));
    });

    it('takes 1,000 keys of 255 bytes even when every character is \\u-escaped', async () => {
      const keys = Array.from({ length: 1000 }, (_, index) => `${'🐉'.repeat(63)}${String(index).padStart(3, '0')}`);
      expect(Buffer.byteLength(keys[0]!)).toBe(255);
      const escaped = JSON.stringify({ keys }).replace(/[\u0080-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
      expect(Buffer.byteLength(escaped)).toBeGreaterThan(700_000);
      const response = await api.handle(post(escaped));
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body).count).toBe(1000);
    });

    it('routes a non-ASCII string id', async () => {
      const response = await api.handle(get(`/v1/route/${encodeURIComponent('プレイヤー')}`));
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body).key).toBe('プレイヤー');
    });

    it.each([
      ['a 256-byte id', encodeURIComponent('é'.repeat(128)), /255|too long/i],
      ['a control character', 'abc%07', /control/i],
    ])('rejects %s', async (_name, key, message) => {
      const response = await api.handle(get(`/v1/route/${key}`));
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body).message).toMatch(message);
    });
  });
});
