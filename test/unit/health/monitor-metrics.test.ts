import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPowertoolsMonitorMetrics, type MetricsSink } from '../../../functions/health/monitor-metrics';
import { fleet, lease, rig } from './fakes';
import { replicaObservation } from './probes';

interface Published {
  dimensions: Record<string, string>;
  metrics: Record<string, { unit: string; values: number[] }>;
}

/** Records what would become one EMF document per publishStoredMetrics call. */
function recordingSink() {
  const published: Published[] = [];
  let current: Published = { dimensions: {}, metrics: {} };
  const sink: MetricsSink = {
    addDimensions(dimensions) {
      current.dimensions = { ...current.dimensions, ...dimensions };
      return sink as Metrics;
    },
    addMetric(name, unit, value) {
      (current.metrics[name] ??= { unit, values: [] }).values.push(value);
      return sink as Metrics;
    },
    publishStoredMetrics() {
      published.push(current);
      current = { dimensions: {}, metrics: {} };
      return sink as Metrics;
    },
  } as MetricsSink;
  return { sink, published };
}

async function tickReports(count: number) {
  const r = await rig(fleet(2));
  r.prober.set('s0-r1', replicaObservation({ lagSeconds: 7 }));
  r.prober.set('s1-p', 'down');
  const monitor = r.monitor();
  const held = await lease(r, monitor.leaseName);
  const reports = [];
  for (let i = 0; i < count; i++) reports.push(await monitor.tick(held));
  return reports;
}

describe('Powertools monitor metrics', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('emits fleet, per-shard and per-node series, one document per dimension set', async () => {
    const { sink, published } = recordingSink();
    const metrics = createPowertoolsMonitorMetrics(sink);
    for (const report of await tickReports(3)) metrics.recordTick(report);
    metrics.flush();

    const fleetDoc = published.find((doc) => Object.keys(doc.dimensions).length === 0)!;
    expect(fleetDoc.metrics.NodesProbed).toEqual({ unit: 'Count', values: [6, 6, 6] });
    expect(fleetDoc.metrics.NodesUnreachable?.values).toEqual([1, 1, 1]);
    expect(fleetDoc.metrics.NodesDown?.values).toEqual([0, 0, 1]);
    expect(fleetDoc.metrics.NodeRestarts?.values).toEqual([0, 0, 0]);
    expect(fleetDoc.metrics.TickDuration?.unit).toBe('Milliseconds');

    const shard0 = published.find((doc) => doc.dimensions.Shard === 's0' && !doc.dimensions.Node)!;
    expect(shard0.metrics.MaxReplicationLag).toEqual({ unit: 'Seconds', values: [7, 7, 7] });
    expect(shard0.metrics.VerdictSeverity?.values.every((value) => value > 0)).toBe(true);

    const lagging = published.find((doc) => doc.dimensions.Node === 's0-r1')!;
    expect(lagging.dimensions).toEqual({ Shard: 's0', Node: 's0-r1' });
    expect(lagging.metrics.ReplicationLag?.values).toEqual([7, 7, 7]);
    expect(Object.keys(lagging.metrics).sort()).toEqual(['BufferPoolUsedPercent', 'ConnectionsPercent', 'NodeState', 'ProbeLatency', 'ReplicationLag', 'ThreadsRunning']);

    const down = published.find((doc) => doc.dimensions.Node === 's1-p')!;
    expect(down.metrics.NodeState?.values).toEqual([1, 1, 3]);
    expect(down.metrics.ThreadsRunning).toBeUndefined();
  });

  it('keeps only fleet and shard series when per-node metrics are off', async () => {
    const { sink, published } = recordingSink();
    const metrics = createPowertoolsMonitorMetrics(sink, { perNode: false });
    for (const report of await tickReports(1)) metrics.recordTick(report);
    metrics.flush();
    expect(published.some((doc) => doc.dimensions.Node)).toBe(false);
    expect(published).toHaveLength(3);
  });

  it('splits long series into documents of under 100 values and empties the buffer', async () => {
    const { sink, published } = recordingSink();
    const metrics = createPowertoolsMonitorMetrics(sink, { perNode: false });
    const [report] = await tickReports(1);
    for (let i = 0; i < 150; i++) metrics.recordTick(report!);
    metrics.flush();
    const fleetDocs = published.filter((doc) => Object.keys(doc.dimensions).length === 0);
    expect(fleetDocs.map((doc) => doc.metrics.NodesProbed?.values.length)).toEqual([99, 51]);
    published.length = 0;
    metrics.flush();
    expect(published).toEqual([]);
  });

  it('writes CloudWatch EMF through a real Powertools Metrics instance', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = createPowertoolsMonitorMetrics(new Metrics({ namespace: 'Shardkeeper', serviceName: 'health-monitor' }));
    for (const report of await tickReports(1)) metrics.recordTick(report);
    metrics.flush();
    vi.restoreAllMocks();
    const docs = lines.flatMap((line) => line.split('\n')).filter((line) => line.includes('_aws')).map((line) => JSON.parse(line));
    const node = docs.find((doc) => doc.Node === 's0-r1');
    expect(node).toMatchObject({ Shard: 's0', Node: 's0-r1', ReplicationLag: 7, service: 'health-monitor' });
    expect(node._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Shardkeeper', Dimensions: [expect.arrayContaining(['Shard', 'Node'])] });
  });
});
