import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { LocalEventBus } from '../adapters/local-event-bus';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { createMysqlProber } from '../adapters/mysql-prober';
import { SqlCatalog } from '../adapters/sql-catalog';
import { requireShardMap } from '../catalog/shard-map-changes';
import { createRouter } from '../core/router';
import { primaryOf } from '../core/shard-map';
import type { ShardMap, ShardNode } from '../core/shard-map-types';
import { HealthMonitor } from '../health/monitor';
import { MemoryHealthStore } from '../health/memory-health-store';
import { localRecoveryDeps } from '../local/local-recovery-deps';
import { killServerAt } from '../local/replicated-shard';
import { SANDBOX_STATE_FILE } from '../local/sandbox';
import { systemClock } from '../ports/clock';
import type { AppEvent } from '../ports/event-publisher';
import { staticCredentials } from '../ports/node-credentials';
import type { LocalRunResult } from '../recovery/local-workflows';
import { AppError, ValidationError } from '../shared/errors';
import { ShardPrimaryDown } from '../shared/events';
import { catalogUrl, type CliContext, type GlobalOptions } from './context';

interface ChaosOptions extends GlobalOptions {
  replicatedDir?: string;
  nodeUser: string;
  nodePassword: string;
  timeout: number;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

interface SandboxState {
  replicatedDir?: string;
  /** The sandbox runs its own monitor and recovery workflows. */
  recovery?: boolean;
}

function sandboxState(): SandboxState {
  return existsSync(SANDBOX_STATE_FILE) ? (JSON.parse(readFileSync(SANDBOX_STATE_FILE, 'utf8')) as SandboxState) : {};
}

/** The replicated shards' folder of the running sandbox (`npm start -- --replicas 2`). */
function replicatedDir(options: ChaosOptions): string {
  if (options.replicatedDir) return options.replicatedDir;
  const state = sandboxState();
  if (!state.replicatedDir) throw new ValidationError('no running sandbox with replicated shards; start one with npm start -- --replicas 2, or pass --replicated-dir');
  return state.replicatedDir;
}

/** Some key the shard owns, to ask the router about. */
function keyOf(map: ShardMap, shard: string): string {
  const router = createRouter(map);
  for (let key = 1; key < 1_000_000; key++) if (router.routeText(String(key)).shard.name === shard) return String(key);
  throw new AppError(`no key below 1,000,000 routes to shard ${shard}`);
}

/**
 * Kills the primary of a sandbox shard and shows the recovery end to end, in this process: the
 * health monitor at its default cadence, the failover state machine (synthesized from the CDK
 * app, run by the local interpreter) started by ShardPrimaryDown, and the route moving.
 */
async function killPrimaryCommand(context: CliContext, options: ChaosOptions, shardName: string): Promise<number> {
  const pool = createMysqlPool({ url: catalogUrl(context, options), connectionLimit: 4 });
  const executor = createMysqlExecutor(pool);
  const catalog = new SqlCatalog(executor);
  const credentials = staticCredentials(options.nodeUser, options.nodePassword);
  const prober = createMysqlProber({ credentials, tls: 'off' });
  const stopMonitor = new AbortController();
  let monitorRun: Promise<unknown> | undefined;
  try {
    const map = await requireShardMap(catalog);
    const shard = map.shards.find((candidate) => candidate.name === shardName);
    if (!shard) throw new ValidationError(`no shard ${JSON.stringify(shardName)} in the shard map; shards: ${map.shards.map((s) => s.name).join(', ')}`);
    const primary = primaryOf(shard);
    if (!primary) throw new ValidationError(`shard ${shardName} has no primary to kill`);
    if (shard.kind !== 'self-managed' || !shard.nodes.every((node) => LOOPBACK.test(node.host))) {
      throw new ValidationError(`chaos runs against sandbox shards only (self-managed, on this machine); ${shardName} is ${shard.kind} on ${primary.host}`);
    }
    const datadir = join(replicatedDir(options), primary.id);
    if (!existsSync(join(datadir, 'mysqld.pid'))) throw new ValidationError(`no running server for ${primary.id} in ${datadir}`);
    const key = keyOf(map, shardName);
    if (!options.replicatedDir && sandboxState().recovery) return await watchSandboxRecovery(context, options, catalog, { shardName, primary, datadir, key });

    // Loaded on demand: synthesizing the CDK app is the slow part, and no other command needs it.
    const { runLocalWorkflow, synthesizeRecoveryDefinitions } = await import('../recovery/local-workflows');
    const definitions = synthesizeRecoveryDefinitions();
    const bus = new LocalEventBus();
    const deps = localRecoveryDeps({ catalog, executor, prober, credentials, events: bus });
    let killedAt = 0;
    const timeline: { atMs: number; what: string }[] = [];
    const note = (what: string) => {
      const entry = { atMs: Date.now() - killedAt, what };
      timeline.push(entry);
      if (!options.json) context.out(`+${(entry.atMs / 1000).toFixed(1).padStart(5)}s  ${what}\n`);
    };
    const failover: { run?: Promise<LocalRunResult> } = {};
    bus.subscribe('*', (event: AppEvent) => {
      const detail = event.detail as { shard?: string; reason?: string };
      if (detail.shard === shardName && killedAt > 0) note(`${event.detailType}: ${detail.reason ?? ''}`);
    });
    bus.subscribe(ShardPrimaryDown, (event) => {
      if ((event.detail as { shard: string }).shard !== shardName || failover.run) return;
      failover.run = runLocalWorkflow(definitions.failover, deps, { 'detail-type': event.detailType, source: event.source, detail: event.detail as Record<string, unknown> }, {
        executionName: `chaos-${shardName}-${Date.now()}`,
      });
    });

    // The monitor needs a couple of ticks to know the primary was fine before it died.
    let ticks = 0;
    let warm = () => {};
    const warmedUp = new Promise<void>((resolve) => (warm = resolve));
    const monitor = new HealthMonitor({ catalog, prober, store: new MemoryHealthStore(), publisher: bus, clock: systemClock }, { ownerId: `chaos-${process.pid}` });
    monitorRun = monitor
      .run({ until: Number.POSITIVE_INFINITY, signal: stopMonitor.signal, onTick: () => void (++ticks === 2 && warm()) })
      // A monitor that stops early must not leave the command waiting.
      .finally(() => warm());
    await warmedUp;

    killedAt = Date.now();
    if (!killServerAt(datadir)) throw new AppError(`could not kill the server of ${primary.id} (pid file in ${datadir})`);
    note(`killed ${primary.id} (${primary.host}:${primary.port}), the primary of shard ${shardName}`);

    const deadline = killedAt + options.timeout;
    while (!failover.run && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!failover.run) throw new AppError(`no ShardPrimaryDown for ${shardName} within ${options.timeout} ms`);
    const result = await failover.run;
    note(`failover workflow ${result.status}: ${result.states.join(' > ')}`);

    let routedTo: string | undefined;
    while (result.status === 'succeeded' && Date.now() < deadline) {
      const current = await requireShardMap(catalog);
      const writer = primaryOf(createRouter(current).routeText(key).shard);
      if (writer && writer.id !== primary.id) {
        routedTo = writer.id;
        note(`key ${key} now routes to ${writer.id} (${writer.host}:${writer.port}), shard map version ${current.version}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const summary = { shard: shardName, killed: primary.id, workflow: result.status, newPrimary: routedTo ?? null, error: result.error ?? null, timeline };
    if (options.json) context.out(`${JSON.stringify(summary, null, 2)}\n`);
    else if (result.status === 'succeeded') context.out(`\nrecovered: ${shardName} is served by ${routedTo}; see shardkeeper recovery log --shard ${shardName}\n`);
    else context.out(`\nnot recovered: ${result.error?.name}: ${result.error?.message}; see shardkeeper recovery log --shard ${shardName}\n`);
    return routedTo ? 0 : 1;
  } finally {
    stopMonitor.abort();
    await monitorRun;
    await prober.close();
    await pool.end();
  }
}

/**
 * The running sandbox detects and recovers by itself (its monitor and workflows print each step in
 * its own log); here the primary is killed and the shard map watched until the key routes elsewhere.
 */
async function watchSandboxRecovery(
  context: CliContext,
  options: ChaosOptions,
  catalog: SqlCatalog,
  target: { shardName: string; primary: ShardNode; datadir: string; key: string },
): Promise<number> {
  const killedAt = Date.now();
  if (!killServerAt(target.datadir)) throw new AppError(`could not kill the server of ${target.primary.id} (pid file in ${target.datadir})`);
  if (!options.json) context.out(`killed ${target.primary.id}, the primary of shard ${target.shardName}; the sandbox detects and fails over (see its log)\n`);
  while (Date.now() - killedAt < options.timeout) {
    const current = await requireShardMap(catalog);
    const writer = primaryOf(createRouter(current).routeText(target.key).shard);
    if (writer && writer.id !== target.primary.id) {
      const seconds = (Date.now() - killedAt) / 1000;
      const summary = { shard: target.shardName, killed: target.primary.id, newPrimary: writer.id, mapVersion: current.version, secondsToNewRoute: seconds };
      context.out(options.json ? `${JSON.stringify(summary, null, 2)}\n` : `+${seconds.toFixed(1)}s  key ${target.key} now routes to ${writer.id} (${writer.host}:${writer.port}), shard map version ${current.version}\n`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  context.out(options.json ? `${JSON.stringify({ shard: target.shardName, killed: target.primary.id, newPrimary: null })}\n` : `not recovered within ${options.timeout} ms; see shardkeeper recovery log --shard ${target.shardName}\n`);
  return 1;
}

/** `shardkeeper chaos ...`: break the sandbox on purpose and watch it heal. */
export function registerChaosCommands(program: Command, context: CliContext, integer: (name: string) => (value: string) => number): void {
  const chaos = program.command('chaos').description('break the sandbox on purpose and watch automated recovery');
  chaos
    .command('kill-primary')
    .description('SIGKILL the primary of a sandbox shard, then detect, fail over and re-route, showing each step')
    .argument('<shard>', 'shard name, e.g. 40-80')
    .option('--replicated-dir <dir>', "the replicated shards' folder (default: the running sandbox's)")
    .option('--node-user <user>', 'account on the shard nodes', 'root')
    .option('--node-password <password>', 'its password', '')
    .option('--timeout <ms>', 'give up after this long', integer('--timeout'), 60_000)
    .action(async (shard: string, _options, command: Command) => {
      const code = await killPrimaryCommand(context, command.optsWithGlobals(), shard);
      if (code !== 0) throw new AppError(`shard ${shard} was not recovered`);
    });
}
