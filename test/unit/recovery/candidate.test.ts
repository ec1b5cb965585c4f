import { describe, expect, it } from 'vitest';
import type { ShardNode } from '../../../functions/core/shard-map-types';
import type { ProbeResult, ReplicationStatus } from '../../../functions/ports/node-prober';
import type { RecoverySettings } from '../../../functions/ports/recovery-store';
import { antiFlapBlock, chooseCandidate, type ProbedReplica } from '../../../functions/recovery/candidate';
import { NoFailoverCandidateError } from '../../../functions/shared/errors';

const node = (id: string): ShardNode => ({ id, role: 'replica', host: `${id}.db`, port: 3306 });

function replica(id: string, replication: Partial<ReplicationStatus> | null, gtid = '0-1-100'): ProbedReplica {
  const probe: ProbeResult = {
    ok: true,
    nodeId: id,
    shard: '-80',
    latencyMs: 1,
    observation: {
      flavor: 'mariadb',
      version: '10.11.6',
      readOnly: true,
      superReadOnly: false,
      writer: false,
      replication:
        replication === null
          ? null
          : {
              sourceHost: 'old.db',
              sourcePort: 3306,
              ioRunning: false,
              ioState: 'connecting',
              sqlRunning: true,
              lagSeconds: null,
              gtidExecuted: gtid,
              gtidReceived: null,
              relayLogApplied: true,
              lastError: null,
              ...replication,
            },
      threadsRunning: 1,
      connections: 1,
      maxConnections: 100,
      connectionsPercent: 1,
      bufferPoolUsedPercent: 10,
      bufferPoolHitRatio: 1,
      uptimeSeconds: 100,
      gtidPosition: gtid,
    },
  };
  return { node: node(id), probe };
}

const down = (id: string): ProbedReplica => ({ node: node(id), probe: { ok: false, nodeId: id, shard: '-80', latencyMs: 2000, error: 'connect ETIMEDOUT', timedOut: true } });

describe('chooseCandidate', () => {
  it('promotes the replica that has executed the most transactions', () => {
    const choice = chooseCandidate([replica('b', {}, '0-1-90'), replica('c', {}, '0-1-120'), replica('d', {}, '0-1-100')], 5);
    expect(choice.node.id).toBe('c');
    expect(choice.gtid).toBe('0-1-120');
    expect(choice.rejected.map((r) => r.nodeId).sort()).toEqual(['b', 'd']);
  });

  it('compares MySQL GTID sets by containment, not by text', () => {
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const choice = chooseCandidate([replica('b', {}, `${uuid}:1-99`), replica('c', {}, `${uuid}:1-100`)], 5);
    expect(choice.node.id).toBe('c');
  });

  it.each([
    ['unreachable', down('b'), /unreachable: connect ETIMEDOUT/],
    ['not replicating', replica('b', null), /not replicating/],
  ])('passes over a replica that is %s', (_label, bad, reason) => {
    const choice = chooseCandidate([bad, replica('c', {}, '0-1-100')], 5);
    expect(choice.node.id).toBe('c');
    expect(choice.rejected.find((r) => r.nodeId === 'b')?.reason).toMatch(reason);
  });

  it('passes over a replica lagging beyond the limit when another holds all it has', () => {
    const choice = chooseCandidate([replica('b', { lagSeconds: 6 }, '0-1-90'), replica('c', {}, '0-1-100')], 5);
    expect(choice.node.id).toBe('c');
    expect(choice.rejected.find((r) => r.nodeId === 'b')?.reason).toMatch(/lag 6s above the 5s limit/);
  });

  it('refuses rather than pass over a lagging replica that holds more, whose transactions would be lost', () => {
    expect(() => chooseCandidate([replica('b', { lagSeconds: 6 }, '0-1-500'), replica('c', {}, '0-1-100')], 5)).toThrow(/b \(at 0-1-500\) holds transactions c \(at 0-1-100\) lacks/);
  });

  it('ranks a replica still applying its relay log by what it received, since promotion waits for the rest', () => {
    const applying = replica('b', { relayLogApplied: false, gtidReceived: '0-1-27' }, '0-1-22');
    const choice = chooseCandidate([replica('c', {}, '0-1-12'), applying], 5);
    expect(choice.node.id).toBe('b');
    expect(choice.gtid).toBe('0-1-27');
    expect(chooseCandidate([replica('c', {}, '0-1-25'), applying], 5).node.id).toBe('b');
  });

  it('promotes nobody while a replica is still connected to its source: the primary is then up as the replicas see it', () => {
    const connected = replica('b', { ioState: 'yes', ioRunning: true, lagSeconds: 0, sourceHost: 'old.db', sourcePort: 3306 });
    expect(() => chooseCandidate([replica('c', {}), connected], 5)).toThrow(/replica b is still connected to its source old\.db:3306: the primary is up as the replicas see it/);
  });

  it('accepts a lag the server cannot report, its source being gone', () => {
    expect(chooseCandidate([replica('b', { lagSeconds: null })], 5).node.id).toBe('b');
  });

  it('prefers the less lagging of two equally advanced replicas, then map order', () => {
    expect(chooseCandidate([replica('b', { lagSeconds: 3 }), replica('c', { lagSeconds: 1 })], 5).node.id).toBe('c');
    expect(chooseCandidate([replica('b', {}), replica('c', {})], 5).node.id).toBe('b');
  });

  it('refuses when no replica is fit, saying why for each', () => {
    expect(() => chooseCandidate([down('b'), replica('c', { lagSeconds: 9 })], 5)).toThrow(NoFailoverCandidateError);
    expect(() => chooseCandidate([down('b'), replica('c', { lagSeconds: 9 })], 5)).toThrow(/b unreachable.*c lag 9s above the 5s limit/);
    expect(() => chooseCandidate([], 5)).toThrow(/the shard has no replicas/);
  });

  it('refuses when positions diverged, since promoting either loses the other one\'s writes', () => {
    expect(() => chooseCandidate([replica('b', {}, '0-1-100,1-2-5'), replica('c', {}, '0-1-101,1-2-4')], 5)).toThrow(/diverged/);
  });
});

describe('antiFlapBlock', () => {
  const window = 30 * 60_000;
  const settings = (lastFailoverAt: number | null, acknowledgedAt: number | null = null): RecoverySettings => ({
    shard: '-80',
    enabled: true,
    lastFailoverAt,
    acknowledgedAt,
    updatedBy: null,
  });

  it.each([
    ['never failed over', settings(null), 1_000_000, undefined],
    ['failed over 29 minutes ago', settings(0), 29 * 60_000, { lastFailoverAt: 0, blockedUntil: window }],
    ['failed over exactly 30 minutes ago', settings(0), window, undefined],
    ['failed over 1 minute ago but acknowledged after it', settings(0, 30_000), 60_000, undefined],
    ['acknowledged only an earlier failover', settings(120_000, 60_000), 180_000, { lastFailoverAt: 120_000, blockedUntil: 120_000 + window }],
  ])('%s', (_label, given, now, expected) => {
    expect(antiFlapBlock(given, now, window)).toEqual(expected);
  });
});
