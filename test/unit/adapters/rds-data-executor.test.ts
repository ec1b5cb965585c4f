import {
  BadRequestException,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createRdsDataExecutor } from '../../../functions/adapters/rds-data-executor';
import { AppError, CatalogUnavailableError } from '../../../functions/shared/errors';

const target = {
  resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:catalog',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog',
  database: 'shardkeeper',
};

const rds = mockClient(RDSDataClient);
const executor = () => createRdsDataExecutor({ client: new RDSDataClient({ region: 'eu-west-1' }), ...target, resumeRetry: { maxAttempts: 3, baseDelayMs: 1 } });
const resuming = () => new DatabaseResumingException({ message: 'The database is resuming', $metadata: {} });

describe('RDS Data API executor', () => {
  beforeEach(() => {
    rds.reset();
  });

  it('binds each parameter by its type, keeping BIGINT decimal strings as strings', async () => {
    rds.on(ExecuteStatementCommand).resolves({ numberOfRecordsUpdated: 1 });
    await executor().execute('INSERT INTO t VALUES (:key, :count, :ratio, :moving, :note)', {
      key: '18446744073709551615',
      count: 9007199254740991,
      ratio: 0.25,
      moving: false,
      note: null,
    });
    expect(rds).toHaveReceivedCommandWith(ExecuteStatementCommand, {
      ...target,
      sql: 'INSERT INTO t VALUES (:key, :count, :ratio, :moving, :note)',
      includeResultMetadata: true,
      parameters: [
        { name: 'key', value: { stringValue: '18446744073709551615' } },
        { name: 'count', value: { longValue: 9007199254740991 } },
        { name: 'ratio', value: { doubleValue: 0.25 } },
        { name: 'moving', value: { booleanValue: false } },
        { name: 'note', value: { isNull: true } },
      ],
    });
  });

  it('refuses a number that is an integer beyond 2^53, which has already lost precision', async () => {
    rds.on(ExecuteStatementCommand).resolves({});
    await expect(executor().query('SELECT :big', { big: 18446744073709551615 })).rejects.toThrow(AppError);
    expect(rds).not.toHaveReceivedCommand(ExecuteStatementCommand);
  });

  it('decodes records into row objects keyed by column label', async () => {
    rds.on(ExecuteStatementCommand).resolves({
      columnMetadata: [{ name: 'override_key', label: 'key_text' }, { name: 'version' }, { name: 'ratio' }, { name: 'moving' }, { name: 'secret_ref' }, { name: 'raw' }, { name: 'tags' }],
      records: [
        [
          { stringValue: '18446744073709551615' },
          { longValue: 7 },
          { doubleValue: 1.5 },
          { booleanValue: true },
          { isNull: true },
          { blobValue: new Uint8Array([1, 2]) },
          { arrayValue: { arrayValues: [{ stringValues: ['a', 'b'] }, { longValues: [1, null] }] } },
        ],
        [{ stringValue: '🐉' }, { longValue: 8 }, { doubleValue: 0 }, { booleanValue: false }, { stringValue: 'arn:secret' }, { isNull: true }, { isNull: true }],
      ],
    });
    await expect(executor().query('SELECT ...')).resolves.toEqual([
      { key_text: '18446744073709551615', version: 7, ratio: 1.5, moving: true, secret_ref: null, raw: new Uint8Array([1, 2]), tags: [['a', 'b'], [1, null]] },
      { key_text: '🐉', version: 8, ratio: 0, moving: false, secret_ref: 'arn:secret', raw: null, tags: null },
    ]);
  });

  it('returns no rows for a statement without records', async () => {
    rds.on(ExecuteStatementCommand).resolves({ numberOfRecordsUpdated: 3 });
    await expect(executor().query('DELETE FROM t')).resolves.toEqual([]);
    await expect(executor().execute('DELETE FROM t')).resolves.toEqual({ affectedRows: 3 });
  });

  it('runs transaction work with the transaction id on every statement, then commits', async () => {
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    rds.on(ExecuteStatementCommand).resolves({ numberOfRecordsUpdated: 1 });
    rds.on(CommitTransactionCommand).resolves({ transactionStatus: 'Transaction Committed' });

    const result = await executor().transaction(async (tx) => {
      await tx.execute('UPDATE a SET x = 1');
      await tx.transaction((inner) => inner.execute('UPDATE b SET y = 2'));
      return 'done';
    });

    expect(result).toBe('done');
    expect(rds).toHaveReceivedCommandExactlyOnceWith(BeginTransactionCommand, target);
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 2);
    expect(rds).toHaveReceivedNthCommandWith(ExecuteStatementCommand, 1, { sql: 'UPDATE a SET x = 1', transactionId: 'tx-1' });
    expect(rds).toHaveReceivedNthCommandWith(ExecuteStatementCommand, 2, { sql: 'UPDATE b SET y = 2', transactionId: 'tx-1' });
    expect(rds).toHaveReceivedCommandExactlyOnceWith(CommitTransactionCommand, { resourceArn: target.resourceArn, secretArn: target.secretArn, transactionId: 'tx-1' });
    expect(rds).not.toHaveReceivedCommand(RollbackTransactionCommand);
  });

  it('rolls back and rethrows when the transaction work throws', async () => {
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-2' });
    rds.on(ExecuteStatementCommand).rejects(new BadRequestException({ message: "Duplicate entry '-40-a' for key 'PRIMARY'", $metadata: {} }));
    rds.on(RollbackTransactionCommand).resolves({ transactionStatus: 'Rollback Complete' });

    await expect(executor().transaction((tx) => tx.execute('INSERT INTO nodes VALUES (:id)', { id: '-40-a' }))).rejects.toThrow(/Duplicate entry/);
    expect(rds).toHaveReceivedCommandExactlyOnceWith(RollbackTransactionCommand, { transactionId: 'tx-2' });
    expect(rds).not.toHaveReceivedCommand(CommitTransactionCommand);
  });

  it('retries while Aurora Serverless resumes, then succeeds', async () => {
    rds.on(ExecuteStatementCommand).rejectsOnce(resuming()).rejectsOnce(resuming()).resolves({ columnMetadata: [{ name: 'version' }], records: [[{ longValue: 4 }]] });
    await expect(executor().query('SELECT version FROM sk_shard_map_state')).resolves.toEqual([{ version: 4 }]);
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 3);
  });

  it('retries a transaction begin while the database resumes', async () => {
    rds.on(BeginTransactionCommand).rejectsOnce(resuming()).resolves({ transactionId: 'tx-3' });
    rds.on(ExecuteStatementCommand).resolves({});
    rds.on(CommitTransactionCommand).resolves({});
    await executor().transaction((tx) => tx.execute('UPDATE a SET x = 1'));
    expect(rds).toHaveReceivedCommandTimes(BeginTransactionCommand, 2);
    expect(rds).toHaveReceivedCommandWith(ExecuteStatementCommand, { transactionId: 'tx-3' });
  });

  it('gives up after the bounded resume retries with CatalogUnavailableError', async () => {
    rds.on(ExecuteStatementCommand).rejects(resuming());
    await expect(executor().query('SELECT 1')).rejects.toBeInstanceOf(CatalogUnavailableError);
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 3);
  });

  it('does not retry any other error', async () => {
    rds.on(ExecuteStatementCommand).rejects(new BadRequestException({ message: 'You have an error in your SQL syntax', $metadata: {} }));
    await expect(executor().query('SELEC 1')).rejects.toBeInstanceOf(BadRequestException);
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 1);
  });
});
