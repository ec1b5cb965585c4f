import { readFileSync } from 'node:fs';
import type { App } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { validateShardMap } from '../functions/core/shard-map';
import { ConfigError, ShardMapError } from '../functions/shared/errors';
import { isIdentifier } from '../functions/shared/identifiers';
import { shardMapDraftSchema } from '../functions/shared/shard-map-schema';
import { archiveBlackoutsSchema, archiveTablesSchema } from '../functions/archive/archive-config';
import { DEFAULT_RETENTION, isTimeZone, RETENTION_LIMITS } from '../functions/core/backup-retention';

export const CONFIG_CONTEXT_KEY = 'shardkeeper';
export const CONFIG_FILE_CONTEXT_KEY = 'configFile';

const awsId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `must look like ${prefix}-0123456789abcdef0`);

const availabilityZoneSchema = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an availability zone name like eu-west-1a');

const createdVpcSchema = z.strictObject({
  create: z
    .strictObject({
      maxAzs: z.number().int().min(2).max(6).default(2),
      /** Default: the region's zones a, b, c... (set them where a letter is missing, e.g. us-west-1). */
      availabilityZones: z.array(availabilityZoneSchema).min(2).optional(),
    })
    .superRefine((create, ctx) => {
      if (create.availabilityZones && create.availabilityZones.length < create.maxAzs) {
        ctx.addIssue({ code: 'custom', path: ['availabilityZones'], message: `must list at least maxAzs (${create.maxAzs}) zones` });
      }
    }),
});

const importedVpcSchema = z
  .strictObject({
    vpcId: awsId('vpc'),
    /** Needed only for a private lookup endpoint, whose security group admits the VPC's clients. */
    vpcCidrBlock: z.cidrv4().optional(),
    availabilityZones: z.array(availabilityZoneSchema).min(2),
    privateSubnetIds: z.array(awsId('subnet')).min(2),
    privateSubnetRouteTableIds: z.array(awsId('rtb')).optional(),
  })
  .superRefine((vpc, ctx) => {
    if (vpc.privateSubnetIds.length % vpc.availabilityZones.length !== 0) {
      ctx.addIssue({ code: 'custom', path: ['privateSubnetIds'], message: `must list the same number of subnets in each of the ${vpc.availabilityZones.length} availability zones` });
    }
    if (vpc.privateSubnetRouteTableIds && vpc.privateSubnetRouteTableIds.length !== vpc.privateSubnetIds.length) {
      ctx.addIssue({ code: 'custom', path: ['privateSubnetRouteTableIds'], message: 'must list one route table per private subnet' });
    }
  });

/** A created demo VPC (`{ create: {...} }`) or an imported one; picked by shape so errors name the right fields. */
const vpcSchema = z.unknown().transform((value, ctx) => {
  const creating = typeof value === 'object' && value !== null && 'create' in value;
  const parsed = creating ? createdVpcSchema.safeParse(value) : importedVpcSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  return z.NEVER;
});

const catalogSchema = z.strictObject({
  minCapacity: z.number().min(0).max(256).multipleOf(0.5).default(0.5),
  maxCapacity: z.number().min(1).max(256).multipleOf(0.5).default(4),
  reader: z.boolean().default(false),
  deletionProtection: z.boolean().default(true),
  databaseName: z.string().refine(isIdentifier, 'must be a MySQL identifier').default('shardkeeper'),
  backupRetentionDays: z.number().int().min(1).max(35).default(7),
});

const lookupSchema = z.strictObject({
  revalidateMs: z.number().int().min(100).max(60_000).default(1000),
  endpoint: z.enum(['public', 'private']).default('public'),
  throttle: z
    .strictObject({ rate: z.number().int().min(1).default(1000), burst: z.number().int().min(1).default(2000) })
    .default({ rate: 1000, burst: 2000 }),
});

const auroraClusterArn = z.string().regex(/^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[A-Za-z][A-Za-z0-9-]{0,62}$/, 'must be an RDS cluster ARN');

const healthSchema = z.strictObject({
  /** Probe ticks inside one scheduled invocation; detection takes about failuresToDown ticks. */
  probeIntervalMs: z.number().int().min(200).max(60_000).default(1000),
  /** Scheduled monitor functions, each probing its share of the shards. */
  partitions: z.number().int().min(1).max(256).default(1),
  probeConcurrency: z.number().int().min(1).max(1024).default(64),
  connectTimeoutMs: z.number().int().min(100).max(30_000).default(2000),
  queryTimeoutMs: z.number().int().min(100).max(30_000).default(2000),
  failuresToDown: z.number().int().min(1).max(100).default(3),
  lagSecondsMax: z.number().positive().default(5),
  perNodeMetrics: z.boolean().default(true),
});

const recoverySchema = z.strictObject({
  /** Aurora shard name -> its cluster ARN: the only clusters the failover workflow may fail over. */
  auroraClusters: z.record(z.string(), auroraClusterArn).default({}),
  antiFlapMinutes: z.number().int().min(0).max(24 * 60).default(30),
  maxCandidateLagSeconds: z.number().min(0).max(3600).default(5),
});

