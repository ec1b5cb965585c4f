import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, GraphWidget, Metric, TreatMissingData, type Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Peer, Port, SecurityGroup, type IVpc, type SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { EventBus, EventField, Rule, RuleTargetInput, Schedule, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction, SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { Grant, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { $ZodObject } from 'zod/v4/core';
import { DEFAULT_HEALTH_THRESHOLDS } from '../../functions/core/health';
import type { ShardMapDraft } from '../../functions/core/shard-map-types';
import { DEFAULT_LEASE_TTL_MS } from '../../functions/health/monitor';
import type { healthMonitorEnvSchema } from '../../functions/shared/env';
import { QuorumLost, ruleEventPattern, ShardPrimaryDown, ShardPrimaryUnreachable, SplitBrainSuspected, type EventContract } from '../../functions/shared/events';
import type { HealthConfig } from '../config';
import { AppFunction, METRICS_NAMESPACE } from './app-function';
import type { ShardCatalog } from './shard-catalog';

/** How functions that open MySQL connections reach the fleet's nodes. */
export interface FleetAccess {
  vpc: IVpc;
  subnets: SubnetSelection;
  /** The shard map from config: its nodes' ports and credential secrets. */
  fleet: ShardMapDraft | undefined;
}

export const MONITOR_SERVICE = 'health-monitor';

/**
 * Since Node 20 the Lambda runtime trusts the RDS certificate authorities only when told to, and
 * functions reaching fleet nodes verify TLS. Read by Node itself, so it is in no env schema.
 */
export function trustRdsCertificates(fn: AppFunction<$ZodObject>): void {
  fn.addEnvironment('NODE_EXTRA_CA_CERTS', '/var/runtime/ca-cert.pem');
}

/**
 * Where a capability in its own stack reports: the suite's operator topic (core stack) for alarms
 * and notifications, and the capability's dashboard. The core stack's OpsDashboard cannot list
 * alarms of a stack deployed after it without a dependency cycle, hence a dashboard per stack.
 */
export interface OperatorAlerts {
  topic: ITopic;
  dashboard: Dashboard;
  /** Every alarm added through `page`, for the dashboard's alarm status row. */
  alarms: Alarm[];
}

/** Pages operators when the alarms fire and when they recover. */
export function page(alerts: OperatorAlerts, ...alarms: Alarm[]): void {
  for (const alarm of alarms) {
    alarm.addAlarmAction(new SnsAction(alerts.topic));
    alarm.addOkAction(new SnsAction(alerts.topic));
    alerts.alarms.push(alarm);
  }
}

/** The health events that page operators directly; recovery events are sent by the failover workflow. */
export const PAGING_HEALTH_EVENTS: readonly EventContract[] = [ShardPrimaryDown, ShardPrimaryUnreachable, QuorumLost, SplitBrainSuspected];

/**
 * The Secrets Manager ARNs of the fleet's node credentials, from the config's `secretRef`s. A name
 * or a partial ARN (no 6-character suffix) matches the secret's generated suffix with `-??????`.
 */
export function fleetSecretArns(scope: Construct, fleet: ShardMapDraft | undefined): string[] {
  const stack = Stack.of(scope);
  const refs = new Set(fleet?.shards.flatMap((shard) => shard.nodes.flatMap((node) => (node.secretRef ? [node.secretRef] : []))) ?? []);
  return [...refs].sort().map((ref) => {
    if (/^arn:aws[a-z-]*:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(ref)) return ref;
    if (ref.startsWith('arn:')) return `${ref}-??????`;
    return stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${ref}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  });
}

/** Lets `grantee` read the fleet's node credentials, and nothing else in Secrets Manager. */
export function grantFleetSecrets(grantee: IGrantable, scope: Construct, fleet: ShardMapDraft | undefined): void {
  const arns = fleetSecretArns(scope, fleet);
  if (arns.length > 0) Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: arns });
}

