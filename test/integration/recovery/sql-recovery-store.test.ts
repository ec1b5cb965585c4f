import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../../functions/adapters/catalog-migrations';
import { createMysqlExecutor } from '../../../functions/adapters/mysql-executor';
import { SqlRecoveryStore } from '../../../functions/adapters/sql-recovery-store';
import { ConflictError, NotFoundError } from '../../../functions/shared/errors';
import { ManualClock } from '../../unit/fakes/in-memory-catalog';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

let scratch: ScratchDatabase;
const clock = new ManualClock(Date.parse('2025-03-01T12:00:00.000Z'));
let store: SqlRecoveryStore;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  await migrate(scratch.executor);
  store = new SqlRecoveryStore(scratch.executor, clock);
});

afterAll(async () => {
  await scratch?.drop();
});

describe('SqlRecoveryStore settings', () => {
  it('treats a shard it has never seen as enabled with no failover on record', async () => {
    await expect(store.settings('never-seen')).resolves.toEqual({
      shard: 'never-seen',
      enabled: true,
      lastFailoverAt: null,
      acknowledgedAt: null,
      updatedBy: null,
    });
  });

  it('switches recovery off and on per shard, remembering who did it', async () => {
    await store.setEnabled('40-80', false, 'alice');
    expect(await store.settings('40-80')).toMatchObject({ enabled: false, updatedBy: 'alice' });
    expect((await store.settings('80-c0')).enabled).toBe(true);
    await store.setEnabled('40-80', true, 'bob');
    expect(await store.settings('40-80')).toMatchObject({ enabled: true, updatedBy: 'bob' });
  });

  it('records a failover time and clears an earlier acknowledgement, which a later ack sets again', async () => {
    await store.acknowledge('c0-', 'alice');
    clock.advance(1_000);
    await store.recordFailover('c0-');
    const afterFailover = await store.settings('c0-');
    expect(afterFailover).toMatchObject({ lastFailoverAt: clock.now(), acknowledgedAt: null, enabled: true });
    clock.advance(60_000);
    await store.acknowledge('c0-', 'carol');
    expect(await store.settings('c0-')).toMatchObject({ lastFailoverAt: clock.now() - 60_000, acknowledgedAt: clock.now(), updatedBy: 'carol' });
    expect((await store.listSettings()).map((settings) => settings.shard)).toEqual(['40-80', 'c0-']);
  });
});

describe('SqlRecoveryStore lock', () => {
  it('lets one recovery per shard hold the lock; the holder may take it again', async () => {
    await expect(store.acquireLock('-40', 'r1', 60_000)).resolves.toEqual({ acquired: true });
    await expect(store.acquireLock('-40', 'r2', 60_000)).resolves.toEqual({ acquired: false, heldBy: 'r1', expiresAt: clock.now() + 60_000 });
    await expect(store.acquireLock('-40', 'r1', 60_000)).resolves.toEqual({ acquired: true });
    await expect(store.acquireLock('40-80', 'r2', 60_000)).resolves.toEqual({ acquired: true });
  });

  it('hands an expired lock to the next recovery', async () => {
    await store.acquireLock('80-c0', 'old', 5_000);
    clock.advance(5_000);
    await expect(store.acquireLock('80-c0', 'new', 5_000)).resolves.toEqual({ acquired: true });
    await expect(store.releaseLock('80-c0', 'old')).resolves.toBe(false);
    await expect(store.releaseLock('80-c0', 'new')).resolves.toBe(true);
  });

  it('grants the lock to exactly one of many concurrent recoveries, across connections', async () => {
    const other = new SqlRecoveryStore(createMysqlExecutor(scratch.openPool()), clock);
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, index) => (index % 2 === 0 ? store : other).acquireLock('race', `r${index}`, 60_000)),
    );
    expect(attempts.filter((attempt) => attempt.acquired)).toHaveLength(1);
    const holders = new Set(attempts.flatMap((attempt) => (attempt.acquired ? [] : [attempt.heldBy])));
    expect(holders.size).toBe(1);
  });
});

