import { describe, expect, it } from 'vitest';
import { lookupEnvSchema, parseEnv } from '../../../functions/shared/env';
import { ConfigError } from '../../../functions/shared/errors';

const catalog = {
  CATALOG_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:catalog',
  CATALOG_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog',
  CATALOG_DATABASE: 'shardkeeper',
};

describe('parseEnv', () => {
  it('parses a function environment with its defaults', () => {
    expect(parseEnv(lookupEnvSchema, catalog)).toEqual({ ...catalog, MAP_REVALIDATE_MS: 1000 });
  });

  it('names each variable that is wrong and says why', () => {
    const attempt = () => parseEnv(lookupEnvSchema, { ...catalog, CATALOG_SECRET_ARN: undefined, MAP_REVALIDATE_MS: '5' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/CATALOG_SECRET_ARN: Invalid input: expected string, received undefined/);
    expect(attempt).toThrow(/MAP_REVALIDATE_MS: Too small: expected number to be >=100/);
  });
});
