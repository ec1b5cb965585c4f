import { createRouter, type Router } from '../core/router';
import { primaryOf } from '../core/shard-map';
import type { ShardMap, ShardNode } from '../core/shard-map-types';
import type { Endpoint, RouteResponse } from '../lookup/lookup-api';
import { AppError, CatalogUnavailableError } from '../shared/errors';

export { AppError, InvalidKeyError, ValidationError } from '../shared/errors';
export type { ShardMap, KeyType, StrategyConfig } from '../core/shard-map-types';

export type { Endpoint } from '../lookup/lookup-api';

/** What the lookup API's `GET /v1/route/{key}` answers, computed locally. */
export type ClientRoute = Omit<RouteResponse, 'stale'>;

export interface SignableRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export interface RoutingClientOptions {
  /** Base URL of the lookup API, e.g. https://abc.execute-api.eu-west-1.amazonaws.com, or the private API's with its stage (…/api/) */
  endpoint: string;
  /** How long one fetch of the map may take before it counts as failed (default 5 s). */
  timeoutMs?: number;
  /** How often the map is revalidated with If-None-Match (default 5 s; 0 disables the timer). */
  refreshMs?: number;
  /** Adds auth headers, e.g. a SigV4 signature for the IAM-authorised API. */
  sign?: (request: SignableRequest) => Promise<Record<string, string>>;
  fetch?: typeof fetch;
  onRefreshError?: (error: unknown) => void;
}

const endpointOf = (node: Pick<ShardNode, 'host' | 'port'>): Endpoint => ({ host: node.host, port: node.port });

/**
 * In-process routing for Node game backends: fetches the shard map from the lookup API once,
 * routes every key locally with the same core as the lookup function, and revalidates the map
 * in the background with If-None-Match. A failed refresh keeps the last map.
 */
export class ShardRoutingClient {
  private router!: Router;
  private map!: ShardMap;
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: RoutingClientOptions) {}

  static async connect(options: RoutingClientOptions): Promise<ShardRoutingClient> {
    const client = new ShardRoutingClient(options);
    await client.refresh();
    const refreshMs = options.refreshMs ?? 5000;
    if (refreshMs > 0) {
      client.timer = setInterval(() => {
        client.refresh().catch((error) => options.onRefreshError?.(error));
      }, refreshMs);
      client.timer.unref();
    }
    return client;
  }

  get mapVersion(): number {
    return this.map.version;
  }

  private refreshing: Promise<boolean> | undefined;

  /**
   * Fetches the map unless unchanged; returns whether a newer version was loaded. One fetch at a
   * time, and never an older version than the one held: another lookup instance may still serve
   * the map from before a failover, whose writer is the old primary.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.fetchMap().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetchMap(): Promise<boolean> {
    // Relative to the endpoint's own path: a stage or a custom domain's base path stays in the URL.
    const base = this.options.endpoint.endsWith('/') ? this.options.endpoint : `${this.options.endpoint}/`;
    const url = new URL('v1/shard-map', base).toString();
    const headers: Record<string, string> = { accept: 'application/json', ...(this.etag ? { 'if-none-match': this.etag } : {}) };
    const signed = this.options.sign ? await this.options.sign({ method: 'GET', url, headers }) : {};
    let response: Response;
    try {
      // A fetch that never answers would otherwise hold every later refresh behind it, on a map that may name an old writer.
      response = await (this.options.fetch ?? fetch)(url, { headers: { ...headers, ...signed }, signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
    } catch (error) {
      throw new CatalogUnavailableError(`cannot reach the lookup API at ${url}`, { cause: error });
    }
    if (response.status === 304) return false;
    if (!response.ok) throw new AppError(`the lookup API answered ${response.status} for the shard map: ${await response.text()}`);
    const map = (await response.json()) as ShardMap;
    if (this.map && map.version < this.map.version) {
      this.options.onRefreshError?.(new AppError(`the lookup API served shard map version ${map.version}, older than version ${this.map.version} held here; kept ${this.map.version}`));
      return false;
    }
    this.router = createRouter(map);
    this.map = map;
    this.etag = response.headers.get('etag') ?? undefined;
    return true;
  }

  route(key: string): ClientRoute {
    const result = this.router.routeText(key);
    const primary = primaryOf(result.shard);
    return {
      key: result.key,
      keyspaceId: result.keyspaceId,
      shard: result.shard.name,
      database: result.shard.database,
      writer: primary ? endpointOf(primary) : null,
      readers: result.shard.nodes.filter((node) => node.role === 'replica').map(endpointOf),
      mapVersion: this.map.version,
      moving: result.moving,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
