import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { catalogBootstrapEnvSchema, parseEnv } from '../shared/env';
import { createDataApiCatalog } from '../shared/services';
import { ValidationError } from '../shared/errors';
import { shardMapDraftSchema } from '../shared/shard-map-schema';
import { bootstrapCatalog } from './bootstrap';

const env = parseEnv(catalogBootstrapEnvSchema);
const logger = new Logger();
const catalog = createDataApiCatalog(env);

function initialMap(json: unknown) {
  if (typeof json !== 'string' || json === '') return undefined;
  const parsed = shardMapDraftSchema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new ValidationError(`InitialShardMap is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Custom resource (Provider framework onEvent): migrate the catalog on every deploy; seed the fleet once. */
export const handler = async (event: CloudFormationCustomResourceEvent) => {
  const physicalResourceId = 'shardkeeper-catalog';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const result = await bootstrapCatalog(catalog, initialMap(event.ResourceProperties.InitialShardMap));
  logger.info('catalog bootstrapped', { applied: result.migrations.applied, seeded: result.seeded, mapVersion: result.map?.version });
  return {
    PhysicalResourceId: physicalResourceId,
    Data: { SchemaVersion: String(result.migrations.current), MapVersion: String(result.map?.version ?? 0) },
  };
};
