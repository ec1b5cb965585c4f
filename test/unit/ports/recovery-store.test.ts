import { describe, expect, it } from 'vitest';
import { failedPrimaries } from '../../../functions/ports/recovery-store';
import { InMemoryRecoveryStore } from '../../workflows/helpers/recovery-fakes';
import { ManualClock } from '../fakes/in-memory-catalog';

describe('the failed primaries the health monitor keeps probing', () => {
  it('are the nodes failovers took out of the map as failed primaries, not replicas taken out for other reasons', async () => {
    const store = new InMemoryRecoveryStore(new ManualClock());
    const node = (id: string, role: 'primary' | 'replica') => ({ id, role, host: `${id}.db`, port: 3306 });
    await store.addRemovedNode({ shard: '-80', node: node('a', 'primary'), reason: 'failed-primary', recoveryId: 'f1' });
    await store.addRemovedNode({ shard: '-80', node: node('b', 'replica'), reason: 'replica-down', recoveryId: 'r1' });
    await store.addRemovedNode({ shard: '80-', node: node('c', 'replica'), reason: 'repoint-failed', recoveryId: 'f2' });
    expect(await failedPrimaries(store)).toEqual([{ shard: '-80', node: node('a', 'primary') }]);
    expect(await failedPrimaries(store, '80-')).toEqual([]);
  });
});
