import type { ShardNode } from '../core/shard-map-types';
import type { ProbeResult } from '../ports/node-prober';
import type { RecoverySettings } from '../ports/recovery-store';
import { NoFailoverCandidateError } from '../shared/errors';
import { gtidTransactionCount, mostAdvanced } from '../core/gtid';

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
 * The most advanced replica by GTID among those that are reachable, replicating (not a
 * stand-alone or writable server), have applied their whole relay log and lag at most
 * `maxLagSeconds`. A lag the server cannot report (its source is gone) is accepted once the
 * relay log is applied: nothing received is left to apply. The winner must contain every other
 * eligible replica's transactions; if positions diverged, promoting any of them would lose
 * writes, so nobody is chosen.
 */
export function chooseCandidate(replicas: readonly ProbedReplica[], maxLagSeconds: number): CandidateChoice {
  const rejected: CandidateChoice['rejected'] = [];
  const eligible: Omit<CandidateChoice, 'rejected'>[] = [];
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
    if (!replication.relayLogApplied) {
      reject('relay log not fully applied');
      continue;
    }
    if (replication.lagSeconds !== null && replication.lagSeconds > maxLagSeconds) {
      reject(`lag ${replication.lagSeconds}s above the ${maxLagSeconds}s limit`);
      continue;
    }
    const gtid = replication.gtidExecuted ?? probe.observation.gtidPosition;
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
