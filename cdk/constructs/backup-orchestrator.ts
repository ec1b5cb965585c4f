import { ArnFormat, Duration, RemovalPolicy, Stack, TimeZone, Token, Validations } from 'aws-cdk-lib';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Alarm, ComparisonOperator, GraphWidget, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventField, Rule, RuleTargetInput, type IEventBus } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { Grant, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, StorageClass, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke as ScheduleLambdaInvoke, StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Errors,
  Fail,
  JsonPath,
  LogLevel,
  Map as MapState,
  Pass,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
  type IChainable,
  type INextable,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { BACKUP_TASKS, TRANSIENT_BACKUP_ERRORS, type BackupTaskName } from '../../functions/backup/tasks';
import { retentionDays } from '../../functions/core/backup-retention';
import { managedIdentifierOf } from '../../functions/core/backup-snapshot';
import type { RetentionClass } from '../../functions/core/backup-manifest';
import type { backupTasksEnvSchema } from '../../functions/shared/env';
import { BackupFailed, BackupVerificationFailed, ruleEventPattern } from '../../functions/shared/events';
import type { BackupConfig } from '../config';
import { AppFunction } from './app-function';
import { fleetSecurityGroup, grantFleetSecrets, page, type FleetAccess, type OperatorAlerts } from './health-monitor';
import type { ShardCatalog } from './shard-catalog';
import { acknowledgeDistributedMap, grantMapItemsWrite, mapFilesAccess, workflowFilesBucket } from './workflow-files';

export interface BackupOrchestratorProps {
  config: BackupConfig;
  access: FleetAccess;
  catalog: ShardCatalog;
  bus: IEventBus;
  alerts: OperatorAlerts;
  logRetention: RetentionDays;
}

/** Errors that pass by themselves: 5, 10, 20 s. */
const TRANSIENT_RETRY: RetryProps = { errors: [...TRANSIENT_BACKUP_ERRORS], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 3 };
/** Where the per-shard branch keeps its state; the Catch path reads the backup id from there. */
const PATHS = { dump: '$.dump', snapshot: '$.snapshot', outcome: '$.outcome', error: '$.error' } as const;
const STANDARD_IA_AFTER_DAYS = 30;
const COLD_AFTER_DAYS = 90;

/**
 * Scheduled, verified backups of every shard. One state machine runs a backup epoch: it records
 * the epoch, maps over the shards (bounded concurrency; a Distributed Map for large fleets) and
 * per shard, by its kind, dumps it in as many invocations as it takes (self-managed), takes and
 * waits for a tagged snapshot, optionally copied to another region (Aurora, RDS), archives binary
 * logs or records the PITR window (incremental). A failed shard is reported and the run ends
 * failed, which pages operators. Schedules (EventBridge Scheduler, in the configured time zone)
 * start full and incremental runs, the GFS cleanup and the weekly restore test.
 */
export class BackupOrchestrator extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  readonly key: Key;
  readonly tasksFunction: AppFunction<typeof backupTasksEnvSchema>;
  readonly stateMachine: StateMachine;
  /** A Distributed Map's items and results; only with `distributedMap`. */
  readonly workflowFiles?: Bucket;

  constructor(scope: Construct, id: string, props: BackupOrchestratorProps) {
    super(scope, id);
    // Renders the Distributed Map's ResultWriterV2 (older CDK behaviour ignores it); set before any child exists.
    this.node.setContext(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
    const { config } = props;
    this.key = new Key(this, 'BucketKey', { enableKeyRotation: true, description: 'Encrypts Shardkeeper backups', removalPolicy: RemovalPolicy.RETAIN });
    this.accessLogs = new Bucket(this, 'AccessLogs', {
      // Server access logs are delivered with SSE-S3 only.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This bucket receives the backup bucket access logs; logging it into itself would loop.' });

    this.bucket = new Bucket(this, 'Backups', {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'backups/',
      objectLockEnabled: config.objectLock !== undefined,
      objectLockDefaultRetention: config.objectLock
        ? config.objectLock.mode === 'COMPLIANCE'
          ? ObjectLockRetention.compliance(Duration.days(config.objectLock.days))
          : ObjectLockRetention.governance(Duration.days(config.objectLock.days))
        : undefined,
      lifecycleRules: lifecycleRules(config),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    if (config.distributedMap) this.workflowFiles = workflowFilesBucket(this, this.accessLogs, 'workflow-files/');
    this.tasksFunction = this.createTasksFunction(props);
    this.stateMachine = this.createStateMachine(props);
    this.createSchedules(config);
    this.notifyAndAlarm(props);
  }

  private createTasksFunction(props: BackupOrchestratorProps): AppFunction<typeof backupTasksEnvSchema> {
    const { config } = props;
    const securityGroup = fleetSecurityGroup(this, 'TasksSecurityGroup', props.access, 'Shardkeeper backup tasks: MySQL to fleet nodes, HTTPS to S3 and AWS APIs');
    const fn = new AppFunction<typeof backupTasksEnvSchema>(this, 'Tasks', {
      entry: 'functions/backup/tasks-handler.ts',
      serviceName: 'backup-tasks',
      description: 'Runs the steps of the Shardkeeper backup workflow, the GFS cleanup and restore tests',
      environment: {
        ...props.catalog.catalogEnvironment(),
        EVENT_BUS_NAME: props.bus.eventBusName,
        BACKUP_BUCKET: this.bucket.bucketName,
        BACKUP_KMS_KEY_ARN: this.key.keyArn,
        NODE_TLS: 'required',
        DUMP_MODE: config.dumpMode,
        COMPRESSION_LEVEL: String(config.compressionLevel),
        TIME_ZONE: config.timeZone,
        RETENTION_DAILIES: String(config.retention.dailies),
        RETENTION_WEEKLIES: String(config.retention.weeklies),
        RETENTION_MONTHLIES: String(config.retention.monthlies),
        COPY_REGION: config.copyRegion ?? '',
        COPY_KMS_KEY_ARN: config.copyKmsKeyArn ?? '',
        RESTORE_TARGET: config.restoreTarget ? JSON.stringify(config.restoreTarget) : '',
        BACKUP_ITEMS_BUCKET: this.workflowFiles?.bucketName ?? '',
      },
      // A dump step runs until its budget is spent; a restore test loads a whole shard.
      timeout: Duration.minutes(15),
      memorySize: 1024,
      logRetention: props.logRetention,
      vpc: { vpc: props.access.vpc, subnets: props.access.subnets, securityGroups: [securityGroup] },
    });

    props.catalog.grantDataApiAccess(fn);
    this.bucket.grantReadWrite(fn);
    this.bucket.grantDelete(fn);
    if (this.workflowFiles) grantMapItemsWrite(this.workflowFiles, fn);
    grantFleetSecrets(fn, this, props.access.fleet);
    if (config.restoreTarget) {
      const secretArn = config.restoreTarget.secretRef.startsWith('arn:')
        ? config.restoreTarget.secretRef
        : Stack.of(this).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${config.restoreTarget.secretRef}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      Grant.addToPrincipal({ grantee: fn, actions: ['secretsmanager:GetSecretValue'], resourceArns: [secretArn] });
    }
    props.bus.grantPutEventsTo(fn);
    this.grantSnapshots(fn, props);
    Validations.of(fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Action::s3:GetObject*]',
      reason: 'Backups are read whole (verification, restores); the actions are scoped to this bucket.',
    });
    for (const pattern of ['Action::s3:GetBucket*', 'Action::s3:List*', 'Action::s3:DeleteObject*', 'Action::s3:Abort*', 'Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*', `Resource::<${this.logicalId(this.bucket)}.Arn>/*`]) {
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[${pattern}]`,
        reason: 'Read, write and delete of backup objects (retention prunes them) in this one bucket, encrypted with its one key.',
      });
    }
    return fn;
  }

  private logicalId(bucket: Bucket): string {
    return Stack.of(this).getLogicalId(bucket.node.defaultChild as never);
  }

  /** Snapshot calls on the fleet's own clusters and instances only, and on snapshots Shardkeeper names (`sk-*`). */
  private grantSnapshots(fn: AppFunction<typeof backupTasksEnvSchema>, props: BackupOrchestratorProps): void {
    const managed = (props.access.fleet?.shards ?? []).filter((shard) => shard.kind !== 'self-managed').map((shard) => managedIdentifierOf(shard));
    if (managed.length === 0) return;
    const stack = Stack.of(this);
    const rdsArn = (resource: string, name: string, region?: string) => stack.formatArn({ service: 'rds', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME, region });
    const databases = [...new Set(managed.map(({ kind, identifier }) => rdsArn(kind === 'aurora' ? 'cluster' : 'db', identifier)))].sort();
    const regions = [undefined, props.config.copyRegion];
    const snapshots = regions.flatMap((region) => [rdsArn('cluster-snapshot', 'sk-*', region), rdsArn('snapshot', 'sk-*', region)]);
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['rds:CreateDBClusterSnapshot', 'rds:CreateDBSnapshot', 'rds:DescribeDBClusters', 'rds:DescribeDBInstances', 'rds:DescribeDBInstanceAutomatedBackups'],
      resourceArns: databases,
    });
    Grant.addToPrincipal({
      grantee: fn,
      actions: [
        'rds:CreateDBClusterSnapshot',
        'rds:CreateDBSnapshot',
        'rds:AddTagsToResource',
        'rds:DescribeDBClusterSnapshots',
        'rds:DescribeDBSnapshots',
        'rds:CopyDBClusterSnapshot',
        'rds:CopyDBSnapshot',
        'rds:DeleteDBClusterSnapshot',
        'rds:DeleteDBSnapshot',
      ],
      resourceArns: snapshots,
    });
    if (props.config.copyKmsKeyArn) Grant.addToPrincipal({ grantee: fn, actions: ['kms:CreateGrant', 'kms:DescribeKey'], resourceArns: [props.config.copyKmsKeyArn] });
    // cdk-nag names resources as they render: literal region and account when the stack has them.
    const shown = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
    for (const region of [shown(stack.region, 'Region'), ...(props.config.copyRegion ? [props.config.copyRegion] : [])]) {
      for (const resource of ['cluster-snapshot', 'snapshot']) {
        Validations.of(fn.role!).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:${region}:${shown(stack.account, 'AccountId')}:${resource}:sk-*]`,
          reason: 'Snapshot names carry the epoch id, unknown at deploy time; the sk- prefix confines the function to snapshots Shardkeeper creates (and copies).',
        });
      }
    }
  }

  private task(scope: Construct, id: string, task: BackupTaskName, input: Record<string, unknown> | string, resultPath: string): LambdaInvoke {
    const invoke = new LambdaInvoke(scope, id, {
      lambdaFunction: this.tasksFunction,
      payload: TaskInput.fromObject(typeof input === 'string' ? { task, 'input.$': input } : { task, input }),
      payloadResponseOnly: true,
      resultPath,
    });
    invoke.addRetry(TRANSIENT_RETRY);
    return invoke;
  }

  /** The per-shard branch: by shard kind and run kind; every failure goes to FailShard, which reports it. */
  private shardBranch(scope: Construct): IChainable {
    const done = new Pass(scope, 'ShardDone', { outputPath: PATHS.outcome });
    const failShard = this.task(scope, 'FailShard', BACKUP_TASKS.failShard, '$', PATHS.outcome).next(done);
    const guarded = <T extends LambdaInvoke>(state: T) => state.addCatch(failShard, { errors: [Errors.ALL], resultPath: PATHS.error }) as T;
    const shardTask = { 'epochId.$': '$.epochId', 'mapVersion.$': '$.mapVersion', 'kind.$': '$.kind', 'shard.$': '$.shard', 'shardKind.$': '$.shardKind' };

    const continueDump = guarded(this.task(scope, 'ContinueDump', BACKUP_TASKS.continueDump, { 'backupId.$': '$.dump.backupId' }, PATHS.dump));
    const finishDump = guarded(this.task(scope, 'FinishDump', BACKUP_TASKS.finishDump, { 'backupId.$': '$.dump.backupId' }, PATHS.outcome));
    const dump = guarded(this.task(scope, 'StartDump', BACKUP_TASKS.startDump, shardTask, PATHS.dump))
      .next(continueDump)
      .next(new Choice(scope, 'Dumped?').when(Condition.booleanEquals('$.dump.done', true), finishDump.next(done)).otherwise(continueDump));

    const waitForSnapshot = new Wait(scope, 'WaitForSnapshot', { time: WaitTime.secondsPath('$.snapshot.waitSeconds') });
    const pollSnapshot = guarded(this.task(scope, 'PollSnapshot', BACKUP_TASKS.pollSnapshot, { 'backupId.$': '$.snapshot.backupId', 'attempt.$': '$.snapshot.attempt' }, PATHS.snapshot));
    const snapshotDone = new Pass(scope, 'SnapshotDone', { parameters: { 'shard.$': '$.shard', ok: true, 'backupId.$': '$.snapshot.backupId' }, resultPath: PATHS.outcome }).next(done);
    const snapshot = guarded(this.task(scope, 'StartSnapshot', BACKUP_TASKS.startSnapshot, shardTask, PATHS.snapshot))
      .next(waitForSnapshot)
      .next(pollSnapshot)
      .next(new Choice(scope, 'SnapshotAvailable?').when(Condition.stringEquals('$.snapshot.state', 'available'), snapshotDone).otherwise(waitForSnapshot));

    const archive = guarded(this.task(scope, 'ArchiveBinlogs', BACKUP_TASKS.archiveBinlogs, shardTask, PATHS.outcome)).next(done);
    const window = guarded(this.task(scope, 'RecordRestoreWindow', BACKUP_TASKS.recordWindow, shardTask, PATHS.outcome)).next(done);

    const selfManaged = Condition.stringEquals('$.shardKind', 'self-managed');
    const full = Condition.stringEquals('$.kind', 'full');
    return new Choice(scope, 'ShardKind?')
      .when(Condition.and(selfManaged, full), dump)
      .when(selfManaged, archive)
      .when(full, snapshot)
      .otherwise(window);
  }

  private createStateMachine(props: BackupOrchestratorProps): StateMachine {
    const { config } = props;
    const states = new Construct(this, 'States');
    const branch = new Construct(this, 'ShardStates');
    // FinishEpoch reads how each shard ended from the catalog, so the Map keeps no results.
    const mapProps = { maxConcurrency: config.concurrency, resultPath: JsonPath.DISCARD };
    const map: MapState | DistributedMap = this.workflowFiles
      ? // BeginEpoch wrote the shard tasks to S3: a fleet of any size fits, where a state holds 256 KB.
        new DistributedMap(states, 'BackupShards', { ...mapProps, ...mapFilesAccess(this.workflowFiles, JsonPath.stringAt('$.epoch.itemsKey')), mapExecutionType: StateMachineType.STANDARD })
      : new MapState(states, 'BackupShards', { ...mapProps, itemsPath: '$.epoch.tasks' });
    map.itemProcessor(this.shardBranch(branch));

    const finish = this.task(states, 'FinishEpoch', BACKUP_TASKS.finishEpoch, { 'epochId.$': '$.epoch.epochId' }, '$.finished');
    const definition = this.task(states, 'BeginEpoch', BACKUP_TASKS.beginEpoch, '$', '$.epoch')
      .next(map as unknown as INextable & IChainable)
      .next(finish)
      .next(
        new Choice(states, 'AllShardsBackedUp?')
          .when(Condition.stringEquals('$.finished.status', 'succeeded'), new Succeed(states, 'BackedUp'))
          .otherwise(new Fail(states, 'BackupIncomplete', { error: 'BackupEpochIncomplete', cause: 'one or more shards failed; see the BackupFailed events and the catalog' })),
      );

    const machine = new StateMachine(this, 'Workflow', {
      definitionBody: DefinitionBody.fromChainable(definition),
      timeout: Duration.hours(23),
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, 'WorkflowLogs', { retention: props.logRetention, logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-backup` }),
        level: LogLevel.ALL,
      },
    });
    const functionId = Stack.of(this).getLogicalId(this.tasksFunction.node.defaultChild as never);
    Validations.of(machine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'Step Functions may invoke any version of the backup task function, and only that function.',
    });
    Validations.of(machine.role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'Log delivery and X-Ray tracing accept no resource-level scoping.' });
    if (this.workflowFiles) acknowledgeDistributedMap(machine, this.workflowFiles);
    return machine;
  }

  private createSchedules(config: BackupConfig): void {
    const zone = TimeZone.of(config.timeZone);
    // One role for every schedule, so its grants (start this machine, invoke this function) sit in one place.
    const role = new Role(this, 'SchedulerRole', { assumedBy: new ServicePrincipal('scheduler.amazonaws.com'), description: 'Starts Shardkeeper backup runs, cleanups and restore tests' });
    const functionId = Stack.of(this).getLogicalId(this.tasksFunction.node.defaultChild as never);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason: 'The scheduler may invoke any version of the backup task function, and only that function.',
    });
    const run = (id: string, expression: string, kind: 'full' | 'incremental', description: string) =>
      new Schedule(this, id, {
        schedule: ScheduleExpression.expression(expression, zone),
        target: new StepFunctionsStartExecution(this.stateMachine, { input: ScheduleTargetInput.fromObject({ kind, requestedBy: 'schedule' }), retryAttempts: 3, role }),
        description,
      });
    run('FullBackupSchedule', config.schedules.full, 'full', 'Full backup of every shard (dumps and snapshots)');
    run('IncrementalBackupSchedule', config.schedules.incremental, 'incremental', 'Binary logs of self-managed shards, PITR windows of managed ones');
    const invoke = (id: string, expression: string, task: BackupTaskName, description: string) =>
      new Schedule(this, id, {
        schedule: ScheduleExpression.expression(expression, zone),
        target: new ScheduleLambdaInvoke(this.tasksFunction, { input: ScheduleTargetInput.fromObject({ task }), retryAttempts: 2, role }),
        description,
      });
    invoke('CleanupSchedule', config.schedules.cleanup, BACKUP_TASKS.prune, 'GFS retention: expire backups in the catalog, then delete their objects and snapshots');
    invoke('RestoreTestSchedule', config.schedules.restoreTest, BACKUP_TASKS.restoreTest, 'Restore the least recently verified shard into a scratch database and compare it with its manifest');
  }

  private notifyAndAlarm(props: BackupOrchestratorProps): void {
    const { alerts } = props;
    const role = new Role(this, 'NotifyRole', { assumedBy: new ServicePrincipal('events.amazonaws.com'), description: 'Publishes backup failures to the operator topic' });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: "SNS encrypts each message with a data key of the topic's KMS key; the grant names that one key.",
    });
    const message = RuleTargetInput.fromText(
      `${EventField.detailType} on shard ${EventField.fromPath('$.detail.shard')} (backup ${EventField.fromPath('$.detail.backupId')}): ${EventField.fromPath('$.detail.error')}${EventField.fromPath('$.detail.problems')}`,
    );
    new Rule(this, 'NotifyOnFailure', {
      eventBus: props.bus,
      description: 'Backup failures and failed verifications, to the operator topic',
      eventPattern: ruleEventPattern(BackupFailed, BackupVerificationFailed),
      targets: [new SnsTopic(alerts.topic, { message, role })],
    });

    const alarm = (id: string, metric: ReturnType<StateMachine['metricFailed']>, description: string) =>
      new Alarm(this, id, { metric, threshold: 0, comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD, evaluationPeriods: 1, treatMissingData: TreatMissingData.NOT_BREACHING, alarmDescription: description });
    page(
      alerts,
      alarm('WorkflowFailed', this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }), 'A backup run failed: at least one shard has no backup of this epoch.'),
      alarm('WorkflowTimedOut', this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }), 'A backup run timed out.'),
      alarm('TasksErrors', this.tasksFunction.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' }), 'Backup tasks (cleanup, restore tests, workflow steps) raised errors.'),
    );
    alerts.dashboard.addWidgets(
      new GraphWidget({
        title: 'Backup runs',
        left: [this.stateMachine.metricStarted(), this.stateMachine.metricSucceeded(), this.stateMachine.metricFailed(), this.stateMachine.metricTimedOut()],
        width: 12,
      }),
      new GraphWidget({ title: 'Backup tasks', left: [this.tasksFunction.metricInvocations(), this.tasksFunction.metricErrors(), this.tasksFunction.metricDuration()], width: 12 }),
    );
  }
}

/**
 * Lifecycle by retention class (the `sk-retention` tag every backup object carries): S3 expires a
 * class only after the catalog has stopped offering it (see retentionDays), and moves monthlies
 * to Standard-IA after 30 days and to the cold class after 90.
 */
export function lifecycleRules(config: Pick<BackupConfig, 'retention' | 'coldStorageClass'>): LifecycleRule[] {
  const cold = { GLACIER_IR: StorageClass.GLACIER_INSTANT_RETRIEVAL, GLACIER: StorageClass.GLACIER, DEEP_ARCHIVE: StorageClass.DEEP_ARCHIVE }[config.coldStorageClass];
  const byClass = (retentionClass: RetentionClass): LifecycleRule => {
    const days = retentionDays(retentionClass, config.retention);
    const transitions = [
      { storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(STANDARD_IA_AFTER_DAYS) },
      { storageClass: cold, transitionAfter: Duration.days(COLD_AFTER_DAYS) },
    ].filter((transition) => transition.transitionAfter.toDays() < days);
    return { id: `${retentionClass}-backups`, tagFilters: { 'sk-retention': retentionClass }, expiration: Duration.days(days), transitions };
  };
  return [
    byClass('daily'),
    byClass('weekly'),
    byClass('monthly'),
    { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    { id: 'old-versions', noncurrentVersionExpiration: Duration.days(7), expiredObjectDeleteMarker: true },
  ];
}
