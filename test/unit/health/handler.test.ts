import { createServer } from 'node:net';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { BeginTransactionCommand, CommitTransactionCommand, ExecuteStatementCommand, RDSDataClient, type ExecuteStatementCommandInput } from '@aws-sdk/client-rds-data';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { monitorDeadline } from '../../../functions/health/schedule';

const rds = mockClient(RDSDataClient);
const eventBridge = mockClient(EventBridgeClient);
const secrets = mockClient(SecretsManagerClient);
const NODE_SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shard-node';

/** A TCP port nothing listens on, so probes fail at once with ECONNREFUSED. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const col = (name: string) => ({ name, label: name });
const text = (value: string) => ({ stringValue: value });
const param = (input: ExecuteStatementCommandInput, name: string) => input.parameters?.find((p) => p.name === name)?.value?.stringValue;

/** The catalog as the Data API returns it: one shard with a lone primary, health tables empty, one lease row. */
function catalog(port: number) {
  let lease: { owner: string; expiresAt: string } | undefined;
  return (input: ExecuteStatementCommandInput) => {
    const sql = (input.sql ?? '').replace(/\s+/g, ' ').trim();
    if (sql.startsWith('INSERT INTO sk_monitor_leases')) {
      lease ??= { owner: param(input, 'owner')!, expiresAt: param(input, 'expiresAt')! };
      if (lease.owner === param(input, 'owner')) lease.expiresAt = param(input, 'expiresAt')!;
      return { numberOfRecordsUpdated: 1 };
    }
    if (sql.startsWith('SELECT owner, expires_at FROM sk_monitor_leases')) {
      return { columnMetadata: [col('owner'), col('expires_at')], records: lease ? [[text(lease.owner), text(lease.expiresAt)]] : [] };
    }
    if (sql.startsWith('SELECT version FROM sk_shard_map_state')) return { columnMetadata: [col('version')], records: [[{ longValue: 4 }]] };
    if (sql.startsWith('SELECT version, key_type')) {
      return {
        columnMetadata: ['version', 'key_type', 'strategy', 'updated_at'].map(col),
        records: [[{ longValue: 4 }, text('uint64'), text('{"kind":"keyspace"}'), text('2026-11-25 10:00:00.000')]],
      };
    }
    if (sql.startsWith('SELECT name, database_name')) {
      return { columnMetadata: ['name', 'database_name', 'status', 'kind'].map(col), records: [[text('-'), text('game'), text('serving'), text('self-managed')]] };
    }
    if (sql.startsWith('SELECT node_id')) {
      return {
        columnMetadata: ['node_id', 'shard_name', 'role', 'host', 'port', 'secret_ref'].map(col),
        records: [[text('solo'), text('-'), text('primary'), text('127.0.0.1'), { longValue: port }, text(NODE_SECRET)]],
      };
    }
    return { columnMetadata: [], records: [], numberOfRecordsUpdated: 1 };
  };
}

function context(remainingMs: number): Context {
  return { awsRequestId: 'request-1', getRemainingTimeInMillis: () => remainingMs } as unknown as Context;
}

describe('health monitor Lambda handler', () => {
  beforeEach(() => {
    vi.resetModules();
    for (const client of [rds, eventBridge, secrets]) client.reset();
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx' });
    rds.on(CommitTransactionCommand).resolves({});
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'monitor', password: 'secret' }) });
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({ FailedEntryCount: 0, Entries: input.Entries.map(() => ({ EventId: 'id' })) }));
  });
  afterEach(() => vi.unstubAllEnvs());

  it('probes the catalog fleet under a lease until just after the next invocation is due, publishing transitions to the bus', async () => {
    const port = await closedPort();
    rds.on(ExecuteStatementCommand).callsFake(catalog(port));
    const env = {
      CATALOG_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:111122223333:cluster:catalog',
      CATALOG_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:catalog',
      CATALOG_DATABASE: 'shardkeeper',
      EVENT_BUS_NAME: 'shardkeeper-bus',
      PROBE_INTERVAL_MS: '200',
      CONNECT_TIMEOUT_MS: '300',
      QUERY_TIMEOUT_MS: '300',
      HANDOVER_MS: '0',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    const { handler } = await import('../../../functions/health/handler');

    // Scheduled 58.5 s ago: the next invocation is due in 1.5 s.
    const started = Date.now();
    const event = { time: new Date(started - 58_500).toISOString() } as ScheduledEvent;
    const summary = await handler(event, context(60_000));

    const ranMs = Date.now() - started;
    expect(ranMs).toBeGreaterThan(1_000);
    expect(ranMs).toBeLessThan(4_000);
    expect(summary).toMatchObject({ acquired: true, failedTicks: 0, stoppedBecause: 'until' });
    expect(summary.ticks).toBeGreaterThanOrEqual(5);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: NODE_SECRET });
    const published = eventBridge.commandCalls(PutEventsCommand).flatMap((call) => call.args[0].input.Entries ?? []);
    expect(published.map((entry) => [entry.EventBusName, entry.Source, entry.DetailType])).toEqual([
      ['shardkeeper-bus', 'shardkeeper.health', 'ShardNodeDown'],
      ['shardkeeper-bus', 'shardkeeper.health', 'QuorumLost'],
    ]);
    const statements = rds.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input.sql ?? '');
    expect(statements.some((sql) => sql.startsWith('INSERT INTO sk_node_health'))).toBe(true);
    // The primaries failovers removed are looked up once per map version, to catch one that answers writable again.
    expect(statements.filter((sql) => /^SELECT shard_name, node, reason, recovery_id, removed_at FROM sk_recovery_removed_nodes/.test(sql.replace(/\s+/g, ' '))).length).toBe(1);
    expect(statements.at(-1)).toMatch(/^UPDATE sk_monitor_leases SET expires_at/);
  });
});

describe('monitor deadline', () => {
  const base = { now: 1_000_000, periodMs: 60_000, handoverMs: 5_000, reserveMs: 9_000 };

  it('runs until just after the next scheduled start', () => {
    expect(monitorDeadline({ ...base, scheduledAt: 1_000_000 - 200, remainingMs: 90_000 })).toBe(1_000_000 - 200 + 65_000);
  });

  it('stops in time to finish within the Lambda timeout', () => {
    expect(monitorDeadline({ ...base, scheduledAt: 1_000_000, remainingMs: 60_000 })).toBe(1_000_000 + 51_000);
  });

  it('falls back to now when the event carries no usable time', () => {
    expect(monitorDeadline({ ...base, scheduledAt: Number.NaN, remainingMs: 900_000 })).toBe(1_000_000 + 65_000);
  });
});
