import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { runLocalBackupWorkflow, synthesizeBackupDefinition } from '../../functions/backup/local-workflow';
import { SnapshotLostError } from '../../functions/shared/errors';
import { backupWorld, FLEET } from './backup-fakes';

describe('backup state machine (synthesized definition, local use cases)', () => {
  let definition: StateMachineDefinition;
  const fast = { retryDelayMs: 0, waitMs: 0, deadline: () => 0 };

  beforeAll(() => {
    const { version: _version, updatedAt: _updatedAt, ...draft } = FLEET;
    definition = synthesizeBackupDefinition({ fleet: draft });
  });

  it('backs up every shard by kind: dumps across several invocations, waits for the snapshot, records one epoch', async () => {
    const world = backupWorld();
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'full' }, fast);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    // -40 dumps from its paused replica, one 1,000-row chunk per invocation under the deadline (3 steps);
    // 80- has no replica: one consistent snapshot, one step.
    expect(run.states.filter((state) => state === 'ContinueDump')).toHaveLength(4);
    expect(run.states.filter((state) => state === 'PollSnapshot')).toHaveLength(2);
    const backups = await world.store.listBackups({ limit: 10 });
    expect(backups.map((backup) => [backup.shard, backup.kind, backup.status]).sort()).toEqual([
      ['-40', 'logical', 'succeeded'],
      ['40-80', 'snapshot', 'succeeded'],
      ['80-', 'logical', 'succeeded'],
    ]);
    expect(new Set(backups.map((backup) => backup.epochId)).size).toBe(1);
    const [epoch] = await world.store.listEpochs(1);
    expect(epoch).toMatchObject({ status: 'succeeded', mapVersion: 1, kind: 'full' });
    expect(backups.find((backup) => backup.shard === '-40')).toMatchObject({ dumpMode: 'paused-replica', sourceNode: 'a2' });
    expect(world.dumper.paused.size).toBe(0);
    expect(world.events.filter((event) => event.detailType === 'BackupSucceeded')).toHaveLength(3);
    // The Map's results are discarded; FinishEpoch read the outcome from the catalog.
    expect(run.output).not.toHaveProperty('results');
    expect(run.output).toMatchObject({ finished: { status: 'succeeded', failedCount: 0, failed: [] } });
  });

  it('retries a transient failure (a dropped connection) and carries on', async () => {
    const world = backupWorld();
    world.dumper.failNext('rows', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'full' }, fast);
    expect(run.status).toBe('succeeded');
    expect(run.retries).toEqual(['ContinueDump']);
    expect((await world.store.listEpochs(1))[0]!.status).toBe('succeeded');
  });

  it('reports a permanent failure: the shard fails with BackupFailed, the others finish, the run ends failed', async () => {
    const world = backupWorld();
    world.snapshots.nextOutcome = 'failed';
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'full' }, fast);
    expect(run.status).toBe('failed');
    expect(run.error?.name).toBe('BackupEpochIncomplete');
    expect(run.states).toContain('FailShard');
    expect(run.retries).toEqual([]);
    const failed = world.events.filter((event) => event.detailType === 'BackupFailed');
    expect(failed).toEqual([expect.objectContaining({ detail: expect.objectContaining({ shard: '40-80', kind: 'snapshot', error: expect.stringMatching(/failed/) }) })]);
    expect((await world.store.listEpochs(1))[0]!.status).toBe('partial');
    expect((await world.store.listBackups({ kinds: ['logical'], limit: 10 })).every((backup) => backup.status === 'succeeded')).toBe(true);
  });

  it('resumes a paused replica when its dump fails for good', async () => {
    const world = backupWorld();
    world.dumper.failNext('assertPaused', new SnapshotLostError('the paused replica moved'));
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'full', shards: ['-40'] }, fast);
    expect(run.status).toBe('failed');
    expect(world.dumper.paused.size).toBe(0);
    expect(world.dumper.calls).toContain('resume a2');
    const [backup] = await world.store.listBackups({ shard: '-40', limit: 1 });
    expect(backup).toMatchObject({ status: 'failed', error: expect.stringMatching(/^SnapshotLost: the paused replica moved/) });
  });

  it('runs an incremental epoch: binary logs of self-managed shards, the PITR window of managed ones', async () => {
    const world = backupWorld();
    expect((await runLocalBackupWorkflow(definition, world.deps, { kind: 'full' }, fast)).status).toBe('succeeded');
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'incremental' }, fast);
    expect(run.status).toBe('succeeded');
    expect(run.states.filter((state) => state === 'ArchiveBinlogs')).toHaveLength(2);
    expect(run.states).toContain('RecordRestoreWindow');
    const incremental = await world.store.listBackups({ kinds: ['binlog', 'pitr-window'], limit: 10 });
    expect(incremental.map((backup) => [backup.shard, backup.kind, backup.status]).sort()).toEqual([
      ['-40', 'binlog', 'succeeded'],
      ['40-80', 'pitr-window', 'succeeded'],
      ['80-', 'binlog', 'succeeded'],
    ]);
  });

  it('fails the backup and resumes the replica when pausing it fails half-way', async () => {
    const world = backupWorld();
    world.dumper.failNext('pause', new Error('Lost connection to server during query'));
    const run = await runLocalBackupWorkflow(definition, world.deps, { kind: 'full', shards: ['-40'] }, fast);
    expect(run.status).toBe('failed');
    const [backup] = await world.store.listBackups({ shard: '-40', limit: 1 });
    expect(backup).toMatchObject({ status: 'failed', error: expect.stringMatching(/Lost connection/) });
    expect(world.dumper.calls).toContain('resume a2');
    expect(world.events.map((event) => event.detailType)).toEqual(['BackupStarted', 'BackupFailed']);
  });
});
