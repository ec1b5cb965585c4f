import type { ShardNode } from '../core/shard-map-types';
import type { ProbeResult } from '../ports/node-prober';
import type { RecoverySettings } from '../ports/recovery-store';
import { NoFailoverCandidateError } from '../shared/errors';
import { gtidContains, gtidTransactionCount, gtidUnion, mostAdvanced } from '../core/gtid';

/** Pure failover decisions: which replica to promote, and whether the anti-flap window blocks a failover. */

export interface ProbedReplica {
  node: ShardNode;
  probe: ProbeResult;
}

export interface CandidateChoice {
  node: ShardNode;
  gtid: string | null;
  transactions: number;
  lagSeconds: number | null;
  /** Every replica passed over, and why. */
  rejected: { nodeId: string; reason: string }[];
}

/**
 * The replica to promote when the primary is down: among those that are reachable, replicating
 * (not a stand-alone or writable server) and lag at most `maxLagSeconds` (a lag the server cannot
 * report, its source being gone, is accepted), the most advanced by what it will hold once its
 * relay log is applied (promotion waits for that). The winner must hold every transaction any
 * reachable replica has executed or received, passed-over ones included; otherwise promoting it
 * would lose writes, so nobody is chosen. A replica still connected to its source sees the primary
 * up (the address it replicates from may not be the map's, behind a proxy or a DNS name): then the
 * primary is not down for the replicas, and nothing is promoted.
 */
export function chooseCandidate(replicas: readonly ProbedReplica[], maxLagSeconds: number): CandidateChoice {
  const rejected: CandidateChoice['rejected'] = [];
  const eligible: Omit<CandidateChoice, 'rejected'>[] = [];
  /** What each reachable replica holds or will hold: no promotion may lose any of it. */
  const held: { nodeId: string; gtid: string | null }[] = [];
  for (const { node, probe } of replicas) {
    const reject = (reason: string) => rejected.push({ nodeId: node.id, reason });
    if (!probe.ok) {
      reject(`unreachable: ${probe.error}`);
      continue;
    }
    const replication = probe.observation.replication;
    if (!replication) {
      reject('not replicating from any source');
      continue;
    }
    if (replication.ioState === 'yes') {
      throw new NoFailoverCandidateError(
        `replica ${node.id} is still connected to its source ${replication.sourceHost ?? '?'}:${replication.sourcePort ?? '?'}: the primary is up as the replicas see it, so nothing is promoted`,
        { details: { nodeId: node.id } },
      );
    }
    const gtid = gtidUnion(replication.gtidExecuted ?? probe.observation.gtidPosition, replication.gtidReceived);
    held.push({ nodeId: node.id, gtid });
    if (replication.lagSeconds !== null && replication.lagSeconds > maxLagSeconds) {
      reject(`lag ${replication.lagSeconds}s above the ${maxLagSeconds}s limit`);
      continue;
    }
    eligible.push({ node, gtid, transactions: gtidTransactionCount(gtid), lagSeconds: replication.lagSeconds });
  }

  if (eligible.length === 0) {
    throw new NoFailoverCandidateError(`no replica can be promoted: ${rejected.map((r) => `${r.nodeId} ${r.reason}`).join('; ') || 'the shard has no replicas'}`, {
      details: { rejected },
    });
  }
  // Among equally advanced replicas the least lagging wins, then map order (the sort is stable).
  const preferred = [...eligible].sort((a, b) => (a.lagSeconds ?? 0) - (b.lagSeconds ?? 0));
  const best = mostAdvanced(preferred, (candidate) => candidate.gtid);
  if (!best) {
    throw new NoFailoverCandidateError(
      `replica positions diverged (${eligible.map((c) => `${c.node.id} at ${c.gtid ?? 'nothing'}`).join(', ')}); an operator must choose`,
      { details: { rejected } },
    );
  }
  const ahead = held.filter((other) => !gtidContains(best.gtid, other.gtid));
  if (ahead.length > 0) {
    throw new NoFailoverCandidateError(
      `${ahead.map((other) => `${other.nodeId} (at ${other.gtid})`).join(', ')} holds transactions ${best.node.id} (at ${best.gtid ?? 'nothing'}) lacks, and cannot be promoted; an operator must choose`,
      { details: { rejected } },
    );
  }
  for (const candidate of eligible) if (candidate !== best) rejected.push({ nodeId: candidate.node.id, reason: `behind or equal to ${best.node.id}` });
  return { ...best, rejected };
}

export interface AntiFlapBlock {
  lastFailoverAt: number;
  blockedUntil: number;
}

/** A failover within `windowMs` of the last one is blocked, unless an operator acknowledged that one. */
export function antiFlapBlock(settings: RecoverySettings, now: number, windowMs: number): AntiFlapBlock | undefined {
  const { lastFailoverAt, acknowledgedAt } = settings;
  if (lastFailoverAt === null) return undefined;
  if (acknowledgedAt !== null && acknowledgedAt >= lastFailoverAt) return undefined;
  const blockedUntil = lastFailoverAt + windowMs;
  return now < blockedUntil ? { lastFailoverAt, blockedUntil } : undefined;
}
