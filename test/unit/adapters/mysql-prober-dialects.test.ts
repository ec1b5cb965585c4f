import { describe, expect, it } from 'vitest';
import { identifyServer, observeNode, type QueryFn, type Row } from '../../../functions/adapters/mysql-prober';

/**
 * Result shapes as mysql2 returns them from MySQL 8.0.36, MySQL 8.0.21, Aurora MySQL 3 and
 * MariaDB (integer columns as numbers, NULL as null). The MariaDB path is also tested against
 * real servers in test/integration/adapters/mysql-prober.test.ts.
 */
const SOURCE_UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const LOCAL_UUID = '8b7c2f8e-5d1a-11ee-8c99-0242ac120002';

type Response = Row[] | Error;

/** A fake server: the first matching pattern answers; unexpected statements fail the test. */
function fakeServer(responses: [RegExp, Response][]): { query: QueryFn; executed: string[] } {
  const executed: string[] = [];
  const query: QueryFn = async (sql) => {
    executed.push(sql);
    const match = responses.find(([pattern]) => pattern.test(sql));
    if (!match) throw new Error(`unexpected statement: ${sql}`);
    if (match[1] instanceof Error) throw match[1];
    return match[1];
  };
  return { query, executed };
}

const unknownVariable = (name: string) => Object.assign(new Error(`Unknown system variable '${name}'`), { errno: 1193, code: 'ER_UNKNOWN_SYSTEM_VARIABLE', sqlState: 'HY000' });
const nameValue = (values: Record<string, string>): Row[] => Object.entries(values).map(([Variable_name, Value]) => ({ Variable_name, Value }));

const STATUS = nameValue({
  Innodb_buffer_pool_pages_data: '7800',
  Innodb_buffer_pool_pages_total: '8192',
  Innodb_buffer_pool_read_requests: '1000000',
  Innodb_buffer_pool_reads: '2500',
  Threads_connected: '240',
  Threads_running: '12',
  Uptime: '864000',
});

function mysqlVariables(overrides: Record<string, string> = {}): Row[] {
  return nameValue({
    gtid_executed: `${SOURCE_UUID}:1-5000,\n${LOCAL_UUID}:1-12`,
    gtid_mode: 'ON',
    innodb_read_only: 'OFF',
    max_connections: '300',
    read_only: 'ON',
    super_read_only: 'ON',
    ...overrides,
  });
}

/** SHOW REPLICA STATUS on MySQL 8.0.36, every column, healthy. */
function replicaStatus(overrides: Row = {}): Row {
  return {
    Replica_IO_State: 'Waiting for source to send event',
    Source_Host: '10.0.1.15',
    Source_User: 'shardkeeper',
    Source_Port: 3306,
    Connect_Retry: 60,
    Source_Log_File: 'binlog.000042',
    Read_Source_Log_Pos: 157824,
    Relay_Log_File: 'ip-10-0-1-16-relay-bin.000007',
    Relay_Log_Pos: 1203,
    Relay_Source_Log_File: 'binlog.000042',
    Replica_IO_Running: 'Yes',
    Replica_SQL_Running: 'Yes',
    Replicate_Do_DB: '',
    Replicate_Ignore_DB: '',
    Replicate_Do_Table: '',
    Replicate_Ignore_Table: '',
    Replicate_Wild_Do_Table: '',
    Replicate_Wild_Ignore_Table: '',
    Last_Errno: 0,
    Last_Error: '',
    Skip_Counter: 0,
    Exec_Source_Log_Pos: 157824,
    Relay_Log_Space: 1590,
    Until_Condition: 'None',
    Until_Log_File: '',
    Until_Log_Pos: 0,
    Source_SSL_Allowed: 'Yes',
    Source_SSL_CA_File: '',
    Source_SSL_CA_Path: '',
    Source_SSL_Cert: '',
    Source_SSL_Cipher: '',
    Source_SSL_Key: '',
    Seconds_Behind_Source: 0,
    Source_SSL_Verify_Server_Cert: 'No',
    Last_IO_Errno: 0,
    Last_IO_Error: '',
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
    Replicate_Ignore_Server_Ids: '',
    Source_Server_Id: 1,
    Source_UUID: SOURCE_UUID,
    Source_Info_File: 'mysql.slave_master_info',
    SQL_Delay: 0,
    SQL_Remaining_Delay: null,
    Replica_SQL_Running_State: 'Replica has read all relay log; waiting for more updates',
    Source_Retry_Count: 86400,
    Source_Bind: '',
    Last_IO_Error_Timestamp: '',
    Last_SQL_Error_Timestamp: '',
    Source_SSL_Crl: '',
    Source_SSL_Crlpath: '',
    Retrieved_Gtid_Set: `${SOURCE_UUID}:1-5000`,
    Executed_Gtid_Set: `${SOURCE_UUID}:1-5000,\n${LOCAL_UUID}:1-12`,
    Auto_Position: 1,
    Replicate_Rewrite_DB: '',
    Channel_Name: '',
    Source_TLS_Version: 'TLSv1.2,TLSv1.3',
    Source_public_key_path: '',
    Get_Source_public_key: 0,
    Network_Namespace: '',
    ...overrides,
  };
}

