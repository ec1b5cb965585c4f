import type { NodeState, ShardFinding, ShardVerdict } from '../core/health';
import { systemClock, type Clock } from '../ports/clock';
import type { HealthChanges, HealthStore, LeaseAttempt, MonitorLease, NodeKey, StoredNodeHealth, StoredShardHealth } from '../ports/health-store';
import type { ProbeResult } from '../ports/node-prober';
import type { SqlExecutor, SqlParams, SqlRow, SqlValue } from '../ports/sql';
import { LeaseLostError } from '../shared/errors';
import { chunks } from './sql-chunks';
import { epochFromSql, optionalEpochFromSql, sqlTime } from './sql-time';

/** Rows per multi-row statement: probe JSON makes rows ~1 KB, so requests stay far inside Data API limits. */
const BATCH_ROWS = 50;
/** Node rows per read, so no result outgrows the Data API's 1 MiB response limit even with probes. */
const PAGE_ROWS = 500;

const STATE_COLUMNS = ['shard_name', 'node_id', 'state', 'consecutive_failures', 'consecutive_successes', 'last_uptime_seconds', 'changed_at'];
const PROBE_COLUMNS = ['last_probe', 'last_probe_at'];

/** The HealthStore over any SqlExecutor (mysql2 locally, the Data API in AWS); tables from catalog migration 2. */
export class SqlHealthStore implements HealthStore {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly clock: Clock = systemClock,
  ) {}

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt> {
    const now = this.clock.now();
    const params = { name, owner, now: sqlTime(now), expiresAt: sqlTime(now + ttlMs) };
    return this.sql.transaction(async (tx) => {
      // One statement, so it takes the row's exclusive lock at once (INSERT IGNORE then UPDATE deadlocks
      // racing monitors on shared locks). Assignments run left to right: each reads the columns before it as updated.
      await tx.execute(
        `INSERT INTO sk_monitor_leases (name, owner, acquired_at, expires_at) VALUES (:name, :owner, :now, :expiresAt)
         ON DUPLICATE KEY UPDATE
           acquired_at = IF(owner <> :owner AND expires_at <= :now, VALUES(acquired_at), acquired_at),
           owner = IF(owner = :owner OR expires_at <= :now, VALUES(owner), owner),
           expires_at = IF(owner = :owner, VALUES(expires_at), expires_at)`,
        params,
      );
      const [row] = await tx.query('SELECT owner, expires_at FROM sk_monitor_leases WHERE name = :name', { name });
      const holder = String(row?.owner);
      const expiresAt = epochFromSql(row?.expires_at);
      return holder === owner ? { acquired: true, lease: { name, owner, expiresAt } } : { acquired: false, holder, expiresAt };
    });
  }

  async releaseLease(lease: MonitorLease): Promise<void> {
    const now = sqlTime(this.clock.now());
    await this.sql.execute('UPDATE sk_monitor_leases SET expires_at = :now WHERE name = :name AND owner = :owner AND expires_at > :now', {
      name: lease.name,
      owner: lease.owner,
      now,
    });
  }

  async loadNodes({ withProbes = false }: { withProbes?: boolean } = {}): Promise<StoredNodeHealth[]> {
    const columns = [...STATE_COLUMNS, ...(withProbes ? PROBE_COLUMNS : [])].join(', ');
    const nodes: StoredNodeHealth[] = [];
    let page: SqlRow[];
    do {
      const last = nodes.at(-1);
      // Keyset paging over the primary key.
      page = await this.sql.query(
        `SELECT ${columns} FROM sk_node_health
         WHERE (shard_name, node_id) > (:shard, :nodeId) ORDER BY shard_name, node_id LIMIT ${PAGE_ROWS}`,
        { shard: last?.shard ?? '', nodeId: last?.nodeId ?? '' },
      );
      nodes.push(...page.map((row) => toNode(row, withProbes)));
    } while (page.length === PAGE_ROWS);
    return nodes;
  }

  async loadShards(): Promise<StoredShardHealth[]> {
    const rows = await this.sql.query('SELECT shard_name, verdict, findings, since, updated_at FROM sk_shard_health ORDER BY shard_name');
    return rows.map((row) => ({
      shard: String(row.shard_name),
      verdict: String(row.verdict) as ShardVerdict,
      findings: JSON.parse(String(row.findings)) as ShardFinding[],
      since: epochFromSql(row.since),
      updatedAt: epochFromSql(row.updated_at),
    }));
  }

  async save(lease: MonitorLease, changes: HealthChanges): Promise<void> {
    const now = this.clock.now();
    await this.sql.transaction(async (tx) => {
      // The row lock also queues a competing acquireLease behind this write.
      const [row] = await tx.query('SELECT owner, expires_at FROM sk_monitor_leases WHERE name = :name FOR UPDATE', { name: lease.name });
      if (!row || String(row.owner) !== lease.owner || epochFromSql(row.expires_at) <= now) {
        throw new LeaseLostError(`monitor lease ${lease.name} is no longer held by ${lease.owner}`, {
          details: { lease: lease.name, holder: row ? String(row.owner) : null },
        });
      }
      const withProbe = changes.nodes.filter((node) => node.lastProbe !== undefined);
      const withoutProbe = changes.nodes.filter((node) => node.lastProbe === undefined);
      await upsert(tx, 'sk_node_health', [...STATE_COLUMNS, ...PROBE_COLUMNS], withProbe.map((node) => [...stateValues(node), ...probeValues(node)]));
      await upsert(tx, 'sk_node_health', STATE_COLUMNS, withoutProbe.map(stateValues));
      await upsert(
        tx,
        'sk_shard_health',
        ['shard_name', 'verdict', 'findings', 'since', 'updated_at'],
        changes.shards.map((shard) => [shard.shard, shard.verdict, JSON.stringify(shard.findings), sqlTime(shard.since), sqlTime(shard.updatedAt)]),
      );
      await deleteKeys(tx, 'sk_node_health', changes.removedNodes);
      for (const batch of chunks(changes.removedShards, BATCH_ROWS)) {
        const params = Object.fromEntries(batch.map((shard, index) => [`s${index}`, shard]));
        const names = Object.keys(params).map((name) => `:${name}`).join(', ');
        await tx.execute(`DELETE FROM sk_shard_health WHERE shard_name IN (${names})`, params);
        await tx.execute(`DELETE FROM sk_node_health WHERE shard_name IN (${names})`, params);
      }
    });
  }
}

