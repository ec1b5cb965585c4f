import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';
import { expectWorkflowFiles, s3Grants } from './workflow-files';

const demo = cdkJson.context.shardkeeper;
const archive = {
  tables: [
    { table: 'game_logs', timeColumn: 'created_at' },
    { table: 'chat_messages', timeColumn: 'sent_at', retentionDays: 30 },
    { table: 'telemetry', timeColumn: 'at', layout: 'daily-tables', schedule: 'cron(30 4 * * ? *)' },
  ],
  blackouts: [{ weekly: { days: ['sat'], from: '18:00', to: '23:00' }, reason: 'weekend raids' }],
  lifecycle: { expireDays: 3650 },
};
const outdirs: string[] = [];

function synth(config: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'sk-archive-infra-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildApp(app, parseConfig(config, 'test'));
  return { app, stacks, template: () => Template.fromStack(stacks.archive) };
}

/** Every unacknowledged cdk-nag finding of the whole app, as `rule at path`. */
function nagFindings(config: Record<string, unknown>): string[] {
  const { app } = synth(config);
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  const reportFile = join(app.outdir, 'validation-report.json');
  const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as { pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[] }) : { pluginReports: [] };
  const found = report.pluginReports.flatMap((plugin) => plugin.violations.flatMap((violation) => violation.violatingConstructs.map((construct) => `${violation.ruleName} at ${construct.constructPath}`)));
  if (synthError && found.length === 0) throw synthError;
  return found;
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

