import * as z from 'zod/mini';
import './zod-messages';
import type { $ZodObject, input, output } from 'zod/v4/core';
import { archiveSettingsSchema } from '../archive/archive-config';
import { DEFAULT_RETENTION, RETENTION_LIMITS } from '../core/backup-retention';
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

const count = (min: number, max: number, fallback: number) => z._default(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), fallback);
/** A Distributed Map's workflow-files bucket; empty when the workflow keeps its items in the state. */
const mapItemsBucket = z._default(z.union([z.literal(''), z.string().check(z.minLength(3), z.maxLength(63))]), '');
const amount = (fallback: number) => z._default(z.coerce.number().check(z.positive()), fallback);

/** The scheduled health monitor: catalog, event bus, probe cadence and timeouts, classification thresholds. */
export const healthMonitorEnvSchema = z.extend(catalogEnvSchema, {
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
  /** Time between probe ticks inside one invocation. */
  PROBE_INTERVAL_MS: count(200, 60_000, 1000),
  /** Probes in flight at once. */
  PROBE_CONCURRENCY: count(1, 1024, 64),
  CONNECT_TIMEOUT_MS: count(100, 30_000, 2000),
  QUERY_TIMEOUT_MS: count(100, 30_000, 2000),
  /** This monitor probes the shards of partition PARTITION_INDEX of PARTITION_COUNT (one scheduled function each). */
  PARTITION_INDEX: count(0, 255, 0),
  PARTITION_COUNT: count(1, 256, 1),
  /** How long a monitor's lease lasts without renewal, so a crashed monitor is replaced after at most this. */
  LEASE_TTL_MS: count(2_000, 120_000, 15_000),
  /** How long an invocation keeps probing past the next scheduled start, handing over without a gap. */
  HANDOVER_MS: count(0, 30_000, 5_000),
  FAILURES_TO_DOWN: count(1, 100, 3),
  SUCCESSES_TO_ONLINE: count(1, 100, 2),
  LAG_SECONDS_MAX: amount(5),
  THREADS_RUNNING_MAX: amount(25),
  CONNECTIONS_PERCENT_MAX: amount(80),
  BUFFER_POOL_USED_PERCENT_MAX: amount(85),
  /** Per-node metrics are one CloudWatch metric per node and measure: 'off' keeps only fleet and shard metrics. */
  PER_NODE_METRICS: z._default(z.enum(['on', 'off']), 'on'),
  METRICS_NAMESPACE: z._default(z.string().check(z.minLength(1)), 'Shardkeeper'),
});

/** The recovery workflows' task function: catalog, event bus, Aurora clusters, failover policy, node connections. */
export const recoveryTasksEnvSchema = z.extend(catalogEnvSchema, {
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
  /** JSON object: Aurora shard name -> cluster ARN, the clusters the workflow may fail over. */
  AURORA_CLUSTERS: z._default(z.string(), '{}'),
  ANTI_FLAP_MINUTES: count(0, 24 * 60, 30),
  MAX_CANDIDATE_LAG_SECONDS: z._default(z.coerce.number().check(z.minimum(0)), 5),
  CONNECT_TIMEOUT_MS: count(100, 30_000, 2000),
  /** Per statement; STOP SLAVE waits for a running transaction. */
  QUERY_TIMEOUT_MS: count(100, 120_000, 30_000),
  NODE_TLS: z._default(z.enum(['required', 'off']), 'required'),
});

/** The backup workflow's task function: catalog, bucket, event bus, node connections, retention, snapshot copies, restore tests. */
export const backupTasksEnvSchema = z.extend(catalogEnvSchema, {
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
  BACKUP_BUCKET: z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
  BACKUP_KMS_KEY_ARN: arn,
  NODE_TLS: z._default(z.enum(['required', 'off']), 'required'),
  /** Logical dumps: auto (a paused replica when the shard has one), paused-replica or snapshot. */
  DUMP_MODE: z._default(z.enum(['auto', 'paused-replica', 'snapshot']), 'auto'),
  COMPRESSION_LEVEL: count(1, 9, 6),
  /** For a Distributed Map, the bucket its ItemReader reads BeginEpoch's shard tasks from; empty: the tasks stay in the state. */
  BACKUP_ITEMS_BUCKET: mapItemsBucket,
  TIME_ZONE: z._default(
    z.string().check(
      z.refine((zone) => {
        try {
          return Boolean(new Intl.DateTimeFormat('en', { timeZone: zone }));
        } catch {
          return false;
        }
      }, 'must be an IANA time zone'),
    ),
    'UTC',
  ),
  RETENTION_DAILIES: count(0, RETENTION_LIMITS.dailies, DEFAULT_RETENTION.dailies),
  RETENTION_WEEKLIES: count(0, RETENTION_LIMITS.weeklies, DEFAULT_RETENTION.weeklies),
  RETENTION_MONTHLIES: count(0, RETENTION_LIMITS.monthlies, DEFAULT_RETENTION.monthlies),
  /** Region snapshots are copied to; empty: no copy. */
  COPY_REGION: z._default(z.string().check(z.regex(/^([a-z]{2}(-[a-z]+)+-\d)?$/, 'must be a region name or empty')), ''),
  COPY_KMS_KEY_ARN: z._default(z.string(), ''),
  /** JSON {"host","port","secretRef"} of the server restore tests load into; empty: no restore tests. */
  RESTORE_TARGET: z._default(z.string(), ''),
});

/** The archive settings (tables and fleet-wide blackouts) as JSON, checked like a --config file. */
const archiveSettingsJson = z.pipe(
  z.pipe(
    z.string(),
    z.transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: 'must be JSON', input: text });
        return z.NEVER;
      }
    }),
  ),
  archiveSettingsSchema,
);

/** The archive workflow's Plan task: which tables on which shards, from the catalog's shard map. */
export const archivePlanEnvSchema = z.extend(catalogEnvSchema, {
  ARCHIVE_SETTINGS: archiveSettingsJson,
  /** For a Distributed Map, the bucket its ItemReader reads the plan's items from; empty: the items stay in the state. */
  ARCHIVE_ITEMS_BUCKET: mapItemsBucket,
});

/** The workflow's Summarize step: reads how the execution's items ended. */
export const archiveSummaryEnvSchema = catalogEnvSchema;

/** The archive function the workflow loops: batches of one table on one shard until its time budget is spent. */
export const archiveWorkerEnvSchema = z.extend(catalogEnvSchema, {
  ARCHIVE_SETTINGS: archiveSettingsJson,
  ARCHIVE_BUCKET: z.string().check(z.minLength(3), z.maxLength(63)),
  EVENT_BUS_NAME: z.string().check(z.minLength(1)),
  NODE_TLS: z._default(z.enum(['required', 'off']), 'required'),
  CONNECT_TIMEOUT_MS: count(100, 30_000, 5_000),
  /** No batch starts later than this before the function's timeout. */
  SLICE_MARGIN_MS: count(5_000, 300_000, 60_000),
});

/** Records a run that failed for good and publishes ArchiveFailed. */
export const archiveFailureEnvSchema = z.extend(catalogEnvSchema, { EVENT_BUS_NAME: z.string().check(z.minLength(1)) });

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

/** Variables the Lambda runtime sets itself (reserved: constructs cannot and need not pass them). */
export const lambdaRuntimeEnvSchema = z.object({
  AWS_REGION: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region name like eu-west-1')),
});
