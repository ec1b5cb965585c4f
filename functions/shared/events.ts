import * as z from 'zod/mini';
import './zod-messages';
import type { $ZodType, output } from 'zod/v4/core';
import { NODE_STATES, SHARD_VERDICTS, type ShardFindingCode } from '../core/health';
import type { AppEvent } from '../ports/event-publisher';
import { ValidationError } from './errors';

/**
 * The event contracts of the Shardkeeper bus, declared once: publishers build events from them,
 * CDK builds rule patterns from them, consumers parse details with them. A breaking change to a
 * detail bumps EVENT_SCHEMA_VERSION; adding an optional field does not.
 */

export const EVENT_SOURCES = { health: 'shardkeeper.health', recovery: 'shardkeeper.recovery', backup: 'shardkeeper.backup', archive: 'shardkeeper.archive' } as const;
export type EventSource = (typeof EVENT_SOURCES)[keyof typeof EVENT_SOURCES];

export const EVENT_SCHEMA_VERSION = 1;

export interface EventContract<T extends string = string, S extends $ZodType = $ZodType> {
  source: EventSource;
  detailType: T;
  description: string;
  detail: S;
}

export type DetailOf<C extends EventContract> = output<C['detail']>;

const text = z.string().check(z.minLength(1));
const nodeId = text;

/** Every detail carries these: the shard, its verdict when the event was raised, when, why, and the map version it was judged against. */
const common = {
  schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
  shard: text,
  verdict: z.enum(SHARD_VERDICTS),
  observedAt: z.iso.datetime(),
  reason: z.string(),
  mapVersion: z.number().check(z.int(), z.nonnegative()),
};

const nodeFields = {
  node: nodeId,
  role: z.enum(['primary', 'replica']),
  /** host:port as the shard map lists it. */
  endpoint: text,
  state: z.enum(NODE_STATES),
};

/** A shard finding: its code and the nodes it is about. */
const findingFields = <const C extends readonly [ShardFindingCode, ...ShardFindingCode[]]>(codes: C) => ({
  finding: z.enum(codes),
  nodes: z.array(nodeId),
});

const recoveryCommon = {
  ...common,
  /** One recovery's id, shared by all its events and audit rows; also the approval id. */
  recoveryId: text,
};

function contract<T extends string, S extends $ZodType>(source: EventSource, detailType: T, description: string, detail: S): EventContract<T, S> {
  return { source, detailType, description, detail };
}

const health = EVENT_SOURCES.health;
const recovery = EVENT_SOURCES.recovery;

export const ShardNodeDown = contract(health, 'ShardNodeDown', 'a node failed enough consecutive probes to be DOWN', z.object({ ...common, ...nodeFields }));

export const ShardNodeRecovered = contract(
  health,
  'ShardNodeRecovered',
  'a DOWN node answered enough consecutive probes to be ONLINE again',
  z.object({ ...common, ...nodeFields, restarted: z.boolean() }),
);

export const ShardPrimaryDown = contract(
  health,
  'ShardPrimaryDown',
  'the primary is DOWN and every reachable replica lost it too: failover',
  z.object({ ...common, ...findingFields(['PRIMARY_DOWN']), node: nodeId, endpoint: text, confirmedBy: z.array(nodeId) }),
);

export const ShardPrimaryUnreachable = contract(
  health,
  'ShardPrimaryUnreachable',
  'the monitor cannot reach the primary but replicas still replicate from it (or none could be asked): alert, no failover',
  z.object({ ...common, ...findingFields(['PRIMARY_UNREACHABLE']), node: nodeId, endpoint: text }),
);

export const ShardDegraded = contract(
  health,
  'ShardDegraded',
  'replicas unfit to serve reads (down, stopped, lagging) or writable',
  z.object({ ...common, ...findingFields(['DEGRADED', 'REPLICATION_STOPPED', 'REPLICA_WRITABLE']) }),
);

export const ShardHealthy = contract(health, 'ShardHealthy', 'a shard with findings has none left', z.object({ ...common }));

export const ReplicationLagHigh = contract(
  health,
  'ReplicationLagHigh',
  'replica lag above the limit',
  z.object({ ...common, ...findingFields(['LAG_HIGH']), maxLagSeconds: z.number() }),
);

export const QuorumLost = contract(
  health,
  'QuorumLost',
  'fewer than a majority of the shard nodes are reachable: manual runbook',
  z.object({ ...common, ...findingFields(['QUORUM_LOST']), reachable: z.number().check(z.int()), total: z.number().check(z.int()) }),
);

