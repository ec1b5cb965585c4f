import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { requireShardMap, splitShard } from '../catalog/shard-map-changes';
import { createRouter } from '../core/router';
import type { Shard } from '../core/shard-map-types';
import { publicShardMap } from '../lookup/lookup-api';
import { MAP_CHANGE_HOLDER, type RecoveryStore } from '../ports/recovery-store';
import { ConflictError } from '../shared/errors';
import { recoveryLockName } from '../recovery/context';
import { print, withCatalog, type CliContext, type GlobalOptions } from './context';
import { percent, table } from './format';

const endpoints = (shard: Shard, role: 'primary' | 'replica') =>
  shard.nodes.filter((node) => node.role === role).map((node) => `${node.host}:${node.port}`);

export async function routeCommand(context: CliContext, options: GlobalOptions, key: string): Promise<void> {
  await withCatalog(context, options, async (catalog) => {
    const map = await requireShardMap(catalog);
    const result = createRouter(map).routeText(key);
    const value = {
      key: result.key,
      keyspaceId: result.keyspaceId,
      shard: result.shard.name,
      database: result.shard.database,
      writer: endpoints(result.shard, 'primary')[0] ?? null,
      readers: endpoints(result.shard, 'replica'),
      mapVersion: map.version,
      moving: result.moving,
      override: result.override,
    };
    print(context, options, value, () =>
      table(
        ['field', 'value'],
        Object.entries(value).map(([field, v]) => [field, Array.isArray(v) ? v.join(', ') || '-' : v ?? '-']),
      ),
    );
  });
}

export async function mapShowCommand(context: CliContext, options: GlobalOptions): Promise<void> {
  await withCatalog(context, options, async (catalog) => {
    const map = await requireShardMap(catalog);
    print(context, options, publicShardMap(map, false), () =>
      [
        `shard map version ${map.version} (updated ${map.updatedAt}), key type ${map.keyType}, strategy ${map.strategy.kind}`,
        '',
        table(
          ['shard', 'database', 'kind', 'status', 'writer', 'readers'],
          map.shards.map((shard) => [shard.name, shard.database, shard.kind, shard.status, endpoints(shard, 'primary')[0] ?? '-', endpoints(shard, 'replica').join(', ') || '-']),
        ),
        map.overrides.length === 0 ? '' : `\n${map.overrides.length} key override(s), ${map.overrides.filter((o) => o.moving).length} moving`,
      ].join('\n'),
    );
  });
}

export async function mapSplitCommand(context: CliContext, options: GlobalOptions & { at?: string; apply?: boolean }, shardName: string): Promise<void> {
  await withCatalog(context, options, async (catalog, sql) => {
    const split = () => splitShard(catalog, shardName, { at: options.at, apply: options.apply === true });
    const lockName = options.apply ? recoveryLockName(await requireShardMap(catalog), shardName) : undefined;
    const outcome = lockName ? await holdingRecoveryLock(new SqlRecoveryStore(sql), lockName, split) : await split();
    const { plan } = outcome;
    const value = {
      shard: plan.shard,
      into: plan.into,
      splitPoint: plan.splitPoint,
      fractionOfKeyspaceMoving: plan.fractionOfKeyspaceMoving,
      fractionOfShardMoving: plan.fractionOfShardMoving,
      basedOnVersion: outcome.basedOnVersion,
      applied: outcome.committed !== undefined,
      newVersion: outcome.committed?.version ?? null,
    };
    print(context, options, value, () =>
      [
        `split ${plan.shard} at ${plan.splitPoint} into ${plan.into.join(' and ')}`,
        `keys that move if ${plan.into[1]} is placed elsewhere: ${percent(plan.fractionOfShardMoving)} of the shard, ${percent(plan.fractionOfKeyspaceMoving, 3)} of the keyspace`,
        outcome.committed
          ? `committed as shard map version ${outcome.committed.version}; both halves use ${plan.shard}'s database until one is moved`
          : `dry run against map version ${outcome.basedOnVersion}; add --apply to commit`,
      ].join('\n'),
    );
  });
}

/** How long a split may hold the shard's recovery lock (a failover retries meanwhile); a split commits in well under a second. */
const SPLIT_LOCK_MS = 30_000;

/**
 * Runs a map change of one shard under its recovery lock, so it never lands between a failover's
 * promotion and that failover's map update.
 */
async function holdingRecoveryLock<T>(store: RecoveryStore, shard: string, work: () => Promise<T>): Promise<T> {
  const holder = `${MAP_CHANGE_HOLDER}split-${process.pid}-${Date.now()}`;
  const attempt = await store.acquireLock(shard, holder, SPLIT_LOCK_MS);
  if (!attempt.acquired) {
    throw new ConflictError(`recovery ${attempt.heldBy} holds shard ${shard} until ${new Date(attempt.expiresAt).toISOString()}; split it once that recovery is done`);
  }
  try {
    return await work();
  } finally {
    await store.releaseLock(shard, holder);
  }
}

export async function mapHistoryCommand(context: CliContext, options: GlobalOptions & { limit: number }): Promise<void> {
  await withCatalog(context, options, async (catalog) => {
    const history = await catalog.mapHistory(options.limit);
    print(context, options, history, () => table(['version', 'changed at', 'summary'], history.map((entry) => [entry.version, entry.changedAt, entry.summary])));
  });
}
