import type { ShardNode } from '../core/shard-map-types';
import { systemClock, type Clock } from '../ports/clock';
import {
  decisionAudit,
  type ApprovalDecision,
  type ApprovalKind,
  type AuditEntry,
  type AuditOutcome,
  type LockAttempt,
  type PendingApproval,
  type RecoverySettings,
  type RecoveryStore,
  type RemovalReason,
  type RemovedNode,
} from '../ports/recovery-store';
import type { SqlExecutor, SqlParams, SqlRow, SqlValue } from '../ports/sql';
import { ConflictError, NotFoundError, ValidationError } from '../shared/errors';
import { epochFromSql, optionalEpochFromSql, sqlTime } from './sql-time';

/** The RecoveryStore over the catalog's SqlExecutor (mysql2 locally, the Data API in AWS); tables from migration 3. */
export class SqlRecoveryStore implements RecoveryStore {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly clock: Clock = systemClock,
  ) {}

  private now(): string {
    return sqlTime(this.clock.now());
  }

  async settings(shard: string): Promise<RecoverySettings> {
    const [row] = await this.sql.query(`${SELECT_SETTINGS} WHERE shard_name = :shard`, { shard });
    return row ? toSettings(row) : { shard, enabled: true, lastFailoverAt: null, acknowledgedAt: null, updatedBy: null };
  }

  async listSettings(): Promise<RecoverySettings[]> {
    return (await this.sql.query(`${SELECT_SETTINGS} ORDER BY shard_name`)).map(toSettings);
  }

  async setEnabled(shard: string, enabled: boolean, by: string): Promise<void> {
    await this.upsertSettings(shard, { enabled }, by);
  }

  async recordFailover(shard: string): Promise<void> {
    await this.upsertSettings(shard, { last_failover_at: this.now(), acknowledged_at: null }, null);
  }

  async acknowledge(shard: string, by: string): Promise<void> {
    await this.upsertSettings(shard, { acknowledged_at: this.now() }, by);
  }

  /** One statement per change, so concurrent writers of different columns never overwrite each other. */
  private async upsertSettings(shard: string, columns: Partial<Record<SettingsColumn, SqlValue>>, by: string | null): Promise<void> {
    const names = Object.keys(columns) as SettingsColumn[];
    const params: SqlParams = { shard, by, now: this.now() };
    for (const name of names) params[name] = columns[name] ?? null;
    await this.sql.execute(
      `INSERT INTO sk_recovery_settings (shard_name, ${names.join(', ')}, updated_by, updated_at)
       VALUES (:shard, ${names.map((name) => `:${name}`).join(', ')}, :by, :now)
       ON DUPLICATE KEY UPDATE ${names.map((name) => `${name} = VALUES(${name})`).join(', ')},
         updated_by = COALESCE(VALUES(updated_by), updated_by), updated_at = VALUES(updated_at)`,
      params,
    );
  }

  async acquireLock(shard: string, recoveryId: string, ttlMs: number): Promise<LockAttempt> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new ValidationError(`lock ttl must be a positive integer of milliseconds, got ${ttlMs}`);
    const now = this.clock.now();
    // Takes the row over when it is ours or expired, else leaves it. MySQL assigns left to right,
    // so recovery_id goes first and the later conditions see the takeover.
    await this.sql.execute(
      `INSERT INTO sk_recovery_locks (shard_name, recovery_id, acquired_at, expires_at) VALUES (:shard, :recoveryId, :now, :expiresAt)
       ON DUPLICATE KEY UPDATE
         recovery_id = IF(recovery_id = VALUES(recovery_id) OR expires_at <= VALUES(acquired_at), VALUES(recovery_id), recovery_id),
         acquired_at = IF(recovery_id = VALUES(recovery_id), VALUES(acquired_at), acquired_at),
         expires_at = IF(recovery_id = VALUES(recovery_id), VALUES(expires_at), expires_at)`,
      { shard, recoveryId, now: sqlTime(now), expiresAt: sqlTime(now + ttlMs) },
    );
    // Affected-row counts of an upsert differ between clients (found rows) and the Data API; reading back does not.
    const [holder] = await this.sql.query('SELECT recovery_id, expires_at FROM sk_recovery_locks WHERE shard_name = :shard', { shard });
    if (!holder) throw new ConflictError(`the recovery lock of shard ${shard} vanished while being taken`);
    if (String(holder.recovery_id) === recoveryId) return { acquired: true };
    return { acquired: false, heldBy: String(holder.recovery_id), expiresAt: epochFromSql(holder.expires_at) };
  }

  async releaseLock(shard: string, recoveryId: string): Promise<boolean> {
    const result = await this.sql.execute('DELETE FROM sk_recovery_locks WHERE shard_name = :shard AND recovery_id = :recoveryId', { shard, recoveryId });
    return result.affectedRows === 1;
  }

  async releaseLocksOf(recoveryId: string): Promise<void> {
    await this.sql.execute('DELETE FROM sk_recovery_locks WHERE recovery_id = :recoveryId', { recoveryId });
  }

  async appendAudit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    await insertAudit(this.sql, entry, this.now());
  }

  async auditLog(filter: { shard?: string; recoveryId?: string; limit: number }): Promise<AuditEntry[]> {
    assertLimit(filter.limit);
    const conditions: string[] = [];
    const params: SqlParams = { limit: filter.limit };
    if (filter.shard !== undefined) {
      conditions.push('shard_name = :shard');
      params.shard = filter.shard;
    }
    if (filter.recoveryId !== undefined) {
      conditions.push('recovery_id = :recoveryId');
      params.recoveryId = filter.recoveryId;
    }
    const rows = await this.sql.query(
      `SELECT recovery_id, shard_name, step, outcome, detail, recorded_at FROM sk_recovery_audit
       ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY audit_id DESC LIMIT :limit`,
      params,
    );
    return rows.map((row) => ({
      recoveryId: String(row.recovery_id),
      shard: String(row.shard_name),
      step: String(row.step),
      outcome: String(row.outcome) as AuditOutcome,
      detail: JSON.parse(String(row.detail)) as Record<string, unknown>,
      at: epochFromSql(row.recorded_at),
    }));
  }

  async addApproval(approval: Omit<PendingApproval, 'requestedAt' | 'decision' | 'decidedBy' | 'decidedAt'>): Promise<void> {
    // A retried request step keeps the first row, but answers with the newest token.
    await this.sql.execute(
      `INSERT INTO sk_recovery_approvals (recovery_id, shard_name, kind, task_token, reason, requested_at)
       VALUES (:recoveryId, :shard, :kind, :taskToken, :reason, :now)
       ON DUPLICATE KEY UPDATE task_token = VALUES(task_token)`,
      { recoveryId: approval.recoveryId, shard: approval.shard, kind: approval.kind, taskToken: approval.taskToken, reason: approval.reason, now: this.now() },
    );
  }

  async approval(recoveryId: string): Promise<PendingApproval | undefined> {
    return approvalIn(this.sql, recoveryId);
  }

  async listApprovals(filter: { pendingOnly: boolean; limit: number }): Promise<PendingApproval[]> {
    assertLimit(filter.limit);
    const rows = await this.sql.query(
      `${SELECT_APPROVALS} ${filter.pendingOnly ? 'WHERE decision IS NULL' : ''} ORDER BY requested_at DESC, recovery_id LIMIT :limit`,
      { limit: filter.limit },
    );
    return rows.map(toApproval);
  }

  async decideApproval(recoveryId: string, decision: ApprovalDecision, by: string): Promise<PendingApproval> {
    return this.sql.transaction(async (tx) => {
      const result = await tx.execute(
        `UPDATE sk_recovery_approvals SET decision = :decision, decided_by = :by, decided_at = :now
         WHERE recovery_id = :recoveryId AND decision IS NULL`,
        { recoveryId, decision, by, now: this.now() },
      );
      const approval = await approvalIn(tx, recoveryId);
      if (!approval) throw new NotFoundError(`no approval was requested for recovery ${recoveryId}`);
      if (result.affectedRows !== 1) {
        throw new ConflictError(`recovery ${recoveryId} was already ${approval.decision} by ${approval.decidedBy ?? 'someone'}`, {
          details: { decision: approval.decision, decidedBy: approval.decidedBy },
        });
      }
      await insertAudit(tx, decisionAudit(approval, decision, by), this.now());
      return approval;
    });
  }

  async reopenApproval(recoveryId: string, reason: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      const approval = await approvalIn(tx, recoveryId, ' FOR UPDATE');
      if (!approval?.decision) return;
      await tx.execute('UPDATE sk_recovery_approvals SET decision = NULL, decided_by = NULL, decided_at = NULL WHERE recovery_id = :recoveryId', { recoveryId });
      await insertAudit(tx, decisionAudit(approval, approval.decision, approval.decidedBy, reason), this.now());
    });
  }

  async addRemovedNode(removed: Omit<RemovedNode, 'removedAt'>): Promise<void> {
    await this.sql.execute(
      `INSERT INTO sk_recovery_removed_nodes (shard_name, node_id, node, reason, recovery_id, removed_at)
       VALUES (:shard, :nodeId, :node, :reason, :recoveryId, :now)
       ON DUPLICATE KEY UPDATE node = VALUES(node), reason = VALUES(reason), recovery_id = VALUES(recovery_id), removed_at = VALUES(removed_at)`,
      { shard: removed.shard, nodeId: removed.node.id, node: JSON.stringify(removed.node), reason: removed.reason, recoveryId: removed.recoveryId, now: this.now() },
    );
  }

  async removedNodes(shard?: string): Promise<RemovedNode[]> {
    const rows = await this.sql.query(
      `SELECT shard_name, node, reason, recovery_id, removed_at FROM sk_recovery_removed_nodes
       ${shard === undefined ? '' : 'WHERE shard_name = :shard'} ORDER BY shard_name, node_id`,
      shard === undefined ? {} : { shard },
    );
    return rows.map((row) => ({
      shard: String(row.shard_name),
      node: JSON.parse(String(row.node)) as ShardNode,
      reason: String(row.reason) as RemovalReason,
      recoveryId: String(row.recovery_id),
      removedAt: epochFromSql(row.removed_at),
    }));
  }

  async forgetRemovedNode(shard: string, nodeId: string): Promise<void> {
    await this.sql.execute('DELETE FROM sk_recovery_removed_nodes WHERE shard_name = :shard AND node_id = :nodeId', { shard, nodeId });
  }
}

