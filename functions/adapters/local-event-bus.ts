import type { AppEvent, EventPublisher } from '../ports/event-publisher';
import type { EventContract } from '../shared/events';

export type EventHandler = (event: AppEvent) => void | Promise<void>;

export interface LocalEventBusOptions {
  /** Called with a subscriber's error; a failing subscriber never fails the publisher, as with EventBridge targets. */
  onHandlerError?: (error: unknown, event: AppEvent) => void;
}

/**
 * The in-process stand-in for the custom EventBridge bus (sandbox, tests): subscribers register by
 * detail-type (or contract) and receive events asynchronously, after `publish` has returned.
 */
export class LocalEventBus implements EventPublisher {
  private readonly subscribers = new Map<string, Set<EventHandler>>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: LocalEventBusOptions = {}) {}

  /** Subscribes to events of these detail-types ('*' for all); returns the unsubscribe function. */
  subscribe(to: string | EventContract | readonly (string | EventContract)[], handler: EventHandler): () => void {
    const detailTypes = (Array.isArray(to) ? to : [to]).map((item: string | EventContract) => (typeof item === 'string' ? item : item.detailType));
    for (const detailType of detailTypes) {
      let handlers = this.subscribers.get(detailType);
      if (!handlers) this.subscribers.set(detailType, (handlers = new Set()));
      handlers.add(handler);
    }
    return () => {
      for (const detailType of detailTypes) this.subscribers.get(detailType)?.delete(handler);
    };
  }

  async publish(events: AppEvent[]): Promise<void> {
    for (const event of events) {
      const handlers = new Set([...(this.subscribers.get(event.detailType) ?? []), ...(this.subscribers.get('*') ?? [])]);
      for (const handler of handlers) {
        // A copy per subscriber, as each EventBridge target receives its own; delivered on a later turn of the event loop.
        const delivery = new Promise<void>((resolve) => setImmediate(resolve))
          .then(() => handler(structuredClone(event)))
          .catch((error: unknown) => this.options.onHandlerError?.(error, event))
          .finally(() => this.inFlight.delete(delivery));
        this.inFlight.add(delivery);
      }
    }
  }

  /** Resolves once every delivery so far (and any they caused) has finished. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
