import type { ShardNode } from '../core/shard-map-types';

export interface Credentials {
  user: string;
  password: string;
}

/** Resolves the account Shardkeeper uses on a node; implementations never log the password. */
export interface NodeCredentials {
  credentialsFor(node: ShardNode): Promise<Credentials>;
  /** Drops anything cached for the node, e.g. after "access denied" because the secret was rotated. */
  invalidate?(node: ShardNode): void;
}

/** One account for every node: the sandbox and the CLI pointed at local servers. */
export function staticCredentials(user: string, password: string): NodeCredentials {
  return { credentialsFor: async () => ({ user, password }) };
}

/** The account a mysql:// URL names; root when it names none. */
export function urlAccount(url: URL): Credentials {
  return { user: decodeURIComponent(url.username) || 'root', password: decodeURIComponent(url.password) };
}

/** The account a mysql:// URL names, for every node. */
export function urlCredentials(url: URL): NodeCredentials {
  const { user, password } = urlAccount(url);
  return staticCredentials(user, password);
}
