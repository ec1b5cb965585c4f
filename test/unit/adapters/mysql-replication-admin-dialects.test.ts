import { describe, expect, it } from 'vitest';
import type { QueryFn, Row, ServerIdentity } from '../../../functions/adapters/mysql-prober';
import {
  changeSourceStatement,
  checkWriteOver,
  fenceOver,
  promoteOver,
  repointOver,
  type WaitOptions,
} from '../../../functions/adapters/mysql-replication-admin';
import type { ShardNode } from '../../../functions/core/shard-map-types';
import { NodeNotReadyError, NodeNotWritableError, ReplicationChangeError, ValidationError } from '../../../functions/shared/errors';

/**
 * The MySQL 8 and Aurora paths of the replication admin over a fake server; the MariaDB path
 * runs against real servers in test/integration/adapters/mysql-replication-admin.test.ts.
 */
const UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const MYSQL_8_0_36: ServerIdentity = { flavor: 'mysql', version: '8.0.36', replicaStatements: true, sourceStatements: true, auroraServerId: null };
const MYSQL_8_0_21: ServerIdentity = { flavor: 'mysql', version: '8.0.21', replicaStatements: false, sourceStatements: false, auroraServerId: null };
const MARIADB: ServerIdentity = { flavor: 'mariadb', version: '10.11.6', replicaStatements: false, sourceStatements: false, auroraServerId: null };
const AURORA: ServerIdentity = { flavor: 'aurora-mysql', version: '3.04.1', replicaStatements: true, sourceStatements: true, auroraServerId: 'shard-80-instance-2' };

const replica: ShardNode = { id: '80--b', role: 'replica', host: '10.0.2.16', port: 3306 };
const source: ShardNode = { id: '80--c', role: 'replica', host: 'shard-80-c.internal.example', port: 3307 };
const instantWait: WaitOptions = { timeoutMs: 1_000, pollMs: 10, sleep: async () => {} };

/** Replica status rows served in turn to successive SHOW REPLICA/SLAVE STATUS statements (the last one repeats). */
function fakeReplica(statuses: Row[][], extra: [RegExp, Row[] | Error][] = []): { query: QueryFn; executed: string[] } {
  const executed: string[] = [];
  let served = 0;
  const query: QueryFn = async (sql) => {
    executed.push(sql);
    if (/^SHOW (REPLICA|SLAVE) STATUS$/.test(sql)) return statuses[Math.min(served++, statuses.length - 1)]!;
    const match = extra.find(([pattern]) => pattern.test(sql));
    if (match) {
      if (match[1] instanceof Error) throw match[1];
      return match[1];
    }
    return [];
  };
  return { query, executed };
}

const status = (overrides: Row = {}): Row => ({
  Source_Host: '10.0.1.15',
  Source_Port: 3306,
  Source_Log_File: 'binlog.000042',
  Read_Source_Log_Pos: 157824,
  Relay_Source_Log_File: 'binlog.000042',
  Exec_Source_Log_Pos: 157824,
  Replica_IO_Running: 'Connecting',
  Replica_SQL_Running: 'Yes',
  Seconds_Behind_Source: null,
  Last_IO_Error: '',
  Last_SQL_Error: '',
  Retrieved_Gtid_Set: `${UUID}:1-5003`,
  Executed_Gtid_Set: `${UUID}:1-5003`,
  Channel_Name: '',
  ...overrides,
});

