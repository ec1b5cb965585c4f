import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Command } from 'commander';
import { createEventBridgePublisher } from '../adapters/eventbridge-publisher';
import { LocalEventBus } from '../adapters/local-event-bus';
import { SfnTaskCallbacks } from '../adapters/sfn-task-callbacks';
import { SqlRecoveryStore } from '../adapters/sql-recovery-store';
import { requireShardMap } from '../catalog/shard-map-changes';
import type { Catalog } from '../ports/catalog';
import { systemClock } from '../ports/clock';
import type { AppEvent } from '../ports/event-publisher';
import type { ApprovalDecision, RecoveryStore } from '../ports/recovery-store';
import { DEFAULT_RECOVERY_POLICY, type RecoveryDeps } from '../recovery/context';
import type { LocalTaskTokens } from '../recovery/local-workflows';
import { acknowledgeFailover, decideRecovery, isLocalTaskToken, setRecoveryEnabled } from '../recovery/operator';
import { AppError, CatalogUnavailableError, ConflictError, ValidationError } from '../shared/errors';
import { buildEvent, DataCorruptionReported, type DetailOf } from '../shared/events';
import { assertIdentifier } from '../shared/identifiers';
import { print, withCatalog, type CliContext, type GlobalOptions } from './context';
import { table } from './format';

interface RecoveryOptions extends GlobalOptions {
  by?: string;
}

const iso = (epochMs: number | null) => (epochMs === null ? '-' : new Date(epochMs).toISOString());

/** Who is acting: --by, else the login name. */
function operator(context: CliContext, options: RecoveryOptions): string {
  return options.by ?? context.env.USER ?? userInfo().username;
}

/** Opens the catalog as the recovery store sees it, for one command, and always closes it. */
async function withRecovery<T>(context: CliContext, options: GlobalOptions, work: (store: RecoveryStore, catalog: Catalog) => Promise<T>): Promise<T> {
  try {
    return await withCatalog(context, options, (catalog, sql) => work(new SqlRecoveryStore(sql), catalog));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ER_NO_SUCH_TABLE') {
      throw new CatalogUnavailableError('the catalog has no recovery tables yet (schema version 3); start the sandbox or deploy to migrate it', { cause: error });
    }
    throw error;
  }
}

/** A typo in a shard name would otherwise silently switch nothing. */
async function requireShard(catalog: Catalog, shard: string): Promise<void> {
  const map = await requireShardMap(catalog);
  if (!map.shards.some((candidate) => candidate.name === shard)) {
    throw new ValidationError(`no shard ${JSON.stringify(shard)} in the shard map (version ${map.version}); shards: ${map.shards.map((s) => s.name).join(', ')}`);
  }
}

async function switchCommand(context: CliContext, options: RecoveryOptions, shard: string, enabled: boolean): Promise<void> {
  await withRecovery(context, options, async (store, catalog) => {
    await requireShard(catalog, shard);
    const by = operator(context, options);
    await setRecoveryEnabled(store, shard, enabled, by);
    print(context, options, { shard, enabled, by }, () => `automated recovery of shard ${shard} is ${enabled ? 'enabled' : 'disabled'} (by ${by})`);
  });
}

async function ackCommand(context: CliContext, options: RecoveryOptions, shard: string): Promise<void> {
  await withRecovery(context, options, async (store, catalog) => {
    await requireShard(catalog, shard);
    const by = operator(context, options);
    const { lastFailoverAt } = await acknowledgeFailover(store, shard, by);
    print(context, options, { shard, lastFailoverAt: lastFailoverAt === null ? null : iso(lastFailoverAt), acknowledgedBy: by }, () =>
      lastFailoverAt === null
        ? `shard ${shard} has no failover on record; acknowledged anyway`
        : `failover of ${shard} at ${iso(lastFailoverAt)} acknowledged by ${by}: the next failover is not held back by the 30-minute window`,
    );
  });
}