export const SplitBrainSuspected = contract(
  health,
  'SplitBrainSuspected',
  'two or more writable nodes that do not replicate from one another: manual runbook',
  z.object({ ...common, ...findingFields(['SPLIT_BRAIN']) }),
);

export const LoadHigh = contract(
  health,
  'LoadHigh',
  'Threads_running, connections or buffer pool usage above the limit',
  z.object({ ...common, ...findingFields(['LOAD_HIGH']) }),
);

export const ShardFailoverStarted = contract(
  recovery,
  'ShardFailoverStarted',
  'a failover of the shard began',
  z.object({ ...recoveryCommon, node: nodeId }),
);

export const ShardFailoverCompleted = contract(
  recovery,
  'ShardFailoverCompleted',
  'a replica was promoted and the shard map points at it',
  z.object({ ...recoveryCommon, node: nodeId, newPrimary: nodeId, durationMs: z.optional(z.number()) }),
);

export const ShardFailoverFailed = contract(
  recovery,
  'ShardFailoverFailed',
  'a failover stopped with an error; the shard needs an operator',
  z.object({ ...recoveryCommon, node: nodeId, error: text, step: z.optional(text) }),
);

export const ShardFailoverBlocked = contract(
  recovery,
  'ShardFailoverBlocked',
  'a failover was not attempted: recovery disabled, anti-flap window, another recovery running, no candidate',
  z.object({ ...recoveryCommon, node: nodeId, blockedBy: text }),
);

export const ShardReplicaRemoved = contract(
  recovery,
  'ShardReplicaRemoved',
  'a replica was taken out of the shard map readers',
  z.object({ ...recoveryCommon, node: nodeId }),
);

export const ShardReplicaRestored = contract(
  recovery,
  'ShardReplicaRestored',
  'a recovered replica was put back among the shard map readers',
  z.object({ ...recoveryCommon, node: nodeId }),
);

export const RecoveryApprovalRequested = contract(
  recovery,
  'RecoveryApprovalRequested',
  'a manual runbook waits for an operator: shardkeeper recovery approve|reject <recoveryId>',
  // Reported corruption comes with no health verdict; every other runbook's request carries its trigger's.
  z.object({ ...recoveryCommon, verdict: z.optional(common.verdict), runbook: text, nodes: z.optional(z.array(nodeId)) }),
);

/** No detector finds corruption: an operator or an application's own checker reports it (`shardkeeper recovery report-corruption`). */
export const DataCorruptionReported = contract(
  recovery,
  'DataCorruptionReported',
  'someone reported corrupted data on a shard: manual runbook (isolate, point-in-time restore, verify, replay)',
  z.object({
    schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
    shard: text,
    /** The affected tables; empty when the reporter does not know which. */
    tables: z.array(text),
    reportedBy: text,
    note: z.string(),
    observedAt: z.iso.datetime(),
  }),
);

export const healthEventContracts = [
  ShardNodeDown,
  ShardNodeRecovered,
  ShardPrimaryDown,
  ShardPrimaryUnreachable,
  ShardDegraded,
  ShardHealthy,
  ReplicationLagHigh,
  QuorumLost,
  SplitBrainSuspected,
  LoadHigh,
] as const;

export const recoveryEventContracts = [
  ShardFailoverStarted,
  ShardFailoverCompleted,
  ShardFailoverFailed,
  ShardFailoverBlocked,
  ShardReplicaRemoved,
  ShardReplicaRestored,
  RecoveryApprovalRequested,
  DataCorruptionReported,
] as const;

const backup = EVENT_SOURCES.backup;

/** Every backup event names the run (epoch), the backup, its shard and kind, and the map version the run started from. */
const backupCommon = {
  schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
  epochId: text,
  backupId: text,
  shard: text,
  kind: z.enum(['logical', 'snapshot', 'binlog', 'pitr-window']),
  observedAt: z.iso.datetime(),
  mapVersion: z.number().check(z.int(), z.nonnegative()),
};

export const BackupStarted = contract(
  backup,
  'BackupStarted',
  'a shard backup began (a dump, a snapshot or a binary log archive)',
  z.object({ ...backupCommon, sourceNode: z.nullable(text), mode: z.nullable(text) }),
);

export const BackupSucceeded = contract(
  backup,
  'BackupSucceeded',
  'a shard backup finished and every object it wrote was checked',
  z.object({
    ...backupCommon,
    retentionClass: z.enum(['daily', 'weekly', 'monthly']),
    bytes: z.number().check(z.nonnegative()),
    rows: z.number().check(z.nonnegative()),
    objects: z.number().check(z.int(), z.nonnegative()),
    durationMs: z.number().check(z.nonnegative()),
    position: z.nullable(z.object({ file: text, position: z.number(), gtid: z.nullable(z.string()) })),
  }),
);

