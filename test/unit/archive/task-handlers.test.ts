import { describe, expect, it } from 'vitest';
import { parseArchiveSettings } from '../../../functions/archive/archive-config';
import { createPlanTask, createSummaryTask } from '../../../functions/archive/task-handlers';
import type { ArchiveStore, ExecutionTotals } from '../../../functions/ports/archive-store';
import { MemoryObjectStore } from '../../workflows/backup-fakes';
import { InMemoryCatalog } from '../fakes/in-memory-catalog';
import { fourShards } from '../fakes/fleets';

const settings = parseArchiveSettings([{ table: 'game_logs', timeColumn: 'created_at' }], 'test');
const planInput = { runId: 'daily-2024-07-01', startedAt: '2024-07-01T03:00:00Z', input: {} };

function catalogWithFleet(): InMemoryCatalog {
  const catalog = new InMemoryCatalog();
  catalog.map = { ...structuredClone(fourShards), version: 1, updatedAt: '2024-01-01T00:00:00.000Z' };
  return catalog;
}

describe('the Plan task', () => {
  it('returns the items inline for a Map state', async () => {
    const output = await createPlanTask({ settings, catalog: catalogWithFleet() })(planInput);
    expect(output).toMatchObject({ runId: 'daily-2024-07-01', count: 4 });
    expect('items' in output && output.items.map((item) => item.shard)).toEqual(['-40', '40-80', '80-c0', 'c0-']);
  });

  it("writes the items to S3 for a Distributed Map's ItemReader and returns only where they are", async () => {
    const objects = new MemoryObjectStore();
    const output = await createPlanTask({ settings, catalog: catalogWithFleet(), itemsOutput: { objects, prefix: '_workflow/plans/' } })({ ...planInput, runId: 'run/1 x' });
    expect(output).toEqual({ runId: 'run/1 x', count: 4, itemsKey: '_workflow/plans/run%2F1%20x.json' });
    const items = JSON.parse(objects.objects.get('_workflow/plans/run%2F1%20x.json')!.body.toString()) as Array<{ shard: string; runId: string }>;
    expect(items.map((item) => [item.shard, item.runId])).toEqual([
      ['-40', 'run/1 x'],
      ['40-80', 'run/1 x'],
      ['80-c0', 'run/1 x'],
      ['c0-', 'run/1 x'],
    ]);
  });

  it('refuses an input without a run id or start', async () => {
    await expect(createPlanTask({ settings, catalog: catalogWithFleet() })({ input: {} })).rejects.toThrow(/invalid archive plan input: runId/);
  });
});

describe('the Summarize task', () => {
  const storeWith = (totals: ExecutionTotals) => ({ executionTotals: async () => totals }) as unknown as ArchiveStore;

  it('counts how the planned items ended and fails the run only when one failed', async () => {
    const totals: ExecutionTotals = { runs: { running: 1, done: 5, failed: 0 }, rows: 1200, batches: 12, bytes: 4096 };
    expect(await createSummaryTask({ store: storeWith(totals) })({ runId: 'r', planned: 8 })).toEqual({
      runId: 'r',
      planned: 8,
      done: 5,
      failed: 0,
      unfinished: 1,
      notStarted: 2,
      rows: 1200,
      batches: 12,
      bytes: 4096,
      anyFailed: false,
    });
    const failed = await createSummaryTask({ store: storeWith({ ...totals, runs: { running: 0, done: 5, failed: 1 } }) })({ runId: 'r', planned: 6 });
    expect(failed).toMatchObject({ failed: 1, notStarted: 0, anyFailed: true });
  });

  it('refuses an input without a planned count', async () => {
    await expect(createSummaryTask({ store: storeWith({ runs: { running: 0, done: 0, failed: 0 }, rows: 0, batches: 0, bytes: 0 }) })({ runId: 'r' })).rejects.toThrow(/invalid archive summary input: planned/);
  });
});