async function decideCommand(context: CliContext, options: RecoveryOptions, recoveryId: string, decision: ApprovalDecision): Promise<void> {
  await withRecovery(context, options, async (store) => {
    const by = operator(context, options);
    // Step Functions tokens go back through the API; a local runner reads the decision from the catalog.
    const sfn = new SFNClient({});
    try {
      const approval = await decideRecovery(store, (token) => (isLocalTaskToken(token) ? undefined : new SfnTaskCallbacks(sfn)), recoveryId, decision, by);
      print(context, options, { recoveryId, shard: approval.shard, kind: approval.kind, decision, by }, () =>
        `${decision} ${approval.kind} runbook ${recoveryId} on shard ${approval.shard} (by ${by})${decision === 'approved' ? '; the workflow carries on' : '; the workflow stops'}`,
      );
    } finally {
      sfn.destroy();
    }
  });
}

interface ReportCorruptionOptions extends RecoveryOptions {
  tables?: string;
  note?: string;
  eventBus?: string;
}

/** How often a local run looks in the catalog for the decision `recovery approve|reject` recorded. */
const DECISION_POLL_MS = 1000;

function corruptedTables(list: string | undefined): string[] {
  const names = (list ?? '').split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  return [...new Set(names.map((name) => assertIdentifier(name, 'table')))];
}

/**
 * Reports corrupted data on a shard: the manual runbook (isolate, restore to a point in time,
 * verify, replay) holds the shard until an operator decides. With --event-bus the report goes to
 * the deployed bus and its rule starts the runbook there; without it the runbook runs here.
 */
async function reportCorruptionCommand(context: CliContext, options: ReportCorruptionOptions, shard: string): Promise<void> {
  const tables = corruptedTables(options.tables);
  const event = buildEvent(DataCorruptionReported, {
    schemaVersion: 1,
    shard,
    tables,
    reportedBy: operator(context, options),
    note: options.note ?? '',
    observedAt: new Date().toISOString(),
  });
  await withRecovery(context, options, async (store, catalog) => {
    await requireShard(catalog, shard);
    if (options.eventBus) {
      const region = context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION;
      const client = new EventBridgeClient(region ? { region } : {});
      try {
        await createEventBridgePublisher({ client, eventBusName: options.eventBus }).publish([event]);
      } finally {
        client.destroy();
      }
      print(context, options, { published: true, eventBus: options.eventBus, ...event }, () =>
        `reported data corruption on shard ${shard} to ${options.eventBus}; the runbook asks for a decision there (shardkeeper recovery status shows its id)`,
      );
      return;
    }
    await runCorruptionRunbookLocally(context, options, store, catalog, event);
  });
}

