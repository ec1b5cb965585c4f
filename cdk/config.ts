import { readFileSync } from 'node:fs';
import type { App } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { validateShardMap } from '../functions/core/shard-map';
import { ConfigError, ShardMapError } from '../functions/shared/errors';
import { isIdentifier } from '../functions/shared/identifiers';
import { shardMapDraftSchema } from '../functions/shared/shard-map-schema';

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
    if (config.lookup.endpoint === 'private' && 'vpcId' in config.vpc && !config.vpc.vpcCidrBlock) {
      ctx.addIssue({ code: 'custom', path: ['vpc', 'vpcCidrBlock'], message: 'is required for a private lookup endpoint in an imported VPC' });
    }
  });

export type ShardkeeperConfig = z.output<typeof shardkeeperConfigSchema>;
export type ShardkeeperConfigInput = z.input<typeof shardkeeperConfigSchema>;
export type VpcConfig = ShardkeeperConfig['vpc'];
export type CatalogConfig = ShardkeeperConfig['catalog'];
export type LookupConfig = ShardkeeperConfig['lookup'];

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
