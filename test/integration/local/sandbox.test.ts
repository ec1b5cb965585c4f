import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../../functions/local/sandbox';
import { mysqlUrl } from '../helpers/mariadb';
import { freePortBlock } from '../helpers/ports';

describe('local sandbox', () => {
  const databasePrefix = `sk_t${randomBytes(3).toString('hex')}_`;
  const lines: string[] = [];
  const options: SandboxOptions = { port: 0, shards: 4, players: 3000, gameLogsPerShard: 300, mysqlUrl: mysqlUrl(), reset: false, databasePrefix, log: (line) => lines.push(line) };
  let sandbox: Sandbox | undefined;

  afterAll(async () => {
    await sandbox?.stop();
    const admin = await mysql.createConnection({ uri: mysqlUrl() });
    const [rows] = await admin.query('SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?', [`${databasePrefix}%`]);
    for (const { name } of rows as Array<{ name: string }>) await admin.query(`DROP DATABASE \`${name}\``);
    await admin.end();
  });

  it('creates the catalog and fleet, seeds every player on its shard and serves the lookup API', async () => {
    sandbox = await startSandbox(options);
    expect(sandbox.map.shards.map((shard) => shard.database)).toEqual(['00_40', '40_80', '80_c0', 'c0_ff'].map((suffix) => `${databasePrefix}shard_${suffix}`));

    const route = (await (await fetch(`${sandbox.server.url}/v1/route/2999`)).json()) as { database: string; writer: { port: number } };
    const admin = await mysql.createConnection({ uri: mysqlUrl() });
    const [rows] = await admin.query(`SELECT player_name FROM \`${route.database}\`.players WHERE player_id = 2999`);
    expect(rows).toEqual([{ player_name: 'player_2999' }]);
    let total = 0;
    for (const shard of sandbox.map.shards) {
      const [[count]] = (await admin.query(`SELECT COUNT(*) AS n FROM \`${shard.database}\`.players`)) as unknown as [[{ n: number }]];
      expect(count.n).toBeGreaterThan(600);
      total += count.n;
    }
    await admin.end();
    expect(total).toBe(3000);
    await sandbox.stop();
    sandbox = undefined;
  });

  it('is idempotent on re-run', async () => {
    lines.length = 0;
    sandbox = await startSandbox(options);
    expect(sandbox.map.version).toBe(1);
    expect(lines).toContain('players: 3000 across 4 shards (0 inserted now)');
    await sandbox.stop();
    sandbox = undefined;
  });

  it('says which MySQL it could not reach instead of starting without one', async () => {
    await expect(startSandbox({ ...options, mysqlUrl: 'mysql://root@127.0.0.1:1' })).rejects.toThrow('cannot connect to MySQL at 127.0.0.1:1 (from MYSQL_URL / --mysql-url)');
  });

  it('refuses a different fleet size unless asked to reset', async () => {
    await expect(startSandbox({ ...options, shards: 8 })).rejects.toThrow(/already holds a 4-shard map .* --reset/);
    sandbox = await startSandbox({ ...options, shards: 8, reset: true, players: 100 });
    expect(sandbox.map.shards).toHaveLength(8);
    expect(sandbox.map.version).toBe(1);
    const admin = await mysql.createConnection({ uri: mysqlUrl() });
    const [rows] = await admin.query('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name LIKE ?', [`${databasePrefix}shard%`]);
    await admin.end();
    expect(rows).toEqual([{ n: 8 }]);
  });

  it('runs every shard as a replicated primary when asked for replicas', { timeout: 90_000 }, async () => {
    await sandbox?.stop();
    sandbox = undefined;
    // Random ports can lose a race with another test's servers: a start that fails is retried.
    for (let attempt = 1; !sandbox; attempt++) {
      // Two shards, each on its own block of 20 ports from the base.
      const replicaBasePort = await freePortBlock(40);
      sandbox = await startSandbox({ ...options, shards: 2, reset: true, players: 400, replicas: 1, replicaBasePort }).catch((error: unknown) => {
        if (attempt === 3) throw error;
        return undefined;
      });
    }
    expect(sandbox.map.shards.map((shard) => shard.nodes.map((node) => node.role))).toEqual([
      ['primary', 'replica'],
      ['primary', 'replica'],
    ]);
    const route = (await (await fetch(`${sandbox.server.url}/v1/route/7`)).json()) as { shard: string; database: string; writer: { port: number }; readers: Array<{ port: number }> };
    const replicated = sandbox.replicatedShards.find((shard) => shard.shard === route.shard)!;
    expect(route.writer.port).toBe(replicated.nodes[0]!.port);
    expect(route.readers).toEqual([{ host: '127.0.0.1', port: replicated.nodes[1]!.port }]);
    await replicated.waitForReplicas();
    const rows = await replicated.query(1, `SELECT player_name FROM \`${route.database}\`.players WHERE player_id = 7`);
    expect(rows.map((row) => row.player_name)).toEqual(['player_7']);

    const primaryDown = new Promise<{ shard: string }>((resolve) => sandbox!.bus.subscribe('ShardPrimaryDown', (event) => resolve(event.detail as { shard: string })));
    await replicated.killPrimary();
    expect(await primaryDown).toMatchObject({ shard: route.shard });
    await sandbox.bus.settled();
    expect(lines.some((line) => line.startsWith(`event ShardPrimaryDown: shard ${route.shard}`))).toBe(true);

    // The sandbox's failover workflow promotes the replica and the lookup API follows the new map.
    let rerouted = route;
    for (let attempt = 0; attempt < 300 && rerouted.writer.port === route.writer.port; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rerouted = (await (await fetch(`${sandbox.server.url}/v1/route/7`)).json()) as typeof route;
    }
    expect(rerouted.writer.port).toBe(replicated.nodes[1]!.port);
    expect(rerouted.readers).toEqual([]);
    expect(lines.some((line) => line.startsWith('workflow for ShardPrimaryDown succeeded'))).toBe(true);
    await sandbox.stop();
    sandbox = undefined;
  });
});