/** No event bus: runs the deployed runbook definition in this process and waits for the operator's decision. */
async function runCorruptionRunbookLocally(
  context: CliContext,
  options: ReportCorruptionOptions,
  store: RecoveryStore,
  catalog: Catalog,
  event: AppEvent<DetailOf<typeof DataCorruptionReported>>,
): Promise<void> {
  // Loaded on demand: synthesizing the CDK app is the slow part, and no other recovery command needs it.
  const local = await import('../recovery/local-workflows');
  const { shard } = event.detail;
  const recoveryId = `corruption-${shard}-${Date.now()}`;
  // The corruption runbook neither probes nor changes nodes.
  const unused = (what: string) => async (): Promise<never> => {
    throw new AppError(`the data corruption runbook does not ${what}`);
  };
  const deps: RecoveryDeps = {
    catalog,
    store,
    prober: { probe: unused('probe nodes') },
    admin: { promote: unused('promote'), repoint: unused('repoint'), fence: unused('fence'), checkWrite: unused('write') },
    events: new LocalEventBus(),
    clock: systemClock,
    policy: { ...DEFAULT_RECOVERY_POLICY },
    auroraClusters: {},
  };
  const tokens = new local.LocalTaskTokens();
  const run = local.runLocalWorkflow(local.synthesizeRecoveryDefinitions().runbook, deps, { 'detail-type': event.detailType, source: event.source, detail: event.detail }, {
    executionName: recoveryId,
    tokens,
  });
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => {});
  let stopped = false;
  void context.untilStopped().then(() => (stopped = true));
  const notice = options.json ? context.err : context.out;
  let announced = false;
  while (!finished) {
    if (tokens.pending().length > 0) {
      if (!announced) {
        announced = true;
        const approval = await store.approval(recoveryId);
        notice(
          `recovery ${recoveryId} waits for an operator: ${approval?.reason ?? ''}\n` +
            `  approve: shardkeeper recovery approve ${recoveryId}\n  reject:  shardkeeper recovery reject ${recoveryId}\n` +
            `waiting for the decision (Ctrl-C withdraws the report)\n`,
        );
      }
      if (stopped) await withdraw(store, tokens, recoveryId, operator(context, options));
      else await tokens.deliverDecisions(store);
    }
    await sleep(tokens.pending().length > 0 ? DECISION_POLL_MS : 50);
  }
  const result = await run;
  const output = (result.output ?? {}) as { preCheck?: { proceed: boolean; reason: string }; decision?: { decidedBy: string }; closed?: { outcome: string } };
  if (result.status !== 'succeeded') throw new AppError(`the corruption runbook ${recoveryId} failed: ${result.error?.name}: ${result.error?.message}; see shardkeeper recovery log --recovery ${recoveryId}`);
  if (output.preCheck && !output.preCheck.proceed) throw new ConflictError(`corruption on shard ${shard} not taken up: ${output.preCheck.reason}`);
  const outcome = output.closed?.outcome ?? 'unknown';
  print(context, options, { recoveryId, shard, outcome, states: result.states }, () =>
    outcome === 'approved'
      ? `recovery ${recoveryId} approved by ${output.decision?.decidedBy}: shard ${shard} is back under automatic recovery`
      : `recovery ${recoveryId} ${outcome}: shard ${shard} is back under automatic recovery; see shardkeeper recovery log --recovery ${recoveryId}`,
  );
}

/** Ctrl-C while waiting: rejects the approval so the runbook closes and releases the shard, unless a decision came first. */
async function withdraw(store: RecoveryStore, tokens: LocalTaskTokens, recoveryId: string, by: string): Promise<void> {
  try {
    await decideRecovery(store, () => tokens, recoveryId, 'rejected', `${by} (report withdrawn)`);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    await tokens.deliverDecisions(store);
  }
}

async function statusCommand(context: CliContext, options: GlobalOptions): Promise<void> {
  await withRecovery(context, options, async (store, catalog) => {
    const map = await requireShardMap(catalog);
    const settings = new Map((await store.listSettings()).map((entry) => [entry.shard, entry]));
    const pending = await store.listApprovals({ pendingOnly: true, limit: 100 });
    const removed = await store.removedNodes();
    const shards = map.shards.map((shard) => {
      const entry = settings.get(shard.name);
      return {
        shard: shard.name,
        enabled: entry?.enabled ?? true,
        lastFailoverAt: entry?.lastFailoverAt ? iso(entry.lastFailoverAt) : null,
        acknowledged: entry?.lastFailoverAt ? (entry.acknowledgedAt ?? 0) >= entry.lastFailoverAt : null,
        removedNodes: removed.filter((node) => node.shard === shard.name).map((node) => `${node.node.id} (${node.reason})`),
      };
    });
    const approvals = pending.map((approval) => ({ recoveryId: approval.recoveryId, shard: approval.shard, kind: approval.kind, requestedAt: iso(approval.requestedAt), reason: approval.reason }));
    print(context, options, { shards, pendingApprovals: approvals }, () =>
      [
        table(
          ['shard', 'recovery', 'last failover', 'acknowledged', 'removed nodes'],
          shards.map((s) => [s.shard, s.enabled ? 'enabled' : 'DISABLED', s.lastFailoverAt ?? '-', s.acknowledged === null ? '-' : s.acknowledged ? 'yes' : 'no', s.removedNodes.join(', ') || '-']),
        ),
        '',
        approvals.length === 0
          ? 'no runbook waits for an operator'
          : `waiting for an operator (shardkeeper recovery approve|reject <id>):\n${table(['id', 'shard', 'runbook', 'requested', 'reason'], approvals.map((a) => [a.recoveryId, a.shard, a.kind, a.requestedAt, a.reason]))}`,
      ].join('\n'),
    );
  });
}

