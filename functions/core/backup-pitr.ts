import { NotFoundError, ValidationError } from '../shared/errors';
import { stopDatetime } from './backup-binlog';
import type { BinlogPosition } from './backup-manifest';

/**
 * Point-in-time recovery planning (SEED-NOTES §5: the latest full before the target, then the logs
 * after it, in order). Self-managed shards: a logical backup plus the archived binary logs from its
 * position up to the target time. Aurora and RDS: the service's PITR call within the recorded window.
 */

export interface FullBackupCandidate {
  backupId: string;
  /** The instant the backup's data stands at. */
  consistentAt: number;
  position: BinlogPosition | null;
  bytes: number;
}

export interface ArchivedBinlog {
  file: string;
  objectKey: string;
  bytes: number;
  sha256: string;
  /** Timestamps of the file's first and last events; null for a file with no events. */
  firstEventAt: number | null;
  lastEventAt: number | null;
  /** When the archiving run that copied this file closed the binary log: every event before it is archived. */
  coveredUntil: number;
}

export interface ReplayRates {
  /** Compressed logical backup bytes restored per second (from the shard's last restore test when known). */
  restoreBytesPerSecond: number;
  binlogBytesPerSecond: number;
}

export const DEFAULT_REPLAY_RATES: ReplayRates = { restoreBytesPerSecond: 8 * 1024 * 1024, binlogBytesPerSecond: 16 * 1024 * 1024 };

export interface SelfManagedRecoveryPlan {
  kind: 'binlog-replay';
  targetTime: string;
  base: { backupId: string; consistentAt: string; position: BinlogPosition };
  /** Replay these in order: the first from `startPosition`, all until `stopDatetime` (exclusive). */
  binlogs: { file: string; objectKey: string; bytes: number; sha256: string }[];
  startPosition: number;
  stopDatetime: string;
  estimatedSeconds: number;
  estimateBasis: string;
}

/** `mariadb-bin.000042` → ['mariadb-bin', 42]; binary log names always end in a sequence number. */
export function binlogSequence(file: string): [string, number] {
  const match = /^(.*)\.(\d+)$/.exec(file);
  if (!match) throw new ValidationError(`${JSON.stringify(file)} is not a binary log file name (base.NNNNNN)`);
  return [match[1]!, Number(match[2])];
}

export function compareBinlogFiles(a: string, b: string): number {
  const [baseA, seqA] = binlogSequence(a);
  const [baseB, seqB] = binlogSequence(b);
  return baseA === baseB ? seqA - seqB : baseA.localeCompare(baseB);
}

export function planBinlogRecovery(
  target: number,
  fulls: readonly FullBackupCandidate[],
  binlogs: readonly ArchivedBinlog[],
  rates: ReplayRates = DEFAULT_REPLAY_RATES,
): SelfManagedRecoveryPlan {
  const base = [...fulls]
    .filter((full): full is FullBackupCandidate & { position: BinlogPosition } => full.position !== null && full.consistentAt <= target)
    .sort((a, b) => b.consistentAt - a.consistentAt)[0];
  if (!base) {
    throw new NotFoundError(`no usable full backup (with a binary log position) was taken before ${iso(target)}`);
  }
  const [baseName, baseSeq] = binlogSequence(base.position.file);
  const chain = binlogs
    .filter((binlog) => {
      const [name, seq] = binlogSequence(binlog.file);
      return name === baseName && seq >= baseSeq;
    })
    .sort((a, b) => compareBinlogFiles(a.file, b.file));

  // The unbroken run of logs from the base's, up to the first one that starts after the target.
  const needed: ArchivedBinlog[] = [];
  let expectedSeq = baseSeq;
  let reachesTarget = false;
  for (const binlog of chain) {
    if (binlogSequence(binlog.file)[1] !== expectedSeq) break;
    if (binlog.firstEventAt !== null && binlog.firstEventAt >= target) {
      reachesTarget = true;
      break;
    }
    needed.push(binlog);
    expectedSeq++;
  }
  if (needed.length === 0) throw new NotFoundError(`binary log ${base.position.file} (the position of backup ${base.backupId}) was never archived`);
  const missing = `${baseName}.${String(expectedSeq).padStart(6, '0')}`;
  const gapAfter = chain.some((binlog) => binlogSequence(binlog.file)[1] > expectedSeq);
  // Past a missing log, only the events archived before it are known; without one, the last run's close vouches for the rest.
  const coveredUntil = gapAfter ? Math.max(base.consistentAt, ...needed.map((binlog) => binlog.lastEventAt ?? base.consistentAt)) : needed.at(-1)!.coveredUntil;
  if (!reachesTarget && coveredUntil < target) {
    if (gapAfter) throw new NotFoundError(`binary log ${missing} was never archived; recovery past ${iso(coveredUntil)} is impossible without it`);
    throw new NotFoundError(`binary logs are archived only up to ${iso(coveredUntil)}; archive them (backup run --kind incremental) before recovering to ${iso(target)}`);
  }

  const binlogBytes = needed.reduce((sum, binlog) => sum + binlog.bytes, 0);
  const restoreSeconds = base.bytes / rates.restoreBytesPerSecond;
  const replaySeconds = binlogBytes / rates.binlogBytesPerSecond;
  return {
    kind: 'binlog-replay',
    targetTime: iso(target),
    base: { backupId: base.backupId, consistentAt: iso(base.consistentAt), position: base.position },
    binlogs: needed.map(({ file, objectKey, bytes, sha256 }) => ({ file, objectKey, bytes, sha256 })),
    startPosition: base.position.position,
    stopDatetime: stopDatetime(target),
    estimatedSeconds: Math.ceil(restoreSeconds + replaySeconds),
    estimateBasis: `${base.bytes} backup bytes at ${Math.round(rates.restoreBytesPerSecond)} B/s + ${binlogBytes} binlog bytes at ${Math.round(rates.binlogBytesPerSecond)} B/s`,
  };
}

export interface ManagedRecoveryPlan {
  kind: 'managed-pitr';
  targetTime: string;
  /** Aurora restores a new cluster; RDS MySQL a new instance. */
  call: 'RestoreDBClusterToPointInTime' | 'RestoreDBInstanceToPointInTime';
  sourceIdentifier: string;
  targetIdentifier: string;
  restoreWindow: { earliest: string; latest: string };
  estimatedSeconds: number;
  estimateBasis: string;
}

/** A new cluster or instance from the service's continuous backup; typical restores take tens of minutes. */
const MANAGED_RESTORE_SECONDS = 30 * 60;

export function planManagedRecovery(
  target: number,
  window: { earliest: number; latest: number },
  source: { kind: 'aurora' | 'rds'; identifier: string },
  targetIdentifier: string,
): ManagedRecoveryPlan {
  if (target < window.earliest || target > window.latest) {
    throw new ValidationError(`${iso(target)} is outside the cluster's restore window ${iso(window.earliest)} .. ${iso(window.latest)}`);
  }
  return {
    kind: 'managed-pitr',
    targetTime: iso(target),
    call: source.kind === 'aurora' ? 'RestoreDBClusterToPointInTime' : 'RestoreDBInstanceToPointInTime',
    sourceIdentifier: source.identifier,
    targetIdentifier,
    restoreWindow: { earliest: iso(window.earliest), latest: iso(window.latest) },
    estimatedSeconds: MANAGED_RESTORE_SECONDS,
    estimateBasis: 'typical point-in-time restore of a new cluster or instance from continuous backup',
  };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
