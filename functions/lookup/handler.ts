import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { Logger } from '@aws-lambda-powertools/logger';
import { createRdsDataExecutor } from '../adapters/rds-data-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import { systemClock } from '../ports/clock';
import { lookupEnvSchema, parseEnv } from '../shared/env';
import { apiGatewayHandler } from '../shared/http';
import { LookupApi } from './lookup-api';
import { ShardMapCache } from './shard-map-cache';

const env = parseEnv(lookupEnvSchema);
const logger = new Logger();
const catalog = new SqlCatalog(
  createRdsDataExecutor({
    client: new RDSDataClient({}),
    resourceArn: env.CATALOG_CLUSTER_ARN,
    secretArn: env.CATALOG_SECRET_ARN,
    database: env.CATALOG_DATABASE,
  }),
);
const cache = new ShardMapCache({
  catalog,
  clock: systemClock,
  revalidateMs: env.MAP_REVALIDATE_MS,
  onRevalidateError: (error) => logger.warn('catalog unreachable; serving the last good shard map', { error }),
});
const api = new LookupApi(cache, (error) => logger.error('lookup failed', { error }));

export const handler = apiGatewayHandler((request) => api.handle(request));
