import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecretsManagerCredentials } from '../adapters/secrets-credentials';
import { staticCredentials, type NodeCredentials } from '../ports/node-credentials';
import type { CliContext } from './context';

/**
 * Credentials for shard nodes from the CLI: a node with a secretRef reads it from Secrets Manager
 * unless --node-user is given; every other node uses --node-user/--node-password, else
 * $SHARDKEEPER_NODE_USER/$SHARDKEEPER_NODE_PASSWORD, else `defaults`.
 */
export function cliNodeCredentials(context: CliContext, options: { nodeUser?: string; nodePassword?: string }, defaults: { user: string; password: string }): NodeCredentials {
  const fallback = staticCredentials(
    options.nodeUser ?? context.env.SHARDKEEPER_NODE_USER ?? defaults.user,
    options.nodePassword ?? context.env.SHARDKEEPER_NODE_PASSWORD ?? defaults.password,
  );
  let secrets: NodeCredentials | undefined;
  return {
    credentialsFor(node) {
      if (!node.secretRef || options.nodeUser) return fallback.credentialsFor(node);
      secrets ??= createSecretsManagerCredentials(new SecretsManagerClient({}));
      return secrets.credentialsFor(node);
    },
  };
}
