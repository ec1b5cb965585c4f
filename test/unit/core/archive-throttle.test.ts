import { describe, expect, it } from 'vitest';
import { decideThrottle } from '../../../functions/core/archive-throttle';

const limits = { maxReplicaLagSeconds: 1, maxThreadsRunning: 25, pauseSeconds: 30 };

describe('archive throttling', () => {
  it('proceeds when the primary is calm and every replica is within the lag limit', () => {
    expect(decideThrottle({ threadsRunning: 25, replicas: [{ node: 'r1', lagSeconds: 1 }] }, limits)).toEqual({ proceed: true });
  });

  it('pauses while Threads_running is above the limit', () => {
    expect(decideThrottle({ threadsRunning: 26, replicas: [] }, limits)).toEqual({ proceed: false, reason: 'Threads_running 26 > 25', waitSeconds: 30 });
  });

  it('pauses while any replica lags more than the limit', () => {
    expect(decideThrottle({ threadsRunning: 3, replicas: [{ node: 'r1', lagSeconds: 0 }, { node: 'r2', lagSeconds: 2 }] }, limits)).toMatchObject({
      proceed: false,
      reason: 'replica r2 lag 2s > 1s',
    });
  });

  it('treats an unknown lag or an unanswered primary as too high', () => {
    expect(decideThrottle({ threadsRunning: 3, replicas: [{ node: 'r1', lagSeconds: null }] }, limits)).toMatchObject({ proceed: false, reason: 'replica r1 lag unknown' });
    expect(decideThrottle({ threadsRunning: null, replicas: [] }, limits)).toMatchObject({ proceed: false });
  });
});
