import { createWriteStream } from 'node:fs';
import type { Socket } from 'node:net';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { BINLOG_MAGIC, EVENT_HEADER_BYTES, EventTimes, parseEventHeader } from '../core/backup-binlog';
import type { ArchivedFile } from '../ports/backup-binlog';
import { AppError, NotFoundError, ValidationError } from '../shared/errors';

/**
 * Copies one closed binary log byte for byte over the replication protocol (COM_BINLOG_DUMP), as
 * `mariadb-binlog --read-from-remote-server --raw` does, so archiving needs no client tools (a
 * Lambda has none). mysql2 opens and authenticates the session (TLS, credentials); then the dump
 * owns its socket, which is closed afterwards. The account needs REPLICATION SLAVE (MySQL:
 * REPLICATION REPLICA) and the right to read SHOW BINARY LOGS.
 */

const COM_BINLOG_DUMP = 0x12;
const BINLOG_DUMP_NON_BLOCK = 0x01;
/** MariaDB only: include the ANNOTATE_ROWS events (the statement behind row events), which the file holds. */
const BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02;
const MAX_PACKET = 0xffffff;
const ROTATE_EVENT = 4;
const HEARTBEAT_EVENT = 27;
/** Set on events the server makes up for the stream (the opening rotate), which are not in the file. */
const LOG_EVENT_ARTIFICIAL_F = 0x20;
const IDLE_TIMEOUT_MS = 60_000;

/** Frames the server's packets (a payload longer than 16 MB arrives split) into whole payloads. */
class PacketReader {
  private buffered: Buffer = Buffer.alloc(0);
  private partial: Buffer[] = [];

  /** Whole payloads completed by `data`. */
  push(data: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
    const payloads: Buffer[] = [];
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUIntLE(0, 3);
      if (this.buffered.length < 4 + length) break;
      this.partial.push(this.buffered.subarray(4, 4 + length));
      this.buffered = this.buffered.subarray(4 + length);
      if (length === MAX_PACKET) continue;
      payloads.push(this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial));
      this.partial = [];
    }
    return payloads;
  }
}

function dumpCommand(file: string, mariadb: boolean): Buffer {
  const name = Buffer.from(file, 'utf8');
  const payload = Buffer.alloc(11 + name.length);
  payload.writeUInt8(COM_BINLOG_DUMP, 0);
  payload.writeUInt32LE(BINLOG_MAGIC.length, 1);
  payload.writeUInt16LE(BINLOG_DUMP_NON_BLOCK | (mariadb ? BINLOG_SEND_ANNOTATE_ROWS_EVENT : 0), 5);
  // Server id 0 with NON_BLOCK: a one-off reader, not a registered replica.
  payload.writeUInt32LE(0, 7);
  name.copy(payload, 11);
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  return Buffer.concat([header, payload]);
}

function serverError(payload: Buffer): AppError {
  const code = payload.readUInt16LE(1);
  const message = payload.subarray(payload[3] === 0x23 ? 9 : 3).toString('utf8');
  return new AppError(`the server refused to stream the binary log (${code}): ${message}`);
}

/**
 * Streams `file` into `path` and returns its size, which must equal the size the server lists for
 * it, with the times of its first and last changes, read from the event headers as they pass. The
 * connection is used up: its socket is destroyed at the end, whatever happens.
 */
export async function copyBinlog(connection: Connection, file: string, path: string): Promise<ArchivedFile> {
  let server: RowDataPacket | undefined;
  let listed: RowDataPacket | undefined;
  try {
    [[server]] = await connection.query<RowDataPacket[]>('SELECT VERSION() AS version');
    const [logs] = await connection.query<RowDataPacket[]>('SHOW BINARY LOGS');
    listed = logs.find((row) => String(row.Log_name) === file);
    if (!listed) throw new NotFoundError(`binary log ${file} is not on the server (purged?)`);
    // Events exactly as stored: with the server's checksums, and MariaDB's own event types.
    await connection.query('SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum, @mariadb_slave_capability = 4');
  } catch (error) {
    connection.destroy();
    throw error;
  }

  const socket = (connection as unknown as { connection: { stream: Socket } }).connection.stream;
  socket.removeAllListeners('data');
  const out = createWriteStream(path);
  const times = new EventTimes();
  let written = 0;
  const write = (bytes: Buffer) => {
    written += bytes.length;
    if (!out.write(bytes)) {
      socket.pause();
      out.once('drain', () => socket.resume());
    }
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const reader = new PacketReader();
      socket.setTimeout(IDLE_TIMEOUT_MS, () => reject(new AppError(`the binary log stream of ${file} stalled for ${IDLE_TIMEOUT_MS / 1000} s`)));
      socket.once('close', () => reject(new AppError(`the connection closed while streaming ${file}`)));
      socket.once('error', reject);
      out.once('error', reject);
      write(BINLOG_MAGIC);
      socket.on('data', (data: Buffer) => {
        try {
          for (const payload of reader.push(data)) {
            if (payload[0] === 0xff) throw serverError(payload);
            // EOF: the end of the last binary log.
            if (payload[0] === 0xfe && payload.length < 9) return resolve();
            const event = payload.subarray(1);
            if (event.length < EVENT_HEADER_BYTES) throw new ValidationError(`a ${event.length}-byte event in the stream of ${file}`);
            const header = parseEventHeader(event);
            const flags = event.readUInt16LE(17);
            if (header.type === HEARTBEAT_EVENT) continue;
            if (header.type === ROTATE_EVENT && flags & LOG_EVENT_ARTIFICIAL_F) {
              // The opening one names our file; a later one means the stream moved past its end.
              if (written > BINLOG_MAGIC.length) return resolve();
              continue;
            }
            times.add(header);
            write(event);
            // A closed file ends with the rotate into the next one.
            if (header.type === ROTATE_EVENT) return resolve();
          }
        } catch (error) {
          reject(error);
        }
      });
      socket.resume();
      socket.write(dumpCommand(file, /mariadb/i.test(String(server?.version))));
    });
  } finally {
    socket.destroy();
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (written !== Number(listed.File_size)) {
    throw new ValidationError(`copied ${written} bytes of binary log ${file}; the server lists ${Number(listed.File_size)}`);
  }
  return { path, bytes: written, firstEventAt: times.first, lastEventAt: times.last };
}
