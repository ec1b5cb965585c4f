import { ValidationError } from '../shared/errors';
import { primaryOf } from './shard-map';
import type { Shard } from './shard-map-types';

/**
 * Names for managed snapshots. RDS identifiers allow letters, digits and single hyphens, start
 * with a letter and do not end with a hyphen, so shard names are spelled out: `-40` → `to40`,
 * `40-80` → `40to80`, `c0-` → `c0to`.
 */
export function shardSlug(shard: string): string {
  return shard.toLowerCase().replace(/[^a-z0-9]/g, (char) => (char === '-' ? 'to' : 'x'));
}

export function snapshotIdentifier(epochId: string, shard: string): string {
  const id = `sk-${epochId}-${shardSlug(shard)}`.replace(/-+/g, '-').replace(/-$/, '');
  if (id.length > 255) throw new ValidationError(`snapshot identifier ${id} is longer than 255 characters`);
  return id;
}

const AURORA_ENDPOINT = /^([a-z][a-z0-9-]*)\.cluster-(?:ro-|custom-)?[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(?:\.cn)?$/i;
const RDS_ENDPOINT = /^([a-z][a-z0-9-]*)\.[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(?:\.cn)?$/i;

/**
 * The cluster (Aurora) or instance (RDS) identifier of a managed shard, read from its primary's
 * endpoint: `<cluster>.cluster-<hash>.<region>.rds.amazonaws.com` or `<instance>.<hash>.<region>...`.
 */
export function managedIdentifierOf(shard: Shard): { kind: 'aurora' | 'rds'; identifier: string } {
  if (shard.kind === 'self-managed') throw new ValidationError(`shard ${shard.name} is self-managed; it has no cluster snapshots`);
  const primary = primaryOf(shard) ?? shard.nodes[0];
  const match = primary && (shard.kind === 'aurora' ? AURORA_ENDPOINT : RDS_ENDPOINT).exec(primary.host);
  if (!match) {
    throw new ValidationError(`shard ${shard.name}: cannot tell the ${shard.kind === 'aurora' ? 'cluster' : 'instance'} identifier from endpoint ${primary?.host ?? '(no nodes)'}`);
  }
  return { kind: shard.kind, identifier: match[1]!.toLowerCase() };
}