function stateValues(node: StoredNodeHealth): SqlValue[] {
  return [
    node.shard,
    node.nodeId,
    node.state,
    node.consecutiveFailures,
    node.consecutiveSuccesses,
    node.lastUptimeSeconds,
    sqlTime(node.changedAt),
  ];
}

function probeValues(node: StoredNodeHealth): SqlValue[] {
  return [node.lastProbe ? JSON.stringify(node.lastProbe) : null, node.lastProbeAt ? sqlTime(node.lastProbeAt) : null];
}

function toNode(row: SqlRow, withProbes: boolean): StoredNodeHealth {
  const node: StoredNodeHealth = {
    shard: String(row.shard_name),
    nodeId: String(row.node_id),
    state: String(row.state) as NodeState,
    consecutiveFailures: Number(row.consecutive_failures),
    consecutiveSuccesses: Number(row.consecutive_successes),
    lastUptimeSeconds: row.last_uptime_seconds === null ? null : Number(row.last_uptime_seconds),
    changedAt: epochFromSql(row.changed_at),
  };
  if (withProbes) {
    node.lastProbe = row.last_probe === null ? null : (JSON.parse(String(row.last_probe)) as ProbeResult);
    node.lastProbeAt = optionalEpochFromSql(row.last_probe_at);
  }
  return node;
}

/** Multi-row INSERT ... ON DUPLICATE KEY UPDATE of every non-key column, every value a bound parameter. */
async function upsert(tx: SqlExecutor, table: string, columns: string[], rows: SqlValue[][]): Promise<void> {
  const updates = columns.filter((column) => column !== 'shard_name' && column !== 'node_id').map((column) => `${column} = VALUES(${column})`);
  for (const batch of chunks(rows, BATCH_ROWS)) {
    const params: SqlParams = {};
    const tuples = batch.map((row, r) => `(${row.map((value, c) => ((params[`r${r}c${c}`] = value), `:r${r}c${c}`)).join(', ')})`);
    await tx.execute(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ON DUPLICATE KEY UPDATE ${updates.join(', ')}`, params);
  }
}

async function deleteKeys(tx: SqlExecutor, table: string, keys: NodeKey[]): Promise<void> {
  for (const batch of chunks(keys, BATCH_ROWS)) {
    const params: SqlParams = {};
    const tuples = batch.map((key, index) => ((params[`s${index}`] = key.shard), (params[`n${index}`] = key.nodeId), `(:s${index}, :n${index})`));
    await tx.execute(`DELETE FROM ${table} WHERE (shard_name, node_id) IN (${tuples.join(', ')})`, params);
  }
}
