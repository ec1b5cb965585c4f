import { BeginTransactionCommand, CommitTransactionCommand, ExecuteStatementCommand, RDSDataClient, type ExecuteStatementCommandInput } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { v2Event } from './api-gateway-events';

const rds = mockClient(RDSDataClient);
const CLUSTER_ARN = 'arn:aws:rds:eu-west-1:111122223333:cluster:catalog';
const lambdaEnv = {
  CATALOG_CLUSTER_ARN: CLUSTER_ARN,
  CATALOG_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:catalog',
  CATALOG_DATABASE: 'shardkeeper',
  MAP_REVALIDATE_MS: '1000',
  AWS_REGION: 'eu-west-1',
};

/** The catalog as the Data API returns it: a 2-shard keyspace map at version 4. */
function aurora(input: ExecuteStatementCommandInput) {
  const sql = input.sql ?? '';
  const col = (name: string) => ({ name, label: name });
  if (sql.startsWith('SELECT version, key_type')) {
    return {
      columnMetadata: ['version', 'key_type', 'strategy', 'updated_at'].map(col),
      records: [[{ longValue: 4 }, { stringValue: 'uint64' }, { stringValue: '{"kind":"keyspace"}' }, { stringValue: '2026-11-25 10:00:00.000' }]],
    };
  }
  if (sql.startsWith('SELECT version FROM')) return { columnMetadata: [col('version')], records: [[{ longValue: 4 }]] };
  if (sql.startsWith('SELECT name, database_name')) {
    return {
      columnMetadata: ['name', 'database_name', 'status', 'kind'].map(col),
      records: ['-80', '80-'].map((name) => [{ stringValue: name }, { stringValue: 'game' }, { stringValue: 'serving' }, { stringValue: 'aurora' }]),
    };
  }
  if (sql.startsWith('SELECT node_id')) {
    return {
      columnMetadata: ['node_id', 'shard_name', 'role', 'host', 'port', 'secret_ref'].map(col),
      records: ['-80', '80-'].map((shard) => [{ stringValue: `${shard}-w` }, { stringValue: shard }, { stringValue: 'primary' }, { stringValue: `writer${shard}.internal` }, { longValue: 3306 }, { isNull: true }]),
    };
  }
  return { columnMetadata: [], records: [] };
}

describe('lookup Lambda handler', () => {
  beforeEach(() => {
    vi.resetModules();
    rds.reset();
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx' });
    rds.on(CommitTransactionCommand).resolves({});
    rds.on(ExecuteStatementCommand).callsFake(aurora);
  });
  afterEach(() => vi.unstubAllEnvs());

  it('routes through the Data API catalog named by its environment', async () => {
    for (const [name, value] of Object.entries(lambdaEnv)) vi.stubEnv(name, value);
    const { handler } = await import('../../../functions/lookup/handler');
    const result = await handler(v2Event({ method: 'GET', path: '/v1/route/18446744073709551615', headers: {}, body: undefined }));
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body);
    expect(body).toMatchObject({ key: '18446744073709551615', mapVersion: 4, database: 'game', stale: false });
    expect(body.writer.host).toBe(`writer${body.shard}.internal`);
    expect(rds).toHaveReceivedCommandWith(ExecuteStatementCommand, { resourceArn: CLUSTER_ARN, database: 'shardkeeper' });
  });

  it('refuses to start with an environment that names no catalog', async () => {
    for (const [name, value] of Object.entries({ ...lambdaEnv, CATALOG_CLUSTER_ARN: 'catalog' })) vi.stubEnv(name, value);
    await expect(import('../../../functions/lookup/handler')).rejects.toThrow(/invalid function environment: CATALOG_CLUSTER_ARN: must be an ARN/);
  });
});
