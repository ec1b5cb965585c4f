import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { createS3ObjectStore } from '../adapters/s3-object-store';
import { archivePlanEnvSchema, parseEnv } from '../shared/env';
import { createDataApiCatalog } from '../shared/services';
import { asStepFunctionsError } from '../shared/errors';
import { MAP_ITEMS_PREFIX } from '../shared/map-items';
import { createPlanTask } from './task-handlers';

const env = parseEnv(archivePlanEnvSchema);
const logger = new Logger();
const plan = createPlanTask({
  settings: env.ARCHIVE_SETTINGS,
  catalog: createDataApiCatalog(env),
  ...(env.ARCHIVE_ITEMS_BUCKET ? { itemsOutput: { objects: createS3ObjectStore({ client: new S3Client({}), bucket: env.ARCHIVE_ITEMS_BUCKET }), prefix: MAP_ITEMS_PREFIX } } : {}),
});

/** The workflow's Plan state: `{ runId, startedAt, input }` → the (table, shard) items of the run, inline or in S3. */
export const handler = async (event: unknown) => {
  try {
    const result = await plan(event);
    logger.info('archive run planned', { runId: result.runId, items: result.count });
    return result;
  } catch (error) {
    logger.error('archive plan failed', { error });
    throw asStepFunctionsError(error);
  }
};