/** SHOW SLAVE STATUS on MySQL 8.0.21 (before the REPLICA/SOURCE renames), the fields that differ. */
function legacySlaveStatus(overrides: Row = {}): Row {
  return {
    Slave_IO_State: 'Waiting for master to send event',
    Master_Host: '10.0.1.15',
    Master_User: 'shardkeeper',
    Master_Port: 3306,
    Master_Log_File: 'binlog.000042',
    Read_Master_Log_Pos: 157824,
    Relay_Master_Log_File: 'binlog.000042',
    Slave_IO_Running: 'Yes',
    Slave_SQL_Running: 'Yes',
    Exec_Master_Log_Pos: 157824,
    Seconds_Behind_Master: 3,
    Last_IO_Errno: 0,
    Last_IO_Error: '',
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
    Master_Server_Id: 1,
    Master_UUID: SOURCE_UUID,
    Slave_SQL_Running_State: 'Slave has read all relay log; waiting for more updates',
    Retrieved_Gtid_Set: `${SOURCE_UUID}:1-5000`,
    Executed_Gtid_Set: `${SOURCE_UUID}:1-5000`,
    Auto_Position: 1,
    Channel_Name: '',
    ...overrides,
  };
}

function mysql8(replicaRows: Row[], variables = mysqlVariables(), version = '8.0.36') {
  return fakeServer([
    [/^SELECT @@version AS version/, [{ version, version_comment: 'MySQL Community Server - GPL' }]],
    [/^SELECT @@aurora_version/, unknownVariable('aurora_version')],
    [/^SHOW GLOBAL VARIABLES WHERE/, variables],
    [/^SHOW GLOBAL STATUS WHERE/, STATUS],
    [/^SHOW REPLICA STATUS$/, replicaRows],
    [/^SHOW SLAVE STATUS$/, replicaRows],
  ]);
}

async function observe(server: { query: QueryFn }) {
  return observeNode(server.query, await identifyServer(server.query));
}

