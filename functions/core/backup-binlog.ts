/**
 * Just enough of the binary log format (v4, MySQL 5.0+ and every MariaDB) to date an archived
 * file by its events: every event starts with a 19-byte header.
 */

export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
export const EVENT_HEADER_BYTES = 19;

export interface EventHeader {
  /** Seconds since the epoch, when the statement or transaction began on the source. */
  timestamp: number;
  type: number;
  length: number;
}

/** Bookkeeping events: they are stamped with the file's creation or rotation, not with a change. */
const BOOKKEEPING = new Set([
  3, // STOP
  4, // ROTATE
  15, // FORMAT_DESCRIPTION
  35, // PREVIOUS_GTIDS (MySQL)
  161, // BINLOG_CHECKPOINT (MariaDB)
  163, // GTID_LIST (MariaDB)
  164, // START_ENCRYPTION (MariaDB)
]);

export function parseEventHeader(header: Buffer): EventHeader {
  if (header.length < EVENT_HEADER_BYTES) throw new RangeError(`a binary log event header is ${EVENT_HEADER_BYTES} bytes, got ${header.length}`);
  return { timestamp: header.readUInt32LE(0), type: header.readUInt8(4), length: header.readUInt32LE(9) };
}

/** Folds event headers (in file order) into the times of the first and last change events. */
export class EventTimes {
  first: number | null = null;
  last: number | null = null;

  add(header: EventHeader): void {
    if (BOOKKEEPING.has(header.type) || header.timestamp === 0) return;
    const at = header.timestamp * 1000;
    this.first ??= at;
    this.last = Math.max(this.last ?? at, at);
  }
}

/** `--stop-datetime` has one-second resolution, as do event timestamps: recovery stops at the whole second at or before the target. */
export function stopDatetime(target: number): string {
  return new Date(Math.floor(target / 1000) * 1000).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');
}
