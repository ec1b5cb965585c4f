/** Load throttles between archive batches, as pt-archiver's --max-lag / --max-load: pause while the shard is busy. */

export interface ThrottleLimits {
  /** Pause while any replica lags more than this (seconds). */
  maxReplicaLagSeconds: number;
  /** Pause while the primary's Threads_running exceeds this. */
  maxThreadsRunning: number;
  /** How long to pause before looking again. */
  pauseSeconds: number;
}

export interface LoadSample {
  /** The primary's Threads_running; null when the primary could not be asked. */
  threadsRunning: number | null;
  /** Every replica of the shard; null lag = unknown (replication stopped, node unreachable). */
  replicas: Array<{ node: string; lagSeconds: number | null }>;
}

export type ThrottleDecision = { proceed: true } | { proceed: false; reason: string; waitSeconds: number };

/**
 * Unknown is treated as too high: a replica whose lag cannot be read may be far behind, and deleting
 * more rows would only add to it. A replica taken out of the shard map is no longer sampled.
 */
export function decideThrottle(sample: LoadSample, limits: ThrottleLimits): ThrottleDecision {
  const pause = (reason: string): ThrottleDecision => ({ proceed: false, reason, waitSeconds: limits.pauseSeconds });
  if (sample.threadsRunning === null) return pause('the primary did not report Threads_running');
  if (sample.threadsRunning > limits.maxThreadsRunning) {
    return pause(`Threads_running ${sample.threadsRunning} > ${limits.maxThreadsRunning}`);
  }
  for (const replica of sample.replicas) {
    if (replica.lagSeconds === null) return pause(`replica ${replica.node} lag unknown`);
    if (replica.lagSeconds > limits.maxReplicaLagSeconds) {
      return pause(`replica ${replica.node} lag ${replica.lagSeconds}s > ${limits.maxReplicaLagSeconds}s`);
    }
  }
  return { proceed: true };
}
