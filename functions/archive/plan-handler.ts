import { Logger } from '@aws-lambda-powertools/logger';
import { archivePlanEnvSchema, parseEnv } from '../shared/env';
import { createDataApiCatalog } from '../shared/services';
import { asStepFunctionsError } from '../shared/errors';
import { createPlanTask } from './task-handlers';

const env = parseEnv(archivePlanEnvSchema);
const logger = new Logger();
const plan = createPlanTask({ settings: env.ARCHIVE_SETTINGS, catalog: createDataApiCatalog(env) });

/** The workflow's Plan state: `{ runId, startedAt, input }` → the (table, shard) items of the run. */
export const handler = async (event: unknown) => {
  try {
    const result = await plan(event);
    logger.info('archive run planned', { runId: result.runId, items: result.items.length });
    return result;
  } catch (error) {
    logger.error('archive plan failed', { error });
    throw asStepFunctionsError(error);
  }
};
