import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DEFAULT_BACKUP_SETTINGS } from '../../functions/backup/backup-deps';
import type { BackupTaskDeps } from '../../functions/backup/tasks';
import type { BinlogPosition, KeyValue } from '../../functions/core/backup-manifest';
import { encodeRow, type DumpValue } from '../../functions/core/backup-sql-values';
import type { ShardMap, ShardNode } from '../../functions/core/shard-map-types';
import type { BinlogSource } from '../../functions/ports/backup-binlog';
import type { DumpConnection, DumpConnector, SchemaSnapshot, TableShape } from '../../functions/ports/backup-mysql';
import type { RestoredDatabase, SnapshotInfo, SnapshotService } from '../../functions/ports/backup-snapshots';
import type { AppEvent } from '../../functions/ports/event-publisher';
import type { ObjectStore, StoredObject } from '../../functions/ports/object-store';
import { MemoryBackupStore } from '../unit/backup/memory-backup-store';

/** An S3 bucket in memory; single puts report their SHA-256 as S3 does. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, { body: Buffer; checksumSha256?: string; tags: Record<string, string> }>();

  async put(key: string, body: Buffer | string, options: { tags?: Record<string, string> } = {}): Promise<StoredObject> {
    const bytes = Buffer.from(body);
    const checksumSha256 = createHash('sha256').update(bytes).digest('base64');
    this.objects.set(key, { body: bytes, checksumSha256, tags: options.tags ?? {} });
    return { key, size: bytes.length, checksumSha256, metadata: {} };
  }
  async putStream(key: string, body: Readable, options: { tags?: Record<string, string> } = {}): Promise<StoredObject> {
    const pieces: Buffer[] = [];
    for await (const piece of body) pieces.push(Buffer.from(piece as Buffer));
    const bytes = Buffer.concat(pieces);
    this.objects.set(key, { body: bytes, tags: options.tags ?? {} });
    return { key, size: bytes.length, metadata: {} };
  }
  async head(key: string): Promise<StoredObject | undefined> {
    const object = this.objects.get(key);
    return object && { key, size: object.body.length, checksumSha256: object.checksumSha256, metadata: {} };
  }
  async getBuffer(key: string): Promise<Buffer> {
    return this.objects.get(key)!.body;
  }
  async getStream(key: string): Promise<Readable> {
    return Readable.from([this.objects.get(key)!.body]);
  }
  async *list(prefix: string) {
    for (const [key, object] of this.objects) if (key.startsWith(prefix)) yield { key, size: object.body.length };
  }
  async delete(keys: string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }
  async setTags(key: string, tags: Record<string, string>): Promise<void> {
    this.objects.get(key)!.tags = { ...tags };
  }
}

type FailingCall = 'connect' | 'pause' | 'rows' | 'assertPaused';

/** Shard nodes whose tables live in memory; a replica can be paused and resumed; failures can be queued. */
export class FakeFleetDumper implements DumpConnector {
  readonly paused = new Set<string>();
  readonly calls: string[] = [];
  private readonly failures = new Map<FailingCall, Error[]>();
  readonly position: BinlogPosition = { file: 'mysql-bin.000003', position: 1200, gtid: '0-1-42' };

  constructor(private readonly rowsPerTable: number) {}

  failNext(call: FailingCall, ...errors: Error[]): void {
    this.failures.set(call, [...(this.failures.get(call) ?? []), ...errors]);
  }

  private maybeFail(call: FailingCall): void {
    const error = this.failures.get(call)?.shift();
    if (error) throw error;
  }

  private readonly table: TableShape = { name: 'players', columns: ['player_id', 'player_name'], keyColumns: [{ name: 'player_id', kind: 'integer' }], readAs: {}, avgRowLength: 1_000_000, estimatedRows: 0 };

  async connect(node: ShardNode): Promise<DumpConnection> {
    this.calls.push(`connect ${node.id}`);
    this.maybeFail('connect');
    const rows = Array.from({ length: this.rowsPerTable }, (_, index): DumpValue[] => [index + 1, `player ${index + 1}`]);
    const fleet = this;
    return {
      serverVersion: '10.11.0-MariaDB',
      async pauseReplication() {
        fleet.maybeFail('pause');
        fleet.paused.add(node.id);
        return fleet.position;
      },
      async assertPausedAt() {
        fleet.maybeFail('assertPaused');
      },
      async resumeReplication() {
        fleet.paused.delete(node.id);
        fleet.calls.push(`resume ${node.id}`);
      },
      async beginSnapshot() {
        return fleet.position;
      },
      async readSchema(): Promise<SchemaSnapshot> {
        return { tables: [fleet.table], statements: [{ kind: 'table', name: 'players', phase: 'pre-data', sql: 'CREATE TABLE `players` (`player_id` BIGINT PRIMARY KEY, `player_name` TEXT)' }] };
      },
      async *rows(_database: string, _table: TableShape, after: KeyValue[] | null, limit: number | null) {
        fleet.maybeFail('rows');
        const start = after === null ? 0 : Number(after[0]);
        const batch = rows.filter((row) => Number(row[0]) > start).slice(0, limit ?? undefined);
        if (batch.length > 0) yield { encoded: batch.map((row) => Buffer.from(encodeRow(row))), lastKey: [batch.at(-1)![0] as number] };
      },
      async close() {},
    };
  }
}

