import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { AuroraClusterFailover, clusterIdFromArn } from '../adapters/aurora-cluster-failover';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createMysqlProber } from '../adapters/mysql-prober';
import { createMysqlReplicationAdmin } from '../adapters/mysql-replication-admin';
import { createSecretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqlCatalog } from '../adapters/sql-catalog';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { systemClock } from '../ports/clock';
import { parseEnv, recoveryTasksEnvSchema } from '../shared/env';
import { ConfigError } from '../shared/errors';
import { DEFAULT_RECOVERY_POLICY, type RecoveryDeps } from './context';
import { runRecoveryTask } from './tasks';
import { createDataApiExecutor } from '../shared/services';

const env = parseEnv(recoveryTasksEnvSchema);
const logger = new Logger({ serviceName: 'recovery-tasks' });

/** AURORA_CLUSTERS is `{"shard": "cluster ARN"}`; the use cases want cluster identifiers. */
function auroraClusters(json: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`AURORA_CLUSTERS is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('AURORA_CLUSTERS must be an object of shard name to cluster ARN');
  return Object.fromEntries(Object.entries(parsed).map(([shard, arn]) => [shard, clusterIdFromArn(String(arn))]));
}

const catalogSql = createDataApiExecutor(env);
const credentials = createSecretsManagerCredentials(new SecretsManagerClient({}));
const connection = { credentials, connectTimeoutMs: env.CONNECT_TIMEOUT_MS, queryTimeoutMs: env.QUERY_TIMEOUT_MS, tls: env.NODE_TLS };
const deps: Omit<RecoveryDeps, 'prober'> = {
  catalog: new SqlCatalog(catalogSql),
  store: new SqlRecoveryStore(catalogSql),
  admin: createMysqlReplicationAdmin(connection),
  events: createEventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: env.EVENT_BUS_NAME }),
  clock: systemClock,
  policy: { ...DEFAULT_RECOVERY_POLICY, antiFlapMs: env.ANTI_FLAP_MINUTES * 60_000, maxCandidateLagSeconds: env.MAX_CANDIDATE_LAG_SECONDS },
  clusterFailover: new AuroraClusterFailover({ client: new RDSClient({}) }),
  auroraClusters: auroraClusters(env.AURORA_CLUSTERS),
};

/** One step of a recovery workflow: `{ task, input, taskToken? }` from the state machine. */
export const handler = async (payload: unknown) => {
  // A prober per invocation: its cached connections are closed, not left open in a frozen container.
  const prober = createMysqlProber(connection);
  try {
    return await runRecoveryTask({ ...deps, prober }, payload);
  } catch (error) {
    logger.warn('recovery task failed', { task: (payload as { task?: unknown } | null)?.task, error });
    throw error;
  } finally {
    await prober.close();
  }
};
