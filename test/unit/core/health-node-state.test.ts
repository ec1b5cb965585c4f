import { describe, expect, it } from 'vitest';
import {
  assessNode,
  DEFAULT_HEALTH_THRESHOLDS,
  healthThresholds,
  initialNodeHealth,
  type NodeHealth,
  type NodeState,
  type NodeTransition,
} from '../../../functions/core/health';
import { ValidationError } from '../../../functions/shared/errors';
import { failed, observation, ok } from '../health/probes';

const node = { id: 'n1' };
const up = (uptimeSeconds = 3600) => ok('-80', node, observation({ uptimeSeconds }));
const fail = () => failed('-80', node);

/** Runs a probe sequence ('+' ok, '-' failed) from a fresh node and returns each step's state and transition. */
function run(sequence: string, thresholds = DEFAULT_HEALTH_THRESHOLDS) {
  let health: NodeHealth | undefined;
  return [...sequence].map((step, tick) => {
    const assessment = assessNode(health, step === '+' ? up(3600 + tick) : fail(), thresholds, 1000 * tick);
    health = assessment.health;
    return { state: assessment.health.state, transition: assessment.transition };
  });
}

describe('node state machine', () => {
  const cases: { sequence: string; states: NodeState[]; transitions: (NodeTransition | undefined)[]; why: string }[] = [
    { sequence: '+++', states: ['ONLINE', 'ONLINE', 'ONLINE'], transitions: [undefined, undefined, undefined], why: 'a healthy node stays ONLINE' },
    { sequence: '-+', states: ['SUSPECT', 'ONLINE'], transitions: [undefined, undefined], why: 'one failure is only suspicion' },
    { sequence: '--+', states: ['SUSPECT', 'SUSPECT', 'ONLINE'], transitions: [undefined, undefined, undefined], why: 'two failures are not enough' },
    { sequence: '---', states: ['SUSPECT', 'SUSPECT', 'DOWN'], transitions: [undefined, undefined, 'down'], why: 'the third consecutive failure makes it DOWN' },
    { sequence: '-+--', states: ['SUSPECT', 'ONLINE', 'SUSPECT', 'SUSPECT'], transitions: [undefined, undefined, undefined, undefined], why: 'a success resets the failure count' },
    { sequence: '-----', states: ['SUSPECT', 'SUSPECT', 'DOWN', 'DOWN', 'DOWN'], transitions: [undefined, undefined, 'down', undefined, undefined], why: 'DOWN is announced once' },
    { sequence: '---++', states: ['SUSPECT', 'SUSPECT', 'DOWN', 'RECOVERING', 'ONLINE'], transitions: [undefined, undefined, 'down', undefined, 'recovered'], why: 'two successes after DOWN bring it back' },
    { sequence: '---+-+', states: ['SUSPECT', 'SUSPECT', 'DOWN', 'RECOVERING', 'DOWN', 'RECOVERING'], transitions: [undefined, undefined, 'down', undefined, undefined, undefined], why: 'a failure while recovering returns to DOWN without a second announcement' },
    { sequence: '---+-++', states: ['SUSPECT', 'SUSPECT', 'DOWN', 'RECOVERING', 'DOWN', 'RECOVERING', 'ONLINE'], transitions: [undefined, undefined, 'down', undefined, undefined, undefined, 'recovered'], why: 'recovery counts successes again from the last failure' },
  ];
  it.each(cases)('$sequence: $why', ({ sequence, states, transitions }) => {
    const steps = run(sequence);
    expect(steps.map((step) => step.state)).toEqual(states);
    expect(steps.map((step) => step.transition)).toEqual(transitions);
  });

  it('honours configured thresholds', () => {
    const thresholds = healthThresholds({ failuresToDown: 1, successesToOnline: 1 });
    expect(run('-+', thresholds)).toEqual([
      { state: 'DOWN', transition: 'down' },
      { state: 'ONLINE', transition: 'recovered' },
    ]);
    expect(run('----', healthThresholds({ failuresToDown: 4 })).map((step) => step.state)).toEqual(['SUSPECT', 'SUSPECT', 'SUSPECT', 'DOWN']);
  });

  it('caps counters at the thresholds, so a steady node yields an unchanged record', () => {
    let health: NodeHealth | undefined;
    const records: NodeHealth[] = [];
    for (let tick = 0; tick < 6; tick++) {
      health = assessNode(health, fail(), DEFAULT_HEALTH_THRESHOLDS, 1000 * tick).health;
      records.push(health);
    }
    expect(records.at(-1)).toEqual(records.at(-2));
    expect(records.at(-1)).toMatchObject({ state: 'DOWN', consecutiveFailures: 3, consecutiveSuccesses: 0, changedAt: 2000 });
  });

  it('stamps changedAt only when the state changes', () => {
    const start = initialNodeHealth(0);
    const suspect = assessNode(start, fail(), DEFAULT_HEALTH_THRESHOLDS, 5000).health;
    const stillSuspect = assessNode(suspect, fail(), DEFAULT_HEALTH_THRESHOLDS, 6000).health;
    expect(suspect.changedAt).toBe(5000);
    expect(stillSuspect.changedAt).toBe(5000);
  });

  it('detects a restart from uptime going backwards, and keeps the last uptime through failures', () => {
    const first = assessNode(undefined, up(5000), DEFAULT_HEALTH_THRESHOLDS, 0);
    expect(first.restarted).toBe(false);
    const later = assessNode(first.health, up(5001), DEFAULT_HEALTH_THRESHOLDS, 1000);
    expect(later.restarted).toBe(false);
    const failedOnce = assessNode(later.health, fail(), DEFAULT_HEALTH_THRESHOLDS, 2000);
    expect(failedOnce.health.lastUptimeSeconds).toBe(5001);
    const rebooted = assessNode(failedOnce.health, up(2), DEFAULT_HEALTH_THRESHOLDS, 3000);
    expect(rebooted.restarted).toBe(true);
    expect(rebooted.health.lastUptimeSeconds).toBe(2);
  });

  it('rejects nonsensical thresholds, naming each', () => {
    expect(() => healthThresholds({ failuresToDown: 0, lagSecondsMax: -1, clearRatio: 2 })).toThrow(ValidationError);
    expect(() => healthThresholds({ failuresToDown: 0, lagSecondsMax: -1 })).toThrow(/failuresToDown.*lagSecondsMax/);
  });
});
