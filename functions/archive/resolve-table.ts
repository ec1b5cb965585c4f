import { dailyTableDay, readPartitions } from '../core/archive-partitions';
import type { ArchiveSource, TableDescription } from '../ports/archive-source';
import { ValidationError } from '../shared/errors';
import type { ArchiveTableConfig } from './archive-config';

const TIME_TYPES = new Set(['date', 'datetime', 'timestamp']);
/** mysql2 returns these as parsed objects, which would not survive a JSON round trip. */
const UNSUPPORTED_TYPES = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection']);

/** A table config checked against one shard's live schema. */
export interface ResolvedTable {
  config: ArchiveTableConfig;
  /** The table whose structure was checked (for date-named tables: the newest). */
  physicalTable: string;
  /** Every column, in table order: what each archived line holds. */
  columns: string[];
  keyColumns: string[];
  /** The scan order: the time column, then the key columns not already in it. */
  orderColumns: string[];
}

/**
 * Validates the config's identifiers against information_schema on the shard and refuses a table
 * the archiver cannot handle safely, saying why: missing columns, a time column that is not a
 * NOT NULL date/time, keys that are not a unique NOT NULL index, no index to scan by time.
 */
export async function resolveArchiveTable(source: ArchiveSource, config: ArchiveTableConfig): Promise<ResolvedTable> {
  const physicalTable = await physicalTableOf(source, config);
  const description = await source.describeTable(physicalTable);
  if (!description) throw new ValidationError(`table ${physicalTable} does not exist in shard database ${source.database}`);
  return resolveDescription(description, config, source.database);
}

async function physicalTableOf(source: ArchiveSource, config: ArchiveTableConfig): Promise<string> {
  if (config.layout !== 'daily-tables') return config.table;
  const dated = (await source.listTables(`${config.table}_`)).filter((name) => dailyTableDay(config.table, name) !== undefined).sort();
  const newest = dated.at(-1);
  if (!newest) throw new ValidationError(`no ${config.table}_YYYYMMDD table exists in shard database ${source.database} to take the structure from`);
  return newest;
}

export function resolveDescription(description: TableDescription, config: ArchiveTableConfig, database: string): ResolvedTable {
  const where = `${database}.${description.name}`;
  const columns = new Map(description.columns.map((column) => [column.name, column]));
  const unsupported = description.columns.filter((column) => UNSUPPORTED_TYPES.has(column.dataType));
  if (unsupported.length > 0) {
    throw new ValidationError(`${where} has spatial column(s) ${unsupported.map((column) => column.name).join(', ')}, which the archiver does not support`);
  }

  const time = columns.get(config.timeColumn);
  if (!time) throw new ValidationError(`${where} has no column ${config.timeColumn} (timeColumn)`);
  if (!TIME_TYPES.has(time.dataType)) throw new ValidationError(`timeColumn ${config.timeColumn} of ${where} is ${time.dataType}; it must be DATE, DATETIME or TIMESTAMP`);
  if (time.nullable) throw new ValidationError(`timeColumn ${config.timeColumn} of ${where} is nullable; the archive scan orders by it, so it must be NOT NULL`);

  const primary = description.indexes.find((index) => index.name === 'PRIMARY');
  const keyColumns = config.keyColumns ?? primary?.columns;
  if (!keyColumns) {
    throw new ValidationError(`${where} has no primary key; set keyColumns to the columns of a unique index of NOT NULL columns`);
  }
  for (const key of keyColumns) {
    const column = columns.get(key);
    if (!column) throw new ValidationError(`${where} has no column ${key} (keyColumns)`);
    if (column.nullable) throw new ValidationError(`key column ${key} of ${where} is nullable; keys must be NOT NULL to identify one row`);
    if (column.binary) throw new ValidationError(`key column ${key} of ${where} is ${column.dataType}; binary keys are not supported`);
  }
  const unique = description.indexes.filter((index) => index.unique);
  if (!unique.some((index) => index.columns.every((column) => keyColumns.includes(column)))) {
    const known = unique.map((index) => `${index.name}(${index.columns.join(', ')})`).join(', ') || 'none';
    throw new ValidationError(
      `${where} has no usable unique key over (${keyColumns.join(', ')}): every archived row must be deleted by a key that identifies it alone. Unique indexes: ${known}`,
    );
  }
  if (!description.indexes.some((index) => index.columns[0] === config.timeColumn)) {
    throw new ValidationError(`${where} needs an index starting with ${config.timeColumn} for the archive scan, e.g. KEY (${config.timeColumn})`);
  }

  for (const condition of config.filter) {
    if (!columns.has(condition.column)) throw new ValidationError(`${where} has no column ${condition.column} (filter)`);
  }
  if (!columns.has(config.playerColumn) && config.playerColumn !== 'player_id') {
    throw new ValidationError(`${where} has no column ${config.playerColumn} (playerColumn)`);
  }
  if (config.layout === 'partitioned') {
    if (description.partitions.length === 0) throw new ValidationError(`${where} is not partitioned, but its layout is "partitioned"`);
    try {
      readPartitions(description.partitions, config.timeColumn);
    } catch (error) {
      throw new ValidationError(`${where}: ${(error as Error).message}`, { cause: error });
    }
  }

  return {
    config,
    physicalTable: description.name,
    columns: description.columns.map((column) => column.name),
    keyColumns: [...keyColumns],
    orderColumns: [config.timeColumn, ...keyColumns.filter((key) => key !== config.timeColumn)],
  };
}
