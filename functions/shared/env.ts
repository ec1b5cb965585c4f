import { z } from 'zod';
import { ConfigError } from './errors';
import { isIdentifier } from './identifiers';

/**
 * One zod schema per function environment. Constructs type their `environment` prop with
 * `EnvOf<typeof schema>`; handlers parse once at cold start with `parseEnv`.
 */
const arn = z.string().regex(/^arn:aws[a-z-]*:[a-z0-9-]+:/, 'must be an ARN');

export const catalogEnvSchema = z.object({
  CATALOG_CLUSTER_ARN: arn,
  CATALOG_SECRET_ARN: arn,
  CATALOG_DATABASE: z.string().refine(isIdentifier, 'must be a MySQL identifier'),
});

export const lookupEnvSchema = catalogEnvSchema.extend({
  /** How often the cached shard map is revalidated against the catalog's map version. */
  MAP_REVALIDATE_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
});

export const catalogBootstrapEnvSchema = catalogEnvSchema;

/** The shape a construct must pass as `environment`: every variable as a string. */
export type EnvOf<S extends z.ZodObject> = { [K in keyof z.input<S>]-?: string };

export function parseEnv<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`invalid function environment: ${problems}`);
  }
  return result.data;
}
