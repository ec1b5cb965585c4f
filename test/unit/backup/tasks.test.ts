import { describe, expect, it } from 'vitest';
import { BACKUP_TASKS, runBackupTask } from '../../../functions/backup/tasks';
import { backupWorld, MemoryObjectStore } from '../../workflows/backup-fakes';

describe('the BeginEpoch task', () => {
  it('returns the shard tasks inline for a Map state', async () => {
    const world = backupWorld();
    const begun = (await runBackupTask(world.deps, { task: BACKUP_TASKS.beginEpoch, input: { kind: 'full' } }, Date.now() + 60_000)) as { tasks: Array<{ shard: string }> };
    expect(begun.tasks.map((task) => task.shard)).toEqual(['-40', '40-80', '80-']);
  });

  it("writes the shard tasks to S3 for a Distributed Map's ItemReader and returns only where they are", async () => {
    const world = backupWorld();
    const items = new MemoryObjectStore();
    const begun = (await runBackupTask(
      { ...world.deps, itemsOutput: { objects: items, prefix: 'plans/' } },
      { task: BACKUP_TASKS.beginEpoch, input: { kind: 'incremental', shards: ['-40', '80-'] } },
      Date.now() + 60_000,
    )) as Record<string, unknown>;
    const epochId = String(begun.epochId);
    expect(begun).toEqual({ epochId, mapVersion: 1, kind: 'incremental', count: 2, itemsKey: `plans/${epochId}.json` });
    const tasks = JSON.parse(items.objects.get(`plans/${epochId}.json`)!.body.toString()) as Array<Record<string, unknown>>;
    expect(tasks).toEqual([
      { epochId, mapVersion: 1, kind: 'incremental', shard: '-40', shardKind: 'self-managed' },
      { epochId, mapVersion: 1, kind: 'incremental', shard: '80-', shardKind: 'self-managed' },
    ]);
    expect((await world.store.epoch(epochId))!.shards).toEqual(['-40', '80-']);
  });
});