describe('prober dialects', () => {
  describe('MySQL 8.0.22+', () => {
    it('reads a healthy replica from SHOW REPLICA STATUS, with super_read_only and the executed GTID set', async () => {
      const server = mysql8([replicaStatus()]);
      const observation = await observe(server);
      expect(server.executed).toContain('SHOW REPLICA STATUS');
      expect(server.executed).not.toContain('SHOW SLAVE STATUS');
      expect(observation).toEqual({
        flavor: 'mysql',
        version: '8.0.36',
        readOnly: true,
        superReadOnly: true,
        writer: false,
        replication: {
          sourceHost: '10.0.1.15',
          sourcePort: 3306,
          ioRunning: true,
          ioState: 'yes',
          sqlRunning: true,
          lagSeconds: 0,
          gtidExecuted: `${SOURCE_UUID}:1-5000,${LOCAL_UUID}:1-12`,
          gtidReceived: `${SOURCE_UUID}:1-5000`,
          relayLogApplied: true,
          lastError: null,
        },
        threadsRunning: 12,
        connections: 240,
        maxConnections: 300,
        connectionsPercent: 80,
        bufferPoolUsedPercent: (7800 / 8192) * 100,
        bufferPoolHitRatio: 0.9975,
        uptimeSeconds: 864000,
        gtidPosition: `${SOURCE_UUID}:1-5000,${LOCAL_UUID}:1-12`,
      });
    });

    it('reports a replica that lost its source as connecting, with the IO error, no lag figure and retrieved transactions still to apply', async () => {
      const server = mysql8([
        replicaStatus({
          Replica_IO_State: 'Reconnecting after a failed source event read',
          Replica_IO_Running: 'Connecting',
          Seconds_Behind_Source: null,
          Last_IO_Errno: 2003,
          Last_IO_Error: "error reconnecting to source 'shardkeeper@10.0.1.15:3306' - retry-time: 60 retries: 1 message: Can't connect to MySQL server on '10.0.1.15:3306' (111)",
          Retrieved_Gtid_Set: `${SOURCE_UUID}:1-5003`,
          Replica_SQL_Running_State: 'Applying batch of row changes (write)',
        }),
      ]);
      expect((await observe(server)).replication).toEqual({
        sourceHost: '10.0.1.15',
        sourcePort: 3306,
        ioRunning: false,
        ioState: 'connecting',
        sqlRunning: true,
        lagSeconds: null,
        gtidExecuted: `${SOURCE_UUID}:1-5000,${LOCAL_UUID}:1-12`,
        gtidReceived: `${SOURCE_UUID}:1-5003`,
        relayLogApplied: false,
        lastError: expect.stringMatching(/^error reconnecting to source 'shardkeeper@10.0.1.15:3306'/),
      });
    });

    it('reports a stopped SQL thread and its error', async () => {
      const server = mysql8([
        replicaStatus({
          Replica_SQL_Running: 'No',
          Seconds_Behind_Source: null,
          Last_Errno: 1062,
          Last_Error: "Could not execute Write_rows event on table game.players; Duplicate entry '42' for key 'players.PRIMARY'",
          Last_SQL_Errno: 1062,
          Last_SQL_Error: "Could not execute Write_rows event on table game.players; Duplicate entry '42' for key 'players.PRIMARY'",
          Retrieved_Gtid_Set: `${SOURCE_UUID}:1-5001`,
        }),
      ]);
      expect((await observe(server)).replication).toMatchObject({
        ioState: 'yes',
        sqlRunning: false,
        lagSeconds: null,
        relayLogApplied: false,
        lastError: expect.stringContaining("Duplicate entry '42'"),
      });
    });

    it('judges the relay log by binlog positions when GTIDs are off', async () => {
      const behind = mysql8(
        [replicaStatus({ Retrieved_Gtid_Set: '', Executed_Gtid_Set: '', Auto_Position: 0, Read_Source_Log_Pos: 160000 })],
        mysqlVariables({ gtid_mode: 'OFF', gtid_executed: '' }),
      );
      const observation = await observe(behind);
      expect(observation.replication?.relayLogApplied).toBe(false);
      expect(observation.gtidPosition).toBeNull();
      const applied = mysql8([replicaStatus({ Retrieved_Gtid_Set: '', Executed_Gtid_Set: '', Auto_Position: 0 })], mysqlVariables({ gtid_mode: 'OFF', gtid_executed: '' }));
      expect((await observe(applied)).replication?.relayLogApplied).toBe(true);
    });

    it('reads the default channel of a multi-source replica', async () => {
      const server = mysql8([replicaStatus({ Channel_Name: 'analytics', Source_Host: '10.9.9.9' }), replicaStatus({ Channel_Name: '' })]);
      expect((await observe(server)).replication?.sourceHost).toBe('10.0.1.15');
    });

    it('reports a primary as a writer that replicates from nobody', async () => {
      const server = mysql8([], mysqlVariables({ read_only: 'OFF', super_read_only: 'OFF' }));
      expect(await observe(server)).toMatchObject({ flavor: 'mysql', readOnly: false, superReadOnly: false, writer: true, replication: null });
    });
  });

  it('uses SHOW SLAVE STATUS and its Master_* names before MySQL 8.0.22', async () => {
    const server = mysql8([legacySlaveStatus()], mysqlVariables(), '8.0.21');
    const observation = await observe(server);
    expect(server.executed).toContain('SHOW SLAVE STATUS');
    expect(server.executed).not.toContain('SHOW REPLICA STATUS');
    expect(observation).toMatchObject({ flavor: 'mysql', version: '8.0.21' });
    expect(observation.replication).toEqual({
      sourceHost: '10.0.1.15',
      sourcePort: 3306,
      ioRunning: true,
      ioState: 'yes',
      sqlRunning: true,
      lagSeconds: 3,
      gtidExecuted: `${SOURCE_UUID}:1-5000`,
      gtidReceived: `${SOURCE_UUID}:1-5000`,
      relayLogApplied: true,
      lastError: null,
    });
  });

  describe('Aurora MySQL 3', () => {
    const HOST_STATUS = [
      { server_id: 'shard-80-instance-1', session_id: 'MASTER_SESSION_ID', replica_lag_ms: 0 },
      { server_id: 'shard-80-instance-2', session_id: '9c6f5a1e-3b2d-4f0a-8e7c-1d2b3c4d5e6f', replica_lag_ms: 18.5 },
    ];
    const aurora = (serverId: string, hostStatus: Row[], variables: Record<string, string>) =>
      fakeServer([
        [/^SELECT @@version AS version/, [{ version: '8.0.28', version_comment: 'Source distribution' }]],
        [/^SELECT @@aurora_version/, [{ aurora_version: '3.04.1', aurora_server_id: serverId }]],
        [/^SHOW GLOBAL VARIABLES WHERE/, mysqlVariables({ super_read_only: 'OFF', ...variables })],
        [/^SHOW GLOBAL STATUS WHERE/, STATUS],
        [/^SHOW REPLICA STATUS$/, []],
        [/FROM information_schema\.replica_host_status$/, hostStatus],
      ]);

    it('recognises the writer by its MASTER_SESSION_ID row', async () => {
      const server = aurora('shard-80-instance-1', HOST_STATUS, { read_only: 'OFF', innodb_read_only: 'OFF' });
      expect(await observe(server)).toMatchObject({ flavor: 'aurora-mysql', version: '3.04.1', readOnly: false, writer: true, replication: null });
    });

    it('reports a reader as read-only through innodb_read_only, following the writer with its replica lag', async () => {
      const server = aurora('shard-80-instance-2', HOST_STATUS, { read_only: 'OFF', innodb_read_only: 'ON' });
      expect(await observe(server)).toMatchObject({
        flavor: 'aurora-mysql',
        readOnly: true,
        writer: false,
        replication: { sourceHost: 'shard-80-instance-1', sourcePort: null, ioState: 'yes', ioRunning: true, sqlRunning: true, lagSeconds: 0.0185, relayLogApplied: true },
      });
    });

    it('reports a reader whose cluster lists no writer as having lost its source', async () => {
      const server = aurora('shard-80-instance-2', HOST_STATUS.slice(1), { read_only: 'OFF', innodb_read_only: 'ON' });
      expect((await observe(server)).replication).toMatchObject({ sourceHost: null, ioState: 'connecting', ioRunning: false });
    });
  });

  it('recognises MariaDB by its version string and keeps the SLAVE vocabulary', async () => {
    const server = fakeServer([[/^SELECT @@version AS version/, [{ version: '10.11.6-MariaDB-log', version_comment: 'Source distribution' }]]]);
    expect(await identifyServer(server.query)).toEqual({ flavor: 'mariadb', version: '10.11.6', replicaStatements: false, sourceStatements: false, auroraServerId: null });
    expect(server.executed).toHaveLength(1);
  });

  it('passes on errors other than an unknown variable while looking for Aurora', async () => {
    const server = fakeServer([
      [/^SELECT @@version AS version/, [{ version: '8.0.36', version_comment: 'MySQL Community Server - GPL' }]],
      [/^SELECT @@aurora_version/, Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' })],
    ]);
    await expect(identifyServer(server.query)).rejects.toThrow('Query inactivity timeout');
  });
});
