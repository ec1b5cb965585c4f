import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
  type ExecuteStatementCommandInput,
  type ExecuteStatementCommandOutput,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createRdsDataExecutor } from '../../../functions/adapters/rds-data-executor';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import type { ShardMapDraft } from '../../../functions/core/shard-map-types';
import { StaleMapVersionError } from '../../../functions/shared/errors';

const rds = mockClient(RDSDataClient);
const catalog = () =>
  new SqlCatalog(
    createRdsDataExecutor({
      client: new RDSDataClient({ region: 'eu-west-1' }),
      resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:catalog',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog',
      database: 'shardkeeper',
    }),
    { now: () => Date.parse('2025-06-01T12:00:00.000Z') },
  );

const draft: ShardMapDraft = {
  keyType: 'uint64',
  strategy: { kind: 'keyspace' },
  shards: [
    { name: '-80', database: 'game', status: 'serving', kind: 'aurora', nodes: [{ id: '-80-a', role: 'primary', host: 'a.internal', port: 3306 }] },
    { name: '80-', database: 'game', status: 'serving', kind: 'aurora', nodes: [{ id: '80-a', role: 'primary', host: 'b.internal', port: 3306 }] },
  ],
  overrides: [{ key: '18446744073709551615', shard: '-80', moving: false }],
};

/** Answers each statement the way Aurora would, by what the SQL asks for. */
function catalogAt(version: number, bumped: number) {
  return (input: ExecuteStatementCommandInput): Partial<ExecuteStatementCommandOutput> => {
    const sql = input.sql ?? '';
    if (sql.startsWith('UPDATE sk_shard_map_state')) return { numberOfRecordsUpdated: bumped };
    if (sql.startsWith('SELECT version FROM sk_shard_map_state')) return { columnMetadata: [{ name: 'version' }], records: [[{ longValue: version }]] };
    if (sql.startsWith('SELECT CONVERT(override_key')) return { columnMetadata: [{ label: 'key_text' }, { name: 'shard_name' }, { name: 'moving' }], records: [] };
    return { numberOfRecordsUpdated: 1 };
  };
}

describe('SqlCatalog over the Data API executor', () => {
  beforeEach(() => {
    rds.reset();
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-commit' });
    rds.on(CommitTransactionCommand).resolves({});
    rds.on(RollbackTransactionCommand).resolves({});
  });

  it('throws StaleMapVersionError with the catalog version, rolls back and writes nothing', async () => {
    rds.on(ExecuteStatementCommand).callsFake(catalogAt(3, 0));

    const commit = catalog().commitShardMap(draft, 1, 'split -80');
    await expect(commit).rejects.toBeInstanceOf(StaleMapVersionError);
    await expect(commit).rejects.toMatchObject({ expected: 1, actual: 3 });

    const statements = rds.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input.sql ?? '');
    expect(statements.every((sql) => /^(UPDATE sk_shard_map_state|SELECT version)/.test(sql))).toBe(true);
    expect(rds).toHaveReceivedCommandWith(ExecuteStatementCommand, {
      transactionId: 'tx-commit',
      parameters: expect.arrayContaining([{ name: 'expectedVersion', value: { longValue: 1 } }]),
    });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(RollbackTransactionCommand, { transactionId: 'tx-commit' });
    expect(rds).not.toHaveReceivedCommand(CommitTransactionCommand);
  });

  it('commits a map through the same SQL, every statement inside the transaction', async () => {
    rds.on(ExecuteStatementCommand).callsFake(catalogAt(1, 1));

    await expect(catalog().commitShardMap(draft, 1, 'split -80')).resolves.toMatchObject({ version: 2, updatedAt: '2025-06-01T12:00:00.000Z' });

    const inputs = rds.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);
    expect(inputs.every((input) => input.transactionId === 'tx-commit')).toBe(true);
    expect(inputs.map((input) => (input.sql ?? '').split(/[\s(]+/).slice(0, 3).join(' '))).toEqual([
      'UPDATE sk_shard_map_state SET',
      'DELETE FROM sk_shards',
      'INSERT INTO sk_shards',
      'INSERT INTO sk_shard_nodes',
      'SELECT CONVERT override_key',
      'INSERT INTO sk_key_overrides',
      'INSERT INTO sk_shard_map_versions',
    ]);
    const overrideInsert = inputs.find((input) => input.sql?.startsWith('INSERT INTO sk_key_overrides'));
    expect(overrideInsert?.parameters).toContainEqual({ name: 'r0c0', value: { stringValue: '18446744073709551615' } });
    expect(rds).toHaveReceivedCommandOnce(CommitTransactionCommand);
  });

  it('reads the map version with one statement outside any transaction', async () => {
    rds.on(ExecuteStatementCommand).callsFake(catalogAt(5, 0));
    await expect(catalog().mapVersion()).resolves.toBe(5);
    expect(rds).toHaveReceivedCommandOnce(ExecuteStatementCommand);
    expect(rds).not.toHaveReceivedCommand(BeginTransactionCommand);
  });
});
