import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { archiveBinlogs } from '../../../functions/backup/binlog-archive';
import { DEFAULT_RETENTION, expiresAt } from '../../../functions/core/backup-retention';
import type { BinlogSource } from '../../../functions/ports/backup-binlog';
import { MemoryObjectStore } from '../../workflows/backup-fakes';
import { MemoryBackupStore } from './memory-backup-store';

const AT = Date.parse('2026-01-05T12:00:00Z');
const shard = { name: '-80', database: 'game', status: 'serving' as const, kind: 'self-managed' as const, nodes: [{ id: 'p', role: 'primary' as const, host: 'h', port: 3306 }] };

/** A primary whose closed binary logs are `names`, with a full backup taken at the first one. */
async function primaryWith(names: string[]) {
  const store = new MemoryBackupStore();
  await store.createBackup({ backupId: 'full', epochId: 'e', shard: '-80', database: 'game', kind: 'logical', retentionClass: 'daily', startedAt: AT, expiresAt: expiresAt(AT, 'daily', DEFAULT_RETENTION) });
  await store.updateBackup('full', { status: 'succeeded', consistentAt: AT, finishedAt: AT, position: { file: names[0]!, position: 500, gtid: null }, manifestKey: 'm', manifestSha256: 'x' });
  const binlogs = {
    closeCurrent: async () => ({ closed: names.map((name) => ({ name, bytes: 4 })), closedAt: AT + 60_000 }),
    async fetch(_node: unknown, file: string, directory: string) {
      await writeFile(`${directory}/${file}`, Buffer.alloc(4));
      return { path: `${directory}/${file}`, bytes: 4, firstEventAt: AT, lastEventAt: AT };
    },
  } as unknown as BinlogSource;
  const objects = new MemoryObjectStore();
  const deps = { store, objects, binlogs, events: { publish: async () => {} }, clock: { now: () => AT + 60_000 }, settings: { retention: DEFAULT_RETENTION } };
  return { deps, objects };
}

describe('binary log archiving', () => {
  it('archives every closed log from the full backup position on', async () => {
    const { deps, objects } = await primaryWith(['bin.000003', 'bin.000004', 'bin.000005']);
    const run = await archiveBinlogs(deps, { epochId: 'e', mapVersion: 1, shard });
    expect(run.status).toBe('succeeded');
    expect([...objects.objects.keys()].map((key) => key.split('/').at(-1))).toEqual(['bin.000003', 'bin.000004', 'bin.000005']);
  });

  it('refuses to archive past a log purged before it was archived, so no chain has a gap', async () => {
    const { deps, objects } = await primaryWith(['bin.000003', 'bin.000004', 'bin.000006']);
    await expect(archiveBinlogs(deps, { epochId: 'e', mapVersion: 1, shard })).rejects.toThrow(/bin\.000005 was purged before it was archived/);
    expect([...objects.objects.keys()]).toEqual([]);
  });
});
