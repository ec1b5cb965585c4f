import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createShardSources } from '../adapters/mysql-archive-source';
import { createMysqlProber } from '../adapters/mysql-prober';
import { createS3ObjectStore } from '../adapters/s3-object-store';
import { createSecretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqlArchiveStore } from '../adapters/sql-archive-store';
import { SqlCatalog } from '../adapters/sql-catalog';
import { systemClock } from '../ports/clock';
import { archiveWorkerEnvSchema, parseEnv } from '../shared/env';
import { shardLoadFromProber } from './shard-load';
import { asStepFunctionsError } from '../shared/errors';
import { createSliceTask } from './task-handlers';
import { createDataApiExecutor } from '../shared/services';

const env = parseEnv(archiveWorkerEnvSchema);
const logger = new Logger();
const metrics = new Metrics();
const catalogSql = createDataApiExecutor(env);
const credentials = createSecretsManagerCredentials(new SecretsManagerClient({}));
const objects = createS3ObjectStore({ client: new S3Client({}), bucket: env.ARCHIVE_BUCKET });
const events = createEventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: env.EVENT_BUS_NAME });

/** The workflow's Archive state: one (table, shard) item → batches until the time budget is spent → a status the workflow loops on. */
export const handler = async (event: unknown, context: Context) => {
  // Connections per invocation: a frozen container must not keep MySQL sessions open between slices.
  const sources = createShardSources({ credentials, tls: env.NODE_TLS, connectTimeoutMs: env.CONNECT_TIMEOUT_MS });
  const prober = createMysqlProber({ credentials, tls: env.NODE_TLS, connectTimeoutMs: env.CONNECT_TIMEOUT_MS });
  const slice = createSliceTask({
    settings: env.ARCHIVE_SETTINGS,
    catalog: new SqlCatalog(catalogSql),
    store: new SqlArchiveStore(catalogSql),
    objects,
    events,
    clock: systemClock,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    source: (shard) => sources.source(shard),
    load: (shard) => shardLoadFromProber(prober, shard),
  });
  try {
    const result = await slice(event, { deadline: Date.now() + context.getRemainingTimeInMillis() - env.SLICE_MARGIN_MS });
    metrics.addMetric('ArchivedRows', MetricUnit.Count, result.rows);
    metrics.addMetric('ArchiveRowsPerSecond', MetricUnit.CountPerSecond, result.elapsedMs > 0 ? (result.rows * 1000) / result.elapsedMs : 0);
    metrics.addMetric('ArchiveThrottleWaits', MetricUnit.Count, result.status === 'throttled' ? 1 : 0);
    metrics.addMetric('ArchiveBlackoutWaits', MetricUnit.Count, result.status === 'blackout' ? 1 : 0);
    logger.info('archive slice', { table: result.table, shard: result.shard, runId: result.runId, status: result.status, rows: result.rows, runRows: result.runRows, reason: result.reason });
    return result;
  } catch (error) {
    logger.error('archive slice failed', { error });
    throw asStepFunctionsError(error);
  } finally {
    metrics.publishStoredMetrics();
    await Promise.all([sources.close(), prober.close()]);
  }
};
