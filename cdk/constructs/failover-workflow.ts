import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, GraphWidget, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, type IEventBus } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  Fail,
  IntegrationPattern,
  JsonPath,
  LogLevel,
  Pass,
  StateMachine,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
  type IChainable,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DEFAULT_RECOVERY_POLICY } from '../../functions/recovery/context';
import { RECOVERY_REJECTED, RECOVERY_TASKS, TRANSIENT_ERRORS, type RecoveryTaskName } from '../../functions/recovery/workflow-contract';
import type { recoveryTasksEnvSchema } from '../../functions/shared/env';
import { DataCorruptionReported, QuorumLost, recoveryEventContracts, ruleEventPattern, ShardNodeDown, ShardNodeRecovered, ShardPrimaryDown, SplitBrainSuspected } from '../../functions/shared/events';
import type { RecoveryConfig } from '../config';
import { AppFunction } from './app-function';
import { fleetSecurityGroup, grantFleetSecrets, notifyOperators, page, trustRdsCertificates, type FleetAccess, type OperatorAlerts } from './health-monitor';
import type { ShardCatalog } from './shard-catalog';

export interface FailoverWorkflowProps {
  config: RecoveryConfig;
  access: FleetAccess;
  bus: IEventBus;
  catalog: ShardCatalog;
  alerts: OperatorAlerts;
  logRetention: RetentionDays;
}

/** Retries for errors that pass by themselves (see TRANSIENT_ERRORS): 2, 4, 8 s. */
const TRANSIENT_RETRY: RetryProps = { errors: [...TRANSIENT_ERRORS], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 3 };
/** Right after a failover the writer may refuse writes for a while (Aurora's endpoint moves over DNS). */
const POST_CHECK_RETRY: RetryProps = { errors: ['NodeNotWritable'], interval: Duration.seconds(5), backoffRate: 1.5, maxAttempts: 6 };
/** A replica removal or restore waits out a failover holding the shard: about 10 minutes in all. */
const LOCKED_RETRY: RetryProps = { errors: ['RecoveryInProgress'], interval: Duration.seconds(10), backoffRate: 2, maxAttempts: 6 };
/** A restored replica catching up with its primary. */
const CATCH_UP_RETRY: RetryProps = { errors: ['NodeNotReady'], interval: Duration.seconds(15), backoffRate: 1.5, maxAttempts: 8 };
const APPROVAL_TIMEOUT = Duration.hours(24);
const REPLICA_WATCH_INTERVAL = Duration.minutes(1);

/**
 * Event-driven recovery: three state machines started by rules on the Shardkeeper bus, each task
 * one invocation of the recovery task function. ShardPrimaryDown starts the failover;
 * ShardNodeDown/ShardNodeRecovered of replicas the replica workflow; QuorumLost,
 * SplitBrainSuspected and DataCorruptionReported the manual runbook, which waits for an operator's decision.
 */
export class FailoverWorkflow extends Construct {
  readonly tasksFunction: AppFunction<typeof recoveryTasksEnvSchema>;
  readonly failover: StateMachine;
  readonly replica: StateMachine;
  readonly runbook: StateMachine;

