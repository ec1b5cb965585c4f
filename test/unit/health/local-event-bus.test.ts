import { describe, expect, it } from 'vitest';
import { LocalEventBus } from '../../../functions/adapters/local-event-bus';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { ShardNodeDown, ShardPrimaryDown } from '../../../functions/shared/events';

const event = (detailType: string, shard = 's'): AppEvent => ({ source: 'shardkeeper.health', detailType, detail: { shard } });

describe('local event bus', () => {
  it('delivers events to subscribers of their detail-type and to catch-all subscribers', async () => {
    const bus = new LocalEventBus();
    const primary: string[] = [];
    const all: string[] = [];
    bus.subscribe(ShardPrimaryDown, (e) => void primary.push(e.detailType));
    bus.subscribe('*', (e) => void all.push(e.detailType));
    await bus.publish([event('ShardPrimaryDown'), event('ShardNodeDown'), event('ShardHealthy')]);
    await bus.settled();
    expect(primary).toEqual(['ShardPrimaryDown']);
    expect(all).toEqual(['ShardPrimaryDown', 'ShardNodeDown', 'ShardHealthy']);
  });

  it('subscribes to several detail-types at once and stops after unsubscribing', async () => {
    const bus = new LocalEventBus();
    const seen: string[] = [];
    const unsubscribe = bus.subscribe([ShardPrimaryDown, ShardNodeDown], (e) => void seen.push(e.detailType));
    await bus.publish([event('ShardNodeDown')]);
    await bus.settled();
    unsubscribe();
    await bus.publish([event('ShardPrimaryDown')]);
    await bus.settled();
    expect(seen).toEqual(['ShardNodeDown']);
  });

  it('returns from publish before subscribers run, and a failing subscriber fails neither publish nor the others', async () => {
    const errors: unknown[] = [];
    const bus = new LocalEventBus({ onHandlerError: (error) => errors.push(error) });
    const seen: string[] = [];
    bus.subscribe('ShardNodeDown', () => {
      throw new Error('workflow broke');
    });
    bus.subscribe('ShardNodeDown', async (e) => void seen.push((e.detail as { shard: string }).shard));
    await bus.publish([event('ShardNodeDown', 'a')]);
    expect(seen).toEqual([]);
    await bus.settled();
    expect(seen).toEqual(['a']);
    expect(errors).toEqual([new Error('workflow broke')]);
  });

  it('gives every subscriber its own copy of the event', async () => {
    const bus = new LocalEventBus();
    const received: AppEvent[] = [];
    bus.subscribe('ShardNodeDown', (e) => {
      (e.detail as { shard: string }).shard = 'mutated';
    });
    bus.subscribe('ShardNodeDown', (e) => void received.push(e));
    const original = event('ShardNodeDown', 'kept');
    await bus.publish([original]);
    await bus.settled();
    expect(original.detail).toEqual({ shard: 'kept' });
    expect(received[0]?.detail).toEqual({ shard: 'kept' });
  });
});
