import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlRecoveryStore } from '../../../functions/adapters/sql-recovery-store';
import { runCli } from '../../../functions/cli/main';
import { fourShards } from '../../unit/fakes/fleets';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

let scratch: ScratchDatabase;
let store: SqlRecoveryStore;
let catalog: string;

async function cli(...argv: string[]) {
  return cliWith({}, ...argv);
}

async function cliWith(context: { env?: Record<string, string>; untilStopped?: () => Promise<void> }, ...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['--catalog', catalog, ...argv], {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env: { USER: 'tester', ...context.env },
    untilStopped: context.untilStopped ?? (async () => {}),
  });
  return { code, out, err };
}

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const sqlCatalog = new SqlCatalog(scratch.executor);
  await sqlCatalog.migrate();
  await sqlCatalog.commitShardMap(fourShards, 0, 'test fleet');
  store = new SqlRecoveryStore(scratch.executor);
  const url = new URL(mysqlUrl());
  url.pathname = `/${scratch.database}`;
  catalog = url.toString();
});

afterAll(async () => {
  await scratch?.drop();
});

describe('shardkeeper recovery', () => {
  it('disables and enables recovery per shard, recording who did it', async () => {
    const disabled = await cli('recovery', 'disable', '40-80', '--by', 'alice');
    expect(disabled).toMatchObject({ code: 0, out: 'automated recovery of shard 40-80 is disabled (by alice)\n' });
    expect(await store.settings('40-80')).toMatchObject({ enabled: false, updatedBy: 'alice' });

    const status = await cli('recovery', 'status', '--json');
    expect(JSON.parse(status.out).shards.map((s: { shard: string; enabled: boolean }) => [s.shard, s.enabled])).toEqual([
      ['-40', true],
      ['40-80', false],
      ['80-c0', true],
      ['c0-', true],
    ]);
    expect((await cli('recovery', 'enable', '40-80')).out).toMatch(/enabled \(by tester\)/);
    expect((await store.settings('40-80')).enabled).toBe(true);
  });

  it('refuses a shard that is not in the map, naming the ones that are', async () => {
    const run = await cli('recovery', 'disable', '40-8O');
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/no shard "40-8O" in the shard map \(version 1\); shards: -40, 40-80, 80-c0, c0-/);
  });

  it('acknowledges the last failover so the anti-flap window no longer blocks', async () => {
    await store.recordFailover('80-c0');
    const run = await cli('recovery', 'ack', '80-c0', '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ shard: '80-c0', acknowledgedBy: 'tester' });
    const settings = await store.settings('80-c0');
    expect(settings.acknowledgedAt).toBeGreaterThanOrEqual(settings.lastFailoverAt!);
  });

  it('approves a waiting runbook once; a second decision is refused', async () => {
    await store.addApproval({ recoveryId: 'rb-1', shard: 'c0-', kind: 'split-brain', taskToken: 'local:rb-1', reason: 'two writers' });
    const pending = await cli('recovery', 'status');
    expect(pending.out).toMatch(/rb-1\s+c0-\s+split-brain/);

    const approved = await cli('recovery', 'approve', 'rb-1', '--by', 'alice');
    expect(approved).toMatchObject({ code: 0, out: expect.stringMatching(/approved split-brain runbook rb-1 on shard c0- \(by alice\)/) });
    expect(await store.approval('rb-1')).toMatchObject({ decision: 'approved', decidedBy: 'alice' });

    const again = await cli('recovery', 'reject', 'rb-1');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already approved by alice/);
  });

  it('rejects a waiting runbook, and says so for an unknown id', async () => {
    await store.addApproval({ recoveryId: 'rb-2', shard: '-40', kind: 'quorum-lost', taskToken: 'local:rb-2', reason: '1 of 3' });
    expect((await cli('recovery', 'reject', 'rb-2')).out).toMatch(/rejected quorum-lost runbook rb-2.*the workflow stops/);
    const unknown = await cli('recovery', 'approve', 'nope', '--json');
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.err)).toMatchObject({ error: 'NotFound' });
  });

  it('lists the audit log newest first, filtered by shard', async () => {
    const run = await cli('recovery', 'log', '--shard', '40-80', '--json');
    expect(run.code).toBe(0);
    const entries = JSON.parse(run.out) as { step: string; detail: { by: string } }[];
    expect(entries.map((entry) => `${entry.step} by ${entry.detail.by}`)).toEqual(['enable by tester', 'disable by alice']);
    const human = await cli('recovery', 'log', '--limit', '3');
    expect(human.out.split('\n').filter((line) => /^\d{4}-/.test(line))).toHaveLength(3);
    expect((await cli('recovery', 'log', '--limit', '0')).code).toBe(2);
  });

  describe('report-corruption', () => {
    it('refuses an unknown shard and a table name that is not an identifier', async () => {
      const unknown = await cli('recovery', 'report-corruption', '40-8O', '--event-bus', 'sk-bus');
      expect(unknown.code).toBe(2);
      expect(unknown.err).toMatch(/no shard "40-8O" in the shard map \(version 1\); shards: -40, 40-80, 80-c0, c0-/);
      const badTable = await cli('recovery', 'report-corruption', '40-80', '--tables', 'players,items;drop', '--event-bus', 'sk-bus');
      expect(badTable.code).toBe(2);
      expect(badTable.err).toMatch(/table "items;drop" is not a valid MySQL identifier/);
    });

    it('publishes DataCorruptionReported to the event bus, in the region of the environment', async () => {
      const eventBridge = mockClient(EventBridgeClient);
      try {
        eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
        const run = await cliWith(
          { env: { AWS_REGION: 'eu-west-1' } },
          ...['recovery', 'report-corruption', '80-c0', '--tables', 'players, inventory', '--note', 'negative balances', '--event-bus', 'sk-bus', '--by', 'alice'],
        );
        expect(run).toMatchObject({ code: 0, out: expect.stringMatching(/reported data corruption on shard 80-c0 to sk-bus/) });
        const [call] = eventBridge.commandCalls(PutEventsCommand);
        expect(await (call!.thisValue as EventBridgeClient).config.region()).toBe('eu-west-1');
        const [entry] = call!.args[0].input.Entries!;
        expect(entry).toMatchObject({ EventBusName: 'sk-bus', Source: 'shardkeeper.recovery', DetailType: 'DataCorruptionReported' });
        expect(JSON.parse(entry!.Detail!)).toEqual({
          schemaVersion: 1,
          shard: '80-c0',
          tables: ['players', 'inventory'],
          reportedBy: 'alice',
          note: 'negative balances',
          observedAt: expect.any(String),
        });
      } finally {
        eventBridge.restore();
      }
    });

    it('without a bus, runs the runbook here and waits for the decision recorded by recovery approve', async () => {
      let stop = () => {};
      const report = cliWith({ untilStopped: () => new Promise<void>((resolve) => (stop = resolve)) }, 'recovery', 'report-corruption', 'c0-', '--by', 'alice');
      let recoveryId: string | undefined;
      for (let i = 0; i < 600 && !recoveryId; i++) {
        recoveryId = (await store.listApprovals({ pendingOnly: true, limit: 10 })).find((approval) => approval.kind === 'data-corruption')?.recoveryId;
        if (!recoveryId) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(recoveryId).toMatch(/^corruption-c0--/);
      expect((await cli('recovery', 'approve', recoveryId!, '--by', 'bob')).code).toBe(0);
      const run = await report;
      stop();
      expect(run.code).toBe(0);
      expect(run.out).toMatch(new RegExp(`recovery ${recoveryId} waits for an operator: data corruption on shard c0- \\(unknown tables\\) reported by alice`));
      expect(run.out).toMatch(new RegExp(`approve: shardkeeper recovery approve ${recoveryId}\n  reject:  shardkeeper recovery reject ${recoveryId}`));
      expect(run.out).toMatch(new RegExp(`recovery ${recoveryId} approved by bob: shard c0- is back under automatic recovery`));
      expect((await store.auditLog({ recoveryId: recoveryId!, limit: 10 })).map((entry) => `${entry.step}:${entry.outcome}`)).toEqual([
        'close:succeeded',
        'applyRunbook:succeeded',
        'approve:succeeded',
        'requestApproval:waiting',
        'preCheck:succeeded',
      ]);
    }, 60_000);
  });
});