describe('SqlRecoveryStore audit log', () => {
  it('returns entries newest first with their JSON detail, filtered by shard or recovery', async () => {
    await store.appendAudit({ recoveryId: 'a1', shard: 'audit-shard', step: 'preCheck', outcome: 'started', detail: { trigger: 'ShardPrimaryDown' } });
    clock.advance(10);
    await store.appendAudit({ recoveryId: 'a1', shard: 'audit-shard', step: 'promote', outcome: 'succeeded', detail: { node: 'x-b', gtid: '0-1-42' } });
    await store.appendAudit({ recoveryId: 'a2', shard: 'other-shard', step: 'preCheck', outcome: 'blocked', detail: {} });

    const forShard = await store.auditLog({ shard: 'audit-shard', limit: 10 });
    expect(forShard.map((entry) => entry.step)).toEqual(['promote', 'preCheck']);
    expect(forShard[0]).toEqual({ recoveryId: 'a1', shard: 'audit-shard', step: 'promote', outcome: 'succeeded', detail: { node: 'x-b', gtid: '0-1-42' }, at: clock.now() });
    expect((await store.auditLog({ recoveryId: 'a2', limit: 10 })).map((entry) => entry.outcome)).toEqual(['blocked']);
    expect(await store.auditLog({ limit: 1 })).toHaveLength(1);
  });
});

describe('SqlRecoveryStore approvals', () => {
  it('records a pending approval, decides it once, and refuses a second decision', async () => {
    await store.addApproval({ recoveryId: 'm1', shard: '-40', kind: 'split-brain', taskToken: 'token-1', reason: 'two writable nodes' });
    expect((await store.listApprovals({ pendingOnly: true, limit: 10 })).map((approval) => approval.recoveryId)).toContain('m1');

    clock.advance(2_000);
    const decided = await store.decideApproval('m1', 'approved', 'alice');
    expect(decided).toMatchObject({ recoveryId: 'm1', kind: 'split-brain', taskToken: 'token-1', decision: 'approved', decidedBy: 'alice', decidedAt: clock.now() });
    expect(decided.requestedAt).toBe(clock.now() - 2_000);

    await expect(store.decideApproval('m1', 'rejected', 'bob')).rejects.toThrow(ConflictError);
    await expect(store.decideApproval('m1', 'rejected', 'bob')).rejects.toThrow(/already approved by alice/);
    expect((await store.listApprovals({ pendingOnly: true, limit: 10 })).map((approval) => approval.recoveryId)).not.toContain('m1');
  });

  it('reopens a decision that could not be delivered', async () => {
    await store.addApproval({ recoveryId: 'm2', shard: '-40', kind: 'quorum-lost', taskToken: 'token-2', reason: '1 of 3 nodes reachable' });
    await store.decideApproval('m2', 'rejected', 'alice');
    await store.reopenApproval('m2', 'not delivered to the workflow: TaskTimedOut');
    await expect(store.decideApproval('m2', 'approved', 'bob')).resolves.toMatchObject({ decision: 'approved', decidedBy: 'bob' });
    expect((await store.auditLog({ recoveryId: 'm2', limit: 10 })).map((entry) => [entry.step, entry.outcome, entry.detail])).toEqual([
      ['approve', 'succeeded', { by: 'bob', kind: 'quorum-lost' }],
      ['reject', 'failed', { by: 'alice', kind: 'quorum-lost', reason: 'not delivered to the workflow: TaskTimedOut' }],
      ['reject', 'succeeded', { by: 'alice', kind: 'quorum-lost' }],
    ]);
  });

  it('keeps the first request but answers with the newest token when the request step is retried', async () => {
    await store.addApproval({ recoveryId: 'm3', shard: '-40', kind: 'quorum-lost', taskToken: 'first', reason: 'r' });
    await store.addApproval({ recoveryId: 'm3', shard: '-40', kind: 'quorum-lost', taskToken: 'second', reason: 'r' });
    expect((await store.approval('m3'))?.taskToken).toBe('second');
  });

  it('says so when an unknown recovery is decided', async () => {
    await expect(store.decideApproval('nope', 'approved', 'alice')).rejects.toThrow(NotFoundError);
  });
});

describe('SqlRecoveryStore removed nodes', () => {
  it('keeps removed nodes whole so they can be put back, and forgets them on request', async () => {
    const node = { id: 's1-b', role: 'replica' as const, host: 's1-b.db', port: 3306, secretRef: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:x' };
    await store.addRemovedNode({ shard: '40-80', node, reason: 'replica-down', recoveryId: 'rr1' });
    await store.addRemovedNode({ shard: '40-80', node, reason: 'repoint-failed', recoveryId: 'rr2' });
    expect(await store.removedNodes('40-80')).toEqual([{ shard: '40-80', node, reason: 'repoint-failed', recoveryId: 'rr2', removedAt: clock.now() }]);
    await store.forgetRemovedNode('40-80', 's1-b');
    expect(await store.removedNodes()).toEqual([]);
  });
});
