import { describe, expect, it } from 'vitest';
import { compareGtid, gtidContains, gtidTransactionCount, gtidUnion, mostAdvanced } from '../../../functions/core/gtid';

const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = '8b7c2f8e-5d1a-11ee-8c99-0242ac120002';

describe('GTID positions', () => {
  describe('MariaDB domain-server-seq lists', () => {
    it.each([
      ['0-1-100', '0-1-100', 'equal'],
      ['0-1-101', '0-1-100', 'ahead'],
      ['0-1-99', '0-1-100', 'behind'],
      // Within a domain the sequence decides, whichever server wrote it (after a failover).
      ['0-2-120', '0-1-100', 'ahead'],
      ['0-1-100,1-3-7', '0-1-100', 'ahead'],
      ['0-1-101,1-3-6', '0-1-100,1-3-7', 'diverged'],
      ['', '0-1-1', 'behind'],
      ['', '', 'equal'],
    ] as const)('%s against %s is %s', (a, b, expected) => {
      expect(compareGtid(a, b)).toBe(expected);
    });

    it('takes the highest sequence of a domain listed once per server, as gtid_binlog_pos does', () => {
      expect(compareGtid('0-1-100,0-2-130', '0-2-120')).toBe('ahead');
      expect(gtidContains('0-2-130,0-1-100', '0-1-125')).toBe(true);
    });
  });

  describe('MySQL GTID sets', () => {
    it.each([
      [`${A}:1-100`, `${A}:1-100`, 'equal'],
      [`${A}:1-100`, `${A}:1-99`, 'ahead'],
      [`${A}:1-50:52-100`, `${A}:1-100`, 'behind'],
      [`${A}:1-100,${B}:1-5`, `${A}:1-100`, 'ahead'],
      [`${A}:1-100`, `${A}:1-90,${B}:1`, 'diverged'],
      // A gap: 51 is missing on one side only.
      [`${A}:1-50:52-60`, `${A}:1-51`, 'diverged'],
      [`${A}:1-5:6-10`, `${A}:1-10`, 'equal'],
      [null, `${A}:1`, 'behind'],
    ] as const)('%s against %s is %s', (a, b, expected) => {
      expect(compareGtid(a, b)).toBe(expected);
    });

    it('reads sets printed over several lines and in upper case, as SHOW REPLICA STATUS prints them', () => {
      expect(compareGtid(`${A.toUpperCase()}:1-100,\n${B}:1-5`, `${A}:1-100,${B}:1-5`)).toBe('equal');
    });

    it('keeps tagged transactions (MySQL 8.3+) apart from untagged ones of the same source', () => {
      expect(compareGtid(`${A}:1-10:orders:1-3`, `${A}:1-10`)).toBe('ahead');
      expect(compareGtid(`${A}:1-10:orders:1-3`, `${A}:1-13`)).toBe('diverged');
      expect(gtidContains(`${A}:1-10:orders:1-3`, `${A}:orders:2`)).toBe(true);
    });
  });

  it('refuses to compare a MariaDB position with a MySQL set, and rejects text that is neither', () => {
    expect(() => compareGtid('0-1-5', `${A}:1-5`)).toThrow(/MySQL GTID set with a MariaDB/);
    expect(() => compareGtid('0-1-5', 'mysql-bin.000003:1234')).toThrow(/not a MySQL GTID set/);
    expect(() => compareGtid(`${A}:9-3`, '')).toThrow(/runs backwards/);
  });

  it('counts the transactions in a position', () => {
    expect(gtidTransactionCount(`${A}:1-100:200,${B}:1-5`)).toBe(106);
    expect(gtidTransactionCount('0-1-100,1-3-7')).toBe(107);
    expect(gtidTransactionCount('')).toBe(0);
  });

  describe('mostAdvanced', () => {
    const replica = (id: string, position: string | null) => ({ id, position });
    const pick = (candidates: { id: string; position: string | null }[]) => mostAdvanced(candidates, (candidate) => candidate.position)?.id;

    it('picks the replica that holds every transaction any other replica has', () => {
      expect(pick([replica('b', '0-1-90'), replica('c', '0-1-100'), replica('d', '0-1-95')])).toBe('c');
      expect(pick([replica('b', `${A}:1-90`), replica('c', `${A}:1-100,${B}:1-2`), replica('d', `${A}:1-100`)])).toBe('c');
    });

    it('prefers the first of equally advanced replicas, so callers can order by preference', () => {
      expect(pick([replica('b', '0-1-100'), replica('c', '0-1-100')])).toBe('b');
    });

    it('picks nobody when positions diverged or there is nobody to pick', () => {
      expect(pick([replica('b', '0-1-101,1-3-6'), replica('c', '0-1-100,1-3-7')])).toBeUndefined();
      expect(pick([])).toBeUndefined();
    });
  });

  it('joins what a replica executed with what it received but has yet to apply', () => {
    expect(gtidUnion('0-1-100,1-2-5', '0-1-120')).toBe('0-1-120,1-2-5');
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    expect(gtidUnion(`${uuid}:1-100`, `${uuid}:90-130:140`)).toBe(`${uuid}:1-130:140`);
    expect(gtidUnion('0-1-7', null)).toBe('0-1-7');
    expect(gtidUnion('', '0-1-7')).toBe('0-1-7');
  });
});
