import { describe, expect, it } from 'vitest';
import { EventTimes, parseEventHeader, stopDatetime } from '../../../functions/core/backup-binlog';
import { binlogSequence, planBinlogRecovery, planManagedRecovery, type ArchivedBinlog } from '../../../functions/core/backup-pitr';

const T = (minute: number) => Date.parse('2026-01-05T12:00:00Z') + minute * 60_000;
const binlog = (seq: number, first: number | null, last: number | null, coveredUntil = T(60)): ArchivedBinlog => ({
  file: `mysql-bin.${String(seq).padStart(6, '0')}`,
  objectKey: `binlog/mysql-bin.${seq}`,
  bytes: 1_000,
  sha256: 'x',
  firstEventAt: first,
  lastEventAt: last,
  coveredUntil,
});
const full = (backupId: string, minute: number, seq: number, position = 400) => ({
  backupId,
  consistentAt: T(minute),
  position: { file: `mysql-bin.${String(seq).padStart(6, '0')}`, position, gtid: null },
  bytes: 8 * 1024 * 1024,
});

describe('point-in-time recovery plans', () => {
  const archived = [binlog(3, T(0), T(9)), binlog(4, T(10), T(19)), binlog(5, T(20), T(29)), binlog(6, T(30), T(39))];

  it('takes the newest full backup before the target and the binary logs from its position up to the target', () => {
    const plan = planBinlogRecovery(T(25), [full('early', -30, 1), full('base', 12, 4, 1234), full('after', 27, 5)], archived);
    expect(plan.base.backupId).toBe('base');
    expect(plan.binlogs.map((entry) => entry.file)).toEqual(['mysql-bin.000004', 'mysql-bin.000005']);
    expect(plan.startPosition).toBe(1234);
    expect(plan.stopDatetime).toBe('2026-01-05 12:25:00');
    // 8 MiB at 8 MiB/s + 2,000 bytes of binary log.
    expect(plan.estimatedSeconds).toBe(2);
  });

  it('refuses a chain with a binary log missing between the base and the target', () => {
    const gap = archived.filter((entry) => entry.file !== 'mysql-bin.000005');
    expect(() => planBinlogRecovery(T(35), [full('base', 12, 4)], gap)).toThrow(/mysql-bin\.000005 was never archived/);
    // The target falls in the missing log's time, and the next archived log starts after it.
    expect(() => planBinlogRecovery(T(25), [full('base', 12, 4)], gap)).toThrow(/mysql-bin\.000005 was never archived; recovery past 2026-01-05T12:19:00.000Z/);
    expect(planBinlogRecovery(T(15), [full('base', 12, 4)], gap).binlogs.map((entry) => entry.file)).toEqual(['mysql-bin.000004']);
  });

  it('refuses a target the archives do not cover yet, and a target before every full backup', () => {
    expect(() => planBinlogRecovery(T(90), [full('base', 12, 4)], archived)).toThrow(/archived only up to 2026-01-05T13:00:00.000Z/);
    expect(() => planBinlogRecovery(T(5), [full('base', 12, 4)], archived)).toThrow(/no usable full backup/);
  });

  it('reads binary log names as base and sequence', () => {
    expect(binlogSequence('mariadb-bin.000042')).toEqual(['mariadb-bin', 42]);
    expect(() => binlogSequence('nonsense')).toThrow(/not a binary log file name/);
  });

  it('plans the managed PITR call inside the recorded window only', () => {
    const plan = planManagedRecovery(T(30), { earliest: T(0), latest: T(60) }, { kind: 'aurora', identifier: 'players-a' }, 'players-a-pitr');
    expect(plan).toMatchObject({ call: 'RestoreDBClusterToPointInTime', sourceIdentifier: 'players-a', targetIdentifier: 'players-a-pitr', targetTime: '2026-01-05T12:30:00.000Z' });
    expect(planManagedRecovery(T(30), { earliest: T(0), latest: T(60) }, { kind: 'rds', identifier: 'db1' }, 'db1-pitr').call).toBe('RestoreDBInstanceToPointInTime');
    expect(() => planManagedRecovery(T(61), { earliest: T(0), latest: T(60) }, { kind: 'aurora', identifier: 'players-a' }, 'x')).toThrow(/outside the cluster's restore window/);
  });
});

describe('binary log event headers', () => {
  const header = (timestamp: number, type: number, length: number) => {
    const bytes = Buffer.alloc(19);
    bytes.writeUInt32LE(timestamp, 0);
    bytes.writeUInt8(type, 4);
    bytes.writeUInt32LE(length, 9);
    return bytes;
  };

  it('dates a file by its change events, not by its format and rotate events', () => {
    const times = new EventTimes();
    for (const [timestamp, type] of [[100, 15], [200, 162], [201, 30], [205, 16], [999, 4]] as const) times.add(parseEventHeader(header(timestamp, type, 19)));
    expect([times.first, times.last]).toEqual([200_000, 205_000]);
  });

  it('stops replay at the whole second at or before the target', () => {
    expect(stopDatetime(Date.parse('2026-01-05T12:00:07.900Z'))).toBe('2026-01-05 12:00:07');
  });
});
