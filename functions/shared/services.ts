import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { createRdsDataExecutor } from '../adapters/rds-data-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import type { CatalogEnv } from './env';

/** The catalog as deployed functions reach it: the Data API, named by the function's environment. */
export function createDataApiCatalog(env: CatalogEnv, client = new RDSDataClient({})): SqlCatalog {
  return new SqlCatalog(
    createRdsDataExecutor({ client, resourceArn: env.CATALOG_CLUSTER_ARN, secretArn: env.CATALOG_SECRET_ARN, database: env.CATALOG_DATABASE }),
  );
}