describe('the archive stack', () => {
  let template: Template;
  let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;

  beforeAll(() => {
    template = synth({ ...demo, archive }).template();
    resources = template.toJSON().Resources;
  });

  const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
  const bucketId = (prefix: string) => ofType('AWS::S3::Bucket').find(([id]) => id.startsWith(prefix))![0];

  it('moves archive objects down the storage tiers: Standard-IA at 30 days, Glacier IR at 90, Deep Archive at 365, expiry as configured', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'StorageTiers',
            Status: 'Enabled',
            Transitions: [
              { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
              { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
              { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 365 },
            ],
            ExpirationInDays: 3650,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          }),
        ]),
      },
    });
  });

  it('keeps the archive bucket encrypted, versioned, private and logged, and refuses requests without TLS', () => {
    const archiveBucket = bucketId('ArchiveArchiveBucket');
    expect(resources[archiveBucket]!.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: { Ref: bucketId('ArchiveAccessLogs') }, LogFilePrefix: 'archive/' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: archiveBucket },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('declares the Glue table partitioned by table, shard and dt with partition projection over the bucket', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: 'archived_rows',
        PartitionKeys: [
          { Name: 'table', Type: 'string', Comment: Match.anyValue() },
          { Name: 'shard', Type: 'string', Comment: Match.anyValue() },
          { Name: 'dt', Type: 'string', Comment: Match.anyValue() },
        ],
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.table.type': 'injected',
          'projection.shard.type': 'enum',
          'projection.shard.values': '-40,40-80,80-c0,c0-',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'storage.location.template': { 'Fn::Join': ['', ['s3://', { Ref: bucketId('ArchiveArchiveBucket') }, '/table=${table}/shard=${shard}/dt=${dt}/']] },
        }),
        StorageDescriptor: Match.objectLike({ Columns: [{ Name: 'line', Type: 'string', Comment: Match.anyValue() }] }),
      }),
    });
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'shardkeeper_archive' } });
  });

  it('gives Athena a workgroup whose results are encrypted and enforced', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'Shardkeeper-archive',
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: { OutputLocation: Match.anyValue(), EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      }),
    });
  });

  it('schedules the workflow daily per distinct schedule, in UTC, with the tables that share it', () => {
    const schedules = ofType('AWS::Scheduler::Schedule').map(([, schedule]) => schedule.Properties);
    expect(schedules.map((schedule) => [schedule.ScheduleExpression, schedule.ScheduleExpressionTimezone, JSON.parse(String((schedule.Target as { Input: string }).Input))])).toEqual([
      ['cron(0 3 * * ? *)', 'Etc/UTC', { tables: ['game_logs', 'chat_messages'] }],
      ['cron(30 4 * * ? *)', 'Etc/UTC', { tables: ['telemetry'] }],
    ]);
  });

  it('maps over the items with bounded concurrency, retries transient errors, never permanent ones, and reports failures', () => {
    const definition = workflowDefinition(template);
    const map = definition.States.ArchiveItems;
    expect(map).toMatchObject({ Type: 'Map', MaxConcurrency: 4, ItemsPath: '$.plan.items', ResultPath: null, ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' } } });
    expect(definition.States['AnythingToArchive?']).toMatchObject({ Choices: [{ Variable: '$.plan.count', NumericGreaterThan: 0, Next: 'ArchiveItems' }] });
    // How the items ended comes from the catalog, so the Map keeps no results in the state.
    expect(definition.States.Summarize).toMatchObject({
      Type: 'Task',
      Parameters: { 'runId.$': '$.plan.runId', 'planned.$': '$.plan.count' },
      ResultPath: '$.summary',
      Retry: [expect.anything(), expect.objectContaining({ ErrorEquals: ['States.ALL'], MaxAttempts: 5 })],
    });
    expect(definition.States['AnyFailed?']).toMatchObject({ Choices: [{ Variable: '$.summary.anyFailed', BooleanEquals: true, Next: 'ArchiveFailed' }] });
    expect(ofType('AWS::S3::Bucket').some(([id]) => id.includes('WorkflowFiles'))).toBe(false);
    const archiveState = map.ItemProcessor.States.Archive;
    expect(archiveState.Retry[1]).toEqual({ ErrorEquals: ['ValidationError', 'ConfigError', 'ArchiveIntegrity', 'Conflict', 'NotFound', 'NoShardMap'], MaxAttempts: 0 });
    expect(archiveState.Retry[2]).toMatchObject({ ErrorEquals: ['States.ALL'], MaxAttempts: 5, BackoffRate: 2 });
    expect(archiveState.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReportFailure' }]);
    expect(map.ItemProcessor.States.WaitWhileThrottled).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Archive' });
    expect(map.ItemProcessor.States.WaitOutBlackout).toMatchObject({ Type: 'Wait', TimestampPath: '$.resumeAt', Next: 'Archive' });
    expect(definition.States.ArchiveFailed).toMatchObject({ Type: 'Fail', Error: 'ArchiveFailed' });
  });

  it('runs a Distributed Map of standard child executions for large fleets, reading items from and writing results to S3', () => {
    const distributed = synth({ ...demo, archive: { ...archive, distributedMap: true, concurrency: 50 } }).template();
    const map = workflowDefinition(distributed).States.ArchiveItems as unknown as Record<string, unknown>;
    expect(map).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 50,
      ResultPath: null,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ItemReader: { ReaderConfig: { InputType: 'JSON' }, Parameters: { 'Key.$': '$.plan.itemsKey' } },
      ResultWriter: { Parameters: { Prefix: 'results' } },
    });
    expect(map).not.toHaveProperty('ItemsPath');
    // No fleet is too large for a state's 256 KB; the workflow's grants never reach the archived rows.
    expectWorkflowFiles(distributed, {
      bucketPrefix: 'ArchiveWorkflowFiles',
      envVar: 'ARCHIVE_ITEMS_BUCKET',
      plannerRole: 'ArchivePlanFunctionRole',
      machineRole: 'ArchiveWorkflowRole',
      dataBucketPrefix: 'ArchiveArchiveBucket',
    });
    // Plan touches S3 nowhere else.
    expect(s3Grants(distributed, 'ArchivePlanFunctionRole')).toHaveLength(1);
  });

  it('pages operators when a run fails and sends every ArchiveFailed event to their topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Threshold: 0,
      AlarmActions: [Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('AlarmTopic') })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['shardkeeper.archive'], 'detail-type': ['ArchiveFailed'] },
      Targets: [Match.objectLike({ Arn: Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('AlarmTopic') }) })],
    });
  });

  it('gives each function only what it needs', () => {
    const statements = (prefix: string) =>
      ofType('AWS::IAM::Policy')
        .filter(([id]) => id.startsWith(prefix))
        .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement)
        .map((statement) => ({ actions: [statement.Action].flat().sort(), resource: JSON.stringify(statement.Resource) }));

    const worker = statements('ArchiveWorkerFunctionRole');
    const actions = worker.flatMap((statement) => statement.actions);
    expect(new Set(actions)).toEqual(
      new Set([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
        'secretsmanager:GetSecretValue',
        'rds-data:BeginTransaction',
        'rds-data:CommitTransaction',
        'rds-data:ExecuteStatement',
        'rds-data:RollbackTransaction',
        'events:PutEvents',
        's3:DeleteObject',
        's3:GetObject',
        's3:PutObject',
        's3:ListBucket',
      ]),
    );
    const objectStatement = worker.find((statement) => statement.actions.includes('s3:PutObject'))!;
    expect(objectStatement.resource).toMatch(/ArchiveArchiveBucket.*\/table=\*/);
    expect(worker.filter((statement) => statement.resource === '"*"').flatMap((statement) => statement.actions).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(worker.filter((statement) => statement.actions.includes('secretsmanager:GetSecretValue')).map((statement) => statement.resource).join(' ')).toMatch(/secret:shardkeeper\/shard-00-40-AbCdEf/);

    const plan = statements('ArchivePlanFunctionRole').flatMap((statement) => statement.actions);
    expect(plan).not.toContain('rds-data:BeginTransaction');
    expect(plan.filter((action) => action.startsWith('s3:') || action.startsWith('events:'))).toEqual([]);
    const summary = statements('ArchiveSummaryFunctionRole').flatMap((statement) => statement.actions);
    expect(summary.filter((action) => !/^(logs|xray):/.test(action)).sort()).toEqual(['rds-data:ExecuteStatement', 'secretsmanager:GetSecretValue']);
    const failure = statements('ArchiveFailureFunctionRole').flatMap((statement) => statement.actions);
    expect(failure.filter((action) => !/^(logs|xray|rds-data):/.test(action) && !['secretsmanager:GetSecretValue', 'events:PutEvents'].includes(action))).toEqual([]);
  });

  it('refuses table settings too large for a Lambda environment', () => {
    const many = Array.from({ length: 40 }, (_, index) => ({ table: `table_with_a_long_name_${index}`, timeColumn: 'created_at_with_a_long_name' }));
    expect(() => synth({ ...demo, archive: { tables: many } })).toThrow(/Lambda environments hold 4 KB/);
  });
});

describe('cdk-nag on the app with archiving configured', () => {
  it('finds nothing unacknowledged with the demo fleet and an inline Map', () => {
    expect(nagFindings({ ...demo, archive })).toEqual([]);
  });

  it('finds nothing unacknowledged with a Distributed Map and no fleet or account in the config', () => {
    const { env: _env, fleet: _fleet, ...bare } = demo;
    expect(nagFindings({ ...bare, archive: { ...archive, distributedMap: true } })).toEqual([]);
  });
});

interface Definition {
  States: Record<string, Record<string, unknown>> & {
    ArchiveItems: { ItemProcessor: { States: Record<string, Record<string, unknown>> & { Archive: { Retry: unknown[]; Catch: unknown[] } } } };
  };
}

/** The workflow definition with its Fn::Join flattened (tokens as placeholders). */
function workflowDefinition(template: Template): Definition {
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const join = (machine as { Properties: { DefinitionString: { 'Fn::Join': [string, unknown[]] } } }).Properties.DefinitionString['Fn::Join'];
  return JSON.parse(join[1].map((part) => (typeof part === 'string' ? part : 'TOKEN')).join(join[0])) as Definition;
}
