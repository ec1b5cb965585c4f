import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMysqlProber, type MysqlProber } from '../../../functions/adapters/mysql-prober';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import type { NodeObservation, ProbeResult } from '../../../functions/ports/node-prober';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { startTestShard } from '../helpers/replication';

function observed(result: ProbeResult): NodeObservation {
  if (!result.ok) throw new Error(`probe of ${result.nodeId} failed: ${result.error}`);
  return result.observation;
}

describe('MySQL prober against a replicated MariaDB shard', () => {
  let shard: ReplicatedShard;
  let prober: MysqlProber;
  const probe = (index: number, using = prober) => using.probe({ shard: shard.shard, node: shard.nodes[index]! });

  beforeAll(async () => {
    shard = await startTestShard({ shard: '-80', database: 'sk_probe' });
    prober = createMysqlProber({ credentials: staticCredentials('root', ''), tls: 'off', connectTimeoutMs: 1_000 });
    await shard.query(0, 'CREATE TABLE sk_probe.players (id INT PRIMARY KEY, name VARCHAR(32))');
  });

  afterAll(async () => {
    await prober?.close();
    await shard?.stop();
  });

  it('brings up real GTID replication: a row written on the primary appears on both replicas', async () => {
    await shard.query(0, "INSERT INTO sk_probe.players VALUES (1, 'ada')");
    await shard.waitForReplicas();
    for (const replica of [1, 2]) {
      expect(await shard.query(replica, 'SELECT id, name FROM sk_probe.players')).toEqual([{ id: 1, name: 'ada' }]);
    }
  });

  it('reports the primary as a writable MariaDB server that replicates from nobody', async () => {
    const result = await probe(0);
    const primary = observed(result);
    const [position] = await shard.query(0, 'SELECT @@gtid_current_pos AS position, @@version AS version');
    expect(primary).toMatchObject({
      flavor: 'mariadb',
      version: String(position!.version).split('-')[0],
      readOnly: false,
      superReadOnly: false,
      writer: true,
      replication: null,
      gtidPosition: position!.position,
    });
    expect(primary.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(primary.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(primary.threadsRunning).toBeGreaterThanOrEqual(1);
    expect(primary.connections).toBeGreaterThanOrEqual(1);
    expect(primary.connectionsPercent).toBeCloseTo((primary.connections / primary.maxConnections) * 100);
    expect(primary.bufferPoolUsedPercent).toBeGreaterThan(0);
    expect(primary.bufferPoolUsedPercent).toBeLessThanOrEqual(100);
    expect(primary.bufferPoolHitRatio).toBeGreaterThan(0);
    expect(result.latencyMs).toBeGreaterThan(0);
  });

  it('reports replicas as read-only, connected to the primary, caught up and with their relay logs applied', async () => {
    await shard.waitForReplicas();
    const [primary] = await shard.query(0, 'SELECT @@gtid_current_pos AS position');
    for (const index of [1, 2]) {
      const replica = observed(await probe(index));
      expect(replica).toMatchObject({ flavor: 'mariadb', readOnly: true, writer: false, gtidPosition: primary!.position });
      expect(replica.replication).toEqual({
        sourceHost: '127.0.0.1',
        sourcePort: shard.serverPort(0),
        ioRunning: true,
        ioState: 'yes',
        sqlRunning: true,
        lagSeconds: 0,
        gtidExecuted: primary!.position,
        gtidReceived: primary!.position,
        relayLogApplied: true,
        lastError: null,
      });
    }
  });

  it('reports a stopped SQL thread: received transactions are not applied and the lag is unknown', async () => {
    await shard.stopSqlThread(1);
    try {
      await shard.query(0, "INSERT INTO sk_probe.players VALUES (2, 'grace')");
      await vi.waitFor(async () => {
        const replication = observed(await probe(1)).replication;
        expect(replication).toMatchObject({ ioState: 'yes', sqlRunning: false, lagSeconds: null, relayLogApplied: false });
      });
    } finally {
      await shard.startReplication(1);
    }
    await shard.waitForReplicas();
    expect(observed(await probe(1)).replication).toMatchObject({ sqlRunning: true, relayLogApplied: true });
  });

  it('reports real lag from a delayed replica, and none once the delay is lifted', async () => {
    await shard.createLag(2, 3);
    try {
      await vi.waitFor(async () => expect(observed(await probe(2)).replication?.lagSeconds).toBeGreaterThanOrEqual(2), { timeout: 8_000, interval: 200 });
    } finally {
      await shard.clearLag(2);
    }
    await shard.waitForReplicas();
    expect(observed(await probe(2)).replication).toMatchObject({ lagSeconds: 0, relayLogApplied: true });
  });

  it('reports a replica made writable as writable while it keeps replicating', async () => {
    await shard.makeWritable(1);
    try {
      expect(observed(await probe(1))).toMatchObject({ readOnly: false, writer: true, replication: { ioState: 'yes', sqlRunning: true } });
    } finally {
      await shard.query(1, 'SET GLOBAL read_only = ON');
    }
  });

  it('times out on a primary cut off from the monitor while its replicas still replicate from it', async () => {
    shard.blockMonitor(0);
    try {
      const result = await probe(0);
      expect(result).toMatchObject({ ok: false, nodeId: shard.nodes[0]!.id, shard: '-80', timedOut: true });
      expect(result.latencyMs).toBeGreaterThanOrEqual(900);
      for (const index of [1, 2]) expect(observed(await probe(index)).replication).toMatchObject({ ioState: 'yes', ioRunning: true });
    } finally {
      shard.unblockMonitor(0);
    }
    expect((await probe(0)).ok).toBe(true);
  });

  it('reports a killed primary as unreachable without a timeout, and its replicas as connecting with nothing left to apply', async () => {
    await shard.query(0, "INSERT INTO sk_probe.players VALUES (3, 'linus')");
    await shard.waitForReplicas();
    await shard.killPrimary();

    const result = await probe(0);
    expect(result).toMatchObject({ ok: false, timedOut: false });
    for (const index of [1, 2]) {
      await vi.waitFor(async () => {
        const replication = observed(await probe(index)).replication;
        expect(replication).toMatchObject({ ioRunning: false, ioState: 'connecting', sqlRunning: true, lagSeconds: null, relayLogApplied: true });
        expect(replication?.lastError).toMatch(/connect/i);
      });
    }
  });

  it('probes a restarted primary again on a fresh connection and sees its uptime start over', async () => {
    await shard.restart(0);
    const primary = observed(await probe(0));
    expect(primary).toMatchObject({ writer: true, replication: null });
    expect(primary.uptimeSeconds).toBeLessThan(30);
  });

  it('fails fast, without throwing, for a port nobody listens on', async () => {
    const result = await prober.probe({ shard: '-80', node: { id: 'nobody', role: 'replica', host: '127.0.0.1', port: shard.serverPort(0) - 1 } });
    expect(result).toMatchObject({ ok: false, nodeId: 'nobody', timedOut: false, error: expect.stringMatching(/ECONNREFUSED/) });
  });
});
