import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlRecoveryStore } from '../../../functions/adapters/sql-recovery-store';
import { bootstrapCatalog } from '../../../functions/catalog/bootstrap';
import { runCli } from '../../../functions/cli/main';
import { demoShardMap } from '../../../functions/core/population';
import { withDatabase } from '../../../functions/local/sandbox';
import { cli } from '../../unit/cli/run-cli';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('shardkeeper health against real servers', () => {
  let scratch: ScratchDatabase;
  let catalogArg: string[];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    // Two primaries on the local MariaDB; shard -80 also lists a replica nobody listens for.
    const map = demoShardMap(2);
    map.shards[0]!.nodes.push({ id: 'ghost-replica', role: 'replica', host: '127.0.0.1', port: await closedPort() });
    await bootstrapCatalog(new SqlCatalog(scratch.executor), map);
    catalogArg = ['--catalog', withDatabase(mysqlUrl(), scratch.database)];
  });
  afterAll(async () => scratch.drop());

  it('probes every node once and prints nodes and verdicts as JSON', async () => {
    const run = await cli('health', '--json', '--connect-timeout', '1000', ...catalogArg);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out);
    expect(report.nodes.map((node: { node: string; state: string; ok: boolean }) => [node.node, node.state, node.ok])).toEqual([
      ['sk_shard_00_80-primary', 'ONLINE', true],
      ['ghost-replica', 'SUSPECT', false],
      ['sk_shard_80_ff-primary', 'ONLINE', true],
    ]);
    expect(report.nodes[0].observation).toMatchObject({ flavor: 'mariadb', writer: true, replication: null });
    expect(report.nodes[1].error).toMatch(/ECONNREFUSED/);
    // The shared test server's buffer pool may legitimately be over the chapter's 85 % (LOAD_HIGH); nothing worse.
    for (const shard of report.shards as Array<{ verdict: string }>) expect(['HEALTHY', 'LOAD_HIGH']).toContain(shard.verdict);
  });

  it('probes a primary a failover removed from the map too, and calls the shard SPLIT_BRAIN while it answers writable', async () => {
    const recovery = new SqlRecoveryStore(scratch.executor);
    // Shard 80-'s former primary is the local server, writable like the map's primary.
    await recovery.addRemovedNode({ shard: '80-', node: { id: 'old-primary', role: 'primary', host: '127.0.0.1', port: 3306 }, reason: 'failed-primary', recoveryId: 'failover-80-1' });
    try {
      const run = await cli('health', '--json', '--connect-timeout', '1000', ...catalogArg);
      expect(run.code, run.err).toBe(0);
      const shards = JSON.parse(run.out).shards as Array<{ shard: string; verdict: string }>;
      expect(shards.find((shard) => shard.shard === '80-')).toMatchObject({ verdict: 'SPLIT_BRAIN' });
      expect(shards.find((shard) => shard.shard === '-80')?.verdict).not.toBe('SPLIT_BRAIN');
    } finally {
      await recovery.forgetRemovedNode('80-', 'old-primary');
    }
  });

  it('prints a table of nodes and one of shard verdicts', async () => {
    const run = await cli('health', '--connect-timeout', '1000', ...catalogArg);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/shard\s+node\s+role\s+state\s+latency ms\s+lag s\s+threads\s+conn %\s+verdict\s+probe/);
    expect(run.out).toMatch(/-80\s+ghost-replica\s+replica\s+SUSPECT/);
    expect(run.out).toMatch(/shard\s+verdict\s+reachable\s+findings/);
  });

  it('refuses an interval that would hammer the fleet', async () => {
    const run = await cli('health', '--watch', '--interval', '5', ...catalogArg);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--interval must be at least 100 ms/);
  });

  it('with --watch refreshes until stopped, taking a dead node from SUSPECT to DOWN and listing the transition', async () => {
    let out = '';
    const code = await runCli(['health', '--watch', '--interval', '300', '--connect-timeout', '1000', ...catalogArg], {
      out: (text) => (out += text),
      err: (text) => (out += text),
      env: {},
      untilStopped: () => sleep(1_500),
    });
    expect(code).toBe(0);
    const frames = out.split('\u001b[H\u001b[2J').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    expect(frames[0]).toMatch(/ghost-replica\s+replica\s+SUSPECT/);
    const last = frames.at(-1)!;
    expect(last).toMatch(/ghost-replica\s+replica\s+DOWN/);
    expect(last).toMatch(/ShardNodeDown\s+-80 ghost-replica/);
    expect(last).toMatch(/-80\s+DEGRADED\s+1\/2/);
  });
});
