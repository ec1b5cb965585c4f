import { describe, expect, it } from 'vitest';
import {
  becameHealthy,
  classifyShard,
  DEFAULT_HEALTH_THRESHOLDS,
  healthThresholds,
  quorumSize,
  raisedFindings,
  verdictSeverity,
  type NodeState,
  type NodeView,
  type ShardFinding,
  type ShardFindingCode,
  type ShardVerdict,
} from '../../../functions/core/health';
import type { NodeRole } from '../../../functions/core/shard-map-types';
import type { NodeObservation } from '../../../functions/ports/node-prober';
import { failed, observation, ok, replicaObservation } from '../health/probes';

type Seen = NodeObservation | 'fail';
interface NodeSpec {
  role?: NodeRole;
  state?: NodeState;
  seen: Seen;
}

/** Views of a shard: the first spec is the primary `p`, the others replicas `r1`, `r2`, ... unless a role is given. */
function views(...specs: NodeSpec[]): NodeView[] {
  return specs.map((spec, index) => {
    const node = { id: index === 0 ? 'p' : `r${index}`, role: spec.role ?? (index === 0 ? 'primary' : 'replica'), host: `h${index}`, port: 3306 };
    const state = spec.state ?? (spec.seen === 'fail' ? 'DOWN' : 'ONLINE');
    return {
      node,
      health: { state, consecutiveFailures: state === 'DOWN' ? 3 : 0, consecutiveSuccesses: 0, lastUptimeSeconds: 100, changedAt: 0 },
      probe: spec.seen === 'fail' ? failed('s', node) : ok('s', node, spec.seen),
    };
  });
}

const primary = (overrides: Partial<NodeObservation> = {}): NodeSpec => ({ seen: observation(overrides) });
const primaryDown: NodeSpec = { seen: 'fail' };
const replica = (...args: Parameters<typeof replicaObservation>): NodeSpec => ({ seen: replicaObservation(...args) });
const replicaDown: NodeSpec = { seen: 'fail' };
const lostPrimary = replica({ ioRunning: false, ioState: 'connecting', lagSeconds: null });

const codes = (findings: ShardFinding[]) => findings.map((finding) => finding.code);