export const BackupFailed = contract(
  backup,
  'BackupFailed',
  'a shard backup stopped with an error or its objects did not check out; it is not restorable',
  z.object({ ...backupCommon, error: text }),
);

export const BackupVerified = contract(
  backup,
  'BackupVerified',
  'a restore test loaded the backup into a scratch database and every table matched its manifest',
  z.object({ ...backupCommon, restoreSeconds: z.number().check(z.nonnegative()), tables: z.number().check(z.int()), rows: z.number().check(z.nonnegative()) }),
);

export const BackupVerificationFailed = contract(
  backup,
  'BackupVerificationFailed',
  'a verification found a missing, truncated or altered object, or restored data that differs from the manifest',
  z.object({ ...backupCommon, check: z.enum(['objects', 'restore']), problems: z.array(z.string()) }),
);

export const backupEventContracts = [BackupStarted, BackupSucceeded, BackupFailed, BackupVerified, BackupVerificationFailed] as const;

const archive = EVENT_SOURCES.archive;

/** Every archive event names the table, the shard, the run and its cutoff; counts are the run's totals so far. */
const archiveCommon = {
  schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
  table: text,
  shard: text,
  runId: text,
  /** Rows strictly older than this leave the shard. */
  cutoff: z.iso.datetime(),
  observedAt: z.iso.datetime(),
};

const archiveCounts = {
  rows: z.number().check(z.int(), z.nonnegative()),
  batches: z.number().check(z.int(), z.nonnegative()),
  bytes: z.number().check(z.nonnegative()),
};

export const ArchiveStarted = contract(
  archive,
  'ArchiveStarted',
  'an archive run of a table began on a shard',
  z.object({ ...archiveCommon, layout: z.enum(['rows', 'partitioned', 'daily-tables']) }),
);

export const ArchiveCompleted = contract(
  archive,
  'ArchiveCompleted',
  'every row of the table older than the cutoff is in a verified S3 object and gone from the shard',
  z.object({ ...archiveCommon, ...archiveCounts, durationMs: z.number().check(z.nonnegative()) }),
);

export const ArchiveFailed = contract(
  archive,
  'ArchiveFailed',
  'an archive run stopped with an error; rows archived so far stay archived, the rest stay on the shard',
  z.object({ ...archiveCommon, ...archiveCounts, error: text, errorCode: text, reason: text }),
);

export const archiveEventContracts = [ArchiveStarted, ArchiveCompleted, ArchiveFailed] as const;

export const eventContracts: readonly EventContract[] = [...healthEventContracts, ...recoveryEventContracts, ...backupEventContracts, ...archiveEventContracts];

/** Validates `detail` against the contract and wraps it as an event for an EventPublisher. */
export function buildEvent<C extends EventContract>(contract: C, detail: DetailOf<C>): AppEvent<DetailOf<C>> {
  return { source: contract.source, detailType: contract.detailType, detail: parseEventDetail(contract, detail) };
}

/** A consumer's view of an incoming detail; throws ValidationError naming every problem. */
export function parseEventDetail<C extends EventContract>(contract: C, detail: unknown): DetailOf<C> {
  const result = z.safeParse(contract.detail, detail);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(detail)'}: ${issue.message}`);
    throw new ValidationError(`invalid ${contract.detailType} detail: ${problems.join('; ')}`, { details: { problems } });
  }
  return result.data as DetailOf<C>;
}

/** The contract for an incoming event's detail-type, or undefined when it is not one of ours. */
export function contractFor(detailType: string): EventContract | undefined {
  return eventContracts.find((candidate) => candidate.detailType === detailType);
}

/** The EventBridge pattern matching exactly these contracts, as it appears in a rule's JSON. */
export function eventPattern(...contracts: readonly EventContract[]): { source: string[]; 'detail-type': string[] } {
  const { source, detailType } = ruleEventPattern(...contracts);
  return { source, 'detail-type': detailType };
}

/** The same pattern in the shape of aws-cdk-lib's `events.EventPattern`. */
export function ruleEventPattern(...contracts: readonly EventContract[]): { source: string[]; detailType: string[] } {
  if (contracts.length === 0) throw new ValidationError('an event pattern needs at least one contract');
  return {
    source: [...new Set(contracts.map((contract) => contract.source))],
    detailType: [...new Set(contracts.map((contract) => contract.detailType))],
  };
}
