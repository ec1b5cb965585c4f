import { ValidationError } from '../shared/errors';

/**
 * Ids of backup runs. Every shard backed up by one run shares an epoch id, which also names the
 * shard map version the run started from, so a fleet and its map restore to the same run.
 * Ids sort by time and are safe in S3 keys, snapshot identifiers and SQL values.
 */

const NONCE = /^[a-z0-9]{4,16}$/;
const EPOCH_ID = /^e(\d{8}t\d{6}z)-v(\d+)-([a-z0-9]{4,16})$/;
const BACKUP_ID = /^b(\d{8}t\d{6}z)-([a-z0-9]{4,16})$/;

function stamp(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'z').replace(/[-:]/g, '').toLowerCase();
}

function unstamp(text: string): number {
  const match = /^(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z$/.exec(text)!;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
}

function assertNonce(nonce: string): void {
  if (!NONCE.test(nonce)) throw new ValidationError(`an id nonce must be 4-16 lowercase letters or digits, got ${JSON.stringify(nonce)}`);
}

export function epochId(startedAt: number, mapVersion: number, nonce: string): string {
  assertNonce(nonce);
  if (!Number.isSafeInteger(mapVersion) || mapVersion < 0) throw new ValidationError(`a shard map version must be a non-negative integer, got ${mapVersion}`);
  return `e${stamp(startedAt)}-v${mapVersion}-${nonce}`;
}

export interface ParsedEpochId {
  startedAt: number;
  mapVersion: number;
}

export function parseEpochId(id: string): ParsedEpochId {
  const match = EPOCH_ID.exec(id);
  if (!match) throw new ValidationError(`${JSON.stringify(id)} is not a backup epoch id (like e20260105t020000z-v7-3fa9c1)`);
  return { startedAt: unstamp(match[1]!), mapVersion: Number(match[2]) };
}

export function isEpochId(id: string): boolean {
  return EPOCH_ID.test(id);
}

export function backupId(startedAt: number, nonce: string): string {
  assertNonce(nonce);
  return `b${stamp(startedAt)}-${nonce}`;
}

export function isBackupId(id: string): boolean {
  return BACKUP_ID.test(id);
}
