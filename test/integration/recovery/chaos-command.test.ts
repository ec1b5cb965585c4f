import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlRecoveryStore } from '../../../functions/adapters/sql-recovery-store';
import { runCli } from '../../../functions/cli/main';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { startTestShard } from '../helpers/replication';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';

/** The sandbox's `chaos kill-primary` against a real replicated shard laid out as the sandbox lays it out. */
describe('shardkeeper chaos kill-primary', () => {
  let baseDir: string;
  let shard: ReplicatedShard;
  let scratch: ScratchDatabase;
  let catalogUrl: string;

  beforeAll(async () => {
    baseDir = mkdtempSync(join(tmpdir(), 'sk-chaos-'));
    shard = await startTestShard({ baseDir, shard: '-', database: 'sk_chaos', replicas: 2 });
    scratch = await createScratchDatabase();
    const catalog = new SqlCatalog(scratch.executor);
    await catalog.migrate();
    await catalog.commitShardMap(
      { keyType: 'uint64', strategy: { kind: 'keyspace' }, overrides: [], shards: [{ name: '-', database: 'sk_chaos', status: 'serving', kind: 'self-managed', nodes: [...shard.nodes] }] },
      0,
      'sandbox-like shard',
    );
    const url = new URL(mysqlUrl());
    url.pathname = `/${scratch.database}`;
    catalogUrl = url.toString();
  });

  afterAll(async () => {
    await shard?.stop();
    await scratch?.drop();
    if (baseDir) rmSync(baseDir, { recursive: true, force: true });
  });

  it('kills the primary, then shows detection, failover and the new route, and exits 0', async () => {
    let out = '';
    let err = '';
    const code = await runCli(['--catalog', catalogUrl, 'chaos', 'kill-primary', '-', '--replicated-dir', baseDir, '--json'], {
      out: (text) => (out += text),
      err: (text) => (err += text),
      env: {},
      untilStopped: async () => {},
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(out) as { killed: string; workflow: string; newPrimary: string; timeline: { what: string }[] };
    expect(summary).toMatchObject({ killed: '--a', workflow: 'succeeded' });
    expect(['--b', '--c']).toContain(summary.newPrimary);
    const steps = summary.timeline.map((entry) => entry.what.split(':')[0]);
    expect(steps).toEqual(expect.arrayContaining(['ShardPrimaryDown', 'ShardFailoverStarted', 'ShardFailoverCompleted']));
    expect(steps.indexOf('ShardPrimaryDown')).toBeLessThan(steps.indexOf('ShardFailoverCompleted'));
    expect(shard.running(0)).toBe(false);
    expect((await new SqlRecoveryStore(scratch.executor).auditLog({ shard: '-', limit: 50 })).some((entry) => entry.step === 'complete')).toBe(true);
  });

  it('refuses shards that are not local sandbox shards', async () => {
    const map = await new SqlCatalog(scratch.executor).loadShardMap();
    let err = '';
    const code = await runCli(['--catalog', catalogUrl, 'chaos', 'kill-primary', 'nope', '--replicated-dir', baseDir], {
      out: () => {},
      err: (text) => (err += text),
      env: {},
      untilStopped: async () => {},
    });
    expect(code).toBe(2);
    expect(err).toMatch(new RegExp(`no shard "nope" in the shard map; shards: ${map!.shards[0]!.name}`));
  });
});
