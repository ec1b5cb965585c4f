import { EventBridgeClient, InternalException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createEventBridgePublisher } from '../../../functions/adapters/eventbridge-publisher';
import { EventPublishError } from '../../../functions/shared/errors';
import { buildEvent, ShardHealthy } from '../../../functions/shared/events';

const eventBridge = mockClient(EventBridgeClient);
const publisher = () => createEventBridgePublisher({ client: new EventBridgeClient({ region: 'eu-west-1' }), eventBusName: 'shardkeeper', baseDelayMs: 1 });

const events = (count: number) =>
  Array.from({ length: count }, (_, index) =>
    buildEvent(ShardHealthy, {
      schemaVersion: 1,
      shard: `s${index}`,
      verdict: 'HEALTHY',
      observedAt: '2025-06-01T12:00:00.000Z',
      reason: 'no findings left',
      mapVersion: 7,
    }),
  );

/** Accepts every entry of every call, giving each an id. */
const acceptAll = () =>
  eventBridge.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: input.Entries.map((_, index) => ({ EventId: `id-${index}` })),
  }));

describe('EventBridge publisher', () => {
  beforeEach(() => {
    eventBridge.reset();
  });

  it('sends each event to the bus with its source, detail-type and JSON detail', async () => {
    acceptAll();
    const [event] = events(1);
    await publisher().publish([event!]);
    expect(eventBridge).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [{ EventBusName: 'shardkeeper', Source: 'shardkeeper.health', DetailType: 'ShardHealthy', Detail: JSON.stringify(event!.detail) }],
    });
  });

  it('sends 23 events in calls of at most 10, in order', async () => {
    acceptAll();
    await publisher().publish(events(23));
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls.map((call) => call.args[0].input.Entries?.length)).toEqual([10, 10, 3]);
    const shards = calls.flatMap((call) => call.args[0].input.Entries!.map((entry) => JSON.parse(entry.Detail!).shard));
    expect(shards).toEqual(Array.from({ length: 23 }, (_, index) => `s${index}`));
  });

  it('makes no call for no events', async () => {
    await publisher().publish([]);
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('retries only the entries EventBridge rejected', async () => {
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'a' }, { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }, { EventId: 'c' }] })
      .resolvesOnce({ FailedEntryCount: 0, Entries: [{ EventId: 'b' }] });
    await publisher().publish(events(3));
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries!.map((entry) => JSON.parse(entry.Detail!).shard)).toEqual(['s1']);
  });

  it('raises EventPublishError naming the codes when entries stay rejected', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] });
    const attempt = publisher().publish(events(1));
    await expect(attempt).rejects.toThrow(EventPublishError);
    await expect(attempt).rejects.toThrow(/rejected 1 event\(s\) after 3 attempts: ShardHealthy: InternalFailure/);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(3);
  });

  it('wraps a failed call in EventPublishError with its cause', async () => {
    eventBridge.on(PutEventsCommand).rejects(new InternalException({ message: 'boom', $metadata: {} }));
    const error = await publisher().publish(events(1)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EventPublishError);
    expect((error as EventPublishError).cause).toBeInstanceOf(InternalException);
  });
});
