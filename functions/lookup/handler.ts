import { Logger } from '@aws-lambda-powertools/logger';
import { systemClock } from '../ports/clock';
import { lookupEnvSchema, parseEnv } from '../shared/env';
import { createDataApiCatalog } from '../shared/services';
import { apiGatewayHandler } from '../shared/http';
import { LookupApi } from './lookup-api';
import { ShardMapCache } from './shard-map-cache';

const env = parseEnv(lookupEnvSchema);
const logger = new Logger();
const catalog = createDataApiCatalog(env);
const cache = new ShardMapCache({
  catalog,
  clock: systemClock,
  revalidateMs: env.MAP_REVALIDATE_MS,
  onRevalidateError: (error) => logger.warn('catalog unreachable; serving the last good shard map', { error }),
});
const api = new LookupApi(cache, (error) => logger.error('lookup failed', { error }));

export const handler = apiGatewayHandler((request) => api.handle(request));
