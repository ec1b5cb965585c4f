import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { nodeStateLevel, verdictSeverity } from '../core/health';
import type { TickReport } from './monitor';

/** Where the monitor's measurements go: buffered per tick, emitted on flush. */
export interface MonitorMetrics {
  recordTick(report: TickReport): void;
  flush(): void;
}

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
export type MetricsSink = Pick<Metrics, 'addDimensions' | 'addMetric' | 'publishStoredMetrics'>;

/** Powertools publishes on its own at 100 values of one metric, clearing dimensions; rounds stay below that. */
const VALUES_PER_ROUND = 99;

interface Series {
  dimensions: Record<string, string>;
  metrics: Map<string, { unit: Unit; values: number[] }>;
}

export interface PowertoolsMonitorMetricsOptions {
  /** One CloudWatch metric per node and measure (cost grows with the fleet); off keeps fleet and shard metrics. */
  perNode?: boolean;
}

/**
 * Monitor metrics as CloudWatch EMF through Powertools. Values are buffered per dimension set
 * and emitted as one EMF document per set on flush (values as arrays), so a 1 s tick over a
 * thousand nodes costs one log line per node per flush, not per tick.
 */
export function createPowertoolsMonitorMetrics(sink: MetricsSink, { perNode = true }: PowertoolsMonitorMetricsOptions = {}): MonitorMetrics {
  const buffer = new Map<string, Series>();
  const add = (dimensions: Record<string, string>, name: string, unit: Unit, value: number) => {
    const key = JSON.stringify(dimensions);
    let series = buffer.get(key);
    if (!series) buffer.set(key, (series = { dimensions, metrics: new Map() }));
    let metric = series.metrics.get(name);
    if (!metric) series.metrics.set(name, (metric = { unit, values: [] }));
    metric.values.push(value);
  };

  return {
    recordTick(report) {
      const fleet = {};
      const unreachable = report.nodes.filter((node) => !node.probe.ok);
      add(fleet, 'TickDuration', MetricUnit.Milliseconds, report.durationMs);
      add(fleet, 'NodesProbed', MetricUnit.Count, report.nodes.length);
      add(fleet, 'NodesUnreachable', MetricUnit.Count, unreachable.length);
      add(fleet, 'ProbeTimeouts', MetricUnit.Count, unreachable.filter((node) => !node.probe.ok && node.probe.timedOut).length);
      add(fleet, 'NodesDown', MetricUnit.Count, report.nodes.filter((node) => node.state === 'DOWN').length);
      // A restart faster than the probes can catch leaves no other trace than uptime going backwards.
      add(fleet, 'NodeRestarts', MetricUnit.Count, report.nodes.filter((node) => node.restarted).length);
      add(fleet, 'ShardsUnhealthy', MetricUnit.Count, report.shards.filter((shard) => shard.verdict !== 'HEALTHY').length);
      add(fleet, 'EventsPublished', MetricUnit.Count, report.events.length);
      add(fleet, 'StaleShardMap', MetricUnit.Count, report.staleMap ? 1 : 0);

      for (const shard of report.shards) {
        const dimensions = { Shard: shard.shard };
        add(dimensions, 'VerdictSeverity', MetricUnit.NoUnit, verdictSeverity(shard.verdict));
        add(dimensions, 'ReachableNodes', MetricUnit.Count, shard.reachable);
        if (shard.maxLagSeconds !== null) add(dimensions, 'MaxReplicationLag', MetricUnit.Seconds, shard.maxLagSeconds);
      }

      if (!perNode) return;
      for (const node of report.nodes) {
        const dimensions = { Shard: node.shard, Node: node.node.id };
        add(dimensions, 'ProbeLatency', MetricUnit.Milliseconds, node.probe.latencyMs);
        add(dimensions, 'NodeState', MetricUnit.NoUnit, nodeStateLevel(node.state));
        if (!node.probe.ok) continue;
        const { observation } = node.probe;
        add(dimensions, 'ThreadsRunning', MetricUnit.Count, observation.threadsRunning);
        add(dimensions, 'ConnectionsPercent', MetricUnit.Percent, observation.connectionsPercent);
        add(dimensions, 'BufferPoolUsedPercent', MetricUnit.Percent, observation.bufferPoolUsedPercent);
        const lag = observation.replication?.lagSeconds;
        if (lag !== null && lag !== undefined) add(dimensions, 'ReplicationLag', MetricUnit.Seconds, lag);
      }
    },

    flush() {
      for (const { dimensions, metrics } of buffer.values()) {
        const rounds = Math.max(...[...metrics.values()].map((metric) => Math.ceil(metric.values.length / VALUES_PER_ROUND)));
        for (let round = 0; round < rounds; round++) {
          sink.addDimensions(dimensions);
          for (const [name, { unit, values }] of metrics) {
            for (const value of values.slice(round * VALUES_PER_ROUND, (round + 1) * VALUES_PER_ROUND)) sink.addMetric(name, unit, value);
          }
          sink.publishStoredMetrics();
        }
      }
      buffer.clear();
    },
  };
}
