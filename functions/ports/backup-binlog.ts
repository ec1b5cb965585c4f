import type { ShardNode } from '../core/shard-map-types';

export interface BinlogFile {
  name: string;
  bytes: number;
}

export interface ArchivedFile {
  path: string;
  bytes: number;
  /** Times of the first and last change events in the file; null when it holds none. */
  firstEventAt: number | null;
  lastEventAt: number | null;
}

/** The binary logs of a self-managed primary, as incremental backups copy them. */
export interface BinlogSource {
  /**
   * Closes the current binary log, so everything written before `closedAt` (server time) sits in
   * closed files, and lists those files, oldest first.
   */
  closeCurrent(node: ShardNode): Promise<{ closed: BinlogFile[]; closedAt: number }>;
  /** Copies one closed binary log byte for byte into `directory`. */
  fetch(node: ShardNode, file: string, directory: string): Promise<ArchivedFile>;
}

export interface ReplayRequest {
  /** Local copies of the binary logs, in order. */
  files: string[];
  /** Where to start in the first file: the base backup's position. */
  startPosition: number;
  /** UTC `YYYY-MM-DD hh:mm:ss`; events at or after it are not applied. */
  stopDatetime: string;
  /** Only this database's changes are replayed, renamed to `targetDatabase`. */
  sourceDatabase: string;
  targetDatabase: string;
}

/** Applies binary log events to the restore server. */
export interface BinlogReplayer {
  replay(request: ReplayRequest): Promise<void>;
}
