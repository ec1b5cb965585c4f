import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BatchStep } from '../../../functions/archive/archive-batches';
import { archiveCutoff, sqlDateTime } from '../../../functions/core/archive-batch';
import { VERIFIED_STATES } from '../../../functions/core/archive-manifest';
import type { ArchiveSource } from '../../../functions/ports/archive-source';
import type { ObjectStore } from '../../../functions/ports/object-store';
import { NodeUnreachableError } from '../../../functions/shared/errors';
import {
  archiveLines,
  checksums,
  DAY_MS,
  freshGameLogs,
  runToCompletion,
  startArchiveHarness,
  tableConfig,
  tableLines,
  type ArchiveHarness,
} from './harness';

const NOW = Date.UTC(2024, 6, 1, 12);
const RETENTION_DAYS = 30;
const CUTOFF = archiveCutoff(NOW, RETENTION_DAYS);
const config = tableConfig({ table: 'game_logs', timeColumn: 'created_at', retentionDays: RETENTION_DAYS, batchSize: 400 });

class Killed extends Error {}

describe('archiving a batch exactly once, whatever fails', () => {
  let harness: ArchiveHarness;
  let original: string[];
  let run = 0;

  beforeAll(async () => {
    harness = await startArchiveHarness();
  });
  afterAll(async () => harness.close());

  beforeEach(async () => {
    // Three old days (archived) and two recent ones (kept): 1,500 rows, about 4 batches a day.
    original = await freshGameLogs(harness, { from: CUTOFF - 3 * DAY_MS, to: CUTOFF + 2 * DAY_MS, rows: 1_500, players: 50 });
  });

  const request = () => ({ table: 'game_logs', shard: '-80', runId: `run-${++run}`, cutoff: CUTOFF });
  const kept = () => original.filter((line) => (JSON.parse(line) as { created_at: string }).created_at >= sqlDateTime(CUTOFF));

  /** Every original row is on the shard or in the archive, never both, never neither; the shard keeps exactly the recent rows. */
  async function expectExactlyOnce(): Promise<void> {
    const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(checksums([...onShard, ...archived])).toEqual(checksums(original));
    const shardSet = new Set(onShard);
    expect(archived.filter((line) => shardSet.has(line))).toEqual([]);
    expect(checksums(onShard)).toEqual(checksums(kept()));
    const [open] = (await harness.catalog.pool.query("SELECT COUNT(*) AS n FROM sk_archive_batches WHERE state NOT IN ('checkpointed', 'abandoned')")) as unknown as [[{ n: number }]];
    expect(Number(open[0].n)).toBe(0);
  }

  /** No row may leave the shard before its object is verified: checked at every step of a run. */
  async function expectNoRowLost(): Promise<void> {
    const onShard = new Set(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'));
    const [verified] = (await harness.catalog.pool.query(
      `SELECT object_key FROM sk_archive_batches WHERE state IN (${VERIFIED_STATES.map((state) => `'${state}'`).join(', ')})`,
    )) as unknown as [Array<{ object_key: string }>];
    const verifiedKeys = new Set(verified.map((row) => row.object_key));
    const safe = new Set((await archiveLines(harness.objects)).filter(({ key }) => verifiedKeys.has(key)).map(({ line }) => line));
    expect(original.filter((line) => !onShard.has(line) && !safe.has(line))).toEqual([]);
  }

  it('archives every old row once, deletes it from the shard and records every batch as checkpointed', async () => {
    const process = harness.process();
    const results = await runToCompletion(harness, process, config, request(), { now: NOW, onStep: expectNoRowLost });
    expect(results.at(-1)).toMatchObject({ status: 'done', runRows: original.length - kept().length });
    await expectExactlyOnce();
    const objects = await archiveLines(harness.objects);
    expect(new Set(objects.map(({ key }) => key.split('/')[2])).size).toBe(3);
    expect(objects[0]!.key).toMatch(/^table=game_logs\/shard=-80\/dt=\d{4}-\d{2}-\d{2}\/game_logs\.\d+-\d+\.jsonl\.zst$/);
    expect(harness.events.map((event) => event.detailType)).toEqual(['ArchiveStarted', 'ArchiveCompleted']);
    expect(harness.events[1]!.detail).toMatchObject({ rows: original.length - kept().length, table: 'game_logs', shard: '-80' });
  });

  /** Runs until the process dies at `step` of the second batch, and returns the key of that batch's object. */
  async function killedAt(step: BatchStep, retried: ReturnType<typeof request>): Promise<string> {
    const first = harness.process();
    let seen = 0;
    let objectKey = '';
    const killed = runToCompletion(harness, first, config, retried, {
      now: NOW,
      onStep: async (at, detail) => {
        if (at === step && ++seen === 2) {
          objectKey = detail.objectKey;
          throw new Killed(step);
        }
      },
    });
    await expect(killed).rejects.toThrow(Killed);
    await first.stop();
    return objectKey;
  }

  const killSteps: BatchStep[] = ['selected', 'planned', 'uploaded', 'verified', 'deleted', 'marked-deleted', 'checkpointed'];
  for (const step of killSteps) {
    it(`recovers from a process killed at "${step}" of the second batch`, async () => {
      const retried = request();
      await killedAt(step, retried);
      await expectNoRowLost();

      // The workflow retries the same run in a new process; the lease belongs to the run, so it re-enters.
      const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW, onStep: expectNoRowLost });
      expect(results.at(-1)?.status).toBe('done');
      await expectExactlyOnce();
    });
  }

  it('archives again the rows of a verified batch whose object is gone while they are all still on the shard', async () => {
    const retried = request();
    const objectKey = await killedAt('verified', retried);
    await harness.objects.delete([objectKey]);

    const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW, onStep: expectNoRowLost });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
    // The same rows were read again and written under the same name.
    expect(await harness.objects.head(objectKey)).toBeDefined();
  });

  it('stops for an operator when a batch whose rows were deleted has lost its object, and finishes once the object is restored', async () => {
    const retried = request();
    const objectKey = await killedAt('deleted', retried);
    const body = await harness.objects.getBuffer(objectKey);
    await harness.objects.delete([objectKey]);
    const before = checksums(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'));

    await expect(runToCompletion(harness, harness.process(), config, retried, { now: NOW })).rejects.toThrow(
      new RegExp(`archive object ${objectKey.replace(/[.]/g, '\\.')} is missing or altered, and 0 of the \\d+ rows of its range are on shard -80`),
    );
    expect(checksums(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'))).toEqual(before);

    // The operator restores the object (a previous version, in a versioned bucket); the run then completes.
    await harness.objects.put(objectKey, body);
    const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW, onStep: expectNoRowLost });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  it('keeps the object of a batch whose delete committed before a kill when a row reappears under one of its keys, and stops for an operator', async () => {
    const retried = request();
    const objectKey = await killedAt('deleted', retried);
    const [[batch]] = (await harness.catalog.pool.query('SELECT first_cursor FROM sk_archive_batches WHERE object_key = ?', [objectKey])) as unknown as [[{ first_cursor: string }]];
    const [, reused] = JSON.parse(batch.first_cursor) as [string, string];
    await harness.shard.pool.query("INSERT INTO game_logs (log_id, player_id, action_type, created_at) VALUES (?, 1, 'new', ?)", [reused, sqlDateTime(NOW)]);

    await expect(runToCompletion(harness, harness.process(), config, retried, { now: NOW })).rejects.toThrow(
      new RegExp(`archive object ${objectKey.replace(/[.]/g, '\\.')}: \\d+ of its \\d+ rows are gone from shard -80, perhaps deleted by the interrupted run, and 1 changed since`),
    );
    expect(await harness.objects.head(objectKey)).toBeDefined();
    await expectNoRowLost();
  });

  /** S3 that fails: `before` refuses the request, `after` stores the object and loses the answer (a timeout). */
  function failingObjects(inner: ObjectStore, mode: 'before' | 'after', onCall: number): ObjectStore {
    let calls = 0;
    return {
      ...inner,
      async put(key, body, options) {
        if (++calls === onCall) {
          if (mode === 'after') await inner.put(key, body, options);
          throw Object.assign(new Error(mode === 'before' ? 'InternalError: We encountered an internal error' : 'socket timeout'), {
            name: mode === 'before' ? 'InternalError' : 'TimeoutError',
            $metadata: { httpStatusCode: mode === 'before' ? 500 : undefined },
          });
        }
        return inner.put(key, body, options);
      },
    };
  }

  for (const mode of ['before', 'after'] as const) {
    it(`recovers when S3 fails ${mode === 'before' ? 'with a 5xx before storing' : 'with a timeout after storing'} the third object`, async () => {
      const first = harness.process();
      const retried = request();
      await expect(runToCompletion(harness, first, config, retried, { now: NOW, objects: failingObjects(harness.objects, mode, 3) })).rejects.toThrow();
      await expectNoRowLost();
      const results = await runToCompletion(harness, first, config, retried, { now: NOW });
      expect(results.at(-1)?.status).toBe('done');
      await expectExactlyOnce();
    });
  }

  it('recovers when S3 answers HEAD with errors during verification', async () => {
    const process = harness.process();
    let heads = 0;
    const flaky: ObjectStore = {
      ...harness.objects,
      async head(key) {
        if (++heads % 3 === 0) throw Object.assign(new Error('SlowDown'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
        return harness.objects.head(key);
      },
    };
    const retried = request();
    let attempts = 0;
    for (;;) {
      attempts += 1;
      try {
        const results = await runToCompletion(harness, process, config, retried, { now: NOW, objects: flaky });
        if (results.at(-1)?.status === 'done') break;
      } catch {
        await expectNoRowLost();
      }
      expect(attempts).toBeLessThan(30);
    }
    await expectExactlyOnce();
  });

  it('verifies each object by the checksum S3 returns, without reading it back', async () => {
    let reads = 0;
    const objects: ObjectStore = { ...harness.objects, getBuffer: async (key) => (reads++, harness.objects.getBuffer(key)) };
    const results = await runToCompletion(harness, harness.process(), config, request(), { now: NOW, objects });
    expect(results.at(-1)?.status).toBe('done');
    expect(reads).toBe(0);
    await expectExactlyOnce();
  });

  it('reads each object back to verify it when the store returns no checksum', async () => {
    let reads = 0;
    const objects: ObjectStore = {
      ...harness.objects,
      head: async (key) => {
        const found = await harness.objects.head(key);
        return found && { ...found, checksumSha256: undefined };
      },
      getBuffer: async (key) => (reads++, harness.objects.getBuffer(key)),
    };
    const results = await runToCompletion(harness, harness.process(), config, request(), { now: NOW, objects });
    expect(results.at(-1)?.status).toBe('done');
    const [batches] = (await harness.catalog.pool.query("SELECT COUNT(*) AS n FROM sk_archive_batches WHERE state = 'checkpointed'")) as unknown as [[{ n: number }]];
    expect(reads).toBe(Number(batches[0].n));
    await expectExactlyOnce();
  });

  it('deletes no row of a batch whose stored object differs from the one planned, and rewrites it on the next run', async () => {
    const process = harness.process();
    const retried = request();
    // Same length, one byte flipped: S3 stores (and checksums) other bytes than the batch recorded.
    const corrupting: ObjectStore = {
      ...harness.objects,
      put: async (key, body, options) => {
        const bytes = Buffer.from(body);
        bytes[bytes.length - 1]! ^= 0xff;
        return harness.objects.put(key, bytes, options);
      },
    };
    await expect(runToCompletion(harness, process, config, retried, { now: NOW, objects: corrupting })).rejects.toThrow(/did not verify after upload/);
    expect(checksums(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs'))).toEqual(checksums(original));
    const results = await runToCompletion(harness, process, config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  // `checked` reads a batch, writes its object, then deletes; `auto` takes the batch by its delete, committed once the object is verified.
  for (const [deleteStrategy, openStates] of [
    // The blocked batch, and the next one read and uploaded while it waited: verified, nothing deleted.
    ['checked', ['uploaded']],
    // The delete that takes the first batch was blocked: nothing was planned.
    ['auto', []],
  ] as const) {
    it(`recovers when the shard connection is dropped while the delete waits for a row lock (${deleteStrategy})`, async () => {
      const process = harness.process({ deleteStrategy });
      const retried = request();
      // Another session holds a lock on a row of the first batch, so the archiver's delete waits on it; then its connection is killed.
      const blocker = await harness.shard.pool.getConnection();
      await blocker.beginTransaction();
      await blocker.query("SELECT log_id FROM game_logs ORDER BY created_at, log_id LIMIT 1 OFFSET 300 FOR UPDATE");
      const killer = setInterval(async () => {
        const [waiting] = (await harness.shard.pool.query(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND (INFO LIKE '%FOR UPDATE%' OR INFO LIKE 'DELETE FROM%') AND ID <> CONNECTION_ID()",
          [harness.shard.database],
        )) as unknown as [Array<{ id: number }>];
        for (const { id } of waiting) await harness.shard.pool.query(`KILL ${Number(id)}`).catch(() => {});
      }, 100);
      try {
        await expect(runToCompletion(harness, process, config, retried, { now: NOW })).rejects.toThrow();
      } finally {
        clearInterval(killer);
        await blocker.rollback();
        blocker.release();
      }
      await expectNoRowLost();
      const [open] = (await harness.catalog.pool.query("SELECT state FROM sk_archive_batches WHERE state NOT IN ('checkpointed', 'abandoned')")) as unknown as [Array<{ state: string }>];
      expect(new Set(open.map((row) => row.state))).toEqual(new Set(openStates));

      const results = await runToCompletion(harness, harness.process({ deleteStrategy }), config, retried, { now: NOW });
      expect(results.at(-1)?.status).toBe('done');
      await expectExactlyOnce();
    });
  }

  it('recovers when the delete commits but its answer is lost with the connection (checked)', async () => {
    const first = harness.process({ deleteStrategy: 'checked' });
    const retried = request();
    let deletes = 0;
    const lossy: ArchiveSource = {
      ...first.source,
      async deleteArchived(deleteRequest) {
        const outcome = await first.source.deleteArchived(deleteRequest);
        if (++deletes === 2) throw new NodeUnreachableError('connection lost after COMMIT was sent');
        return outcome;
      },
    };
    await expect(runToCompletion(harness, first, config, retried, { now: NOW, source: lossy })).rejects.toThrow(NodeUnreachableError);
    await expectNoRowLost();
    const results = await runToCompletion(harness, harness.process({ deleteStrategy: 'checked' }), config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  it('recovers when a taken batch\'s delete commits but its answer is lost with the connection', async () => {
    const first = harness.process();
    const retried = request();
    let commits = 0;
    const lossy: ArchiveSource = {
      ...first.source,
      async takeBatch(query) {
        const planned = await first.source.takeBatch(query);
        if (typeof planned !== 'object') return planned;
        const taken = planned.taken.then((batch) => ({
          ...batch,
          async commit() {
            await batch.commit();
            if (++commits === 2) throw new NodeUnreachableError('connection lost after COMMIT was sent');
          },
        }));
        return { ...planned, taken };
      },
    };
    await expect(runToCompletion(harness, first, config, retried, { now: NOW, source: lossy })).rejects.toThrow(NodeUnreachableError);
    expect(commits).toBeGreaterThanOrEqual(2);
    await expectNoRowLost();
    const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  it('archives exactly once when late logs make some batches checked among batches taken by their delete', async () => {
    // Late logs: old times under the newest keys, so the batch holding each is read and deleted as
    // checked, by a delete whose key span crosses the batches taken after it.
    await harness.shard.pool.query(
      'INSERT INTO game_logs (player_id, action_type, action_data, created_at) SELECT player_id, CONCAT(\'late-\', action_type), action_data, created_at FROM game_logs WHERE created_at < ? ORDER BY log_id LIMIT 6',
      [sqlDateTime(CUTOFF - 3 * DAY_MS + 3_600_000)],
    );
    original = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
    const process = harness.process();
    const answers = { taken: 0, checked: 0 };
    const counting: ArchiveSource = {
      ...process.source,
      async takeBatch(query) {
        const planned = await process.source.takeBatch(query);
        if (typeof planned === 'object') answers.taken += 1;
        if (planned === undefined) answers.checked += 1;
        return planned;
      },
    };
    const results = await runToCompletion(harness, process, config, request(), { now: NOW, source: counting, onStep: expectNoRowLost });
    expect(results.at(-1)?.status).toBe('done');
    expect(answers.checked).toBeGreaterThan(0);
    expect(answers.taken).toBeGreaterThan(answers.checked);
    await expectExactlyOnce();
  });

  it('reads again from the cursor when a taken batch ends before the end its plan named, archiving the rows in between in the same run', async () => {
    const process = harness.process();
    let moved = false;
    const shifting: ArchiveSource = {
      ...process.source,
      async takeBatch(query) {
        const planned = await process.source.takeBatch(query);
        if (typeof planned !== 'object' || moved) return planned;
        moved = true;
        // As if the peek had seen ten more rows than the delete took: the next batch starts past them.
        const [[after]] = (await harness.shard.pool.query(
          'SELECT CAST(created_at AS CHAR) AS time, log_id FROM game_logs WHERE (created_at, log_id) > (?, ?) ORDER BY created_at, log_id LIMIT 1 OFFSET 9',
          planned.last,
        )) as unknown as [[{ time: string; log_id: string }]];
        return { ...planned, last: [after.time, String(after.log_id)] };
      },
    };
    const results = await runToCompletion(harness, process, config, request(), { now: NOW, source: shifting, onStep: expectNoRowLost });
    expect(moved).toBe(true);
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  it('recovers when the catalog connection drops before a batch is marked deleted', async () => {
    const first = harness.process();
    const retried = request();
    let marks = 0;
    const store = Object.create(first.store) as typeof first.store;
    store.setBatchState = async (batch, from, to) => {
      if (to === 'deleted' && ++marks === 1) {
        await first.catalogPool.end();
        throw new NodeUnreachableError('catalog connection lost');
      }
      return first.store.setBatchState(batch, from, to);
    };
    await expect(runToCompletion(harness, first, config, retried, { now: NOW, store })).rejects.toThrow();
    await expectNoRowLost();
    const results = await runToCompletion(harness, harness.process(), config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });

  it('leaves a row that changed between read and delete on the shard and archives its new version', async () => {
    const process = harness.process({ deleteStrategy: 'checked' });
    let updated = false;
    const results = await runToCompletion(harness, process, config, request(), {
      now: NOW,
      onStep: async (step) => {
        if (step === 'verified' && !updated) {
          updated = true;
          await harness.shard.pool.query("UPDATE game_logs SET action_type = 'edited' ORDER BY created_at, log_id LIMIT 1");
        }
      },
    });
    expect(results.at(-1)?.status).toBe('done');
    const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
    expect(archived.filter((line) => line.includes('"action_type":"edited"'))).toHaveLength(1);
    expect(archived).toHaveLength(original.length - kept().length);
    expect(await tableLines(harness.shard.pool, harness.shard.database, 'game_logs')).toHaveLength(kept().length);
  });

  it('keeps a row inserted into a batch\'s range after the batch was read, with every delete strategy', async () => {
    for (const deleteStrategy of ['auto', 'checked', 'lock-then-delete'] as const) {
      await harness.reset();
      await harness.shard.pool.query('DELETE FROM game_logs');
      await harness.shard.pool.query('INSERT INTO game_logs (log_id, player_id, action_type, action_data, created_at) VALUES ?', [
        original.map((line) => {
          const row = JSON.parse(line) as { log_id: string; player_id: string; action_type: string; action_data: string | null; created_at: string };
          return [row.log_id, row.player_id, row.action_type, row.action_data, row.created_at];
        }),
      ]);
      let inserted = false;
      const late = `late-${deleteStrategy}`;
      const results = await runToCompletion(harness, harness.process({ deleteStrategy }), config, request(), {
        now: NOW,
        onStep: async (step) => {
          if (step !== 'verified' || inserted) return;
          inserted = true;
          // A late log with an old timestamp, right inside the first batch's range.
          const [[first]] = (await harness.shard.pool.query('SELECT created_at FROM game_logs ORDER BY created_at, log_id LIMIT 1 OFFSET 10')) as unknown as [[{ created_at: string }]];
          await harness.shard.pool.query("INSERT INTO game_logs (player_id, action_type, action_data, created_at) VALUES (1, ?, NULL, ?)", [late, first.created_at]);
        },
      });
      expect(results.at(-1)?.status).toBe('done');
      const onShard = await tableLines(harness.shard.pool, harness.shard.database, 'game_logs');
      const archived = (await archiveLines(harness.objects)).map(({ line }) => line);
      expect(onShard.filter((line) => line.includes(late))).toHaveLength(1);
      expect(archived.filter((line) => line.includes(late))).toEqual([]);
      expect(checksums([...onShard.filter((line) => !line.includes(late)), ...archived])).toEqual(checksums(original));
    }
  });

  it('recovers a kill after the delete with the lock-then-delete strategy MySQL uses', async () => {
    const retried = request();
    let deleted = 0;
    await expect(
      runToCompletion(harness, harness.process({ deleteStrategy: 'lock-then-delete' }), config, retried, {
        now: NOW,
        onStep: (step) => {
          if (step === 'deleted' && ++deleted === 2) throw new Killed(step);
        },
      }),
    ).rejects.toThrow(Killed);
    await expectNoRowLost();
    const results = await runToCompletion(harness, harness.process({ deleteStrategy: 'lock-then-delete' }), config, retried, { now: NOW });
    expect(results.at(-1)?.status).toBe('done');
    await expectExactlyOnce();
  });
});