/** Egress to the fleet's MySQL ports and to AWS APIs over HTTPS; no ingress. */
export function fleetSecurityGroup(scope: Construct, id: string, access: FleetAccess, description: string): SecurityGroup {
  const group = new SecurityGroup(scope, id, { vpc: access.vpc, description, allowAllOutbound: false });
  const ports = new Set(access.fleet?.shards.flatMap((shard) => shard.nodes.map((node) => node.port)) ?? []);
  if (ports.size === 0) ports.add(3306);
  for (const port of [...ports].sort((a, b) => a - b)) group.addEgressRule(Peer.anyIpv4(), Port.tcp(port), `MySQL on fleet nodes (port ${port})`);
  group.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'AWS APIs: Secrets Manager, RDS Data API, EventBridge');
  return group;
}

export interface HealthMonitorProps {
  config: HealthConfig;
  access: FleetAccess;
  catalog: ShardCatalog;
  alerts: OperatorAlerts;
  logRetention: RetentionDays;
  /** Stack prefix: names the bus. */
  namePrefix: string;
}

/** One invocation probes for a minute, then hands over to the next scheduled one. */
const SCHEDULE = Duration.minutes(1);
const HANDOVER = Duration.seconds(5);

/**
 * Health monitoring: one scheduled function per fleet partition probing every node of its shards
 * on a sub-minute interval, the custom event bus its transition events go to, the operator
 * notifications for the events that need a human, and the monitor's alarms and dashboard.
 */