  constructor(scope: Construct, id: string, props: FailoverWorkflowProps) {
    super(scope, id);
    const auroraClusterArns = Object.values(props.config.auroraClusters).sort();
    const securityGroup = fleetSecurityGroup(this, 'TasksSecurityGroup', props.access, 'Shardkeeper recovery tasks: MySQL to fleet nodes, HTTPS to AWS APIs');
    this.tasksFunction = new AppFunction<typeof recoveryTasksEnvSchema>(this, 'Tasks', {
      entry: 'functions/recovery/tasks-handler.ts',
      serviceName: 'recovery-tasks',
      description: 'Runs the steps of the Shardkeeper failover, replica and runbook workflows',
      environment: {
        ...props.catalog.catalogEnvironment(),
        EVENT_BUS_NAME: props.bus.eventBusName,
        AURORA_CLUSTERS: JSON.stringify(props.config.auroraClusters),
        ANTI_FLAP_MINUTES: String(props.config.antiFlapMinutes),
        MAX_CANDIDATE_LAG_SECONDS: String(props.config.maxCandidateLagSeconds),
        CONNECT_TIMEOUT_MS: '2000',
        QUERY_TIMEOUT_MS: '30000',
        NODE_TLS: 'required',
      },
      // An Aurora failover step waits up to two minutes for the new writer.
      timeout: Duration.minutes(3),
      logRetention: props.logRetention,
      vpc: { vpc: props.access.vpc, subnets: props.access.subnets, securityGroups: [securityGroup] },
    });
    trustRdsCertificates(this.tasksFunction);
    props.catalog.grantDataApiAccess(this.tasksFunction);
    grantFleetSecrets(this.tasksFunction, this, props.access.fleet);
    props.bus.grantPutEventsTo(this.tasksFunction);
    if (auroraClusterArns.length > 0) {
      Grant.addToPrincipal({ grantee: this.tasksFunction, actions: ['rds:FailoverDBCluster', 'rds:DescribeDBClusters'], resourceArns: auroraClusterArns });
    }

    // Each machine ends before the shard lock it takes expires, so no lock outlives its recovery unnoticed.
    const { failoverLockMs, runbookLockMs, replicaWatchChecks } = DEFAULT_RECOVERY_POLICY;
    this.failover = this.stateMachine('Failover', props, Duration.millis(failoverLockMs).minus(Duration.minutes(1)), (states) => this.failoverDefinition(states));
    this.replica = this.stateMachine('ReplicaRecovery', props, Duration.minutes(REPLICA_WATCH_INTERVAL.toMinutes() * replicaWatchChecks).plus(Duration.hours(1)), (states) => this.replicaDefinition(states));
    this.runbook = this.stateMachine('Runbook', props, Duration.millis(runbookLockMs), (states) => this.runbookDefinition(states));

    const rule = (ruleId: string, description: string, eventPattern: ReturnType<typeof ruleEventPattern> & { detail?: Record<string, unknown> }, machine: StateMachine) =>
      new Rule(this, ruleId, { eventBus: props.bus, description, eventPattern, targets: [new SfnStateMachine(machine, { retryAttempts: 10, maxEventAge: Duration.hours(1) })] });
    rule('FailoverOnPrimaryDown', 'Fails a shard over when its primary is down', ruleEventPattern(ShardPrimaryDown), this.failover);
    rule('RemoveDownReplica', 'Takes a DOWN replica out of its shard readers', { ...ruleEventPattern(ShardNodeDown), detail: { role: ['replica'] } }, this.replica);
    rule('RestoreRecoveredNode', 'Puts a recovered replica back among its shard readers', ruleEventPattern(ShardNodeRecovered), this.replica);
    rule('RunbookOnQuorumOrSplitBrain', 'Starts the manual runbook and waits for an operator', ruleEventPattern(QuorumLost, SplitBrainSuspected), this.runbook);
    // Its own rule: the report comes from another source than the health findings, and one pattern for both would match either type from either source.
    rule('RunbookOnDataCorruption', 'Starts the data corruption runbook (restore to a point in time) and waits for an operator', ruleEventPattern(DataCorruptionReported), this.runbook);
    notifyOperators(this, 'NotifyOperators', props.bus, props.alerts, recoveryEventContracts, 'Recovery starts, outcomes and approval requests, to the operator topic');
    this.addAlarmsAndWidgets(props.alerts);
  }

