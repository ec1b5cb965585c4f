/** An event on the Shardkeeper bus; `detailType` and `source` come from the contracts in shared/events.ts. */
export interface AppEvent<D = unknown> {
  source: string;
  detailType: string;
  detail: D;
}

export interface EventPublisher {
  publish(events: AppEvent[]): Promise<void>;
}
