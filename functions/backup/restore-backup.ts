import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  checksumKindOf,
  MANIFEST_FORMAT,
  RowsChecksum,
  type BackupManifest,
  type ChunkManifest,
  type SchemaDocument,
  type SchemaStatement,
  type TableManifest,
} from '../core/backup-manifest';
import { encodeRow } from '../core/backup-sql-values';
import type { RestoreConnection, RestoreConnector } from '../ports/backup-mysql';
import type { BackupRecord } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { ObjectStore } from '../ports/object-store';
import { checkObjects, downloadHashed } from './object-checks';
import { BackupIntegrityError, NotFoundError, ValidationError } from '../shared/errors';

export interface RestoreDeps {
  objects: ObjectStore;
  restorer: RestoreConnector;
  clock: Clock;
}

export interface RestoreRequest {
  manifest: BackupManifest;
  database: string;
  /** Drop and recreate a target database that already holds tables. */
  replace?: boolean;
  /** Read every restored table back and compare rows and checksums with the manifest. @default true */
  verify?: boolean;
  /** Connections loading chunks in parallel. @default 2 */
  concurrency?: number;
  /** The caller holds the database's restore claim on a session of its own for longer than this restore. */
  alreadyClaimed?: boolean;
  /** Leave the database marked unfinished: the caller has more to do (a replay) and marks it finished. */
  leaveUnfinished?: boolean;
}

export interface TableCheck {
  table: string;
  expectedRows: number;
  restoredRows: number;
  ok: boolean;
  problems: string[];
}

export interface RestoreReport {
  backupId: string;
  shard: string;
  database: string;
  tables: TableCheck[];
  rows: number;
  bytes: number;
  /** Wall time of the load (and verification when asked): the restore's RTO evidence. */
  seconds: number;
  verified: boolean;
  ok: boolean;
  problems: string[];
  /** Loaded by an earlier attempt and found to match the manifest, so not loaded again. */
  reused?: true;
}

/** Reads a backup's manifest and checks it against the SHA-256 the catalog recorded when it was written. */
export async function loadManifest(objects: ObjectStore, backup: Pick<BackupRecord, 'backupId' | 'manifestKey' | 'manifestSha256'>): Promise<BackupManifest> {
  if (!backup.manifestKey || !backup.manifestSha256) throw new NotFoundError(`backup ${backup.backupId} has no manifest (it did not finish)`);
  const body = await objects.getBuffer(backup.manifestKey);
  const sha256 = createHash('sha256').update(body).digest('base64');
  if (sha256 !== backup.manifestSha256) {
    throw new BackupIntegrityError(`the manifest of backup ${backup.backupId} was altered (SHA-256 ${sha256}, recorded ${backup.manifestSha256})`);
  }
  const manifest = JSON.parse(body.toString('utf8')) as BackupManifest;
  if (manifest.format !== MANIFEST_FORMAT || manifest.backupId !== backup.backupId) {
    throw new ValidationError(`${backup.manifestKey} is not a format-${MANIFEST_FORMAT} manifest of backup ${backup.backupId}`);
  }
  return manifest;
}

/**
 * Restores a logical backup into `database`: tables, routines and views, then the chunks (several
 * connections in parallel, FK checks off, each chunk checked against the manifest before it is
 * loaded), then triggers; then, unless told otherwise, reads every table back and compares its row
 * count and checksums with the manifest, chunk by chunk. A restore that fails part-way, an altered
 * chunk included, drops the database it was loading, so no half-restored copy is left to be taken for whole.
 */
