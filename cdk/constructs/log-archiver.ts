import { Duration, RemovalPolicy, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { Alarm, ComparisonOperator, GraphWidget, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, StorageClass } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Errors,
  Fail,
  JsonPath,
  LogLevel,
  Map as InlineMap,
  Pass,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
  type IChainable,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { ArchiveSettings } from '../../functions/archive/archive-config';
import type { archiveFailureEnvSchema, archivePlanEnvSchema, archiveSummaryEnvSchema, archiveWorkerEnvSchema } from '../../functions/shared/env';
import { ArchiveFailed } from '../../functions/shared/events';
import { ConfigError } from '../../functions/shared/errors';
import type { ArchiveConfig } from '../config';
import { AppFunction, METRICS_NAMESPACE } from './app-function';
import { fleetSecurityGroup, grantFleetSecrets, notifyOperators, page, trustRdsCertificates, type FleetAccess, type OperatorAlerts } from './health-monitor';
import type { ShardCatalog } from './shard-catalog';
import { acknowledgeDistributedMap, grantMapItemsWrite, mapFilesAccess, workflowFilesBucket } from './workflow-files';

export interface LogArchiverProps {
  config: ArchiveConfig;
  access: FleetAccess;
  catalog: ShardCatalog;
  bus: IEventBus;
  alerts: OperatorAlerts;
  logRetention: RetentionDays;
  /** Stack prefix: names the Glue database and the Athena workgroup. */
  namePrefix: string;
}

const ARCHIVE_SERVICE = 'archive';
/** The Glue table every archived table is queried through, by its `table` partition. */
const ARCHIVED_ROWS_TABLE = 'archived_rows';
/** Errors a retry cannot fix: a config the live schema refuses, an integrity problem, rows changing under the archiver. */
const PERMANENT_ARCHIVE_ERRORS = ['ValidationError', 'ConfigError', 'ArchiveIntegrity', 'Conflict', 'NotFound', 'NoShardMap'] as const;
/** Lambda's environment holds at most 4 KB in all; the settings must leave room for the rest. */
const MAX_SETTINGS_BYTES = 3_000;

/**
 * Archiving old rows to S3: the archive bucket with its storage tiers, the Glue table and Athena
 * workgroup to query it, and the daily workflow (Plan → Map over (table, shard) → an Archive
 * loop that resumes from the catalog's cursor, pausing in Wait states for throttles and
 * blackouts) with its functions, schedules, alarms and operator notifications.
 */
export class LogArchiver extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  readonly queryResults: Bucket;
  /** A Distributed Map's items and results; only with `distributedMap`. */
  readonly workflowFiles?: Bucket;
  readonly planFunction: AppFunction<typeof archivePlanEnvSchema>;
  readonly workerFunction: AppFunction<typeof archiveWorkerEnvSchema>;
  readonly failureFunction: AppFunction<typeof archiveFailureEnvSchema>;
  readonly summaryFunction: AppFunction<typeof archiveSummaryEnvSchema>;
  readonly stateMachine: StateMachine;
  readonly schedules: Schedule[];
  readonly glueDatabaseName: string;
  readonly workGroupName: string;

  constructor(scope: Construct, id: string, props: LogArchiverProps) {
    super(scope, id);
    // Renders the Distributed Map's ResultWriterV2 (older CDK behaviour ignores it); set before any child exists.
    this.node.setContext(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
    const { config } = props;
    const settings: ArchiveSettings = { tables: config.tables, blackouts: config.blackouts };
    const settingsJson = JSON.stringify(settings);
    if (Buffer.byteLength(settingsJson) > MAX_SETTINGS_BYTES) {
      throw new ConfigError(`archive.tables and archive.blackouts take ${Buffer.byteLength(settingsJson)} bytes as JSON; Lambda environments hold 4 KB, so keep them under ${MAX_SETTINGS_BYTES}`);
    }

    this.accessLogs = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This bucket receives the server access logs of the archive buckets; logging it into itself would log every log delivery.' });

    const { lifecycle } = config;
    this.bucket = new Bucket(this, 'ArchiveBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'archive/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'StorageTiers',
          transitions: [
            { storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(lifecycle.infrequentAccessDays) },
            { storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(lifecycle.glacierInstantRetrievalDays) },
            { storageClass: StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(lifecycle.deepArchiveDays) },
          ],
          ...(lifecycle.expireDays === undefined ? {} : { expiration: Duration.days(lifecycle.expireDays) }),
          // An abandoned batch's object is deleted; its old version need not be kept for long.
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    this.queryResults = new Bucket(this, 'QueryResults', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'athena-results/',
      lifecycleRules: [{ id: 'ExpireQueryResults', expiration: Duration.days(30), noncurrentVersionExpiration: Duration.days(1) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    const names = this.createQueryAccess(props);
    this.glueDatabaseName = names.database;
    this.workGroupName = names.workGroup;

    if (config.distributedMap) this.workflowFiles = workflowFilesBucket(this, this.accessLogs, 'workflow-files/');

    const environment = { ...props.catalog.catalogEnvironment(), ARCHIVE_SETTINGS: settingsJson };
    this.planFunction = new AppFunction<typeof archivePlanEnvSchema>(this, 'PlanFunction', {
      entry: 'functions/archive/plan-handler.ts',
      serviceName: ARCHIVE_SERVICE,
      description: 'Plans an archive run: one item per configured table and shard',
      environment: { ...environment, ARCHIVE_ITEMS_BUCKET: this.workflowFiles?.bucketName ?? '' },
      logRetention: props.logRetention,
    });
    props.catalog.grantDataApiAccess(this.planFunction, 'read');
    if (this.workflowFiles) grantMapItemsWrite(this.workflowFiles, this.planFunction);

    this.summaryFunction = new AppFunction<typeof archiveSummaryEnvSchema>(this, 'SummaryFunction', {
      entry: 'functions/archive/summary-handler.ts',
      serviceName: ARCHIVE_SERVICE,
      description: 'Summarizes an archive run from the catalog: how each table and shard ended',
      environment: props.catalog.catalogEnvironment(),
      logRetention: props.logRetention,
    });
    props.catalog.grantDataApiAccess(this.summaryFunction, 'read');

    const sliceTimeout = Duration.minutes(config.sliceMinutes);
    const securityGroup = fleetSecurityGroup(this, 'WorkerSecurityGroup', props.access, 'Shardkeeper archive: MySQL to fleet nodes, HTTPS to AWS APIs and S3');
    this.workerFunction = new AppFunction<typeof archiveWorkerEnvSchema>(this, 'WorkerFunction', {
      entry: 'functions/archive/slice-handler.ts',
      serviceName: ARCHIVE_SERVICE,
      description: 'Archives batches of one table on one shard to S3, exactly once, until its time budget is spent',
      environment: {
        ...environment,
        ARCHIVE_BUCKET: this.bucket.bucketName,
        EVENT_BUS_NAME: props.bus.eventBusName,
        NODE_TLS: 'required',
        CONNECT_TIMEOUT_MS: '5000',
        // One batch of 10,000 rows takes seconds; a minute leaves room for the slowest.
        SLICE_MARGIN_MS: String(Math.min(60_000, sliceTimeout.toMilliseconds() / 4)),
      },
      // Batches are built and compressed in memory.
      memorySize: 1024,
      timeout: sliceTimeout,
      logRetention: props.logRetention,
      vpc: { vpc: props.access.vpc, subnets: props.access.subnets, securityGroups: [securityGroup] },
    });
    trustRdsCertificates(this.workerFunction);
    // A small young generation keeps the peak RSS of batch after batch of rows near the live data (bench:archive).
    this.workerFunction.addEnvironment('NODE_OPTIONS', '--enable-source-maps --max-semi-space-size=4');
    props.catalog.grantDataApiAccess(this.workerFunction, 'write');
    grantFleetSecrets(this.workerFunction, this, props.access.fleet);
    props.bus.grantPutEventsTo(this.workerFunction);
    // Objects only under the Hive-style prefix; listing lets a missing object read as 404 rather than 403.
    Grant.addToPrincipal({ grantee: this.workerFunction, actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], resourceArns: [this.bucket.arnForObjects('table=*')] });
    Grant.addToPrincipal({ grantee: this.workerFunction, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
    Validations.of(this.workerFunction.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as never)}.Arn>/table=*]`,
      reason: 'Object names are table=…/shard=…/dt=…/<batch>, known only when a batch is read; the grant is limited to that prefix of the archive bucket.',
    });

    this.failureFunction = new AppFunction<typeof archiveFailureEnvSchema>(this, 'FailureFunction', {
      entry: 'functions/archive/failure-handler.ts',
      serviceName: ARCHIVE_SERVICE,
      description: 'Records an archive run that failed for good and publishes ArchiveFailed',
      environment: { ...props.catalog.catalogEnvironment(), EVENT_BUS_NAME: props.bus.eventBusName },
      logRetention: props.logRetention,
    });
    props.catalog.grantDataApiAccess(this.failureFunction, 'write');
    props.bus.grantPutEventsTo(this.failureFunction);

    const states = new Construct(this, 'States');
    this.stateMachine = new StateMachine(this, 'Workflow', {
      definitionBody: DefinitionBody.fromChainable(this.definition(states, config)),
      // Long enough to wait out a blackout of a few days; a later run finds the tables it still holds busy.
      timeout: Duration.days(7),
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, 'WorkflowLogs', { retention: props.logRetention, logGroupName: `/aws/vendedlogs/states/${Stack.of(this).stackName}-Archive` }),
        level: LogLevel.ALL,
        // Execution data holds table and shard names, counts and cursors, never credentials or rows.
        includeExecutionData: true,
      },
    });
    for (const fn of [this.planFunction, this.workerFunction, this.failureFunction, this.summaryFunction]) {
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn.node.defaultChild as CfnFunction)}.Arn>:*]`,
        reason: 'Step Functions may invoke any version of the archive functions, and only those functions.',
      });
    }
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing accept no resource-level scoping.',
    });
    if (this.workflowFiles) acknowledgeDistributedMap(this.stateMachine, this.workflowFiles);

    this.schedules = this.createSchedules(config);
    notifyOperators(this, 'NotifyOnFailure', props.bus, props.alerts, [ArchiveFailed], 'Archive runs that failed for good, to the operator topic');
    this.addAlarmsAndWidgets(props.alerts);
  }

  private definition(s: Construct, config: ArchiveConfig): IChainable {
    const plan = new LambdaInvoke(s, 'Plan', {
      lambdaFunction: this.planFunction,
      payload: TaskInput.fromObject({ runId: JsonPath.stringAt('$$.Execution.Name'), startedAt: JsonPath.stringAt('$$.Execution.StartTime'), input: JsonPath.entirePayload }),
      payloadResponseOnly: true,
      resultPath: '$.plan',
    }).addRetry({ errors: [...PERMANENT_ARCHIVE_ERRORS], maxAttempts: 0 });
    plan.addRetry({ errors: [Errors.ALL], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 4 });

    const reportFailure = new LambdaInvoke(s, 'ReportFailure', {
      lambdaFunction: this.failureFunction,
      payload: TaskInput.fromObject({
        table: JsonPath.stringAt('$.table'),
        shard: JsonPath.stringAt('$.shard'),
        runId: JsonPath.stringAt('$.runId'),
        cutoff: JsonPath.numberAt('$.cutoff'),
        error: JsonPath.objectAt('$.error'),
      }),
      payloadResponseOnly: true,
    });
    reportFailure.addRetry({ errors: [Errors.ALL], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 5 });

    const archive = new LambdaInvoke(s, 'Archive', {
      lambdaFunction: this.workerFunction,
      payload: TaskInput.fromObject({
        table: JsonPath.stringAt('$.table'),
        shard: JsonPath.stringAt('$.shard'),
        runId: JsonPath.stringAt('$.runId'),
        cutoff: JsonPath.numberAt('$.cutoff'),
      }),
      payloadResponseOnly: true,
    });
    archive.addRetry({ errors: [...PERMANENT_ARCHIVE_ERRORS], maxAttempts: 0 });
    // Everything else passes: a shard failing over, S3 throttling, the catalog resuming, a timed-out invocation.
    archive.addRetry({ errors: [Errors.ALL], interval: Duration.seconds(10), backoffRate: 2, maxAttempts: 5 });
    archive.addCatch(reportFailure, { errors: [Errors.ALL], resultPath: '$.error' });

    const itemDone = new Pass(s, 'ItemDone', {
      parameters: {
        table: JsonPath.stringAt('$.table'),
        shard: JsonPath.stringAt('$.shard'),
        runId: JsonPath.stringAt('$.runId'),
        outcome: JsonPath.stringAt('$.status'),
        rows: JsonPath.numberAt('$.runRows'),
      },
    });
    const loop = archive.next(
      new Choice(s, 'Status')
        .when(Condition.stringEquals('$.status', 'more'), archive)
        .when(Condition.stringEquals('$.status', 'throttled'), new Wait(s, 'WaitWhileThrottled', { time: WaitTime.secondsPath('$.waitSeconds') }).next(archive))
        .when(Condition.stringEquals('$.status', 'blackout'), new Wait(s, 'WaitOutBlackout', { time: WaitTime.timestampPath('$.resumeAt') }).next(archive))
        .otherwise(itemDone),
    );

    // How items ended is read back from the catalog (Summarize), so no Map result has to fit in the state.
    const map = config.distributedMap
      ? new DistributedMap(s, 'ArchiveItems', {
          // Plan wrote the items to S3: a fleet of any size fits, where a state holds 256 KB.
          ...mapFilesAccess(this.workflowFiles!, JsonPath.stringAt('$.plan.itemsKey')),
          maxConcurrency: config.concurrency,
          resultPath: JsonPath.DISCARD,
          mapExecutionType: StateMachineType.STANDARD,
        }).itemProcessor(loop)
      : new InlineMap(s, 'ArchiveItems', { itemsPath: '$.plan.items', maxConcurrency: config.concurrency, resultPath: JsonPath.DISCARD }).itemProcessor(loop);

    const done = new Succeed(s, 'Archived');
    const summarize = new LambdaInvoke(s, 'Summarize', {
      lambdaFunction: this.summaryFunction,
      payload: TaskInput.fromObject({ runId: JsonPath.stringAt('$.plan.runId'), planned: JsonPath.numberAt('$.plan.count') }),
      payloadResponseOnly: true,
      resultPath: '$.summary',
    });
    summarize.addRetry({ errors: [Errors.ALL], interval: Duration.seconds(5), backoffRate: 2, maxAttempts: 5 });
    summarize.next(
      new Choice(s, 'AnyFailed?')
        .when(
          Condition.booleanEquals('$.summary.anyFailed', true),
          new Fail(s, 'ArchiveFailed', { error: 'ArchiveFailed', cause: 'one or more (table, shard) items failed; see their ArchiveFailed events' }),
        )
        .otherwise(done),
    );
    return plan.next(
      new Choice(s, 'AnythingToArchive?')
        .when(Condition.numberGreaterThan('$.plan.count', 0), map.next(summarize))
        .otherwise(new Succeed(s, 'NothingToArchive')),
    );
  }

  /** One schedule per distinct expression, starting the workflow for the tables that share it. */
  private createSchedules(config: ArchiveConfig): Schedule[] {
    const bySchedule = new Map<string, string[]>();
    for (const table of config.tables) bySchedule.set(table.schedule, [...(bySchedule.get(table.schedule) ?? []), table.table]);
    return [...bySchedule.entries()].map(
      ([expression, tables], index) =>
        new Schedule(this, `Schedule${index}`, {
          schedule: ScheduleExpression.expression(expression, TimeZone.ETC_UTC),
          description: `Archives ${tables.join(', ')}`,
          target: new StepFunctionsStartExecution(this.stateMachine, { input: ScheduleTargetInput.fromObject({ tables }), retryAttempts: 3, maxEventAge: Duration.hours(6) }),
        }),
    );
  }

  /** Glue database and table (partition projection, no crawler) and the Athena workgroup with encrypted results. */
  private createQueryAccess(props: LogArchiverProps): { database: string; workGroup: string } {
    const stack = Stack.of(this);
    const database = `${props.namePrefix.toLowerCase()}_archive`;
    const glueDatabase = new CfnDatabase(this, 'GlueDatabase', {
      catalogId: stack.account,
      databaseInput: { name: database, description: 'Shardkeeper: rows archived from the shards' },
    });
    const shards = props.access.fleet?.shards.map((shard) => shard.name);
    const table = new CfnTable(this, 'ArchivedRowsTable', {
      catalogId: stack.account,
      databaseName: database,
      tableInput: {
        name: ARCHIVED_ROWS_TABLE,
        description: 'One row per archived row: `line` is its JSON; query with json_extract_scalar(line, \'$.column\')',
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [
          { name: 'table', type: 'string', comment: 'archived table' },
          { name: 'shard', type: 'string', comment: 'shard it came from' },
          { name: 'dt', type: 'string', comment: 'day of its time column, YYYY-MM-DD' },
        ],
        parameters: {
          classification: 'json',
          'projection.enabled': 'true',
          // Every query names its table; shards come from the fleet config when known.
          'projection.table.type': 'injected',
          ...(shards ? { 'projection.shard.type': 'enum', 'projection.shard.values': shards.join(',') } : { 'projection.shard.type': 'injected' }),
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2000-01-01,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': `s3://${this.bucket.bucketName}/table=\${table}/shard=\${shard}/dt=\${dt}/`,
        },
        storageDescriptor: {
          // Whole JSON lines as text: one table serves every archived table, whatever its columns.
          columns: [{ name: 'line', type: 'string', comment: 'the archived row as a JSON object' }],
          location: `s3://${this.bucket.bucketName}/`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe', parameters: { 'field.delim': '\u0001', 'serialization.format': '\u0001' } },
        },
      },
    });
    table.addResourceDependency(glueDatabase);

    const workGroup = `${props.namePrefix}-archive`;
    new CfnWorkGroup(this, 'WorkGroup', {
      name: workGroup,
      description: 'Queries over the Shardkeeper archive',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: { outputLocation: `s3://${this.queryResults.bucketName}/`, encryptionConfiguration: { encryptionOption: 'SSE_S3' } },
      },
    });
    return { database, workGroup };
  }

  private addAlarmsAndWidgets(alerts: OperatorAlerts): void {
    page(
      alerts,
      new Alarm(this, 'RunFailedAlarm', {
        metric: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: 'An archive run ended with at least one (table, shard) failed; rows archived so far are safe, the rest stayed on the shard.',
      }),
    );
    const metric = (metricName: string, statistic: string) =>
      new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: ARCHIVE_SERVICE }, statistic, period: Duration.minutes(5) });
    alerts.dashboard.addWidgets(
      new GraphWidget({ title: 'Archived rows', left: [metric('ArchivedRows', 'Sum')], right: [metric('ArchiveRowsPerSecond', 'Average')], width: 8 }),
      new GraphWidget({ title: 'Archive waits', left: [metric('ArchiveThrottleWaits', 'Sum'), metric('ArchiveBlackoutWaits', 'Sum'), metric('ArchiveFailures', 'Sum')], width: 8 }),
      new GraphWidget({
        title: 'Archive workflow',
        left: [this.stateMachine.metricStarted(), this.stateMachine.metricSucceeded(), this.stateMachine.metricFailed()],
        right: [this.workerFunction.metricDuration({ statistic: 'Maximum' })],
        width: 8,
      }),
    );
  }
}