describe('replication admin dialects', () => {
  describe('promote on MySQL 8', () => {
    it('stops receiving, lets the SQL thread apply the relay log, then resets replication and lifts super_read_only and read_only', async () => {
      const server = fakeReplica([[status()], [status({ Replica_IO_Running: 'No', Executed_Gtid_Set: `${UUID}:1-5001` })], [status({ Replica_IO_Running: 'No' })]]);
      await promoteOver(server.query, MYSQL_8_0_36, replica, instantWait);
      expect(server.executed).toEqual([
        'SHOW REPLICA STATUS',
        'STOP REPLICA IO_THREAD',
        'START REPLICA SQL_THREAD',
        'SHOW REPLICA STATUS',
        'SHOW REPLICA STATUS',
        'STOP REPLICA',
        'RESET REPLICA ALL',
        'SET GLOBAL super_read_only = OFF',
        'SET GLOBAL read_only = OFF',
      ]);
    });

    it('says SLAVE before MySQL 8.0.22', async () => {
      const server = fakeReplica([[status()]]);
      await promoteOver(server.query, MYSQL_8_0_21, replica, instantWait);
      expect(server.executed).toEqual(expect.arrayContaining(['STOP SLAVE IO_THREAD', 'STOP SLAVE', 'RESET SLAVE ALL']));
    });

    it('only lifts read-only on a node that no longer replicates, so a retried promote is harmless', async () => {
      const server = fakeReplica([[]]);
      await promoteOver(server.query, MYSQL_8_0_36, replica, instantWait);
      expect(server.executed).toEqual(['SHOW REPLICA STATUS', 'SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']);
    });

    it('refuses to promote a replica whose SQL thread stopped on an error, keeping it read-only', async () => {
      const server = fakeReplica([
        [status({ Replica_SQL_Running: 'No', Executed_Gtid_Set: `${UUID}:1-5001`, Last_SQL_Error: "Duplicate entry '42' for key 'players.PRIMARY'" })],
      ]);
      await expect(promoteOver(server.query, MYSQL_8_0_36, replica, instantWait)).rejects.toThrow(new ReplicationChangeError(`cannot promote 80--b: its SQL thread stopped: Duplicate entry '42' for key 'players.PRIMARY'`));
      expect(server.executed).not.toContain('SET GLOBAL read_only = OFF');
    });

    it('gives up with a retryable error while the relay log is still being applied', async () => {
      let now = 0;
      const wait: WaitOptions = { timeoutMs: 500, pollMs: 100, sleep: async (ms) => void (now += ms), now: () => now };
      const server = fakeReplica([[status({ Executed_Gtid_Set: `${UUID}:1-4000` })]]);
      await expect(promoteOver(server.query, MYSQL_8_0_36, replica, wait)).rejects.toBeInstanceOf(NodeNotReadyError);
      expect(now).toBe(500);
      expect(server.executed).not.toContain('RESET REPLICA ALL');
    });
  });

  describe('repoint', () => {
    const credentials = { user: 'shard_admin', password: "pa'ss\\word" };

    it.each([
      [
        'MySQL 8.0.23+ without TLS',
        MYSQL_8_0_36,
        'off',
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'shard-80-c.internal.example', SOURCE_PORT = 3307, SOURCE_USER = 'shard_admin', SOURCE_PASSWORD = 'pa\\'ss\\\\word', SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1",
      ],
      [
        'MySQL 8.0.23+ with TLS',
        MYSQL_8_0_36,
        'required',
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'shard-80-c.internal.example', SOURCE_PORT = 3307, SOURCE_USER = 'shard_admin', SOURCE_PASSWORD = 'pa\\'ss\\\\word', SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1",
      ],
      [
        'MySQL 8.0.21',
        MYSQL_8_0_21,
        'off',
        "CHANGE MASTER TO MASTER_HOST = 'shard-80-c.internal.example', MASTER_PORT = 3307, MASTER_USER = 'shard_admin', MASTER_PASSWORD = 'pa\\'ss\\\\word', MASTER_AUTO_POSITION = 1, GET_MASTER_PUBLIC_KEY = 1",
      ],
      [
        'MariaDB',
        MARIADB,
        'off',
        "CHANGE MASTER TO MASTER_HOST = 'shard-80-c.internal.example', MASTER_PORT = 3307, MASTER_USER = 'shard_admin', MASTER_PASSWORD = 'pa\\'ss\\\\word', MASTER_USE_GTID = slave_pos",
      ],
    ] as const)('points a %s replica at its new source with GTID auto-positioning and escaped credentials', (_, identity, tls, expected) => {
      expect(changeSourceStatement(identity, source.host, source.port, credentials, tls)).toBe(expected);
    });

    it.each([
      ["10.0.0.1', SOURCE_PASSWORD='x", 3306],
      ['10.0.0.1 ', 3306],
      ['-leading-dash.example', 3306],
      ['10.0.0.1', 0],
      ['10.0.0.1', 3306.5],
    ])('refuses source %j port %j', (host, port) => {
      expect(() => changeSourceStatement(MYSQL_8_0_36, host, port, credentials, 'off')).toThrow(ValidationError);
    });

    it('accepts IPv6 addresses', () => {
      expect(changeSourceStatement(MYSQL_8_0_36, 'fd00::15', 3306, credentials, 'off')).toContain("SOURCE_HOST = 'fd00::15'");
    });

    it('stops replication, changes the source, keeps the replica read-only and waits until both threads run', async () => {
      const server = fakeReplica([[status({ Replica_IO_Running: 'Connecting' })], [status({ Replica_IO_Running: 'Yes' })]]);
      await repointOver(server.query, MYSQL_8_0_36, replica, source, credentials, 'off', instantWait);
      expect(server.executed).toEqual([
        'STOP REPLICA',
        changeSourceStatement(MYSQL_8_0_36, source.host, source.port, credentials, 'off'),
        'SET GLOBAL super_read_only = ON',
        'START REPLICA',
        'SHOW REPLICA STATUS',
        'SHOW REPLICA STATUS',
      ]);
    });

    it('fails with the IO error when the new source cannot serve the replica its missing transactions', async () => {
      const error =
        "Got fatal error 1236 from source when reading data from binary log: 'Cannot replicate because the source purged required binary logs.'";
      const server = fakeReplica([[status({ Replica_IO_Running: 'No', Last_IO_Error: error })]]);
      await expect(repointOver(server.query, MYSQL_8_0_36, replica, source, credentials, 'off', instantWait)).rejects.toThrow(
        new ReplicationChangeError(`80--b cannot replicate from 80--c: ${error}`),
      );
    });

    it('keeps the password out of the error when the server rejects the change', async () => {
      const rejection = Object.assign(new Error(`You have an error in your SQL syntax near '${credentials.password}'`), { errno: 1064, sql: 'CHANGE ...' });
      const server = fakeReplica([[status()]], [[/^CHANGE REPLICATION SOURCE/, rejection]]);
      const error = await repointOver(server.query, MYSQL_8_0_36, replica, source, credentials, 'off', instantWait).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ReplicationChangeError);
      expect((error as Error).message).toContain('****');
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(credentials.password);
      expect((error as Error).cause).toBeUndefined();
    });
  });

  it('fences MySQL with super_read_only, MariaDB with read_only', async () => {
    const mysql = fakeReplica([[]]);
    await fenceOver(mysql.query, MYSQL_8_0_36, replica);
    expect(mysql.executed).toEqual(['SET GLOBAL super_read_only = ON']);
    const mariadb = fakeReplica([[]]);
    await fenceOver(mariadb.query, MARIADB, replica);
    expect(mariadb.executed).toEqual(['SET GLOBAL read_only = ON']);
  });

  it('leaves Aurora topology changes to the RDS API', async () => {
    const server = fakeReplica([[]]);
    await expect(promoteOver(server.query, AURORA, replica, instantWait)).rejects.toThrow(/is an Aurora instance: its cluster promotes a reader through the RDS API \(FailoverDBCluster\)/);
    await expect(fenceOver(server.query, AURORA, replica)).rejects.toBeInstanceOf(ReplicationChangeError);
    expect(server.executed).toEqual([]);
  });

  describe('checkWrite', () => {
    it('refuses a node with super_read_only on before writing anything', async () => {
      const server = fakeReplica(
        [[]],
        [[/^SHOW GLOBAL VARIABLES/, [{ Variable_name: 'read_only', Value: 'ON' }, { Variable_name: 'super_read_only', Value: 'ON' }, { Variable_name: 'innodb_read_only', Value: 'OFF' }]]],
      );
      await expect(checkWriteOver(server.query, replica, 'game')).rejects.toThrow(new NodeNotWritableError('node 80--b is read-only (read_only=ON, super_read_only=ON); it is not the shard\'s writer'));
      expect(server.executed).toHaveLength(1);
    });

    it('creates the heartbeat table in the shard database and upserts its row', async () => {
      const server = fakeReplica([[]], [[/^SHOW GLOBAL VARIABLES/, [{ Variable_name: 'read_only', Value: 'OFF' }]]]);
      await checkWriteOver(server.query, replica, 'game');
      expect(server.executed.slice(1)).toEqual([
        expect.stringMatching(/^CREATE TABLE IF NOT EXISTS `game`\.`sk_heartbeat` /),
        "INSERT INTO `game`.`sk_heartbeat` (id, written_at, written_by) VALUES (1, UTC_TIMESTAMP(6), '80--b') ON DUPLICATE KEY UPDATE written_at = UTC_TIMESTAMP(6), written_by = '80--b'",
      ]);
    });

    it('rejects a database name that is not an identifier', async () => {
      const server = fakeReplica([[]]);
      await expect(checkWriteOver(server.query, replica, 'game`; DROP DATABASE x; --')).rejects.toBeInstanceOf(ValidationError);
      expect(server.executed).toEqual([]);
    });
  });
});
