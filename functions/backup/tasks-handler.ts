import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { createBinlogSource } from '../adapters/binlog-archiver';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createMysqlDumpConnector } from '../adapters/mysql-dumper';
import { createMysqlRestoreConnector } from '../adapters/mysql-restorer';
import { createRdsSnapshots } from '../adapters/rds-snapshots';
import { createS3ObjectStore } from '../adapters/s3-object-store';
import { createSecretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqlBackupStore } from '../adapters/sql-backup-store';
import { SqlCatalog } from '../adapters/sql-catalog';
import type { ShardNode } from '../core/shard-map-types';
import { systemClock } from '../ports/clock';
import { backupTasksEnvSchema, lambdaRuntimeEnvSchema, parseEnv } from '../shared/env';
import { ConfigError } from '../shared/errors';
import { MAP_ITEMS_PREFIX } from '../shared/map-items';
import { DEFAULT_BACKUP_SETTINGS } from './backup-deps';
import { runBackupTask, type BackupTaskDeps } from './tasks';
import { createDataApiExecutor } from '../shared/services';

const env = parseEnv(backupTasksEnvSchema);
const runtime = parseEnv(lambdaRuntimeEnvSchema);
const logger = new Logger({ serviceName: 'backup-tasks' });
const metrics = new Metrics({ serviceName: 'backup-tasks' });

/** Time kept back from a dump step's invocation for the chunk in flight and the hand-back. */
const DUMP_STEP_MARGIN_MS = 180_000;

function restoreTarget(json: string): ShardNode | undefined {
  if (json === '') return undefined;
  try {
    const { host, port, secretRef } = JSON.parse(json) as { host: string; port: number; secretRef: string };
    return { id: 'restore-target', role: 'primary', host, port: Number(port), secretRef };
  } catch (error) {
    throw new ConfigError(`RESTORE_TARGET is not JSON {"host","port","secretRef"}: ${(error as Error).message}`);
  }
}

const catalogSql = createDataApiExecutor(env);
const credentials = createSecretsManagerCredentials(new SecretsManagerClient({}));
const target = restoreTarget(env.RESTORE_TARGET);
const deps: BackupTaskDeps = {
  store: new SqlBackupStore(catalogSql),
  catalog: new SqlCatalog(catalogSql),
  objects: createS3ObjectStore({ client: new S3Client({}), bucket: env.BACKUP_BUCKET, kmsKeyId: env.BACKUP_KMS_KEY_ARN }),
  dumper: createMysqlDumpConnector({ credentials, tls: env.NODE_TLS }),
  binlogs: createBinlogSource({ credentials, tls: env.NODE_TLS }),
  snapshots: createRdsSnapshots({ clientFor: (region) => new RDSClient(region ? { region } : {}), homeRegion: runtime.AWS_REGION }),
  restorer: target && createMysqlRestoreConnector({ credentials, tls: env.NODE_TLS, target }),
  events: createEventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: env.EVENT_BUS_NAME }),
  clock: systemClock,
  settings: {
    ...DEFAULT_BACKUP_SETTINGS,
    compressionLevel: env.COMPRESSION_LEVEL,
    timeZone: env.TIME_ZONE,
    retention: { dailies: env.RETENTION_DAILIES, weeklies: env.RETENTION_WEEKLIES, monthlies: env.RETENTION_MONTHLIES },
  },
  dumpMode: env.DUMP_MODE,
  copyRegion: env.COPY_REGION || undefined,
  copyKmsKeyId: env.COPY_KMS_KEY_ARN || undefined,
  ...(env.BACKUP_ITEMS_BUCKET ? { itemsOutput: { objects: createS3ObjectStore({ client: new S3Client({}), bucket: env.BACKUP_ITEMS_BUCKET }), prefix: MAP_ITEMS_PREFIX } } : {}),
};

/** One step of the backup workflow (or a scheduled prune / restore test): `{ task, input }`. */
export const handler = async (payload: unknown, context: Context) => {
  const task = (payload as { task?: unknown } | null)?.task;
  const started = Date.now();
  try {
    const result = await runBackupTask(deps, payload, Date.now() + context.getRemainingTimeInMillis() - DUMP_STEP_MARGIN_MS);
    const rows = (result as { rowsWritten?: unknown } | null)?.rowsWritten;
    if (typeof rows === 'number') {
      metrics.addMetric('RowsDumped', MetricUnit.Count, rows);
      metrics.addMetric('DumpRowsPerSecond', MetricUnit.CountPerSecond, rows / Math.max(0.001, (Date.now() - started) / 1000));
    }
    metrics.addDimension('task', String(task));
    metrics.addMetric('TaskSucceeded', MetricUnit.Count, 1);
    return result;
  } catch (error) {
    logger.warn('backup task failed', { task, error });
    metrics.addDimension('task', String(task));
    metrics.addMetric('TaskFailed', MetricUnit.Count, 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
};