export class HealthMonitor extends Construct {
  readonly bus: EventBus;
  readonly functions: AppFunction<typeof healthMonitorEnvSchema>[];
  readonly schedules: Rule[];
  readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: HealthMonitorProps) {
    super(scope, id);
    const { config } = props;
    this.bus = new EventBus(this, 'Bus', { eventBusName: `${props.namePrefix}-shardkeeper`, description: 'Shardkeeper health and recovery events' });
    this.securityGroup = fleetSecurityGroup(this, 'MonitorSecurityGroup', props.access, 'Shardkeeper health monitor: MySQL to fleet nodes, HTTPS to AWS APIs');

    this.functions = [];
    this.schedules = [];
    for (let partition = 0; partition < config.partitions; partition++) {
      const fn = new AppFunction<typeof healthMonitorEnvSchema>(this, `Monitor${partition}`, {
        entry: 'functions/health/handler.ts',
        serviceName: MONITOR_SERVICE,
        description: `Probes the fleet's nodes (partition ${partition + 1} of ${config.partitions}) and publishes health transitions`,
        environment: {
          ...props.catalog.catalogEnvironment(),
          EVENT_BUS_NAME: this.bus.eventBusName,
          PROBE_INTERVAL_MS: String(config.probeIntervalMs),
          PROBE_CONCURRENCY: String(config.probeConcurrency),
          CONNECT_TIMEOUT_MS: String(config.connectTimeoutMs),
          QUERY_TIMEOUT_MS: String(config.queryTimeoutMs),
          PARTITION_INDEX: String(partition),
          PARTITION_COUNT: String(config.partitions),
          LEASE_TTL_MS: String(DEFAULT_LEASE_TTL_MS),
          HANDOVER_MS: String(HANDOVER.toMilliseconds()),
          FAILURES_TO_DOWN: String(config.failuresToDown),
          SUCCESSES_TO_ONLINE: String(DEFAULT_HEALTH_THRESHOLDS.successesToOnline),
          LAG_SECONDS_MAX: String(config.lagSecondsMax),
          THREADS_RUNNING_MAX: String(DEFAULT_HEALTH_THRESHOLDS.threadsRunningMax),
          CONNECTIONS_PERCENT_MAX: String(DEFAULT_HEALTH_THRESHOLDS.connectionsPercentMax),
          BUFFER_POOL_USED_PERCENT_MAX: String(DEFAULT_HEALTH_THRESHOLDS.bufferPoolUsedPercentMax),
          PER_NODE_METRICS: config.perNodeMetrics ? 'on' : 'off',
          METRICS_NAMESPACE,
        },
        memorySize: 512,
        // Probing until the next invocation starts, plus the hand-over, plus time to flush.
        timeout: SCHEDULE.plus(HANDOVER).plus(Duration.seconds(25)),
        logRetention: props.logRetention,
        vpc: { vpc: props.access.vpc, subnets: props.access.subnets, securityGroups: [this.securityGroup] },
      });
      trustRdsCertificates(fn);
      props.catalog.grantDataApiAccess(fn);
      grantFleetSecrets(fn, this, props.access.fleet);
      this.bus.grantPutEventsTo(fn);
      const schedule = new Rule(this, `Schedule${partition}`, {
        schedule: Schedule.rate(SCHEDULE),
        description: `Starts health monitor partition ${partition} every minute`,
        targets: [new LambdaFunction(fn, { retryAttempts: 0 })],
      });
      this.functions.push(fn);
      this.schedules.push(schedule);
    }

    notifyOperators(this, 'PageOperators', this.bus, props.alerts, PAGING_HEALTH_EVENTS, 'Health findings that need an operator, to the operator topic');
    this.addAlarmsAndWidgets(props.alerts);
  }

  private addAlarmsAndWidgets(alerts: OperatorAlerts): void {
    const fleetMetric = (metricName: string, statistic = 'Maximum') =>
      new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: MONITOR_SERVICE }, statistic, period: Duration.minutes(1) });
    const sum = (metric: (props: { period: Duration; statistic?: string }) => Metric) => metric({ period: Duration.minutes(5), statistic: 'Sum' });
    const alarm = (id: string, props: ConstructorParameters<typeof Alarm>[2]) => new Alarm(this, id, { treatMissingData: TreatMissingData.NOT_BREACHING, ...props });

    for (const [index, fn] of this.functions.entries()) {
      page(
        alerts,
        alarm(`MonitorErrors${index}`, {
          metric: sum((p) => fn.metricErrors(p)),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          alarmDescription: `Health monitor partition ${index} crashed or timed out.`,
        }),
        alarm(`MonitorNotRunning${index}`, {
          metric: sum((p) => fn.metricInvocations(p)),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // No data means no invocation: the fleet is not being watched.
          treatMissingData: TreatMissingData.BREACHING,
          alarmDescription: `Health monitor partition ${index} did not run for 5 minutes: nobody watches its shards.`,
        }),
      );
    }
    page(
      alerts,
      alarm('NodesDown', {
        metric: fleetMetric('NodesDown'),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        alarmDescription: 'At least one fleet node has been DOWN for 2 minutes.',
      }),
      alarm('ShardsUnhealthy', {
        metric: fleetMetric('ShardsUnhealthy'),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        alarmDescription: 'At least one shard has had a finding (degraded, lagging, primary down...) for 5 minutes.',
      }),
    );
    alerts.dashboard.addWidgets(
      new GraphWidget({
        title: 'Fleet health',
        left: ['NodesProbed', 'NodesUnreachable', 'NodesDown', 'ShardsUnhealthy'].map((name) => fleetMetric(name)),
        width: 8,
      }),
      new GraphWidget({ title: 'Monitor tick (ms)', left: [fleetMetric('TickDuration', 'p99'), fleetMetric('TickDuration', 'Average')], width: 8 }),
      new GraphWidget({
        title: 'Monitor functions',
        left: this.functions.flatMap((fn) => [fn.metricInvocations(), fn.metricErrors()]),
        right: this.functions.map((fn) => fn.metricDuration({ statistic: 'Maximum' })),
        width: 8,
      }),
    );
  }
}

/**
 * Sends these events to the operator topic as one readable line each (what happened, where, why).
 * The topic is KMS-encrypted, so EventBridge publishes through a role that may use its key.
 */
export function notifyOperators(scope: Construct, id: string, bus: IEventBus, alerts: OperatorAlerts, contracts: readonly EventContract[], description: string): Rule {
  const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('events.amazonaws.com'), description: `Publishes ${id} events to the operator topic` });
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
    reason: "SNS encrypts each message with a data key of the topic's KMS key; the grant names that one key.",
  });
  const message = RuleTargetInput.fromText(`${EventField.detailType} on shard ${EventField.fromPath('$.detail.shard')}: ${EventField.fromPath('$.detail.reason')}`);
  return new Rule(scope, id, { eventBus: bus, description, eventPattern: ruleEventPattern(...contracts), targets: [new SnsTopic(alerts.topic, { message, role })] });
}
