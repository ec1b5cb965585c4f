import { ValidationError } from '../shared/errors';
import { xxh64 } from './hash';

export interface FleetPartition {
  index: number;
  count: number;
}

export const WHOLE_FLEET: FleetPartition = Object.freeze({ index: 0, count: 1 });

const encoder = new TextEncoder();

/**
 * Which partition monitors a shard. Whole shards go to one partition (a verdict needs all of a
 * shard's nodes), chosen by a stable hash of the name so a map change moves only the shards it touches.
 */
export function partitionOfShard(shardName: string, count: number): number {
  return count === 1 ? 0 : xxh64(encoder.encode(shardName)).lo % count;
}

export function validatePartition(partition: FleetPartition): FleetPartition {
  const { index, count } = partition;
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new ValidationError(`partition must be 0 <= index < count, got index ${index} of count ${count}`);
  }
  return partition;
}

/** The lease name of a partition: one monitor at a time per partition. */
export function partitionLeaseName({ index, count }: FleetPartition): string {
  return count === 1 ? 'health-monitor' : `health-monitor/${index}-of-${count}`;
}
