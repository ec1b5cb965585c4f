import { setTimeout as sleep } from 'node:timers/promises';
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { AppEvent, EventPublisher } from '../ports/event-publisher';
import { EventPublishError } from '../shared/errors';

/** PutEvents takes at most 10 entries per call. */
const ENTRIES_PER_CALL = 10;

export interface EventBridgePublisherOptions {
  client: EventBridgeClient;
  /** Name or ARN of the custom bus. */
  eventBusName: string;
  /** Tries per entry when EventBridge rejects it (throttling, internal failures); the SDK already retries whole calls. */
  maxAttempts?: number;
  /** First pause before retrying rejected entries; doubles per retry. */
  baseDelayMs?: number;
}

/**
 * Publishes to one EventBridge bus in calls of 10 entries. PutEvents can accept a call and still
 * reject some entries; only those are retried, and if any is still rejected after `maxAttempts`
 * the publish fails with EventPublishError listing the error codes.
 */
export function createEventBridgePublisher({ client, eventBusName, maxAttempts = 3, baseDelayMs = 100 }: EventBridgePublisherOptions): EventPublisher {
  const putChunk = async (events: AppEvent[]) => {
    let pending: PutEventsRequestEntry[] = events.map((event) => ({
      EventBusName: eventBusName,
      Source: event.source,
      DetailType: event.detailType,
      Detail: JSON.stringify(event.detail),
    }));
    for (let attempt = 1; ; attempt++) {
      let response;
      try {
        response = await client.send(new PutEventsCommand({ Entries: pending }));
      } catch (error) {
        throw new EventPublishError(`PutEvents to ${eventBusName} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      // Result entries line up with request entries; a failed one carries an ErrorCode instead of an EventId.
      const rejected = pending.flatMap((entry, index) => {
        const result = response.Entries?.[index];
        return result?.EventId && !result.ErrorCode ? [] : [{ entry, code: result?.ErrorCode ?? 'NoResult', message: result?.ErrorMessage }];
      });
      if (rejected.length === 0) return;
      if (attempt >= maxAttempts) {
        const codes = rejected.map(({ entry, code, message }) => `${entry.DetailType}: ${code}${message ? ` (${message})` : ''}`);
        throw new EventPublishError(`EventBridge rejected ${rejected.length} event(s) after ${attempt} attempts: ${codes.join('; ')}`, {
          details: { rejected: rejected.map(({ entry, code }) => ({ detailType: entry.DetailType, code })) },
        });
      }
      pending = rejected.map(({ entry }) => entry);
      await sleep(baseDelayMs * 2 ** (attempt - 1));
    }
  };

  return {
    async publish(events) {
      for (let start = 0; start < events.length; start += ENTRIES_PER_CALL) await putChunk(events.slice(start, start + ENTRIES_PER_CALL));
    },
  };
}
