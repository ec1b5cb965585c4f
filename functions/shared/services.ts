import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { createRdsDataExecutor } from '../adapters/rds-data-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import type { SqlExecutor } from '../ports/sql';
import type { CatalogEnv } from './env';

/** The catalog's SQL as deployed functions reach it: the Data API, named by the function's environment. */
export function createDataApiExecutor(env: CatalogEnv, client = new RDSDataClient({})): SqlExecutor {
  return createRdsDataExecutor({ client, resourceArn: env.CATALOG_CLUSTER_ARN, secretArn: env.CATALOG_SECRET_ARN, database: env.CATALOG_DATABASE });
}

export function createDataApiCatalog(env: CatalogEnv, client = new RDSDataClient({})): SqlCatalog {
  return new SqlCatalog(createDataApiExecutor(env, client));
}
