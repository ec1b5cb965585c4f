export interface DeadlineInput {
  /** When this invocation was scheduled (the schedule event's time), ms since the epoch. */
  scheduledAt: number;
  now: number;
  /** Time the Lambda invocation has left. */
  remainingMs: number;
  /** The schedule's period: the next invocation starts this long after this one. */
  periodMs: number;
  /** Probing continues this long past the next start, so the next invocation takes over without a gap. */
  handoverMs: number;
  /** Kept free at the end for the last tick (connect + query timeouts) and the handover write. */
  reserveMs: number;
}

/** When a scheduled invocation stops starting ticks: just after its successor is due, and always inside its own timeout. */
export function monitorDeadline({ scheduledAt, now, remainingMs, periodMs, handoverMs, reserveMs }: DeadlineInput): number {
  const scheduled = Number.isFinite(scheduledAt) ? scheduledAt : now;
  return Math.min(scheduled + periodMs + handoverMs, now + remainingMs - reserveMs);
}