describe('shard verdicts', () => {
  const cases: { name: string; nodes: NodeSpec[]; verdict: ShardVerdict; findings: ShardFindingCode[]; about?: Partial<Record<ShardFindingCode, string[]>> }[] = [
    { name: 'all nodes fine', nodes: [primary(), replica(), replica()], verdict: 'HEALTHY', findings: [] },
    { name: 'a lone primary', nodes: [primary()], verdict: 'HEALTHY', findings: [] },
    {
      name: 'a replica down',
      nodes: [primary(), replica(), replicaDown],
      verdict: 'DEGRADED',
      findings: ['DEGRADED'],
      about: { DEGRADED: ['r2'] },
    },
    {
      name: 'a replica still recovering is not yet fit to serve',
      nodes: [primary(), replica(), { seen: replicaObservation(), state: 'RECOVERING' }],
      verdict: 'DEGRADED',
      findings: ['DEGRADED'],
    },
    {
      name: 'a replica that failed one probe is only suspect',
      nodes: [primary(), replica(), { seen: 'fail', state: 'SUSPECT' }],
      verdict: 'HEALTHY',
      findings: [],
    },
    {
      name: 'primary down and every replica lost it',
      nodes: [primaryDown, lostPrimary, replica({ ioRunning: false, ioState: 'no', lagSeconds: null })],
      verdict: 'PRIMARY_DOWN',
      findings: ['PRIMARY_DOWN'],
      about: { PRIMARY_DOWN: ['p'] },
    },
    {
      name: 'primary unreachable from the monitor while replicas still replicate',
      nodes: [primaryDown, replica(), replica()],
      verdict: 'PRIMARY_UNREACHABLE',
      findings: ['PRIMARY_UNREACHABLE'],
    },
    {
      name: 'primary unreachable while one replica of two still replicates',
      nodes: [primaryDown, lostPrimary, replica()],
      verdict: 'PRIMARY_UNREACHABLE',
      findings: ['PRIMARY_UNREACHABLE'],
    },
    {
      name: 'primary down with no replica probed successfully cannot be confirmed',
      nodes: [primaryDown, { seen: 'fail', state: 'SUSPECT' }, { seen: 'fail', state: 'SUSPECT' }],
      verdict: 'PRIMARY_UNREACHABLE',
      findings: ['PRIMARY_UNREACHABLE'],
    },
    {
      name: 'primary merely suspect is no primary finding yet',
      nodes: [{ seen: 'fail', state: 'SUSPECT' }, lostPrimary, lostPrimary],
      verdict: 'HEALTHY',
      findings: [],
    },
    {
      name: 'two-node shard: the one replica confirming is enough for failover',
      nodes: [primaryDown, lostPrimary],
      verdict: 'PRIMARY_DOWN',
      findings: ['PRIMARY_DOWN'],
    },
    {
      name: 'primary and a replica down out of three: quorum lost, no automatic failover',
      nodes: [primaryDown, lostPrimary, replicaDown],
      verdict: 'QUORUM_LOST',
      findings: ['QUORUM_LOST', 'DEGRADED'],
      about: { QUORUM_LOST: ['p', 'r2'] },
    },
    {
      name: 'both replicas down out of three: quorum lost while the primary serves',
      nodes: [primary(), replicaDown, replicaDown],
      verdict: 'QUORUM_LOST',
      findings: ['QUORUM_LOST', 'DEGRADED'],
    },
    { name: 'every node of a pair down', nodes: [primaryDown, replicaDown], verdict: 'QUORUM_LOST', findings: ['QUORUM_LOST', 'DEGRADED'] },
    { name: 'a lone primary down', nodes: [primaryDown], verdict: 'QUORUM_LOST', findings: ['QUORUM_LOST'] },
    {
      name: 'a writable replica that still replicates',
      nodes: [primary(), replica({}, { readOnly: false, writer: true }), replica()],
      verdict: 'REPLICA_WRITABLE',
      findings: ['REPLICA_WRITABLE'],
      about: { REPLICA_WRITABLE: ['r1'] },
    },
    {
      name: 'two writers that do not replicate from each other',
      nodes: [primary(), { seen: observation({ replication: null }) }, replica()],
      verdict: 'SPLIT_BRAIN',
      findings: ['SPLIT_BRAIN', 'REPLICATION_STOPPED', 'DEGRADED'],
      about: { SPLIT_BRAIN: ['p', 'r1'] },
    },
    {
      name: 'a writable replica with the primary down is one writer, not split brain',
      nodes: [primaryDown, { seen: observation({ replication: null }) }, lostPrimary],
      verdict: 'PRIMARY_DOWN',
      findings: ['PRIMARY_DOWN', 'REPLICA_WRITABLE'],
    },
    {
      name: 'SQL thread stopped on a replica',
      nodes: [primary(), replica({ sqlRunning: false, lagSeconds: null }), replica()],
      verdict: 'REPLICATION_STOPPED',
      findings: ['REPLICATION_STOPPED', 'DEGRADED'],
      about: { REPLICATION_STOPPED: ['r1'], DEGRADED: ['r1'] },
    },
    {
      name: 'IO thread stopped on a replica while the primary is up',
      nodes: [primary(), replica({ ioRunning: false, ioState: 'no' }), replica()],
      verdict: 'REPLICATION_STOPPED',
      findings: ['REPLICATION_STOPPED', 'DEGRADED'],
    },
    {
      name: 'a replica lagging beyond 5 s',
      nodes: [primary(), replica({ lagSeconds: 12 }), replica({ lagSeconds: 5 })],
      verdict: 'LAG_HIGH',
      findings: ['LAG_HIGH', 'DEGRADED'],
      about: { LAG_HIGH: ['r1'], DEGRADED: ['r1'] },
    },
    {
      name: 'Threads_running above 25',
      nodes: [primary({ threadsRunning: 40 }), replica(), replica()],
      verdict: 'LOAD_HIGH',
      findings: ['LOAD_HIGH'],
      about: { LOAD_HIGH: ['p'] },
    },
    { name: 'connections above 80 %', nodes: [primary(), replica({}, { connectionsPercent: 92 })], verdict: 'LOAD_HIGH', findings: ['LOAD_HIGH'] },
    { name: 'buffer pool above 85 %', nodes: [primary({ bufferPoolUsedPercent: 97 }), replica()], verdict: 'LOAD_HIGH', findings: ['LOAD_HIGH'] },
    { name: 'load exactly at the limits', nodes: [primary({ threadsRunning: 25, connectionsPercent: 80, bufferPoolUsedPercent: 85 })], verdict: 'HEALTHY', findings: [] },
  ];

  it.each(cases)('$name -> $verdict', ({ nodes, verdict, findings, about }) => {
    const assessment = classifyShard({ name: 's' }, views(...nodes), DEFAULT_HEALTH_THRESHOLDS);
    expect(assessment.verdict).toBe(verdict);
    expect(codes(assessment.findings)).toEqual(findings);
    for (const [code, nodeIds] of Object.entries(about ?? {})) {
      expect(assessment.findings.find((finding) => finding.code === code)?.nodes).toEqual(nodeIds);
    }
    for (const finding of assessment.findings) expect(finding.reason).not.toBe('');
  });

  it('explains PRIMARY_UNREACHABLE by naming the replicas that still replicate', () => {
    const [finding] = classifyShard({ name: 's' }, views(primaryDown, lostPrimary, replica()), DEFAULT_HEALTH_THRESHOLDS).findings;
    expect(finding?.reason).toMatch(/r2 still replicate/);
  });

  it('uses configured limits', () => {
    const strict = healthThresholds({ lagSecondsMax: 1, threadsRunningMax: 2 });
    const assessment = classifyShard({ name: 's' }, views(primary({ threadsRunning: 3 }), replica({ lagSeconds: 2 })), strict);
    expect(codes(assessment.findings)).toEqual(['LAG_HIGH', 'DEGRADED', 'LOAD_HIGH']);
  });

  it('keeps a lagging replica LAG_HIGH until lag falls below the clear ratio, so lag hovering at the limit does not flap', () => {
    const lag = (seconds: number) => views(primary(), replica({ lagSeconds: seconds }));
    const raised = classifyShard({ name: 's' }, lag(6), DEFAULT_HEALTH_THRESHOLDS);
    expect(raised.verdict).toBe('LAG_HIGH');
    expect(classifyShard({ name: 's' }, lag(4.5), DEFAULT_HEALTH_THRESHOLDS, raised.findings).verdict).toBe('LAG_HIGH');
    expect(classifyShard({ name: 's' }, lag(3.9), DEFAULT_HEALTH_THRESHOLDS, raised.findings).verdict).toBe('HEALTHY');
    expect(classifyShard({ name: 's' }, lag(4.5), DEFAULT_HEALTH_THRESHOLDS).verdict).toBe('HEALTHY');
  });

  it('counts reachable nodes and the largest lag', () => {
    const assessment = classifyShard({ name: 's' }, views(primary(), replica({ lagSeconds: 3 }), replicaDown), DEFAULT_HEALTH_THRESHOLDS);
    expect(assessment).toMatchObject({ reachable: 2, total: 3, maxLagSeconds: 3 });
  });

  it.each([
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 3],
    [5, 3],
  ])('quorum of %i nodes is %i', (total, needed) => {
    expect(quorumSize(total)).toBe(needed);
  });

  it('orders severity from split brain down to healthy', () => {
    expect(verdictSeverity('SPLIT_BRAIN')).toBeGreaterThan(verdictSeverity('PRIMARY_DOWN'));
    expect(verdictSeverity('PRIMARY_DOWN')).toBeGreaterThan(verdictSeverity('PRIMARY_UNREACHABLE'));
    expect(verdictSeverity('LOAD_HIGH')).toBeGreaterThan(verdictSeverity('HEALTHY'));
    expect(verdictSeverity('HEALTHY')).toBe(0);
  });
});

