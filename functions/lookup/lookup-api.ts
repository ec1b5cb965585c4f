import type { RouteResult } from '../core/router';
import { primaryOf } from '../core/shard-map';
import type { Shard, ShardMap, ShardNode } from '../core/shard-map-types';
import { MethodNotAllowedError, NotFoundError, ValidationError, InvalidKeyError } from '../shared/errors';
import { errorResponse, json, type HttpRequest, type HttpResponse } from '../shared/http';
import type { CachedShardMap, ShardMapCache } from './shard-map-cache';

export const MAX_BATCH_KEYS = 1000;
/**
 * Above 1,000 keys of 255 bytes however they are JSON-escaped: \u-escaping (as ASCII-only encoders
 * do) triples a 4-byte character at most, so a key is at most ~770 bytes of body.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface Endpoint {
  host: string;
  port: number;
}

export interface RouteResponse {
  key: string;
  keyspaceId: string;
  shard: string;
  database: string;
  writer: Endpoint | null;
  readers: Endpoint[];
  mapVersion: number;
  moving: boolean;
  stale: boolean;
}

export interface BatchRouteResponse {
  mapVersion: number;
  stale: boolean;
  count: number;
  shards: Array<{
    shard: string;
    database: string;
    writer: Endpoint | null;
    readers: Endpoint[];
    keys: Array<{ key: string; keyspaceId: string; moving: boolean }>;
  }>;
}

/** The map as game backends see it: node endpoints without secret references. */
export interface PublicShardMap extends Omit<ShardMap, 'shards'> {
  shards: Array<Omit<Shard, 'nodes'> & { nodes: Array<Omit<ShardNode, 'secretRef'>> }>;
  stale: boolean;
}

const endpoint = (node: ShardNode): Endpoint => ({ host: node.host, port: node.port });
const writerOf = (shard: Shard) => {
  const primary = primaryOf(shard);
  return primary ? endpoint(primary) : null;
};
const readersOf = (shard: Shard) => shard.nodes.filter((node) => node.role === 'replica').map(endpoint);

export function publicShardMap(map: ShardMap, stale: boolean): PublicShardMap {
  return {
    ...map,
    shards: map.shards.map((shard) => ({
      ...shard,
      nodes: shard.nodes.map(({ secretRef: _secretRef, ...node }) => node),
    })),
    stale,
  };
}

export const shardMapEtag = (version: number) => `"${version}"`;

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

const ROUTES = [
  { pattern: /^\/v1\/route\/([^/]*)$/, methods: ['GET'], name: 'routeOne' },
  { pattern: /^\/v1\/route\/?$/, methods: ['POST'], name: 'routeBatch' },
  { pattern: /^\/v1\/shard-map\/?$/, methods: ['GET'], name: 'shardMap' },
] as const;

function decodePathKey(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidKeyError('key is not valid percent-encoded UTF-8');
  }
}

