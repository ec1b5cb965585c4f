import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { reportArchiveFailure } from '../../../functions/archive/archive-failure';
import { runArchiveLocally } from '../../../functions/archive/local-runner';
import { restoreArchivedRows } from '../../../functions/archive/archive-restore';
import { archiveCutoff, sqlDateTime } from '../../../functions/core/archive-batch';
import type { LoadSample } from '../../../functions/core/archive-throttle';
import type { Shard } from '../../../functions/core/shard-map-types';
import type { AppEvent } from '../../../functions/ports/event-publisher';
import { archiveLines, checksums, DAY_MS, freshGameLogs, runToCompletion, startArchiveHarness, tableConfig, tableLines, type ArchiveHarness } from './harness';

const NOW = Date.UTC(2024, 6, 1, 12);
const CUTOFF = archiveCutoff(NOW, 30);

class Killed extends Error {}

describe('archive runs: throttles, blackouts, leases, events and restore', () => {
  let harness: ArchiveHarness;
  let original: string[];
  let run = 0;

  beforeAll(async () => {
    harness = await startArchiveHarness();
  });
  afterAll(async () => harness.close());
  beforeEach(async () => {
    original = await freshGameLogs(harness, { from: CUTOFF - 2 * DAY_MS, to: CUTOFF + DAY_MS, rows: 900, players: 20 }, ['support_copy']);
  });

  const request = () => ({ table: 'game_logs', shard: '-80', runId: `run-${++run}`, cutoff: CUTOFF });
  const config = tableConfig({ table: 'game_logs', timeColumn: 'created_at', retentionDays: 30, batchSize: 200 });
  const archivedRows = () => original.filter((line) => (JSON.parse(line) as { created_at: string }).created_at < sqlDateTime(CUTOFF));

  /** Runs `run` until its process dies right after the second batch's delete commits, before the catalog records it. */
  async function killedAfterSecondDelete(run: ReturnType<typeof request>): Promise<void> {
    let deletes = 0;
    const killed = runToCompletion(harness, harness.process(), config, run, {
      now: NOW,
      onStep: (step) => {
        if (step === 'deleted' && ++deletes === 2) throw new Killed();
      },
    });
    await expect(killed).rejects.toThrow(Killed);
  }

  it('pauses while a replica lags or the primary is busy, and resumes where it stopped', async () => {
    const samples: LoadSample[] = [
      { threadsRunning: 3, replicas: [{ node: 'r1', lagSeconds: 0 }] },
      { threadsRunning: 3, replicas: [{ node: 'r1', lagSeconds: 4 }] },
      { threadsRunning: 40, replicas: [{ node: 'r1', lagSeconds: 0 }] },
    ];
    const load = { sample: async () => samples.shift() ?? { threadsRunning: 1, replicas: [{ node: 'r1', lagSeconds: 0 }] } };
    const results = await runToCompletion(harness, harness.process(), config, request(), { now: NOW, load });
    expect(results.map((result) => result.status)).toEqual(['throttled', 'throttled', 'done']);
    expect(results[0]).toMatchObject({ rows: 200, waitSeconds: 30, reason: 'replica r1 lag 4s > 1s' });
    expect(results[1]).toMatchObject({ rows: 0, reason: 'Threads_running 40 > 25', runRows: 200 });
    expect(results[2]!.runRows).toBe(archivedRows().length);
    expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archivedRows()));
  });

  it('does nothing during a blackout window and says when to resume', async () => {
    const blackout = tableConfig({
      table: 'game_logs',
      timeColumn: 'created_at',
      retentionDays: 30,
      blackouts: [{ start: new Date(NOW - 3_600_000).toISOString(), end: new Date(NOW + 3_600_000).toISOString(), reason: 'summer event' }],
    });
    const results = await runToCompletion(harness, harness.process(), blackout, request(), { now: NOW });
    expect(results).toEqual([expect.objectContaining({ status: 'blackout', resumeAt: new Date(NOW + 3_600_000).toISOString(), reason: 'summer event', rows: 0 })]);
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length);
    expect(harness.events).toEqual([]);
  });

  it('sleeps the configured pause between batches', async () => {
    const paced = tableConfig({ table: 'game_logs', timeColumn: 'created_at', retentionDays: 30, batchSize: 200, throttle: { sleepBetweenBatchesMs: 250 } });
    const sleeps: number[] = [];
    let deletes = 0;
    const results = await runToCompletion(harness, harness.process(), paced, request(), {
      now: NOW,
      sleep: async (ms) => void sleeps.push(ms),
      onStep: (step) => void (step === 'deleted' && deletes++),
    });
    expect(results.at(-1)?.status).toBe('done');
    // A pause after every batch, once it has been deleted, before the next is read.
    expect(deletes).toBeGreaterThan(1);
    expect(sleeps).toEqual(Array.from({ length: deletes }, () => 250));
  });

  it('stops at a blackout that begins during the run, after the batches in flight, and resumes after it', async () => {
    let now = NOW;
    const window = { start: new Date(NOW + 60_000).toISOString(), end: new Date(NOW + 3_600_000).toISOString(), reason: 'raid night' };
    const withWindow = tableConfig({ table: 'game_logs', timeColumn: 'created_at', retentionDays: 30, batchSize: 200, blackouts: [window] });
    let selected = 0;
    const retried = request();
    const first = await runToCompletion(harness, harness.process(), withWindow, retried, {
      clock: { now: () => now },
      // The window opens once the first batch is read; the batches in flight by then finish.
      onStep: (step) => void (step === 'selected' && ++selected === 1 && (now = NOW + 60_000)),
    });
    expect(first.at(-1)).toMatchObject({ status: 'blackout', resumeAt: window.end, reason: 'raid night' });
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(onShard.length).toBeLessThan(original.length);
    expect(onShard.length).toBeGreaterThan(original.length - archivedRows().length);

    now = Date.parse(window.end);
    expect((await runToCompletion(harness, harness.process(), withWindow, retried, { clock: { now: () => now } })).at(-1)?.status).toBe('done');
    expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archivedRows()));
  });

  it('answers a finished run invoked again with its totals, doing nothing', async () => {
    const finished = request();
    const results = await runToCompletion(harness, harness.process(), config, finished, { now: NOW });
    const objects = (await archiveLines(harness.objects)).length;
    // A late old row belongs to the next run: the finished one has published its totals.
    await harness.shard.pool.query("INSERT INTO game_logs (player_id, action_type, action_data, created_at) VALUES (7, 'late', NULL, ?)", [sqlDateTime(CUTOFF - DAY_MS)]);
    let steps = 0;
    const again = await runToCompletion(harness, harness.process(), config, finished, { now: NOW, onStep: () => void steps++ });
    expect(again).toEqual([expect.objectContaining({ status: 'done', runRows: results.at(-1)!.runRows, rows: 0 })]);
    expect(steps).toBe(0);
    expect((await archiveLines(harness.objects)).length).toBe(objects);
  });

  it('stops with a conflict when a writer keeps changing the rows of every batch between read and delete', async () => {
    const process = harness.process({ deleteStrategy: 'checked' });
    const racing = {
      ...process.source,
      async deleteArchived(request: Parameters<typeof process.source.deleteArchived>[0]) {
        const [key] = request.archived.keys();
        await harness.shard.pool.query("UPDATE game_logs SET action_type = CONCAT(action_type, '!') WHERE log_id = ?", [key]);
        return process.source.deleteArchived(request);
      },
    };
    await expect(runToCompletion(harness, process, config, request(), { now: NOW, source: racing })).rejects.toThrow(/changed between read and delete 4 times in a row/);
    // Nothing left the shard: every batch was given up and its object removed.
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length);
    expect(await archiveLines(harness.objects)).toEqual([]);
  });

  it('leaves a row whose time moved past the cutoff between read and delete on the shard only, archiving the rest once', async () => {
    const process = harness.process({ deleteStrategy: 'checked' });
    let moved: string | undefined;
    const racing = {
      ...process.source,
      async deleteArchived(request: Parameters<typeof process.source.deleteArchived>[0]) {
        if (moved === undefined) {
          moved = [...request.archived.keys()][5]!;
          await harness.shard.pool.query('UPDATE game_logs SET created_at = ? WHERE log_id = ?', [sqlDateTime(CUTOFF + 3_600_000), moved]);
        }
        return process.source.deleteArchived(request);
      },
    };
    expect((await runToCompletion(harness, process, config, request(), { now: NOW, source: racing })).at(-1)?.status).toBe('done');
    const logId = (line: string) => String((JSON.parse(line) as { log_id: string }).log_id);
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums(archived)).toEqual(checksums(archivedRows().filter((line) => logId(line) !== moved)));
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(onShard.filter((line) => logId(line) === moved)).toHaveLength(1);
    expect(checksums(onShard.filter((line) => logId(line) !== moved))).toEqual(checksums(original.filter((line) => !archivedRows().includes(line))));
  });

  it('stops when its time budget is spent and continues from the cursor in the next invocation', async () => {
    const results = await runToCompletion(harness, harness.process(), config, request(), { now: NOW, budgetMs: 0 });
    expect(results.slice(0, -1).every((result) => result.status === 'more')).toBe(true);
    expect(results.at(-1)?.status).toBe('done');
    expect(results.filter((result) => result.status === 'more').map((result) => result.cursor)).not.toContain(null);
    expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archivedRows()));
  });

  it('answers "busy" to a second run while the first holds the lease, and lets a later run finish a dead run\'s batch', async () => {
    const first = request();
    await killedAfterSecondDelete(first);
    const second = request();
    expect((await runToCompletion(harness, harness.process(), config, second, { now: NOW }))[0]).toMatchObject({ status: 'busy', reason: expect.stringContaining(first.runId) });

    // The dead run's lease expires; the next run recovers its batch (rows already deleted) and archives the rest once.
    await harness.catalog.pool.query('UPDATE sk_archive_leases SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND');
    const results = await runToCompletion(harness, harness.process(), config, second, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(checksums([...onShard, ...(await archiveLines(harness.objects)).map(({ line }) => line)])).toEqual(checksums(original));
    expect(onShard).toHaveLength(original.length - archivedRows().length);
  });

  it('stops reading when another run took over its lease while it stalled, finishing only the batches in flight', async () => {
    const process = harness.process();
    let now = NOW;
    let leases = 0;
    const store: typeof process.store = Object.assign(Object.create(process.store) as typeof process.store, {
      tryLease: async (...args: Parameters<typeof process.store.tryLease>) => {
        if (++leases === 2) await harness.catalog.pool.query("UPDATE sk_archive_leases SET owner = 'intruder', expires_at = UTC_TIMESTAMP(3) + INTERVAL 1 HOUR");
        return process.store.tryLease(...args);
      },
    });
    // Every reading of the clock is six minutes on: past a third of the lease at the first batch.
    const results = await runToCompletion(harness, process, config, request(), { store, clock: { now: () => (now += 6 * 60_000) }, budgetMs: 600_000 });
    expect(results).toEqual([expect.objectContaining({ status: 'busy', reason: expect.stringMatching(/^run intruder took over game_logs on -80/) })]);
    const [open] = (await harness.catalog.pool.query("SELECT COUNT(*) AS n FROM sk_archive_batches WHERE state NOT IN ('checkpointed', 'abandoned')")) as unknown as [[{ n: number }]];
    expect(Number(open[0].n)).toBe(0);
    expect(checksums([...(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')), ...(await archiveLines(harness.objects)).map(({ line }) => line)])).toEqual(checksums(original));
  });

  it('publishes ArchiveFailed with the rows archived before the failure and frees the lease', async () => {
    const failing = request();
    let planned = 0;
    const process = harness.process();
    await expect(
      runToCompletion(harness, process, config, failing, {
        now: NOW,
        onStep: (step) => {
          if (step === 'planned' && ++planned === 3) throw new Killed('disk full');
        },
      }),
    ).rejects.toThrow(Killed);
    await reportArchiveFailure(failing, { errorCode: 'Killed', error: 'disk full' }, { store: process.store, events: { publish: async (events) => void harness.events.push(...events) }, clock: { now: () => NOW } });
    expect(harness.events.map((event) => event.detailType)).toEqual(['ArchiveStarted', 'ArchiveFailed']);
    // The batches before the failed one, and those in flight beside it, finished: the archive holds their rows.
    const archived = await archiveLines(harness.objects);
    expect(archived.length).toBeGreaterThanOrEqual(300);
    expect(harness.events[1]!.detail).toMatchObject({ rows: archived.length, batches: new Set(archived.map(({ key }) => key)).size, errorCode: 'Killed', error: 'disk full', runId: failing.runId });
    expect((await runToCompletion(harness, harness.process(), config, request(), { now: NOW })).at(-1)?.status).toBe('done');
  });

  it('finishes the batches in flight before reporting a failure between batches, leaving no transaction open', async () => {
    let samples = 0;
    const load = {
      sample: async () => {
        if (++samples === 4) throw new Error('replica status unreadable');
        return { threadsRunning: 1, replicas: [] };
      },
    };
    const failing = request();
    await expect(runToCompletion(harness, harness.process(), config, failing, { now: NOW, load })).rejects.toThrow(/replica status unreadable/);
    const [open] = (await harness.shard.pool.query(
      'SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX JOIN information_schema.PROCESSLIST ON ID = trx_mysql_thread_id WHERE DB = ? AND trx_rows_modified > 0',
      [harness.shard.database],
    )) as unknown as [[{ n: number }]];
    expect(Number(open[0].n)).toBe(0);
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(onShard.length).toBeLessThan(original.length);
    expect((await runToCompletion(harness, harness.process(), config, failing, { now: NOW })).at(-1)?.status).toBe('done');
    expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archivedRows()));
  });

  it('restores one player\'s archived rows with their original keys, once, into the table or a copy', async () => {
    const process = harness.process();
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const player = (JSON.parse(archivedRows()[0]!) as { player_id: string }).player_id;
    const wanted = archivedRows().filter((line) => (JSON.parse(line) as { player_id: string }).player_id === player);
    const range = { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF, player };
    const deps = { source: process.source, store: process.store, objects: harness.objects };

    const restored = await restoreArchivedRows(config, range, deps);
    expect(restored).toMatchObject({ target: 'game_logs', matched: wanted.length, inserted: wanted.length, skipped: 0 });
    const back = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(checksums(back.filter((line) => wanted.includes(line)))).toEqual(checksums(wanted));

    expect(await restoreArchivedRows(config, range, deps)).toMatchObject({ inserted: 0, skipped: wanted.length });

    const copy = await restoreArchivedRows(config, { ...range, player: undefined, into: 'support_copy', from: CUTOFF - DAY_MS }, deps);
    const dayBefore = archivedRows().filter((line) => (JSON.parse(line) as { created_at: string }).created_at >= sqlDateTime(CUTOFF - DAY_MS));
    expect(copy).toMatchObject({ target: 'support_copy', inserted: dayBefore.length });
    expect(checksums(await tableLines(harness.shard.pool, harness.shard.database, 'support_copy'))).toEqual(checksums(dayBefore));
  });

  it('restores the rows of a DATE time column from the first day of the range on', async () => {
    await harness.shard.pool.query('DROP TABLE IF EXISTS daily_totals');
    await harness.shard.pool.query('CREATE TABLE daily_totals (day DATE NOT NULL, player_id BIGINT UNSIGNED NOT NULL, total INT NOT NULL, PRIMARY KEY (day, player_id))');
    const days = [3, 2, 1].map((ago) => sqlDateTime(CUTOFF - ago * DAY_MS).slice(0, 10));
    await harness.shard.pool.query('INSERT INTO daily_totals VALUES ?', [days.flatMap((day) => [1, 2, 3].map((player) => [day, player, player * 10]))]);
    const totals = tableConfig({ table: 'daily_totals', timeColumn: 'day', retentionDays: 30, batchSize: 200 });
    const process = harness.process();
    expect((await runToCompletion(harness, process, totals, { ...request(), table: 'daily_totals' }, { now: NOW })).at(-1)).toMatchObject({ status: 'done', runRows: 9 });

    const restored = await restoreArchivedRows(totals, { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF - DAY_MS }, { source: process.source, store: process.store, objects: harness.objects });
    expect(restored).toMatchObject({ matched: 3, inserted: 3 });
    const [back] = (await harness.shard.pool.query('SELECT DISTINCT DATE_FORMAT(day, "%Y-%m-%d") AS day FROM daily_totals')) as unknown as [Array<{ day: string }>];
    expect(back.map((row) => row.day)).toEqual([days[1]]);
    await harness.shard.pool.query('DROP TABLE daily_totals');
  });

  it('refuses a player id its column cannot hold before creating anything, and finds one written with leading zeros', async () => {
    const process = harness.process();
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const player = (JSON.parse(archivedRows()[0]!) as { player_id: string }).player_id;
    const range = { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF };
    const deps = { source: process.source, store: process.store, objects: harness.objects };

    await expect(restoreArchivedRows(config, { ...range, player: 'abc', into: 'player_copy' }, deps)).rejects.toThrow(/--player must be an integer: player_id is bigint, got "abc"/);
    expect(await process.source.describeTable('player_copy')).toBeUndefined();
    await expect(restoreArchivedRows({ ...config, playerColumn: 'account_id' }, { ...range, player }, deps)).rejects.toThrow(/game_logs has no column account_id/);

    const wanted = archivedRows().filter((line) => (JSON.parse(line) as { player_id: string }).player_id === player);
    expect(await restoreArchivedRows(config, { ...range, player: `000${player}`, into: 'player_copy' }, deps)).toMatchObject({ matched: wanted.length, inserted: wanted.length });
    await harness.shard.pool.query('DROP TABLE player_copy');
  });

  it('deletes rows restored in full again on the next run without writing them to the archive a second time', async () => {
    const process = harness.process();
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const before = await archiveLines(harness.objects);
    await restoreArchivedRows(config, { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF }, { source: process.source, store: process.store, objects: harness.objects });
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length);

    const results = await runToCompletion(harness, process, config, request(), { now: NOW });
    expect(results.at(-1)).toMatchObject({ status: 'done', runRows: 0 });
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length - archivedRows().length);
    expect(await archiveLines(harness.objects)).toEqual(before);
  });

  /** Archives the old rows, then restores one player's rows into the live table; returns them with the archive as it stood. */
  async function archivedThenPlayerRestored(process: ReturnType<ArchiveHarness['process']>) {
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const before = await archiveLines(harness.objects);
    const player = (JSON.parse(archivedRows()[0]!) as { player_id: string }).player_id;
    const wanted = archivedRows().filter((line) => (JSON.parse(line) as { player_id: string }).player_id === player);
    const deps = { source: process.source, store: process.store, objects: harness.objects };
    expect(await restoreArchivedRows(config, { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF, player }, deps)).toMatchObject({ inserted: wanted.length });
    return { before, wanted };
  }
  const recordedRestores = async () => Number(((await harness.catalog.pool.query('SELECT COUNT(*) AS n FROM sk_archive_restored')) as unknown as [Array<{ n: number }>])[0][0]!.n);

  it('deletes one player\'s restored rows on the next run without writing them to the archive a second time', async () => {
    const process = harness.process();
    const { before, wanted } = await archivedThenPlayerRestored(process);
    expect(await recordedRestores()).toBe(wanted.length);

    const results = await runToCompletion(harness, process, config, request(), { now: NOW });
    expect(results.at(-1)).toMatchObject({ status: 'done', runRows: 0 });
    expect(await archiveLines(harness.objects)).toEqual(before);
    expect(checksums(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'))).toEqual(checksums(original.filter((line) => !archivedRows().includes(line))));
    expect(await recordedRestores()).toBe(0);
  });

  /** Restores a player's rows, edits one of them and adds late rows among them; returns the archive and the shard's lines as they then stand. */
  async function restoredAmongLateRows(process: ReturnType<ArchiveHarness['process']>) {
    const { before, wanted } = await archivedThenPlayerRestored(process);
    const edited = JSON.parse(wanted[0]!) as { log_id: string };
    await harness.shard.pool.query("UPDATE game_logs SET action_type = 'edited-by-support' WHERE log_id = ?", [edited.log_id]);
    // Rows that reached the shard after their day was archived, among the restored ones.
    await harness.shard.pool.query(
      "INSERT INTO game_logs (player_id, action_type, action_data, created_at) SELECT player_id, CONCAT('late-', action_type), action_data, created_at + INTERVAL 1 SECOND FROM game_logs WHERE created_at < ? ORDER BY log_id LIMIT 15",
      [sqlDateTime(CUTOFF)],
    );
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const old = onShard.filter((line) => (JSON.parse(line) as { created_at: string }).created_at < sqlDateTime(CUTOFF));
    const unchanged = old.filter((line) => wanted.includes(line));
    expect(unchanged).toHaveLength(wanted.length - 1);
    return { archivedBefore: before.map(({ line }) => line), onShard, old, unchanged };
  }

  /**
   * Every old row off the shard and in the archive once: the lines archived before, plus the old rows
   * that were not unchanged restored rows (late rows, edited restored rows).
   */
  async function expectEachOldRowArchivedOnce({ archivedBefore, onShard, old, unchanged }: Awaited<ReturnType<typeof restoredAmongLateRows>>): Promise<void> {
    const after = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums(after)).toEqual(checksums([...archivedBefore, ...old.filter((line) => !unchanged.includes(line))]));
    expect(checksums(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'))).toEqual(checksums(onShard.filter((line) => !old.includes(line))));
  }

  it('archives late rows and restored rows changed since beside unchanged restored rows, each exactly once', async () => {
    const process = harness.process();
    const { archivedBefore, onShard, old, unchanged } = await restoredAmongLateRows(process);

    const results = await runToCompletion(harness, process, config, request(), { now: NOW });
    expect(results.at(-1)).toMatchObject({ status: 'done', runRows: old.length - unchanged.length });
    await expectEachOldRowArchivedOnce({ archivedBefore, onShard, old, unchanged });
    // The edited row's record went with the row, archived anew.
    expect(await recordedRestores()).toBe(0);
  });

  it('recovers a batch of late and restored rows whose object was lost before its delete, archiving each row once', async () => {
    const { archivedBefore, onShard, old, unchanged } = await restoredAmongLateRows(harness.process());
    const run = request();
    let lost: string | undefined;
    const killed = runToCompletion(harness, harness.process(), config, run, {
      now: NOW,
      onStep: (step, { objectKey }) => {
        if (step !== 'verified') return;
        lost = objectKey;
        throw new Killed();
      },
    });
    await expect(killed).rejects.toThrow(Killed);
    await harness.objects.delete([lost!]);

    for (const again of [run, request()]) expect((await runToCompletion(harness, harness.process(), config, again, { now: NOW })).at(-1)?.status).toBe('done');
    await expectEachOldRowArchivedOnce({ archivedBefore, onShard, old, unchanged });
  });

  it('restores a row archived twice as its newest version, and the next run archives neither version again', async () => {
    const process = harness.process();
    const { before, wanted } = await archivedThenPlayerRestored(process);
    const edited = JSON.parse(wanted[0]!) as { log_id: string };
    await harness.shard.pool.query("UPDATE game_logs SET action_type = 'edited-by-support' WHERE log_id = ?", [edited.log_id]);
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(archived).toHaveLength(before.length + 1);

    const player = (JSON.parse(wanted[0]!) as { player_id: string }).player_id;
    const deps = { source: process.source, store: process.store, objects: harness.objects };
    expect(await restoreArchivedRows(config, { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF, player }, deps)).toMatchObject({ inserted: wanted.length, matched: wanted.length + 1 });
    const back = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    expect(back.find((line) => (JSON.parse(line) as { log_id: string }).log_id === edited.log_id)).toMatch(/edited-by-support/);

    expect((await runToCompletion(harness, process, config, request(), { now: NOW })).at(-1)).toMatchObject({ status: 'done', runRows: 0 });
    expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archived));
  });

  it('restores into the live table only while no archive run holds it', async () => {
    const process = harness.process();
    await runToCompletion(harness, process, config, request(), { now: NOW });
    const range = { shard: '-80', from: CUTOFF - 2 * DAY_MS, to: CUTOFF };
    const deps = { source: process.source, store: process.store, objects: harness.objects };
    expect(await process.store.tryLease('game_logs', '-80', 'run-in-progress', 60_000)).toEqual({ acquired: true });
    await expect(restoreArchivedRows(config, range, deps)).rejects.toThrow(/run run-in-progress is archiving game_logs on shard -80 .*--into another table/);
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length - archivedRows().length);
    expect(await restoreArchivedRows(config, { ...range, into: 'support_copy' }, deps)).toMatchObject({ inserted: archivedRows().length });

    await process.store.releaseLease('game_logs', '-80', 'run-in-progress');
    expect(await restoreArchivedRows(config, range, deps)).toMatchObject({ inserted: archivedRows().length });
    // The restore let go of the lease.
    expect(await process.store.tryLease('game_logs', '-80', 'next-run', 60_000)).toEqual({ acquired: true });
    await process.store.releaseLease('game_logs', '-80', 'next-run');
  });

  it.each(['uploaded', 'deleted'] as const)('leaves late and restored rows exactly once after a process killed at "%s" of their batch and two re-runs', async (killAt) => {
    const { archivedBefore, onShard, old, unchanged } = await restoredAmongLateRows(harness.process());
    const run = request();
    const killed = runToCompletion(harness, harness.process(), config, run, {
      now: NOW,
      onStep: (step) => {
        if (step === killAt) throw new Killed();
      },
    });
    await expect(killed).rejects.toThrow(Killed);
    // The re-run finishes the batch; restored rows it left on the shard go in the next run.
    for (const again of [run, request()]) expect((await runToCompletion(harness, harness.process(), config, again, { now: NOW })).at(-1)?.status).toBe('done');

    await expectEachOldRowArchivedOnce({ archivedBefore, onShard, old, unchanged });
  });

  it('archives restored rows again once the object that held them is gone', async () => {
    const process = harness.process();
    const { before, wanted } = await archivedThenPlayerRestored(process);
    const holders = [...new Set(before.filter(({ line }) => wanted.includes(line)).map(({ key }) => key))];
    await harness.objects.delete(holders);

    await runToCompletion(harness, process, config, request(), { now: NOW });
    const after = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums(after)).toEqual(checksums([...before.filter(({ key }) => !holders.includes(key)).map(({ line }) => line), ...wanted]));
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length - archivedRows().length);
  });

  it('archives a table keyed by a composite, non-integer key exactly once', async () => {
    await harness.reset();
    const db = harness.shard.database;
    await harness.shard.pool.query('DROP TABLE IF EXISTS chat');
    await harness.shard.pool.query('CREATE TABLE chat (room VARCHAR(16) NOT NULL, seq INT NOT NULL, sent_at DATETIME(3) NOT NULL, body TEXT NULL, PRIMARY KEY (room, seq), KEY (sent_at)) DEFAULT CHARSET=utf8mb4');
    const rows = Array.from({ length: 600 }, (_, index) => [`room-${index % 7}`, index, sqlDateTime(CUTOFF - 2 * DAY_MS + index * 400_000), index % 5 === 0 ? null : `hi 🐉 #${index}`]);
    await harness.shard.pool.query('INSERT INTO chat VALUES ?', [rows]);
    const before = await tableLines(harness.shard.pool, db, 'chat');
    const results = await runToCompletion(harness, harness.process(), tableConfig({ table: 'chat', timeColumn: 'sent_at', retentionDays: 30, batchSize: 100 }), { ...request(), table: 'chat' }, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    const onShard = await tableLines(harness.shard.pool, db, 'chat');
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(onShard.length).toBeGreaterThan(0);
    expect(archived.length).toBe(before.filter((line) => (JSON.parse(line) as { sent_at: string }).sent_at < sqlDateTime(CUTOFF)).length);
    expect(checksums([...onShard, ...archived])).toEqual(checksums(before));
  });

  describe('run locally (the CLI), one item after another', () => {
    const shards: Shard[] = [{ name: '-80', database: 'sk_shard', status: 'serving', kind: 'self-managed', nodes: [] }];
    /** A clock that only moves when the runner sleeps, and the sleeps it was asked for. */
    function pausedTime() {
      let now = NOW;
      const sleeps: number[] = [];
      return { sleeps, clock: { now: () => now }, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)) };
    }
    const dependencies = (time: ReturnType<typeof pausedTime>, process = harness.process()) => ({
      store: process.store,
      objects: harness.objects,
      events: { publish: async (events: AppEvent[]) => void harness.events.push(...events) },
      clock: time.clock,
      sleep: time.sleep,
      source: async () => process.source,
    });
    const blackout = { start: new Date(NOW - 3_600_000).toISOString(), end: new Date(NOW + 3_600_000).toISOString(), reason: 'summer event' };

    it('waits out a throttle, and a blackout when asked, then archives the item to the end', async () => {
      const time = pausedTime();
      const samples: LoadSample[] = [{ threadsRunning: 3, replicas: [] }, { threadsRunning: 40, replicas: [] }];
      const load = { sample: async () => samples.shift() ?? { threadsRunning: 1, replicas: [] } };
      const [outcome] = await runArchiveLocally([request()], [config], shards, { ...dependencies(time), load: () => load }, { blackouts: [blackout], waitOutBlackouts: true });
      expect(outcome).toMatchObject({ status: 'done', throttleWaits: 1, runRows: archivedRows().length });
      // The blackout's remaining hour first, then the throttle's pause.
      expect(time.sleeps).toEqual([3_600_000, 30_000]);
      expect(checksums((await archiveLines(harness.objects)).map(({ line }) => line))).toEqual(checksums(archivedRows()));
    });

    it('stops an item at a blackout unless asked to wait, saying when it may resume', async () => {
      const time = pausedTime();
      const [outcome] = await runArchiveLocally([request()], [config], shards, dependencies(time), { blackouts: [blackout] });
      expect(outcome).toMatchObject({ status: 'blackout', resumeAt: blackout.end, rows: 0 });
      expect(time.sleeps).toEqual([]);
      expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(original.length);
    });

    it("counts the batches it finishes for a killed run in the item's rows and progress", async () => {
      const retried = request();
      await killedAfterSecondDelete(retried);
      const [[before]] = (await harness.catalog.pool.query("SELECT COALESCE(SUM(row_count), 0) AS n FROM sk_archive_batches WHERE state = 'checkpointed'")) as unknown as [[{ n: string }]];
      const progress: Array<{ runRows: number }> = [];
      const [outcome] = await runArchiveLocally([retried], [config], shards, { ...dependencies(pausedTime()), onBatch: (_item, update) => void progress.push(update) });
      // The killed run's deleted but unrecorded batch is finished by this one and counted with the rest.
      expect(outcome).toMatchObject({ status: 'done', rows: archivedRows().length - Number(before.n), runRows: archivedRows().length, batches: progress.length });
      expect(progress.at(-1)!.runRows).toBe(archivedRows().length);
    });

    it('reports a failed item as ArchiveFailed and goes on with the next', async () => {
      const missing = tableConfig({ table: 'missing_logs', timeColumn: 'created_at', retentionDays: 30 });
      const items = [{ ...request(), table: 'missing_logs' }, request()];
      const outcomes = await runArchiveLocally(items, [missing, config], shards, dependencies(pausedTime()));
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['failed', 'done']);
      expect(outcomes[0]!.error).toMatch(/missing_logs/);
      expect(harness.events.filter((event) => event.detailType === 'ArchiveFailed').map((event) => event.detail)).toEqual([
        expect.objectContaining({ table: 'missing_logs', runId: items[0]!.runId }),
      ]);
      expect(outcomes[1]!.runRows).toBe(archivedRows().length);
    });
  });
});
