import type { ArchiveRun, ArchiveStore } from '../ports/archive-store';
import type { Clock } from '../ports/clock';
import type { EventPublisher } from '../ports/event-publisher';
import { ArchiveFailed, buildEvent } from '../shared/events';
import { eventCommon, type SliceRequest } from './archive-slice';

export interface ArchiveFailure {
  /** The error's code (its Step Functions error name) and message. */
  errorCode: string;
  error: string;
}

/**
 * Closes a run that stopped for good: records it as failed with the error, frees the lease so the
 * next run need not wait for it to expire, and publishes ArchiveFailed with what was archived
 * before the failure (those rows stay archived; the others stay on the shard).
 */
export async function reportArchiveFailure(
  request: SliceRequest,
  failure: ArchiveFailure,
  deps: { store: ArchiveStore; events: EventPublisher; clock: Clock },
): Promise<ArchiveRun> {
  const { store } = deps;
  // The run may have failed before it was recorded (a config the live schema refuses).
  await store.startRun(request);
  const run = await store.finishRun(request.table, request.shard, request.runId, 'failed', `${failure.errorCode}: ${failure.error}`);
  await store.releaseLease(request.table, request.shard, request.runId);
  await deps.events.publish([
    buildEvent(ArchiveFailed, {
      ...eventCommon(request, deps.clock.now()),
      rows: run.rows,
      batches: run.batches,
      bytes: run.bytes,
      error: failure.error || 'unknown error',
      errorCode: failure.errorCode || 'Error',
      // The operator notification's one line.
      reason: `archiving ${request.table} stopped after ${run.rows} rows: ${failure.errorCode || 'Error'}: ${failure.error || 'unknown error'}`,
    }),
  ]);
  return run;
}