function parseBatchBody(request: HttpRequest): string[] {
  const contentType = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw new ValidationError(`content-type must be application/json, got ${contentType ? JSON.stringify(contentType) : 'none'}`);
  }
  const body = request.body ?? '';
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw new ValidationError(`request body exceeds ${MAX_BODY_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ValidationError('request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError('request body must be a JSON object like {"keys": ["12345"]}');
  }
  const unknown = Object.keys(parsed).filter((field) => field !== 'keys');
  if (unknown.length > 0) throw new ValidationError(`unknown field(s): ${unknown.join(', ')}; only "keys" is accepted`);
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new ValidationError('"keys" must be an array of strings');
  if (keys.length === 0) throw new ValidationError('"keys" must not be empty');
  if (keys.length > MAX_BATCH_KEYS) throw new ValidationError(`"keys" holds ${keys.length} keys; at most ${MAX_BATCH_KEYS} per request`);
  keys.forEach((key, index) => {
    if (typeof key !== 'string') {
      throw new ValidationError(`keys[${index}] must be a string (send player ids as decimal strings; JSON numbers lose precision past 2^53)`);
    }
  });
  return keys as string[];
}

function routeAt(cached: CachedShardMap, key: string, index?: number): RouteResult {
  try {
    return cached.router.routeText(key);
  } catch (error) {
    if (index !== undefined && error instanceof InvalidKeyError) throw new InvalidKeyError(`keys[${index}]: ${error.message}`);
    throw error;
  }
}

const noStore = (cached: CachedShardMap) => ({
  'cache-control': 'no-store',
  'x-shard-map-version': String(cached.map.version),
  ...(cached.stale ? { 'x-shard-map-stale': 'true' } : {}),
});

/**
 * The lookup API: `GET /v1/route/{key}`, `POST /v1/route`, `GET /v1/shard-map`.
 * Client mistakes always get a 4xx naming the problem; only a missing map is a 503.
 */
export class LookupApi {
  private mapBody: { version: number; stale: boolean; body: string } | undefined;

  constructor(
    private readonly cache: Pick<ShardMapCache, 'current'>,
    private readonly onServerError: (error: unknown) => void = () => {},
  ) {}

  async handle(request: HttpRequest): Promise<HttpResponse> {
    try {
      const path = request.path.split('?')[0] ?? '';
      const matches = ROUTES.map((route) => ({ route, match: route.pattern.exec(path) })).filter(({ match }) => match !== null);
      const chosen = matches.find(({ route }) => (route.methods as readonly string[]).includes(request.method));
      if (chosen) {
        switch (chosen.route.name) {
          case 'routeOne':
            return await this.routeOne(decodePathKey(chosen.match?.[1] ?? ''));
          case 'routeBatch':
            return await this.routeBatch(parseBatchBody(request));
          case 'shardMap':
            return await this.shardMap(request.headers['if-none-match']);
        }
      }
      if (matches.length > 0) throw new MethodNotAllowedError([...new Set(matches.flatMap(({ route }) => route.methods))]);
      throw new NotFoundError(`no such resource: ${request.method} ${path}; see GET /v1/route/{key}, POST /v1/route, GET /v1/shard-map`);
    } catch (error) {
      const response = errorResponse(error);
      if (response.status >= 500) this.onServerError(error);
      return response;
    }
  }

  private async routeOne(key: string): Promise<HttpResponse> {
    const cached = await this.cache.current();
    const result = routeAt(cached, key);
    const body: RouteResponse = {
      key: result.key,
      keyspaceId: result.keyspaceId,
      shard: result.shard.name,
      database: result.shard.database,
      writer: writerOf(result.shard),
      readers: readersOf(result.shard),
      mapVersion: cached.map.version,
      moving: result.moving,
      stale: cached.stale,
    };
    return json(200, body, noStore(cached));
  }

  private async routeBatch(keys: string[]): Promise<HttpResponse> {
    const cached = await this.cache.current();
    const groups = new Map<string, BatchRouteResponse['shards'][number]>();
    keys.forEach((key, index) => {
      const result = routeAt(cached, key, index);
      let group = groups.get(result.shard.name);
      if (!group) {
        group = {
          shard: result.shard.name,
          database: result.shard.database,
          writer: writerOf(result.shard),
          readers: readersOf(result.shard),
          keys: [],
        };
        groups.set(result.shard.name, group);
      }
      group.keys.push({ key: result.key, keyspaceId: result.keyspaceId, moving: result.moving });
    });
    const body: BatchRouteResponse = {
      mapVersion: cached.map.version,
      stale: cached.stale,
      count: keys.length,
      shards: [...groups.values()],
    };
    return json(200, body, noStore(cached));
  }

  private async shardMap(ifNoneMatch: string | undefined): Promise<HttpResponse> {
    const cached = await this.cache.current();
    const etag = shardMapEtag(cached.map.version);
    const headers = { etag, 'cache-control': 'no-cache', ...(cached.stale ? { 'x-shard-map-stale': 'true' } : {}) };
    if (etagMatches(ifNoneMatch, etag)) return { status: 304, headers, body: '' };
    if (this.mapBody?.version !== cached.map.version || this.mapBody.stale !== cached.stale) {
      this.mapBody = { version: cached.map.version, stale: cached.stale, body: JSON.stringify(publicShardMap(cached.map, cached.stale)) };
    }
    return { status: 200, headers: { 'content-type': 'application/json', ...headers }, body: this.mapBody.body };
  }
}
