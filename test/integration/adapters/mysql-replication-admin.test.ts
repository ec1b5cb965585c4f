import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlProber, type MysqlProber } from '../../../functions/adapters/mysql-prober';
import { createMysqlReplicationAdmin, HEARTBEAT_TABLE, type MysqlReplicationAdmin } from '../../../functions/adapters/mysql-replication-admin';
import { mostAdvanced } from '../../../functions/core/gtid';
import type { ReplicatedShard } from '../../../functions/local/replicated-shard';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { NodeNotWritableError, NodeUnreachableError, ValidationError } from '../../../functions/shared/errors';
import { startTestShard } from '../helpers/replication';

const ROWS_BEFORE_KILL = 200;

describe('MySQL replication admin: failover of a real MariaDB shard', () => {
  let shard: ReplicatedShard;
  let admin: MysqlReplicationAdmin;
  let prober: MysqlProber;
  const node = (index: number) => shard.nodes[index]!;
  const countRows = async (index: number) => Number((await shard.query(index, 'SELECT COUNT(*) AS n FROM sk_admin.events'))[0]!.n);

  beforeAll(async () => {
    shard = await startTestShard({ shard: '80-', database: 'sk_admin' });
    const credentials = staticCredentials('root', '');
    admin = createMysqlReplicationAdmin({ credentials, tls: 'off', connectTimeoutMs: 1_000, waitTimeoutMs: 10_000 });
    prober = createMysqlProber({ credentials, tls: 'off' });
    await shard.query(0, 'CREATE TABLE sk_admin.events (id INT PRIMARY KEY, note VARCHAR(32))');
  });

  afterAll(async () => {
    await prober?.close();
    await shard?.stop();
  });

  it('refuses a source host that could smuggle SQL into CHANGE MASTER, and an impossible port, before touching the replica', async () => {
    const hostile = { ...node(0), host: "127.0.0.1', MASTER_PASSWORD='x" };
    await expect(admin.repoint(node(1), hostile)).rejects.toBeInstanceOf(ValidationError);
    await expect(admin.repoint(node(1), { ...node(0), port: 70_000 })).rejects.toBeInstanceOf(ValidationError);
    const [status] = await shard.query(1, 'SHOW SLAVE STATUS');
    expect(status).toMatchObject({ Master_Port: shard.serverPort(0), Slave_IO_Running: 'Yes' });
  });

  it('refuses the write probe on a read-only replica with a clear error', async () => {
    const failure = admin.checkWrite(node(1), 'sk_admin');
    await expect(failure).rejects.toBeInstanceOf(NodeNotWritableError);
    await expect(failure).rejects.toThrow(/read-only \(read_only=ON\)/);
  });

  it('promotes the most advanced replica after the primary dies, repoints the other to it, and loses nothing committed before the kill', async () => {
    // Replica c stops receiving half-way, so replica b ends up the most advanced.
    for (let id = 1; id <= ROWS_BEFORE_KILL / 2; id++) await shard.query(0, 'INSERT INTO sk_admin.events VALUES (?, ?)', [id, 'before']);
    await shard.waitForReplicas();
    await shard.query(2, 'STOP SLAVE IO_THREAD');
    for (let id = ROWS_BEFORE_KILL / 2 + 1; id <= ROWS_BEFORE_KILL; id++) await shard.query(0, 'INSERT INTO sk_admin.events VALUES (?, ?)', [id, 'before']);
    const [primaryPosition] = await shard.query(0, 'SELECT @@gtid_current_pos AS position');
    await shard.query(1, 'SELECT MASTER_GTID_WAIT(?, 10)', [primaryPosition!.position]);
    await shard.killPrimary();

    const replicas = [node(2), node(1)];
    const positions = new Map(await Promise.all(replicas.map(async (replica) => [replica.id, await admin.gtidPosition(replica)] as const)));
    expect(positions.get(node(1).id)).toBe(primaryPosition!.position);
    const candidate = mostAdvanced(replicas, (replica) => positions.get(replica.id) ?? null);
    expect(candidate?.id).toBe(node(1).id);

    await admin.promote(candidate!);
    await admin.repoint(node(2), candidate!);
    await admin.checkWrite(candidate!, 'sk_admin');

    const promoted = await prober.probe({ shard: '80-', node: candidate! });
    expect(promoted).toMatchObject({ ok: true, observation: { readOnly: false, writer: true, replication: null } });
    const follower = await prober.probe({ shard: '80-', node: node(2) });
    expect(follower).toMatchObject({ ok: true, observation: { readOnly: true, writer: false, replication: { ioState: 'yes', sqlRunning: true, sourcePort: candidate!.port } } });

    await shard.query(1, 'INSERT INTO sk_admin.events VALUES (?, ?)', [ROWS_BEFORE_KILL + 1, 'after']);
    await shard.waitForReplicas({ source: 1 });
    expect(await countRows(1)).toBe(ROWS_BEFORE_KILL + 1);
    expect(await countRows(2)).toBe(ROWS_BEFORE_KILL + 1);
    expect(await shard.query(2, `SELECT written_by FROM sk_admin.${HEARTBEAT_TABLE}`)).toEqual([{ written_by: candidate!.id }]);
  });

  it('promotes idempotently: a retried promote of the new primary changes nothing', async () => {
    await admin.promote(node(1));
    const [status] = await shard.query(1, 'SELECT @@read_only AS readOnly');
    expect(status).toEqual({ readOnly: 0 });
    expect(await shard.query(1, 'SHOW SLAVE STATUS')).toEqual([]);
  });

  it('reports that a dead node cannot be fenced, and fences the old primary once it comes back writable', async () => {
    expect(await admin.fence(node(0))).toBe(false);
    await expect(admin.checkWrite(node(0), 'sk_admin')).rejects.toBeInstanceOf(NodeUnreachableError);

    await shard.restart(0);
    const [before] = await shard.query(0, 'SELECT @@read_only AS readOnly');
    expect(before).toEqual({ readOnly: 0 });
    expect(await admin.fence(node(0))).toBe(true);
    await expect(admin.checkWrite(node(0), 'sk_admin')).rejects.toBeInstanceOf(NodeNotWritableError);
  });
});
