import { planSplit, type SplitPlan } from '../core/planners';
import { validateShardMap } from '../core/shard-map';
import type { ShardMap, ShardMapDraft } from '../core/shard-map-types';
import type { Catalog } from '../ports/catalog';
import { NoShardMapError } from '../shared/errors';

/** Every map change goes through here: validated in full, then committed against the version it was based on. */
export async function commitShardMapChange(catalog: Catalog, draft: ShardMapDraft, basedOnVersion: number, summary: string): Promise<ShardMap> {
  validateShardMap(draft);
  return catalog.commitShardMap(draft, basedOnVersion, summary);
}

export async function requireShardMap(catalog: Catalog): Promise<ShardMap> {
  const map = await catalog.loadShardMap();
  if (!map) throw new NoShardMapError('the catalog holds no shard map yet; deploy with a fleet in the config or run the sandbox');
  return map;
}

export interface SplitOutcome {
  plan: SplitPlan;
  basedOnVersion: number;
  committed?: ShardMap;
}

/** Plans a split of one range shard; with `apply`, commits it unless the map moved meanwhile. */
export async function splitShard(catalog: Catalog, shardName: string, options: { at?: string; apply: boolean }): Promise<SplitOutcome> {
  const map = await requireShardMap(catalog);
  const plan = planSplit(map, shardName, options.at);
  if (!options.apply) return { plan, basedOnVersion: map.version };
  const committed = await commitShardMapChange(catalog, plan.next, map.version, `split ${shardName} into ${plan.into.join(' and ')}`);
  return { plan, basedOnVersion: map.version, committed };
}
