import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { SqlArchiveStore } from '../adapters/sql-archive-store';
import { systemClock } from '../ports/clock';
import { archiveFailureEnvSchema, parseEnv } from '../shared/env';
import { asStepFunctionsError } from '../shared/errors';
import { createFailureTask } from './task-handlers';
import { createDataApiExecutor } from '../shared/services';

const env = parseEnv(archiveFailureEnvSchema);
const logger = new Logger();
const metrics = new Metrics();
const store = new SqlArchiveStore(
  createDataApiExecutor(env),
);
const report = createFailureTask({ store, events: createEventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: env.EVENT_BUS_NAME }), clock: systemClock });

/** The workflow's ReportFailure state: the caught error of one (table, shard) item. */
export const handler = async (event: unknown) => {
  try {
    const result = await report(event);
    logger.error('archive run failed', { ...result });
    metrics.addMetric('ArchiveFailures', MetricUnit.Count, 1);
    return result;
  } catch (error) {
    logger.error('could not record an archive failure', { error });
    throw asStepFunctionsError(error);
  } finally {
    metrics.publishStoredMetrics();
  }
};
