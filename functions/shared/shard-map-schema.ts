import { z } from 'zod';
import { isIdentifier } from './identifiers';

/**
 * Structural schema of a shard map draft, for every entry point that accepts one
 * (deployment config, CLI files, the catalog bootstrap). Semantic checks (gaps, overlaps,
 * unknown shards) live in the core's validateShardMap.
 */
const shardNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'shard names use letters, digits, _ and - (at most 64)');

const hostSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.:_-]+$/, 'host must be a hostname or IP address');

export const shardNodeSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'node ids use letters, digits, _ . and - (at most 128)'),
  role: z.enum(['primary', 'replica']),
  host: hostSchema,
  port: z.number().int().min(1).max(65535).default(3306),
  secretRef: z.string().min(1).max(2048).optional(),
});

export const shardSchema = z.strictObject({
  name: shardNameSchema,
  database: z.string().refine(isIdentifier, 'database must be a valid MySQL identifier'),
  status: z.enum(['serving', 'draining', 'readonly']).default('serving'),
  kind: z.enum(['self-managed', 'aurora', 'rds']).default('self-managed'),
  nodes: z.array(shardNodeSchema).default([]),
});

export const strategySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('keyspace') }),
  z.strictObject({ kind: z.literal('modulo') }),
  z.strictObject({ kind: z.literal('range'), upperBounds: z.array(z.string().regex(/^(0|[1-9][0-9]{0,19})$/)) }),
  z.strictObject({ kind: z.literal('ring'), virtualNodes: z.number().int().min(1).max(10_000).default(150) }),
  z.strictObject({ kind: z.literal('jump') }),
]);

export const keyOverrideSchema = z.strictObject({
  key: z.string().min(1).max(255),
  shard: shardNameSchema,
  moving: z.boolean().default(false),
});

export const shardMapDraftSchema = z.strictObject({
  keyType: z.enum(['uint64', 'string']).default('uint64'),
  strategy: strategySchema.default({ kind: 'keyspace' }),
  shards: z.array(shardSchema).min(1).max(4096),
  overrides: z.array(keyOverrideSchema).default([]),
});

export type ShardMapDraftInput = z.input<typeof shardMapDraftSchema>;