export async function restoreLogicalBackup(deps: RestoreDeps, request: RestoreRequest): Promise<RestoreReport> {
  const { manifest, database } = request;
  const started = deps.clock.now();
  const schema = await readSchema(deps.objects, manifest);
  const connections: RestoreConnection[] = [await deps.restorer.connect()];
  const main = connections[0]!;
  let prepared = false;
  try {
    // One restore into a database at a time: another one's marker, drop or load is never taken for this one's.
    if (!request.alreadyClaimed) await main.claimDatabase(database);
    if (request.replace && (await main.tableNames(database)).length > 0) {
      // The database is dropped before the load: every object must be there and intact first.
      const problems = await checkObjects(deps.objects, manifest.tables.flatMap((table) => table.chunks));
      if (problems.length > 0) throw new BackupIntegrityError(`backup ${manifest.backupId} cannot replace database ${database}, which is kept: ${problems.join('; ')}`);
    }
    await main.prepareDatabase(database, { replace: request.replace === true });
    prepared = true;
    // There until the restore has loaded and verified everything: a database holding it is a restore that did not finish.
    await main.markUnfinished(database, manifest.backupId);
    const pre = schema.statements.filter((statement) => statement.phase === 'pre-data');
    for (const statement of pre.filter((candidate) => candidate.kind !== 'view')) await main.apply(database, statement.sql, statement.sqlMode);
    await createViews(main, database, pre.filter((statement) => statement.kind === 'view'));

    const chunks = manifest.tables.flatMap((table) => table.chunks);
    for (let index = 1; index < Math.min(request.concurrency ?? 2, chunks.length); index++) connections.push(await deps.restorer.connect());
    let next = 0;
    let failed = false;
    const loads = await Promise.allSettled(
      connections.map(async (connection) => {
        while (next < chunks.length && !failed) {
          const chunk = chunks[next++]!;
          await loadChunk(deps.objects, connection, database, chunk).catch((error: unknown) => {
            failed = true;
            throw error;
          });
        }
      }),
    );
    const failure = loads.find((load) => load.status === 'rejected');
    if (failure) throw failure.reason;

    for (const statement of schema.statements.filter((candidate) => candidate.phase === 'post-data')) await main.apply(database, statement.sql, statement.sqlMode);

    const verify = request.verify !== false;
    const tables = verify ? await verifyTables(main, database, manifest.tables) : [];
    const report = reportOf(manifest, database, tables, { verified: verify, seconds: (deps.clock.now() - started) / 1000 });
    if (report.ok && !request.leaveUnfinished) await main.markFinished(database);
    return report;
  } catch (error) {
    if (prepared) {
      await main.dropDatabase(database);
      if (error instanceof Error) error.message += `; the partly restored database ${database} was dropped`;
    }
    throw error;
  } finally {
    await Promise.all(connections.map((connection) => connection.close()));
  }
}

/** What an earlier restore left in a database: nothing, a restore of this backup that did not finish, or tables compared with the manifest. */
export type EarlierRestore = { kind: 'none' } | { kind: 'unfinished' } | { kind: 'checked'; report: RestoreReport };

/**
 * A database an earlier restore of this backup may have loaded, checked on `connection`, which
 * holds the database's claim. One still marked by a restore of this backup did not finish;
 * otherwise every table is compared with the manifest (`reused` when all match).
 */
export async function checkEarlierRestore(connection: RestoreConnection, clock: Clock, manifest: BackupManifest, database: string): Promise<EarlierRestore> {
  const started = clock.now();
  const seconds = () => (clock.now() - started) / 1000;
  const tables = await connection.tableNames(database);
  if (tables.length === 0) return { kind: 'none' };
  const unfinished = await connection.unfinishedRestore(database);
  if (unfinished === manifest.backupId) return { kind: 'unfinished' };
  if (unfinished !== undefined) {
    const problem = { table: '-', expectedRows: 0, restoredRows: 0, ok: false, problems: [`a restore of backup ${unfinished || 'unknown'} into it did not finish`] };
    return { kind: 'checked', report: reportOf(manifest, database, [problem], { verified: false, seconds: seconds() }) };
  }
  const missing = manifest.tables.filter((table) => !tables.includes(table.name)).map((table) => table.name);
  const checks = missing.length > 0 ? missing.map((table) => ({ table, expectedRows: 0, restoredRows: 0, ok: false, problems: [`${table} is missing`] })) : await verifyTables(connection, database, manifest.tables);
  const report = reportOf(manifest, database, checks, { verified: true, seconds: seconds() });
  return { kind: 'checked', report: report.ok ? { ...report, reused: true } : report };
}

function reportOf(manifest: BackupManifest, database: string, tables: TableCheck[], run: { verified: boolean; seconds: number }): RestoreReport {
  const problems = tables.flatMap((check) => check.problems);
  const { rows, bytes } = manifest.totals;
  return { backupId: manifest.backupId, shard: manifest.shard, database, tables, rows, bytes, ...run, ok: problems.length === 0, problems };
}

async function readSchema(objects: ObjectStore, manifest: BackupManifest): Promise<SchemaDocument> {
  const body = await objects.getBuffer(manifest.schema.key);
  const sha256 = createHash('sha256').update(body).digest('base64');
  if (sha256 !== manifest.schema.sha256) throw new BackupIntegrityError(`schema object ${manifest.schema.key} was altered (SHA-256 ${sha256}, recorded ${manifest.schema.sha256})`);
  return JSON.parse(body.toString('utf8')) as SchemaDocument;
}