describe('finding transitions', () => {
  const finding = (code: ShardFindingCode, ...nodes: string[]): ShardFinding => ({ code, nodes, reason: code });

  it('raises new codes and codes that now cover another node, not findings that persist', () => {
    const before = [finding('DEGRADED', 'r1'), finding('LOAD_HIGH', 'p')];
    const after = [finding('PRIMARY_DOWN', 'p'), finding('DEGRADED', 'r1', 'r2'), finding('LOAD_HIGH', 'p')];
    expect(raisedFindings(before, after).map((f) => f.code)).toEqual(['PRIMARY_DOWN', 'DEGRADED']);
    expect(raisedFindings(after, after)).toEqual([]);
    expect(raisedFindings(after, [finding('DEGRADED', 'r2')])).toEqual([]);
  });

  it('raises every finding of a shard seen for the first time', () => {
    expect(raisedFindings(undefined, [finding('QUORUM_LOST', 'p')]).map((f) => f.code)).toEqual(['QUORUM_LOST']);
  });

  it('calls a shard healthy again only after it had findings', () => {
    expect(becameHealthy([finding('DEGRADED', 'r1')], [])).toBe(true);
    expect(becameHealthy([], [])).toBe(false);
    expect(becameHealthy(undefined, [])).toBe(false);
    expect(becameHealthy([finding('DEGRADED', 'r1')], [finding('LAG_HIGH', 'r1')])).toBe(false);
  });
});