/** EventBridge Scheduler cron: `cron(minutes hours day-of-month month day-of-week year)`, read in backup.timeZone. */
const scheduleCron = z.string().regex(/^cron\(\S+( \S+){5}\)$/, 'must be an EventBridge Scheduler cron expression like cron(0 2 ? * SUN *)');
const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region name like eu-west-1');

const backupSchema = z.strictObject({
  /** Chapter defaults: full weekly Sunday 02:00, incremental daily 02:00, cleanup 06:00; restore test weekly. */
  schedules: z
    .strictObject({
      full: scheduleCron.default('cron(0 2 ? * SUN *)'),
      incremental: scheduleCron.default('cron(0 2 * * ? *)'),
      cleanup: scheduleCron.default('cron(0 6 * * ? *)'),
      restoreTest: scheduleCron.default('cron(0 8 ? * SUN *)'),
    })
    .default({ full: 'cron(0 2 ? * SUN *)', incremental: 'cron(0 2 * * ? *)', cleanup: 'cron(0 6 * * ? *)', restoreTest: 'cron(0 8 ? * SUN *)' }),
  timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone like Europe/Berlin').default('UTC'),
  retention: z
    .strictObject({
      dailies: z.number().int().min(0).max(RETENTION_LIMITS.dailies).default(DEFAULT_RETENTION.dailies),
      weeklies: z.number().int().min(0).max(RETENTION_LIMITS.weeklies).default(DEFAULT_RETENTION.weeklies),
      monthlies: z.number().int().min(0).max(RETENTION_LIMITS.monthlies).default(DEFAULT_RETENTION.monthlies),
    })
    .default(DEFAULT_RETENTION),
  /** Shards backed up at once. */
  concurrency: z.number().int().min(1).max(1000).default(4),
  /** A Distributed Map (child executions per shard) instead of an inline Map, for large fleets. */
  distributedMap: z.boolean().default(false),
  dumpMode: z.enum(['auto', 'paused-replica', 'snapshot']).default('auto'),
  compressionLevel: z.number().int().min(1).max(9).default(6),
  /** Storage class monthlies move to after 90 days; Instant Retrieval keeps them restorable without a thaw. */
  coldStorageClass: z.enum(['GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE']).default('GLACIER_IR'),
  objectLock: z.strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), days: z.number().int().min(1).max(36_500) }).optional(),
  /** Copy every cluster snapshot to this region (and KMS key there). */
  copyRegion: awsRegion.optional(),
  copyKmsKeyArn: z.string().regex(/^arn:aws[a-z-]*:kms:/, 'must be a KMS key ARN').optional(),
  /** Where restore tests load backups: a MySQL server the tasks function reaches, with its credentials secret. */
  restoreTarget: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65_535).default(3306), secretRef: z.string().min(1) }).optional(),
});

const archiveLifecycleSchema = z
  .strictObject({
    /** Days after upload an archive object moves to Standard-IA, then Glacier Instant Retrieval, then Deep Archive. */
    infrequentAccessDays: z.number().int().min(30).default(30),
    glacierInstantRetrievalDays: z.number().int().min(31).default(90),
    deepArchiveDays: z.number().int().min(32).default(365),
    /** Delete archived rows for good this many days after upload; default: keep them. */
    expireDays: z.number().int().min(1).optional(),
  })
  .superRefine((tiers, ctx) => {
    if (tiers.glacierInstantRetrievalDays <= tiers.infrequentAccessDays) ctx.addIssue({ code: 'custom', path: ['glacierInstantRetrievalDays'], message: 'must be after infrequentAccessDays' });
    if (tiers.deepArchiveDays <= tiers.glacierInstantRetrievalDays) ctx.addIssue({ code: 'custom', path: ['deepArchiveDays'], message: 'must be after glacierInstantRetrievalDays' });
    if (tiers.expireDays !== undefined && tiers.expireDays <= tiers.deepArchiveDays) ctx.addIssue({ code: 'custom', path: ['expireDays'], message: 'must be after deepArchiveDays' });
  });

const archiveSchema = z.strictObject({
  /** What gets archived (functions/archive/archive-config.ts); none: the bucket, Glue table and workflow exist, nothing is scheduled. */
  tables: archiveTablesSchema,
  blackouts: archiveBlackoutsSchema,
  /** (table, shard) items archived at once. */
  concurrency: z.number().int().min(1).max(1000).default(4),
  /** A Distributed Map (a child execution per item) instead of an inline Map: for fleets whose loops would outgrow one execution's history. */
  distributedMap: z.boolean().default(false),
  lifecycle: archiveLifecycleSchema.default(archiveLifecycleSchema.parse({})),
  /** Time budget of one archive invocation; the workflow loops until a table is done. */
  sliceMinutes: z.number().int().min(2).max(15).default(10),
});