type SettingsColumn = 'enabled' | 'last_failover_at' | 'acknowledged_at';

const SELECT_SETTINGS = 'SELECT shard_name, enabled, last_failover_at, acknowledged_at, updated_by FROM sk_recovery_settings';
const SELECT_APPROVALS = `SELECT recovery_id, shard_name, kind, task_token, reason, requested_at, decision, decided_by, decided_at
  FROM sk_recovery_approvals`;

function toSettings(row: SqlRow): RecoverySettings {
  return {
    shard: String(row.shard_name),
    // BOOLEAN is TINYINT(1): mysql2 returns 0/1, the Data API a long or a boolean.
    enabled: row.enabled === true || Number(row.enabled) === 1,
    lastFailoverAt: optionalEpochFromSql(row.last_failover_at),
    acknowledgedAt: optionalEpochFromSql(row.acknowledged_at),
    updatedBy: optionalString(row.updated_by),
  };
}

async function approvalIn(sql: SqlExecutor, recoveryId: string, lock: '' | ' FOR UPDATE' = ''): Promise<PendingApproval | undefined> {
  const [row] = await sql.query(`${SELECT_APPROVALS} WHERE recovery_id = :recoveryId${lock}`, { recoveryId });
  return row && toApproval(row);
}

async function insertAudit(sql: SqlExecutor, entry: Omit<AuditEntry, 'at'>, now: string): Promise<void> {
  await sql.execute(
    `INSERT INTO sk_recovery_audit (recovery_id, shard_name, step, outcome, detail, recorded_at)
     VALUES (:recoveryId, :shard, :step, :outcome, :detail, :now)`,
    { recoveryId: entry.recoveryId, shard: entry.shard, step: entry.step, outcome: entry.outcome, detail: JSON.stringify(entry.detail), now },
  );
}

function toApproval(row: SqlRow): PendingApproval {
  return {
    recoveryId: String(row.recovery_id),
    shard: String(row.shard_name),
    kind: String(row.kind) as ApprovalKind,
    taskToken: String(row.task_token),
    reason: String(row.reason),
    requestedAt: epochFromSql(row.requested_at),
    decision: optionalString(row.decision) as ApprovalDecision | null,
    decidedBy: optionalString(row.decided_by),
    decidedAt: optionalEpochFromSql(row.decided_at),
  };
}

function assertLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new ValidationError(`limit must be a positive integer, got ${limit}`);
}

const optionalString = (value: unknown) => (value === null || value === undefined ? null : String(value));
