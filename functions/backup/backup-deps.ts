import type { RetentionPolicy } from '../core/backup-retention';
import { DEFAULT_RETENTION } from '../core/backup-retention';
import type { DumpConnector } from '../ports/backup-mysql';
import type { BackupStore } from '../ports/backup-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import type { ObjectStore } from '../ports/object-store';

export interface BackupSettings {
  retention: RetentionPolicy;
  /** Calendar days, weeks and months of the GFS policy are counted in this zone. */
  timeZone: string;
  /** gzip level of chunk objects (the chapter's 6 by default). */
  compressionLevel: number;
  /** About this much table data per chunk object. */
  targetChunkBytes: number;
  /** Longest INSERT statement written, in characters. */
  maxStatementLength: number;
}

export const DEFAULT_BACKUP_SETTINGS: BackupSettings = {
  retention: DEFAULT_RETENTION,
  timeZone: 'UTC',
  compressionLevel: 6,
  targetChunkBytes: 64 * 1024 * 1024,
  maxStatementLength: 1024 * 1024,
};

/** What the logical backup use cases run against. */
export interface LogicalBackupDeps {
  store: BackupStore;
  objects: ObjectStore;
  dumper: DumpConnector;
  events: EventPublisher;
  clock: Clock;
  settings: BackupSettings;
}
