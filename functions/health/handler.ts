import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createMysqlProber } from '../adapters/mysql-prober';
import { createSecretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqlCatalog } from '../adapters/sql-catalog';
import { SqlHealthStore } from '../adapters/sql-health-store';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { healthThresholds } from '../core/health';
import { systemClock } from '../ports/clock';
import { failedPrimaries } from '../ports/recovery-store';
import { healthMonitorEnvSchema, parseEnv } from '../shared/env';
import { HealthMonitor } from './monitor';
import { createPowertoolsMonitorMetrics } from './monitor-metrics';
import { monitorDeadline } from './schedule';
import { createDataApiExecutor } from '../shared/services';

/** The EventBridge schedule's period. */
const SCHEDULE_PERIOD_MS = 60_000;
/** Beyond the last tick's probe timeouts: the handover write and the lease release. */
const HANDOVER_RESERVE_MS = 5_000;

const env = parseEnv(healthMonitorEnvSchema);
// The service name (also the metrics' service dimension) comes from POWERTOOLS_SERVICE_NAME, set by AppFunction.
const logger = new Logger();
const catalogSql = createDataApiExecutor(env);
const catalog = new SqlCatalog(catalogSql);
const store = new SqlHealthStore(catalogSql);
const publisher = createEventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: env.EVENT_BUS_NAME });
const credentials = createSecretsManagerCredentials(new SecretsManagerClient({}));
const metrics = createPowertoolsMonitorMetrics(new Metrics({ namespace: env.METRICS_NAMESPACE }), {
  perNode: env.PER_NODE_METRICS === 'on',
});
const thresholds = healthThresholds({
  failuresToDown: env.FAILURES_TO_DOWN,
  successesToOnline: env.SUCCESSES_TO_ONLINE,
  lagSecondsMax: env.LAG_SECONDS_MAX,
  threadsRunningMax: env.THREADS_RUNNING_MAX,
  connectionsPercentMax: env.CONNECTIONS_PERCENT_MAX,
  bufferPoolUsedPercentMax: env.BUFFER_POOL_USED_PERCENT_MAX,
});

/**
 * Scheduled every minute. Probes every PROBE_INTERVAL_MS until just after the next invocation is
 * due; that one waits for this one's lease, so the fleet is watched without gaps or overlap.
 */
export const handler = async (event: ScheduledEvent, context: Context) => {
  // A fresh prober per invocation: connections are closed at the end, not left open in a frozen container.
  const prober = createMysqlProber({ credentials, connectTimeoutMs: env.CONNECT_TIMEOUT_MS, queryTimeoutMs: env.QUERY_TIMEOUT_MS });
  const monitor = new HealthMonitor(
    {
      catalog,
      prober,
      store,
      publisher,
      metrics,
      formerPrimaries: () => failedPrimaries(new SqlRecoveryStore(catalogSql)),
      clock: systemClock,
      onError: (error, problem) => logger.warn(problem, { error }),
    },
    {
      ownerId: context.awsRequestId,
      thresholds,
      concurrency: env.PROBE_CONCURRENCY,
      partition: { index: env.PARTITION_INDEX, count: env.PARTITION_COUNT },
      leaseTtlMs: env.LEASE_TTL_MS,
    },
  );
  const now = systemClock.now();
  const until = monitorDeadline({
    scheduledAt: Date.parse(event.time),
    now,
    remainingMs: context.getRemainingTimeInMillis(),
    periodMs: SCHEDULE_PERIOD_MS,
    handoverMs: env.HANDOVER_MS,
    reserveMs: env.CONNECT_TIMEOUT_MS + env.QUERY_TIMEOUT_MS + HANDOVER_RESERVE_MS,
  });
  try {
    const summary = await monitor.run({ until, intervalMs: env.PROBE_INTERVAL_MS });
    logger.info('health monitor finished', { ...summary, lease: monitor.leaseName, ranMs: systemClock.now() - now });
    return summary;
  } finally {
    await prober.close();
  }
};
