import { createMysqlProber, type TlsMode } from '../adapters/mysql-prober';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { requireShardMap } from '../catalog/shard-map-changes';
import type { ShardNode } from '../core/shard-map-types';
import { HealthMonitor, type NodeReport, type TickReport } from '../health/monitor';
import { MemoryHealthStore } from '../health/memory-health-store';
import { systemClock } from '../ports/clock';
import type { AppEvent } from '../ports/event-publisher';
import { urlCredentials } from '../ports/node-credentials';
import { failedPrimaries } from '../ports/recovery-store';
import { ValidationError } from '../shared/errors';
import { catalogUrl, withCatalog, type CliContext, type GlobalOptions } from './context';
import { table } from './format';

export interface HealthFlags extends GlobalOptions {
  watch?: boolean;
  interval: number;
  concurrency: number;
  connectTimeout: number;
  tls?: TlsMode;
}

/** Transitions kept on screen in --watch mode. */
const RECENT_EVENTS = 8;
/** The lease lives in this process's memory only: nothing else competes for it. */
const LEASE_MS = 60_000;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

/**
 * `shardkeeper health`: probes the catalog's fleet from this machine, with the catalog account
 * (the sandbox's root), and prints nodes and shard verdicts. Nothing is persisted or published:
 * node states live in this process, so with --watch a dead node goes SUSPECT, then DOWN.
 */
export async function healthCommand(context: CliContext, options: HealthFlags): Promise<void> {
  if (options.interval < 100) throw new ValidationError(`--interval must be at least 100 ms, got ${options.interval}`);
  // Chosen once: the probes use the catalog's account.
  const url = catalogUrl(context, options);
  const credentials = urlCredentials(new URL(url));
  await withCatalog(context, { ...options, catalog: url }, async (catalog, sql) => {
    const map = await requireShardMap(catalog);
    const formerPrimaries = () => failedPrimaries(new SqlRecoveryStore(sql));
    const nodes = [...map.shards.flatMap((shard) => shard.nodes), ...(await formerPrimaries()).map((former) => former.node)];
    // Local servers rarely have TLS; anything else must.
    const tls = options.tls ?? (nodes.every((node) => LOOPBACK.test(node.host)) ? 'off' : 'required');
    const prober = createMysqlProber({ credentials, connectTimeoutMs: options.connectTimeout, queryTimeoutMs: options.connectTimeout, tls });
    const recent: AppEvent[] = [];
    const store = new MemoryHealthStore(systemClock);
    const owner = `cli-${process.pid}`;
    const monitor = new HealthMonitor(
      {
        catalog,
        prober,
        store,
        clock: systemClock,
        publisher: { publish: async (events) => void recent.push(...events) },
        // A primary a failover took out of the map and could not fence is a split brain once it answers writable.
        formerPrimaries,
        onError: (error, problem) => context.err(`${problem}: ${error instanceof Error ? error.message : String(error)}\n`),
      },
      { ownerId: owner, concurrency: options.concurrency, leaseTtlMs: LEASE_MS },
    );
    try {
      if (!options.watch) {
        const attempt = await store.acquireLease(monitor.leaseName, owner, LEASE_MS);
        if (attempt.acquired) render(context, options, await monitor.tick(attempt.lease), recent);
        return;
      }
      const stop = new AbortController();
      void context.untilStopped().then(() => stop.abort());
      await monitor.run({
        until: Number.POSITIVE_INFINITY,
        intervalMs: options.interval,
        signal: stop.signal,
        onTick: (report) => {
          recent.splice(0, Math.max(0, recent.length - RECENT_EVENTS));
          render(context, options, report, recent);
        },
      });
    } finally {
      await prober.close();
    }
  });
}

function render(context: CliContext, options: HealthFlags, report: TickReport, recent: AppEvent[]): void {
  if (options.json) {
    // One document per tick: with --watch, a stream of JSON lines.
    context.out(`${JSON.stringify(jsonView(report))}\n`);
    return;
  }
  const verdicts = new Map(report.shards.map((shard) => [shard.shard, shard.verdict]));
  const lines = [
    `shard map version ${report.mapVersion}${report.staleMap ? ' (catalog unreachable: last good map)' : ''}, ${report.nodes.length} nodes probed in ${Math.round(report.durationMs)} ms at ${new Date(report.startedAt).toISOString()}`,
    '',
    table(
      ['shard', 'node', 'role', 'state', 'latency ms', 'lag s', 'threads', 'conn %', 'verdict', 'probe'],
      report.nodes.map((node) => [
        node.shard,
        node.node.id,
        node.node.role,
        node.state,
        Math.round(node.probe.latencyMs * 10) / 10,
        observed(node, (o) => o.replication?.lagSeconds ?? null),
        observed(node, (o) => o.threadsRunning),
        observed(node, (o) => Math.round(o.connectionsPercent * 10) / 10),
        verdicts.get(node.shard),
        node.probe.ok ? (node.probe.observation.readOnly ? 'ok, read-only' : 'ok, writable') : node.probe.error,
      ]),
    ),
    '',
    table(
      ['shard', 'verdict', 'reachable', 'findings'],
      report.shards.map((shard) => [shard.shard, shard.verdict, `${shard.reachable}/${shard.total}`, shard.findings.map((finding) => finding.reason).join('; ') || '-']),
    ),
  ];
  if (options.watch) {
    lines.push('', 'recent transitions:', ...(recent.length === 0 ? ['  none'] : recent.map(describeEvent)), '', 'Ctrl-C to stop');
    // Clear the screen so the table refreshes in place.
    context.out('\u001b[H\u001b[2J');
  }
  context.out(`${lines.join('\n')}\n`);
}

function observed<T>(node: NodeReport, pick: (observation: Extract<NodeReport['probe'], { ok: true }>['observation']) => T): T | undefined {
  return node.probe.ok ? pick(node.probe.observation) : undefined;
}

function describeEvent(event: AppEvent): string {
  const detail = event.detail as { observedAt: string; shard: string; node?: string; reason: string };
  return `  ${detail.observedAt}  ${event.detailType}  ${detail.shard}${detail.node ? ` ${detail.node}` : ''}: ${detail.reason}`;
}

function jsonView(report: TickReport) {
  const endpoint = (node: ShardNode) => `${node.host}:${node.port}`;
  return {
    mapVersion: report.mapVersion,
    staleMap: report.staleMap,
    observedAt: new Date(report.startedAt).toISOString(),
    durationMs: report.durationMs,
    nodes: report.nodes.map((node) => ({
      shard: node.shard,
      node: node.node.id,
      role: node.node.role,
      endpoint: endpoint(node.node),
      state: node.state,
      ...(node.probe.ok
        ? { ok: true, latencyMs: node.probe.latencyMs, observation: node.probe.observation }
        : { ok: false, latencyMs: node.probe.latencyMs, error: node.probe.error, timedOut: node.probe.timedOut }),
    })),
    shards: report.shards.map(({ shard, verdict, findings, reachable, total, maxLagSeconds }) => ({ shard, verdict, findings, reachable, total, maxLagSeconds })),
    events: report.events,
  };
}
