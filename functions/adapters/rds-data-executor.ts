import { setTimeout as sleep } from 'node:timers/promises';
import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RollbackTransactionCommand,
  type ArrayValue,
  type ColumnMetadata,
  type ExecuteStatementCommandOutput,
  type Field,
  type RDSDataClient,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import type { SqlExecutor, SqlParams, SqlRow, SqlValue } from '../ports/sql';
import { AppError, CatalogUnavailableError } from '../shared/errors';

export interface ResumeRetry {
  /** Total tries while Aurora Serverless resumes from zero capacity. */
  maxAttempts: number;
  /** First pause; doubles per retry (1s, 2s, 4s, 8s covers a typical ~15s resume). */
  baseDelayMs: number;
}

export interface RdsDataExecutorOptions {
  client: RDSDataClient;
  resourceArn: string;
  secretArn: string;
  database: string;
  resumeRetry?: ResumeRetry;
}

const DEFAULT_RESUME_RETRY: ResumeRetry = { maxAttempts: 5, baseDelayMs: 1_000 };

/** The SqlExecutor over the RDS Data API; rows are decoded by column metadata into plain objects. */
export function createRdsDataExecutor(options: RdsDataExecutorOptions): SqlExecutor {
  const { client, resourceArn, secretArn, database } = options;
  const retry = options.resumeRetry ?? DEFAULT_RESUME_RETRY;
  const send = <T>(call: () => Promise<T>) => retryWhileResuming(call, retry);

  const over = (transactionId: string | undefined): SqlExecutor => {
    const run = (sql: string, params: SqlParams = {}) =>
      send(() =>
        client.send(
          new ExecuteStatementCommand({
            resourceArn,
            secretArn,
            database,
            sql,
            parameters: encodeParameters(params),
            includeResultMetadata: true,
            transactionId,
          }),
        ),
      );
    return {
      query: async (sql, params) => decodeRows(await run(sql, params)),
      execute: async (sql, params) => ({ affectedRows: (await run(sql, params)).numberOfRecordsUpdated ?? 0 }),
      async transaction(work) {
        // Nested calls join the open transaction.
        if (transactionId !== undefined) return work(this);
        const begun = await send(() => client.send(new BeginTransactionCommand({ resourceArn, secretArn, database })));
        const id = begun.transactionId;
        if (id === undefined) throw new CatalogUnavailableError('Data API began a transaction without returning its id');
        try {
          const result = await work(over(id));
          await send(() => client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId: id })));
          return result;
        } catch (error) {
          // The work's error is the one to report; a transaction the Data API cannot roll back expires on its own.
          await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId: id })).catch(() => undefined);
          throw error;
        }
      },
    };
  };
  return over(undefined);
}

function encodeParameters(params: SqlParams): SqlParameter[] {
  return Object.entries(params).map(([name, value]) => ({ name, value: encodeValue(name, value) }));
}

function encodeValue(name: string, value: SqlValue): Field {
  if (value === null) return { isNull: true };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (Number.isSafeInteger(value)) return { longValue: value };
  if (Number.isFinite(value) && !Number.isInteger(value)) return { doubleValue: value };
  // An unsafe integer already lost precision in JavaScript; BIGINT values must travel as decimal strings.
  throw new AppError(`SQL parameter :${name} is ${value}, which is not exactly representable; pass BIGINT values as decimal strings`);
}

function decodeRows(output: Pick<ExecuteStatementCommandOutput, 'records' | 'columnMetadata'>): SqlRow[] {
  // label is the AS alias, the name mysql2 keys rows by as well.
  const columns = (output.columnMetadata ?? []).map((column: ColumnMetadata) => column.label || column.name);
  return (output.records ?? []).map((record) =>
    Object.fromEntries(record.map((field, index) => [columns[index] ?? `column${index + 1}`, decodeField(field)])),
  );
}

function decodeField(field: Field): unknown {
  if (field.isNull) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.arrayValue !== undefined) return decodeArray(field.arrayValue);
  throw new AppError(`unsupported Data API field: ${JSON.stringify(field)}`);
}

function decodeArray(array: ArrayValue): unknown[] {
  return array.stringValues ?? array.longValues ?? array.doubleValues ?? array.booleanValues ?? array.arrayValues?.map((item) => (item === null ? null : decodeArray(item))) ?? [];
}

async function retryWhileResuming<T>(call: () => Promise<T>, retry: ResumeRetry): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const name = error instanceof Error ? error.name : undefined;
      if (name === 'DatabaseResumingException' && attempt < retry.maxAttempts) {
        await sleep(retry.baseDelayMs * 2 ** (attempt - 1));
        continue;
      }
      if (name === 'DatabaseResumingException' || name === 'DatabaseUnavailableException') {
        throw new CatalogUnavailableError(`catalog database unavailable (${name}) after ${attempt} attempt(s)`, { cause: error });
      }
      throw error;
    }
  }
}