/** Views may select from views: create what can be created until a round makes no progress. */
async function createViews(connection: RestoreConnection, database: string, views: readonly SchemaStatement[]): Promise<void> {
  let waiting = [...views];
  while (waiting.length > 0) {
    const failed: { view: SchemaStatement; error: unknown }[] = [];
    for (const view of waiting) {
      try {
        await connection.apply(database, view.sql, view.sqlMode);
      } catch (error) {
        failed.push({ view, error });
      }
    }
    if (failed.length === waiting.length) {
      throw new ValidationError(`views could not be created: ${failed.map(({ view, error }) => `${view.name}: ${(error as Error).message}`).join('; ')}`);
    }
    waiting = failed.map(({ view }) => view);
  }
}

/**
 * Loads one chunk: downloaded (hashed) into a private temporary file, then, once its size and SHA-256
 * are what the manifest recorded, gunzip → one statement per line. A chunk altered since the backup
 * is refused before any of its rows reach the database.
 */
async function loadChunk(objects: ObjectStore, connection: RestoreConnection, database: string, chunk: ChunkManifest): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'sk-restore-'));
  try {
    const path = join(directory, 'chunk.sql.gz');
    const { bytes, sha256 } = await downloadHashed(objects, chunk.key, path);
    if (bytes !== chunk.bytes || sha256 !== chunk.sha256) {
      throw new BackupIntegrityError(`${chunk.key}: read ${bytes} bytes with SHA-256 ${sha256}, recorded ${chunk.bytes} bytes ${chunk.sha256}; none of it was loaded`);
    }
    const gunzip = createGunzip();
    // pipeline, not pipe: a read that fails must end the statements with its error, not leave them waiting.
    pipeline(createReadStream(path), gunzip, () => {});
    for await (const statement of statements(gunzip)) await connection.apply(database, statement);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * The statements of a chunk, one per line. Pulled one at a time, so the download waits while a
 * statement runs (readline's iterator would buffer up to a thousand megabyte-long lines).
 */
async function* statements(input: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let partial: Buffer[] = [];
  for await (const piece of input) {
    let start = 0;
    for (let newline = piece.indexOf(10); newline !== -1; newline = piece.indexOf(10, start)) {
      const line = Buffer.concat([...partial, piece.subarray(start, newline)]).toString('utf8');
      partial = [];
      start = newline + 1;
      if (line.length > 0) yield line;
    }
    if (start < piece.length) partial.push(piece.subarray(start));
  }
  const rest = Buffer.concat(partial).toString('utf8');
  if (rest.length > 0) yield rest;
}

/** Reads each restored table in key order and checks it chunk by chunk against the manifest. */
export async function verifyTables(connection: RestoreConnection, database: string, tables: readonly TableManifest[]): Promise<TableCheck[]> {
  const checks: TableCheck[] = [];
  for (const table of tables) {
    const problems: string[] = [];
    const kind = checksumKindOf(table);
    // A keyless table is one chunk whose checksum ignores order; keyed tables split by the chunks' row counts.
    const expected = table.chunks.length > 0 ? table.chunks : [{ index: 0, rowCount: 0, rowsSha256: new RowsChecksum(kind).digest() }];
    let chunkIndex = 0;
    let checksum = new RowsChecksum(kind);
    let restoredRows = 0;
    const closeChunk = () => {
      const chunk = expected[chunkIndex]!;
      const digest = checksum.digest();
      if (checksum.count !== chunk.rowCount) problems.push(`${table.name} chunk ${chunk.index}: ${checksum.count} rows restored, ${chunk.rowCount} recorded`);
      else if (digest !== chunk.rowsSha256) problems.push(`${table.name} chunk ${chunk.index}: rows differ from the backup (checksum ${digest.slice(0, 12)}…, recorded ${chunk.rowsSha256.slice(0, 12)}…)`);
      chunkIndex++;
      checksum = new RowsChecksum(kind);
    };
    for await (const batch of connection.rows(database, table)) {
      for (const row of batch) {
        restoredRows++;
        if (chunkIndex >= expected.length) continue;
        checksum.add(encodeRow(row));
        if (kind === 'ordered' && checksum.count === expected[chunkIndex]!.rowCount) closeChunk();
      }
    }
    while (chunkIndex < expected.length) closeChunk();
    if (restoredRows !== table.rowCount) problems.push(`${table.name}: ${restoredRows} rows restored, ${table.rowCount} recorded`);
    checks.push({ table: table.name, expectedRows: table.rowCount, restoredRows, ok: problems.length === 0, problems });
  }
  return checks;
}
