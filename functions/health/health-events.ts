import { becameHealthy, raisedFindings, type NodeAssessment, type ShardAssessment, type ShardFinding } from '../core/health';
import type { ShardNode } from '../core/shard-map-types';
import type { AppEvent } from '../ports/event-publisher';
import {
  buildEvent,
  LoadHigh,
  QuorumLost,
  ReplicationLagHigh,
  ShardDegraded,
  ShardHealthy,
  ShardNodeDown,
  ShardNodeRecovered,
  ShardPrimaryDown,
  ShardPrimaryUnreachable,
  SplitBrainSuspected,
} from '../shared/events';

export interface ShardTickOutcome {
  assessment: ShardAssessment;
  /** Findings at the previous tick; undefined for a shard never assessed before. */
  previousFindings: readonly ShardFinding[] | undefined;
  nodes: { node: ShardNode; assessment: NodeAssessment }[];
}

const endpoint = (node: ShardNode) => `${node.host}:${node.port}`;

/** The events one tick raises: only transitions, so a node that stays DOWN is announced once. */
export function transitionEvents(outcomes: readonly ShardTickOutcome[], mapVersion: number, observedAt: string): AppEvent[] {
  return outcomes.flatMap(({ assessment, previousFindings, nodes }) => {
    const common = { schemaVersion: 1 as const, shard: assessment.shard, verdict: assessment.verdict, observedAt, mapVersion };
    const nodeEvents = nodes.flatMap(({ node, assessment: nodeAssessment }): AppEvent[] => {
      const nodeFields = { node: node.id, role: node.role, endpoint: endpoint(node), state: nodeAssessment.health.state };
      if (nodeAssessment.transition === 'down') {
        return [buildEvent(ShardNodeDown, { ...common, ...nodeFields, reason: `${node.role} ${node.id} failed its last probes and is DOWN` })];
      }
      if (nodeAssessment.transition === 'recovered') {
        const reason = `${node.role} ${node.id} answers probes again and is ONLINE${nodeAssessment.restarted ? ' (it restarted)' : ''}`;
        return [buildEvent(ShardNodeRecovered, { ...common, ...nodeFields, reason, restarted: nodeAssessment.restarted })];
      }
      return [];
    });
    const findingEvents = raisedFindings(previousFindings, assessment.findings).map((finding) => findingEvent(finding, common, assessment, nodes));
    const healthy = becameHealthy(previousFindings, assessment.findings) ? [buildEvent(ShardHealthy, { ...common, reason: 'no findings left' })] : [];
    return [...nodeEvents, ...findingEvents, ...healthy];
  });
}

type Common = { schemaVersion: 1; shard: string; verdict: ShardAssessment['verdict']; observedAt: string; mapVersion: number };

function findingEvent(finding: ShardFinding, common: Common, assessment: ShardAssessment, nodes: ShardTickOutcome['nodes']): AppEvent {
  const base = { ...common, reason: finding.reason, nodes: finding.nodes };
  const nodeOf = (id: string | undefined) => nodes.find(({ node }) => node.id === id)?.node;
  switch (finding.code) {
    case 'PRIMARY_DOWN': {
      const primary = nodeOf(finding.nodes[0])!;
      // The replicas probed successfully this tick: the ones whose IO threads confirmed the loss.
      const confirmedBy = nodes.filter(({ node, assessment: a }) => node.role === 'replica' && a.health.consecutiveFailures === 0);
      return buildEvent(ShardPrimaryDown, {
        ...base,
        finding: finding.code,
        node: primary.id,
        endpoint: endpoint(primary),
        confirmedBy: confirmedBy.map(({ node }) => node.id),
      });
    }
    case 'PRIMARY_UNREACHABLE': {
      const primary = nodeOf(finding.nodes[0])!;
      return buildEvent(ShardPrimaryUnreachable, { ...base, finding: finding.code, node: primary.id, endpoint: endpoint(primary) });
    }
    case 'QUORUM_LOST':
      return buildEvent(QuorumLost, { ...base, finding: finding.code, reachable: assessment.reachable, total: assessment.total });
    case 'SPLIT_BRAIN':
      return buildEvent(SplitBrainSuspected, { ...base, finding: finding.code });
    case 'LAG_HIGH':
      return buildEvent(ReplicationLagHigh, { ...base, finding: finding.code, maxLagSeconds: assessment.maxLagSeconds ?? 0 });
    case 'LOAD_HIGH':
      return buildEvent(LoadHigh, { ...base, finding: finding.code });
    case 'DEGRADED':
    case 'REPLICATION_STOPPED':
    case 'REPLICA_WRITABLE':
      return buildEvent(ShardDegraded, { ...base, finding: finding.code });
  }
}