const retentionDays = new Set<number>(Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'));

/** Structure first; the core's semantic checks (gaps, overlaps, unknown shards) only on a well-formed draft. */
const fleetSchema = shardMapDraftSchema.transform((draft, ctx) => {
  try {
    validateShardMap(draft);
  } catch (error) {
    if (!(error instanceof ShardMapError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message });
  }
  return draft;
});

export const shardkeeperConfigSchema = z
  .strictObject({
    // Names stacks, the dashboard and the catalog cluster identifier, hence the tight alphabet.
    stackPrefix: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,39}$/, 'must be a letter then letters or digits, at most 40').default('Shardkeeper'),
    env: z
      .strictObject({
        account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region name like eu-west-1').optional(),
      })
      .default({}),
    vpc: vpcSchema.default({ create: { maxAzs: 2 } }),
    catalog: catalogSchema.default(catalogSchema.parse({})),
    lookup: lookupSchema.default(lookupSchema.parse({})),
    /** The initial shard map, committed by the catalog bootstrap only while the catalog holds none. */
    fleet: fleetSchema.optional(),
    health: healthSchema.default(healthSchema.parse({})),
    recovery: recoverySchema.default(recoverySchema.parse({})),
    backup: backupSchema.default(backupSchema.parse({})),
    archive: archiveSchema.default(archiveSchema.parse({ tables: [] })),
    alarmEmail: z.email().optional(),
    logRetentionDays: z
      .number()
      .refine((days) => retentionDays.has(days), `must be one of ${[...retentionDays].join(', ')}`)
      .default(RetentionDays.ONE_MONTH),
  })
  .superRefine((config, ctx) => {
    if (config.catalog.minCapacity > config.catalog.maxCapacity) {
      ctx.addIssue({ code: 'custom', path: ['catalog', 'minCapacity'], message: 'must not exceed catalog.maxCapacity' });
    }
    const auroraShards = new Set(config.fleet?.shards.filter((shard) => shard.kind === 'aurora').map((shard) => shard.name) ?? []);
    for (const shard of Object.keys(config.recovery.auroraClusters)) {
      if (!auroraShards.has(shard)) ctx.addIssue({ code: 'custom', path: ['recovery', 'auroraClusters', shard], message: 'names no Aurora shard of the fleet' });
    }
    if (config.lookup.endpoint === 'private' && 'vpcId' in config.vpc && !config.vpc.vpcCidrBlock) {
      ctx.addIssue({ code: 'custom', path: ['vpc', 'vpcCidrBlock'], message: 'is required for a private lookup endpoint in an imported VPC' });
    }
  });

export type ShardkeeperConfig = z.output<typeof shardkeeperConfigSchema>;
export type ShardkeeperConfigInput = z.input<typeof shardkeeperConfigSchema>;
export type VpcConfig = ShardkeeperConfig['vpc'];
export type CatalogConfig = ShardkeeperConfig['catalog'];
export type LookupConfig = ShardkeeperConfig['lookup'];
export type HealthConfig = ShardkeeperConfig['health'];
export type RecoveryConfig = ShardkeeperConfig['recovery'];
export type BackupConfig = ShardkeeperConfig['backup'];
export type ArchiveConfig = ShardkeeperConfig['archive'];

/**
 * The zones the stack spans, from config alone: a stack with a concrete account and region would
 * otherwise look them up at synth time, which needs credentials.
 */
export function configuredAvailabilityZones(config: ShardkeeperConfig): string[] | undefined {
  const { vpc, env } = config;
  if (!('create' in vpc)) return vpc.availabilityZones;
  if (vpc.create.availabilityZones) return vpc.create.availabilityZones;
  return env.region ? ['a', 'b', 'c', 'd', 'e', 'f'].slice(0, vpc.create.maxAzs).map((letter) => `${env.region}${letter}`) : undefined;
}

/** Validates raw config; every problem is reported at once, one `path: message` per line. */
export function parseConfig(raw: unknown, source: string): ShardkeeperConfig {
  const result = shardkeeperConfigSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  - ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  throw new ConfigError(`Invalid Shardkeeper config (${source}):\n${problems.join('\n')}`);
}

/** Reads the config from `-c configFile=path.json`, else from the `shardkeeper` context key (cdk.json or `-c`). */
export function loadConfig(app: App): ShardkeeperConfig {
  const file: unknown = app.node.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (typeof file === 'string' && file !== '') return parseConfig(readJson(file, () => readFileSync(file, 'utf8')), file);
  const context: unknown = app.node.tryGetContext(CONFIG_CONTEXT_KEY);
  // `-c shardkeeper='{...}'` arrives as a string; cdk.json context as an object.
  const raw = typeof context === 'string' ? readJson(`context '${CONFIG_CONTEXT_KEY}'`, () => context) : context;
  return parseConfig(raw, `context '${CONFIG_CONTEXT_KEY}'`);
}

function readJson(source: string, read: () => string): unknown {
  let text: string;
  try {
    text = read();
  } catch (error) {
    throw new ConfigError(`Cannot read Shardkeeper config ${source}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`Shardkeeper config ${source} is not valid JSON: ${(error as Error).message}`);
  }
}