  private stateMachine(id: string, props: FailoverWorkflowProps, timeout: Duration, define: (states: Construct) => IChainable): StateMachine {
    // The states of each machine get their own scope, so machines can share state names.
    const states = new Construct(this, `${id}States`);
    const machine = new StateMachine(this, id, {
      definitionBody: DefinitionBody.fromChainable(define(states)),
      timeout,
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, `${id}Logs`, { retention: props.logRetention, logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-${id}` }),
        level: LogLevel.ALL,
        // Execution data holds node endpoints and GTIDs, never credentials.
        includeExecutionData: true,
      },
    });
    const functionId = Stack.of(this).getLogicalId(this.tasksFunction.node.defaultChild as CfnFunction);
    Validations.of(machine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'Step Functions may invoke any version of the recovery task function, and only that function.',
    });
    Validations.of(machine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing accept no resource-level scoping.',
    });
    return machine;
  }

  private task(scope: Construct, id: string, task: RecoveryTaskName, resultPath: string, ...retries: RetryProps[]): LambdaInvoke {
    const invoke = new LambdaInvoke(scope, id, {
      lambdaFunction: this.tasksFunction,
      payload: TaskInput.fromObject({ task, input: JsonPath.entirePayload }),
      payloadResponseOnly: true,
      resultPath,
    });
    for (const retry of [...retries, TRANSIENT_RETRY]) invoke.addRetry(retry);
    return invoke;
  }

  private failoverDefinition(s: Construct): IChainable {
    const recordFailure = this.task(s, 'RecordFailure', RECOVERY_TASKS.failFailover, '$.failure').next(
      new Fail(s, 'FailoverFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }),
    );
    const step = (id: string, task: RecoveryTaskName, resultPath: string, ...retries: RetryProps[]) =>
      this.task(s, id, task, resultPath, ...retries).addCatch(recordFailure, { errors: [Errors.ALL], resultPath: '$.error' });

    const steps = step('PickCandidate', RECOVERY_TASKS.pickCandidate, '$.candidate')
      .next(step('Promote', RECOVERY_TASKS.promote, '$.promotion'))
      .next(step('RepointReplicas', RECOVERY_TASKS.repointReplicas, '$.repoint'))
      .next(step('FenceOldPrimary', RECOVERY_TASKS.fenceOldPrimary, '$.fence'))
      .next(step('UpdateShardMap', RECOVERY_TASKS.updateShardMap, '$.map'))
      .next(step('PostCheckWrite', RECOVERY_TASKS.postCheckWrite, '$.postCheck', POST_CHECK_RETRY))
      .next(step('Complete', RECOVERY_TASKS.completeFailover, '$.completion'))
      .next(new Succeed(s, 'FailedOver'));

    return new Pass(s, 'Describe', { parameters: { recoveryId: JsonPath.stringAt('$$.Execution.Name'), trigger: JsonPath.objectAt('$.detail') } })
      .next(step('PreCheck', RECOVERY_TASKS.failoverPreCheck, '$.preCheck', LOCKED_RETRY))
      .next(
        new Choice(s, 'Proceed?')
          .when(Condition.booleanEquals('$.preCheck.proceed', true), steps)
          .otherwise(new Succeed(s, 'NoFailover', { comment: 'Disabled, anti-flap window, another recovery running, or the primary is back' })),
      );
  }

  private replicaDefinition(s: Construct): IChainable {
    const recordFailure = this.task(s, 'RecordFailure', RECOVERY_TASKS.failReplica, '$.failure').next(
      new Fail(s, 'ReplicaRecoveryFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }),
    );
    const step = (id: string, task: RecoveryTaskName, resultPath: string, ...retries: RetryProps[]) =>
      this.task(s, id, task, resultPath, ...retries).addCatch(recordFailure, { errors: [Errors.ALL], resultPath: '$.error' });
    const done = new Succeed(s, 'Done');

    const restore = step('RestoreReplica', RECOVERY_TASKS.restoreReplica, '$.restore', LOCKED_RETRY, CATCH_UP_RETRY).next(done);
    const wait = new Wait(s, 'WaitForRecovery', { time: WaitTime.duration(REPLICA_WATCH_INTERVAL) });
    wait.next(step('WatchReplica', RECOVERY_TASKS.watchReplica, '$.watch')).next(
      new Choice(s, 'Answers?')
        .when(Condition.booleanEquals('$.watch.answers', true), restore)
        .when(Condition.booleanEquals('$.watch.giveUp', true), new Succeed(s, 'LeftToOperator'))
        .otherwise(wait),
    );
    const remove = step('RemoveReplica', RECOVERY_TASKS.removeReplica, '$.removal', LOCKED_RETRY).next(
      new Choice(s, 'Removed?').when(Condition.stringEquals('$.removal.action', 'removed'), wait).otherwise(done),
    );

    return new Pass(s, 'Describe', {
      parameters: { recoveryId: JsonPath.stringAt('$$.Execution.Name'), detailType: JsonPath.stringAt("$['detail-type']"), trigger: JsonPath.objectAt('$.detail') },
    }).next(
      new Choice(s, 'Event?')
        .when(Condition.stringEquals('$.detailType', ShardNodeDown.detailType), remove)
        .when(Condition.stringEquals('$.detailType', ShardNodeRecovered.detailType), restore)
        .otherwise(new Fail(s, 'UnexpectedEvent', { error: 'UnexpectedEvent', cause: 'the replica workflow handles ShardNodeDown and ShardNodeRecovered only' })),
    );
  }

  private runbookDefinition(s: Construct): IChainable {
    const close = (id: string) => this.task(s, id, RECOVERY_TASKS.closeRunbook, '$.closed');
    const closeFailed = close('CloseAfterFailure').next(new Fail(s, 'RunbookFailed', { errorPath: '$.error.Error', causePath: '$.error.Cause' }));
    const closeRejected = close('CloseAfterRejection').next(new Succeed(s, 'Rejected'));

    const request = new LambdaInvoke(s, 'RequestApproval', {
      lambdaFunction: this.tasksFunction,
      integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: TaskInput.fromObject({ task: RECOVERY_TASKS.requestApproval, input: JsonPath.entirePayload, taskToken: JsonPath.taskToken }),
      resultPath: '$.decision',
      taskTimeout: Timeout.duration(APPROVAL_TIMEOUT),
    })
      .addRetry(TRANSIENT_RETRY)
      .addCatch(closeRejected, { errors: [RECOVERY_REJECTED], resultPath: '$.error' })
      .addCatch(closeFailed, { errors: [Errors.ALL], resultPath: '$.error' });
    const apply = this.task(s, 'ApplyRunbook', RECOVERY_TASKS.applyRunbook, '$.applied').addCatch(closeFailed, { errors: [Errors.ALL], resultPath: '$.error' });

    return new Pass(s, 'Describe', {
      parameters: { recoveryId: JsonPath.stringAt('$$.Execution.Name'), detailType: JsonPath.stringAt("$['detail-type']"), trigger: JsonPath.objectAt('$.detail') },
    })
      .next(this.task(s, 'PreCheck', RECOVERY_TASKS.runbookPreCheck, '$.preCheck').addCatch(closeFailed, { errors: [Errors.ALL], resultPath: '$.error' }))
      .next(
        new Choice(s, 'Proceed?')
          .when(Condition.booleanEquals('$.preCheck.proceed', true), request.next(apply).next(close('CloseApproved')).next(new Succeed(s, 'Applied')))
          .otherwise(new Succeed(s, 'NoAction')),
      );
  }

  private addAlarmsAndWidgets(alerts: OperatorAlerts): void {
    const machines = [
      ['Failover', this.failover, 'A shard failover failed or timed out: the shard may have no writer.'],
      ['ReplicaRecovery', this.replica, 'Removing or restoring a replica failed.'],
      ['Runbook', this.runbook, 'A manual runbook failed or its approval timed out.'],
    ] as const;
    for (const [name, machine, description] of machines) {
      page(
        alerts,
        new Alarm(this, `${name}Failed`, {
          metric: machine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
          alarmDescription: description,
        }),
        new Alarm(this, `${name}TimedOut`, {
          metric: machine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
          alarmDescription: `${description} (timed out)`,
        }),
      );
    }
    alerts.dashboard.addWidgets(
      ...machines.map(
        ([name, machine]) =>
          new GraphWidget({ title: `${name} executions`, left: [machine.metricStarted(), machine.metricSucceeded(), machine.metricFailed(), machine.metricTimedOut()], width: 8 }),
      ),
    );
  }
}