async function logCommand(context: CliContext, options: GlobalOptions & { shard?: string; recovery?: string; limit: number }): Promise<void> {
  await withRecovery(context, options, async (store) => {
    const entries = await store.auditLog({ shard: options.shard, recoveryId: options.recovery, limit: options.limit });
    print(
      context,
      options,
      entries.map((entry) => ({ ...entry, at: iso(entry.at) })),
      () =>
        entries.length === 0
          ? 'no recovery activity recorded'
          : table(
              ['at', 'recovery', 'shard', 'step', 'outcome', 'detail'],
              entries.map((entry) => [iso(entry.at), entry.recoveryId, entry.shard, entry.step, entry.outcome, JSON.stringify(entry.detail)]),
            ),
    );
  });
}

/** `shardkeeper recovery ...`: the operator's side of automated recovery. */
export function registerRecoveryCommands(program: Command, context: CliContext, integer: (name: string) => (value: string) => number): void {
  const recovery = program.command('recovery').description('automated recovery: per-shard switch, anti-flap acknowledgement, runbook approvals, audit log');
  const byOption = ['--by <name>', 'operator name recorded in the audit log (default: your login)'] as const;
  recovery
    .command('enable')
    .description('let failover and replica recovery act on a shard (the default)')
    .argument('<shard>', 'shard name, e.g. 40-80')
    .option(...byOption)
    .action((shard: string, _options, command: Command) => switchCommand(context, command.optsWithGlobals(), shard, true));
  recovery
    .command('disable')
    .description('stop automated recovery of a shard: events are still raised and reported, nothing is changed')
    .argument('<shard>', 'shard name')
    .option(...byOption)
    .action((shard: string, _options, command: Command) => switchCommand(context, command.optsWithGlobals(), shard, false));
  recovery
    .command('ack')
    .description("acknowledge a shard's last failover, lifting the 30-minute anti-flap block")
    .argument('<shard>', 'shard name')
    .option(...byOption)
    .action((shard: string, _options, command: Command) => ackCommand(context, command.optsWithGlobals(), shard));
  recovery
    .command('approve')
    .description('let a waiting manual runbook carry on')
    .argument('<id>', 'recovery id, as in the approval request and `recovery status`')
    .option(...byOption)
    .action((id: string, _options, command: Command) => decideCommand(context, command.optsWithGlobals(), id, 'approved'));
  recovery
    .command('reject')
    .description('stop a waiting manual runbook without changing anything')
    .argument('<id>', 'recovery id')
    .option(...byOption)
    .action((id: string, _options, command: Command) => decideCommand(context, command.optsWithGlobals(), id, 'rejected'));
  recovery
    .command('report-corruption')
    .description('report corrupted data on a shard: the manual runbook (isolate, restore to a point in time, verify, replay) waits for approve|reject')
    .argument('<shard>', 'shard name, e.g. 40-80')
    .option('--tables <list>', 'affected tables, comma-separated (default: not known)')
    .option('--note <text>', 'what was seen, for the operator')
    .option('--event-bus <name>', 'publish to this EventBridge bus (region from AWS_REGION) and let the deployed runbook take it; without it the runbook runs here and waits')
    .option(...byOption)
    .action((shard: string, _options, command: Command) => reportCorruptionCommand(context, command.optsWithGlobals(), shard));
  recovery
    .command('status')
    .description('per shard: recovery switch, last failover, removed nodes; and the runbooks waiting for an operator')
    .action((_options, command: Command) => statusCommand(context, command.optsWithGlobals()));
  recovery
    .command('log')
    .description('the recovery audit log, newest first')
    .option('--shard <name>', 'only this shard')
    .option('--recovery <id>', 'only this recovery')
    .option('--limit <n>', 'how many entries', integer('--limit'), 50)
    .action((_options, command: Command) => logCommand(context, command.optsWithGlobals()));
}
