import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import '../shared/zod-messages';
import type { ShardNode } from '../core/shard-map-types';
import { systemClock, type Clock } from '../ports/clock';
import type { Credentials, NodeCredentials } from '../ports/node-credentials';
import { NodeCredentialsError } from '../shared/errors';

/** The JSON RDS and Aurora keep in a database secret (other keys such as host or engine are ignored). */
const rdsSecretSchema = z.object({
  username: z.string().check(z.minLength(1)),
  password: z.string(),
});

export interface SecretsManagerCredentialsOptions {
  /** How long a secret is reused before it is read again; rotation is also handled by `invalidate`. */
  ttlMs?: number;
  clock?: Clock;
}

/**
 * Node credentials from each node's `secretRef` (ARN or name). Secrets are cached per
 * reference, and concurrent lookups of one secret share a single GetSecretValue call, so a
 * tick over a thousand nodes that share a secret reads it once. Failed reads are not cached.
 */
export function createSecretsManagerCredentials(
  client: SecretsManagerClient,
  { ttlMs = 300_000, clock = systemClock }: SecretsManagerCredentialsOptions = {},
): Required<NodeCredentials> {
  const cache = new Map<string, { credentials: Promise<Credentials>; expiresAt: number }>();

  const read = async (secretRef: string): Promise<Credentials> => {
    let secretString: string | undefined;
    try {
      ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretRef })));
    } catch (error) {
      throw new NodeCredentialsError(`cannot read secret ${secretRef}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (secretString === undefined) throw new NodeCredentialsError(`secret ${secretRef} has no SecretString (binary secrets are not supported)`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(secretString);
    } catch {
      // No cause: a JSON error message quotes the secret text.
      throw new NodeCredentialsError(`secret ${secretRef} is not JSON; expected {"username": ..., "password": ...} as RDS stores it`);
    }
    const result = z.safeParse(rdsSecretSchema, parsed);
    if (!result.success) throw new NodeCredentialsError(`secret ${secretRef} lacks a string "username" and "password"`);
    return { user: result.data.username, password: result.data.password };
  };

  return {
    credentialsFor(node: ShardNode) {
      const { secretRef } = node;
      if (!secretRef) {
        return Promise.reject(new NodeCredentialsError(`node ${node.id} has no secretRef; give it the ARN or name of a Secrets Manager secret holding its credentials`));
      }
      const cached = cache.get(secretRef);
      if (cached && cached.expiresAt > clock.now()) return cached.credentials;
      const credentials = read(secretRef);
      cache.set(secretRef, { credentials, expiresAt: clock.now() + ttlMs });
      credentials.catch(() => {
        if (cache.get(secretRef)?.credentials === credentials) cache.delete(secretRef);
      });
      return credentials;
    },
    invalidate(node: ShardNode) {
      if (node.secretRef) cache.delete(node.secretRef);
    },
  };
}
