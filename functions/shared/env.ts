import * as z from 'zod/mini';
import type { $ZodObject, input, output } from 'zod/v4/core';
import { ConfigError } from './errors';
import { isIdentifier } from './identifiers';

/**
 * One zod schema per function environment. Constructs type their `environment` prop with
 * `EnvOf<typeof schema>`; handlers parse once at cold start with `parseEnv`.
 * zod/mini keeps the validator out of the way of small bundles (the lookup function's cold start).
 */
const arn = z.string().check(z.regex(/^arn:aws[a-z-]*:[a-z0-9-]+:/, 'must be an ARN'));

export const catalogEnvSchema = z.object({
  CATALOG_CLUSTER_ARN: arn,
  CATALOG_SECRET_ARN: arn,
  CATALOG_DATABASE: z.string().check(z.refine(isIdentifier, 'must be a MySQL identifier')),
});

export type CatalogEnv = output<typeof catalogEnvSchema>;

export const lookupEnvSchema = z.extend(catalogEnvSchema, {
  /** How often the cached shard map is revalidated against the catalog's map version. */
  MAP_REVALIDATE_MS: z._default(z.coerce.number().check(z.int(), z.minimum(100), z.maximum(60_000)), 1000),
});

export const catalogBootstrapEnvSchema = catalogEnvSchema;

/** The shape a construct must pass as `environment`: every variable as a string. */
export type EnvOf<S extends $ZodObject> = { [K in keyof input<S>]-?: string };

export function parseEnv<S extends $ZodObject>(schema: S, env: Record<string, string | undefined> = process.env): output<S> {
  const result = z.safeParse(schema, env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`invalid function environment: ${problems}`);
  }
  return result.data;
}
