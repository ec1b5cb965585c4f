import { Logger } from '@aws-lambda-powertools/logger';
import { SqlArchiveStore } from '../adapters/sql-archive-store';
import { archiveSummaryEnvSchema, parseEnv } from '../shared/env';
import { asStepFunctionsError } from '../shared/errors';
import { createDataApiExecutor } from '../shared/services';
import { createSummaryTask } from './task-handlers';

const env = parseEnv(archiveSummaryEnvSchema);
const logger = new Logger();
const summarize = createSummaryTask({ store: new SqlArchiveStore(createDataApiExecutor(env)) });

/** The workflow's Summarize state: `{ runId, planned }` → how the execution's items ended. */
export const handler = async (event: unknown) => {
  try {
    const summary = await summarize(event);
    logger.info('archive run summarized', { ...summary });
    return summary;
  } catch (error) {
    logger.error('archive summary failed', { error });
    throw asStepFunctionsError(error);
  }
};
