import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../functions/shared/errors';
import {
  buildEvent,
  contractFor,
  EVENT_SOURCES,
  eventContracts,
  eventPattern,
  healthEventContracts,
  parseEventDetail,
  recoveryEventContracts,
  ruleEventPattern,
  ShardFailoverCompleted,
  ShardNodeDown,
  ShardPrimaryDown,
} from '../../../functions/shared/events';

const primaryDown = {
  schemaVersion: 1 as const,
  shard: '40-80',
  verdict: 'PRIMARY_DOWN' as const,
  observedAt: '2025-06-01T12:00:03.000Z',
  reason: 'primary 40-80-a failed 3 probes in a row and its replicas lost it too',
  mapVersion: 12,
  finding: 'PRIMARY_DOWN' as const,
  nodes: ['40-80-a'],
  node: '40-80-a',
  endpoint: '10.0.1.10:3306',
  confirmedBy: ['40-80-b', '40-80-c'],
};

describe('event contracts', () => {
  it('declares the ten health and seven recovery detail-types once each', () => {
    expect(healthEventContracts.map((c) => c.detailType)).toEqual([
      'ShardNodeDown',
      'ShardNodeRecovered',
      'ShardPrimaryDown',
      'ShardPrimaryUnreachable',
      'ShardDegraded',
      'ShardHealthy',
      'ReplicationLagHigh',
      'QuorumLost',
      'SplitBrainSuspected',
      'LoadHigh',
    ]);
    expect(recoveryEventContracts.map((c) => c.detailType)).toEqual([
      'ShardFailoverStarted',
      'ShardFailoverCompleted',
      'ShardFailoverFailed',
      'ShardFailoverBlocked',
      'ShardReplicaRemoved',
      'ShardReplicaRestored',
      'RecoveryApprovalRequested',
      'DataCorruptionReported',
    ]);
    expect(new Set(eventContracts.map((c) => c.detailType)).size).toBe(eventContracts.length);
    expect(healthEventContracts.every((c) => c.source === 'shardkeeper.health')).toBe(true);
    expect(recoveryEventContracts.every((c) => c.source === 'shardkeeper.recovery')).toBe(true);
  });

  it('builds an event from a valid detail', () => {
    expect(buildEvent(ShardPrimaryDown, primaryDown)).toEqual({ source: EVENT_SOURCES.health, detailType: 'ShardPrimaryDown', detail: primaryDown });
  });

  it('refuses a detail that breaks its contract, naming the fields', () => {
    const broken = { ...primaryDown, schemaVersion: 2, observedAt: 'yesterday', finding: 'DEGRADED' } as unknown as typeof primaryDown;
    expect(() => buildEvent(ShardPrimaryDown, broken)).toThrow(ValidationError);
    expect(() => buildEvent(ShardPrimaryDown, broken)).toThrow(/schemaVersion.*observedAt.*finding/);
  });

  it('parses an incoming detail for a consumer and finds its contract by detail-type', () => {
    expect(contractFor('ShardPrimaryDown')).toBe(ShardPrimaryDown);
    expect(contractFor('SomethingElse')).toBeUndefined();
    expect(parseEventDetail(ShardPrimaryDown, JSON.parse(JSON.stringify(primaryDown)))).toEqual(primaryDown);
    expect(() => parseEventDetail(ShardNodeDown, primaryDown)).toThrow(/invalid ShardNodeDown detail/);
  });

  it('builds rule patterns from contracts, in EventBridge JSON and CDK shapes', () => {
    expect(eventPattern(ShardPrimaryDown)).toEqual({ source: ['shardkeeper.health'], 'detail-type': ['ShardPrimaryDown'] });
    expect(ruleEventPattern(ShardPrimaryDown, ShardNodeDown, ShardFailoverCompleted)).toEqual({
      source: ['shardkeeper.health', 'shardkeeper.recovery'],
      detailType: ['ShardPrimaryDown', 'ShardNodeDown', 'ShardFailoverCompleted'],
    });
    expect(() => eventPattern()).toThrow(ValidationError);
  });
});
