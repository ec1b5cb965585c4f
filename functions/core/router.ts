import { keyspaceIdInto, uint64Hex } from './hash';
import { parseKey, type ParsedKey, type Uint64 } from './keys';
import { validateShardMap } from './shard-map';
import type { Shard, ShardMapDraft } from './shard-map-types';
import { createLocator, type Locator } from './strategies';

export interface RouteResult {
  /** Canonical key text. */
  key: string;
  /** 16 lowercase hex digits. */
  keyspaceId: string;
  shard: Shard;
  /** The key's override is marked moving: writers should pause until the move completes. */
  moving: boolean;
  /** The shard came from a per-key override rather than the strategy. */
  override: boolean;
}

export interface Router {
  readonly draft: ShardMapDraft;
  route(key: ParsedKey): RouteResult;
  /** parseKey with the map's keyType, then route; throws InvalidKeyError. */
  routeText(text: string): RouteResult;
  /** Index into draft.shards of the owning shard, overrides applied; allocation-free. */
  shardIndexOf(key: ParsedKey): number;
}

interface Pin {
  index: number;
  moving: boolean;
}

/** Validates the draft (throws ShardMapError) and compiles it; the draft must not be mutated afterwards. */
export function createRouter(draft: ShardMapDraft): Router {
  validateShardMap(draft);
  return new CompiledRouter(draft);
}

class CompiledRouter implements Router {
  private readonly locator: Locator;
  private readonly pins: Map<string, Pin>;
  private readonly id: Uint64 = { hi: 0, lo: 0 };

  constructor(readonly draft: ShardMapDraft) {
    this.locator = createLocator(draft.strategy, draft.shards.map((shard) => shard.name));
    const indexByName = new Map(draft.shards.map((shard, index) => [shard.name, index]));
    this.pins = new Map(draft.overrides.map((override) => [override.key, { index: indexByName.get(override.shard)!, moving: override.moving }]));
  }

  route(key: ParsedKey): RouteResult {
    keyspaceIdInto(key, this.id);
    const pin = this.pinOf(key);
    const index = pin === undefined ? this.locator.locate(key, this.id) : pin.index;
    return {
      key: key.text,
      keyspaceId: uint64Hex(this.id.hi, this.id.lo),
      shard: this.draft.shards[index]!,
      moving: pin?.moving ?? false,
      override: pin !== undefined,
    };
  }

  routeText(text: string): RouteResult {
    return this.route(parseKey(text, this.draft.keyType));
  }

  shardIndexOf(key: ParsedKey): number {
    const pin = this.pinOf(key);
    if (pin !== undefined) return pin.index;
    keyspaceIdInto(key, this.id);
    return this.locator.locate(key, this.id);
  }

  private pinOf(key: ParsedKey): Pin | undefined {
    return this.pins.size === 0 ? undefined : this.pins.get(key.text);
  }
}
