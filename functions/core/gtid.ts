import { AppError } from '../shared/errors';

/**
 * GTID positions, compared to pick the failover candidate. Pure.
 * - MariaDB: `domain-server-seq` per replication domain (`0-1-100,1-2-7`); within a domain
 *   (gtid_strict_mode) a higher sequence number contains every lower one, whoever wrote it.
 * - MySQL: GTID sets `uuid:1-5:7-9,uuid2:1-3`, since 8.3 with tags (`uuid:1-5:tag:1-3`, a tag
 *   applying to the intervals after it); one set contains another when it covers its intervals.
 * Empty or null means "nothing executed" and is contained in every position.
 */

export type GtidComparison = 'equal' | 'ahead' | 'behind' | 'diverged';

type Interval = readonly [bigint, bigint];

type Position =
  /** The highest sequence per domain, and that GTID as written. */
  | { flavor: 'mariadb'; domains: Map<string, bigint>; gtids: Map<string, string> }
  /** Intervals per `uuid` or `uuid:tag`, sorted and merged. */
  | { flavor: 'mysql'; sets: Map<string, Interval[]> };

const MARIADB_GTID = /^(\d+)-(\d+)-(\d+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTERVAL = /^(\d+)(?:-(\d+))?$/;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/i;

function parse(text: string | null): Position | undefined {
  // MySQL prints long sets over several lines.
  const parts = (text ?? '').split(',').map((part) => part.replace(/\s+/g, '')).filter(Boolean);
  if (parts.length === 0) return undefined;
  return MARIADB_GTID.test(parts[0]!) ? parseMariadb(parts) : parseMysql(parts);
}

function parseMariadb(parts: string[]): Position {
  const domains = new Map<string, bigint>();
  const gtids = new Map<string, string>();
  for (const part of parts) {
    const match = MARIADB_GTID.exec(part);
    if (!match) throw new AppError(`not a MariaDB GTID: ${JSON.stringify(part)}`);
    const domain = match[1]!;
    const seq = BigInt(match[3]!);
    // gtid_binlog_pos lists one GTID per domain *and* server; the highest sequence wins.
    const current = domains.get(domain);
    if (current === undefined || seq > current) {
      domains.set(domain, seq);
      gtids.set(domain, part);
    }
  }
  return { flavor: 'mariadb', domains, gtids };
}

function parseMysql(parts: string[]): Position {
  const sets = new Map<string, Interval[]>();
  for (const part of parts) {
    const [uuid, ...rest] = part.split(':');
    if (!uuid || !UUID.test(uuid) || rest.length === 0) throw new AppError(`not a MySQL GTID set: ${JSON.stringify(part)}`);
    let key = uuid.toLowerCase();
    for (const segment of rest) {
      const interval = INTERVAL.exec(segment);
      if (interval) {
        const from = BigInt(interval[1]!);
        const to = BigInt(interval[2] ?? interval[1]!);
        if (to < from) throw new AppError(`not a MySQL GTID set: ${JSON.stringify(part)} (interval ${segment} runs backwards)`);
        sets.set(key, [...(sets.get(key) ?? []), [from, to]]);
      } else if (TAG.test(segment)) {
        key = `${uuid.toLowerCase()}:${segment.toLowerCase()}`;
      } else {
        throw new AppError(`not a MySQL GTID set: ${JSON.stringify(part)}`);
      }
    }
  }
  for (const [key, intervals] of sets) sets.set(key, merge(intervals));
  return { flavor: 'mysql', sets };
}

function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Interval[] = [];
  for (const [from, to] of sorted) {
    const last = merged.at(-1);
    if (last && from <= last[1] + 1n) merged[merged.length - 1] = [last[0], to > last[1] ? to : last[1]];
    else merged.push([from, to]);
  }
  return merged;
}

function covers(a: Position | undefined, b: Position | undefined): boolean {
  if (!b) return true;
  if (!a) return false;
  if (a.flavor === 'mariadb' && b.flavor === 'mariadb') {
    return [...b.domains].every(([domain, seq]) => (a.domains.get(domain) ?? -1n) >= seq);
  }
  if (a.flavor === 'mysql' && b.flavor === 'mysql') {
    return [...b.sets].every(([key, intervals]) => {
      const mine = a.sets.get(key) ?? [];
      // Both sides are merged, so each interval of b must sit inside one interval of a.
      return intervals.every(([from, to]) => mine.some(([start, end]) => start <= from && to <= end));
    });
  }
  throw new AppError('cannot compare a MySQL GTID set with a MariaDB GTID position');
}

/** Every transaction in position `b` is also in position `a`. */
export function gtidContains(a: string | null, b: string | null): boolean {
  return covers(parse(a), parse(b));
}

/** How position `a` relates to position `b`: `ahead` when it holds everything `b` has and more. */
export function compareGtid(a: string | null, b: string | null): GtidComparison {
  const left = parse(a);
  const right = parse(b);
  const aHasB = covers(left, right);
  const bHasA = covers(right, left);
  if (aHasB && bHasA) return 'equal';
  if (aHasB) return 'ahead';
  if (bHasA) return 'behind';
  return 'diverged';
}

/** The transactions of both positions, as text: what a replica holds once it has applied all it received. */
export function gtidUnion(a: string | null, b: string | null): string | null {
  if (!parse(b)) return a;
  if (!parse(a)) return b;
  const both = parse([a, b].join(','))!;
  if (both.flavor === 'mariadb') return [...both.gtids.values()].join(',');
  return [...both.sets].map(([key, intervals]) => `${key}:${intervals.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(':')}`).join(',');
}

/** Transactions in a position (MariaDB: the sum of sequence numbers): a tie-breaker and an audit figure. */
export function gtidTransactionCount(text: string | null): number {
  const position = parse(text);
  if (!position) return 0;
  if (position.flavor === 'mariadb') return Number([...position.domains.values()].reduce((sum, seq) => sum + seq, 0n));
  let count = 0n;
  for (const intervals of position.sets.values()) for (const [from, to] of intervals) count += to - from + 1n;
  return Number(count);
}

/**
 * The candidate whose position contains every other candidate's (the first such in input
 * order, so callers put their preferred node first); undefined when there are none or the
 * positions diverged, because promoting any of them would lose someone's transactions.
 */
export function mostAdvanced<T>(candidates: readonly T[], positionOf: (candidate: T) => string | null): T | undefined {
  const positions = candidates.map((candidate) => parse(positionOf(candidate)));
  const index = positions.findIndex((position) => positions.every((other) => covers(position, other)));
  return index === -1 ? undefined : candidates[index];
}