/** Snapshots that become available after `pollsUntilAvailable` looks, or fail. */
export class FakeSnapshots implements SnapshotService {
  readonly snapshots = new Map<string, { looks: number; outcome: 'available' | 'failed' }>();
  pollsUntilAvailable = 2;
  nextOutcome: 'available' | 'failed' = 'available';

  async createSnapshot(_database: { identifier: string }, snapshotId: string): Promise<SnapshotInfo> {
    this.snapshots.set(snapshotId, { looks: 0, outcome: this.nextOutcome });
    return { id: snapshotId, arn: `arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:${snapshotId}`, state: 'creating', status: 'creating', region: 'eu-west-1' };
  }
  async describeSnapshot(_kind: string, snapshotId: string): Promise<SnapshotInfo | undefined> {
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) return undefined;
    snapshot.looks++;
    const status = snapshot.looks < this.pollsUntilAvailable ? 'creating' : snapshot.outcome;
    return { id: snapshotId, arn: `arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:${snapshotId}`, state: status, status, region: 'eu-west-1' };
  }
  async copySnapshot(): Promise<SnapshotInfo> {
    throw new Error('not used');
  }
  async deleteSnapshot(): Promise<void> {}
  async restoreWindow() {
    return { earliest: Date.parse('2026-01-01T00:00:00Z'), latest: Date.parse('2026-01-08T00:00:00Z') };
  }
  async restoreFromSnapshot(): Promise<RestoredDatabase> {
    throw new Error('not used');
  }
  async restoreToPointInTime(): Promise<RestoredDatabase> {
    throw new Error('not used');
  }
}

export const FLEET: ShardMap = {
  version: 1,
  updatedAt: '2026-01-01T00:00:00.000Z',
  keyType: 'uint64',
  strategy: { kind: 'keyspace' },
  overrides: [],
  shards: [
    {
      name: '-40',
      database: 'players',
      status: 'serving',
      kind: 'self-managed',
      nodes: [
        { id: 'a1', role: 'primary', host: '10.0.0.1', port: 3306 },
        { id: 'a2', role: 'replica', host: '10.0.0.2', port: 3306 },
      ],
    },
    { name: '40-80', database: 'players', status: 'serving', kind: 'aurora', nodes: [{ id: 'b1', role: 'primary', host: 'players-b.cluster-abc123.eu-west-1.rds.amazonaws.com', port: 3306 }] },
    { name: '80-', database: 'players', status: 'serving', kind: 'self-managed', nodes: [{ id: 'c1', role: 'primary', host: '10.0.0.3', port: 3306 }] },
  ],
};

/** Binary logs of a primary, closed on demand. */
export class FakeBinlogs implements BinlogSource {
  async closeCurrent() {
    return { closed: [{ name: 'mysql-bin.000003', bytes: 4_000 }], closedAt: Date.parse('2026-01-05T02:00:00Z') };
  }
  async fetch(_node: ShardNode, file: string, directory: string) {
    const { writeFile } = await import('node:fs/promises');
    const path = `${directory}/${file}`;
    await writeFile(path, Buffer.concat([Buffer.from([0xfe, 0x62, 0x69, 0x6e]), Buffer.alloc(100)]));
    return { path, bytes: 104, firstEventAt: Date.parse('2026-01-05T01:00:00Z'), lastEventAt: Date.parse('2026-01-05T01:59:00Z') };
  }
}

export interface BackupWorld {
  deps: BackupTaskDeps;
  store: MemoryBackupStore;
  objects: MemoryObjectStore;
  dumper: FakeFleetDumper;
  snapshots: FakeSnapshots;
  events: AppEvent[];
}

export function backupWorld(rowsPerTable = 2_500): BackupWorld {
  const store = new MemoryBackupStore();
  store.maps.set(FLEET.version, FLEET);
  const objects = new MemoryObjectStore();
  const dumper = new FakeFleetDumper(rowsPerTable);
  const snapshots = new FakeSnapshots();
  const events: AppEvent[] = [];
  return {
    store,
    objects,
    dumper,
    snapshots,
    events,
    deps: {
      store,
      objects,
      dumper,
      snapshots,
      binlogs: new FakeBinlogs(),
      catalog: { loadShardMap: async () => structuredClone(FLEET) },
      events: { publish: async (published) => void events.push(...published) },
      clock: { now: () => Date.now() },
      settings: { ...DEFAULT_BACKUP_SETTINGS, targetChunkBytes: 1 },
    },
  };
}
