import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';
import { backupDefinitionFromTemplate, backupStateMachineLogicalId } from '../../functions/backup/local-workflow';
import { TRANSIENT_BACKUP_ERRORS } from '../../functions/backup/tasks';
import { expectWorkflowFiles } from './workflow-files';

const demoConfig = cdkJson.context.shardkeeper;
const EXTRAS = {
  distributedMap: true,
  concurrency: 16,
  timeZone: 'Europe/Berlin',
  copyRegion: 'eu-central-1',
  objectLock: { mode: 'GOVERNANCE', days: 30 },
  restoreTarget: { host: 'restore.internal.example', secretRef: 'shardkeeper/restore-target' },
};
const outdirs: string[] = [];

type Json = Record<string, any>;

function synth(backup: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'sk-backup-infra-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildApp(app, parseConfig({ ...demoConfig, backup }, 'test'));
  return { app, stacks, template: Template.fromStack(stacks.backup) };
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

const statementsOf = (template: Template, rolePrefix: string): Json[] =>
  Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as Json[]).some((role) => String(role.Ref).startsWith(rolePrefix)))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Json[]);
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

describe('BackupOrchestrator', () => {
  const { template } = synth();

  it('schedules full, incremental, cleanup and restore-test runs at the chapter times in the configured zone', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((schedule) => [
      schedule.Properties.ScheduleExpression,
      schedule.Properties.ScheduleExpressionTimezone,
      JSON.parse(schedule.Properties.Target.Input),
    ]);
    expect(schedules).toEqual([
      ['cron(0 2 ? * SUN *)', 'UTC', { kind: 'full', requestedBy: 'schedule' }],
      ['cron(0 2 * * ? *)', 'UTC', { kind: 'incremental', requestedBy: 'schedule' }],
      ['cron(0 6 * * ? *)', 'UTC', { task: 'backup.prune' }],
      ['cron(0 8 ? * SUN *)', 'UTC', { task: 'backup.restoreTest' }],
    ]);
    const berlin = synth({ timeZone: 'Europe/Berlin', schedules: { full: 'cron(30 1 ? * SAT *)' } }).template;
    expect(Object.values(berlin.findResources('AWS::Scheduler::Schedule')).map((schedule) => schedule.Properties.ScheduleExpressionTimezone)).toEqual(Array(4).fill('Europe/Berlin'));
    berlin.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(30 1 ? * SAT *)' });
  });

  it('keeps backups in a KMS-encrypted, versioned, access-logged bucket with public access blocked', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() }, BucketKeyEnabled: true }] },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'backups/' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('expires each retention class after the catalog stops keeping it, and moves monthlies to Standard-IA then Glacier', () => {
    const [bucket] = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { BucketEncryption: Match.objectLike({}) , LifecycleConfiguration: Match.anyValue(), LoggingConfiguration: Match.anyValue() } }));
    const rules = bucket!.Properties.LifecycleConfiguration.Rules as Json[];
    const byId = Object.fromEntries(rules.map((rule) => [rule.Id, rule]));
    expect(byId['daily-backups']).toMatchObject({ TagFilters: [{ Key: 'sk-retention', Value: 'daily' }], ExpirationInDays: 8, Status: 'Enabled' });
    expect(byId['daily-backups'].Transitions).toBeUndefined();
    expect(byId['weekly-backups']).toMatchObject({ TagFilters: [{ Key: 'sk-retention', Value: 'weekly' }], ExpirationInDays: 29 });
    expect(byId['monthly-backups']).toMatchObject({
      TagFilters: [{ Key: 'sk-retention', Value: 'monthly' }],
      ExpirationInDays: 373,
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
    });
    expect(byId['incomplete-uploads']).toMatchObject({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
    expect(byId['old-versions']).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } });
  });

  it('grants the task function only its bucket, the fleet secrets, the catalog, the bus and snapshots of the fleet clusters', () => {
    const statements = statementsOf(template, 'BackupTasksRole');
    const rds = statements.filter((statement) => asArray(statement.Action).some((action: string) => action.startsWith('rds:')));
    const rendered = JSON.stringify(rds.map((statement) => statement.Resource));
    for (const cluster of ['shard-00-40', 'shard-40-80', 'shard-80-c0', 'shard-c0-ff']) expect(rendered).toContain(`:cluster:${cluster}`);
    expect(rendered).toContain(':cluster-snapshot:sk-*');
    expect(rendered).not.toMatch(/"\*"/);
    expect(statements.flatMap((statement) => asArray(statement.Action))).not.toContain('rds:RestoreDBClusterToPointInTime');
    const secrets = statements.find((statement) => asArray(statement.Action).includes('secretsmanager:GetSecretValue') && JSON.stringify(statement.Resource).includes('shard-00-40'));
    expect(JSON.stringify(secrets!.Resource)).toContain('secret:shardkeeper/shard-00-40-AbCdEf');
    const events = statements.find((statement) => asArray(statement.Action).includes('events:PutEvents'));
    expect(events!.Resource).toEqual({ 'Fn::ImportValue': expect.stringMatching(/^Shardkeeper-health:.*Bus.*Arn/) });
    const wildcard = statements.filter((statement) => asArray(statement.Resource).includes('*'));
    expect(wildcard.flatMap((statement) => asArray(statement.Action)).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    // A backup promoted to the period of one that failed verification has its objects re-tagged, in the backup bucket only.
    const tagging = statements.filter((statement) => asArray(statement.Action).includes('s3:PutObjectTagging'));
    expect(tagging).toHaveLength(1);
    expect(new Set(JSON.stringify(tagging[0]!.Resource).match(/"Fn::GetAtt":\["[^"]+"/g))).toEqual(new Set([expect.stringMatching(/"BackupBackups[0-9A-F]+"$/)]));
  });

  it('retries transient errors on every task and catches every shard step into FailShard, which reports it', () => {
    const definition = backupDefinitionFromTemplate(template.toJSON(), backupStateMachineLogicalId(synth().stacks.backup)) as Json;
    const shardStates = definition.States.BackupShards.ItemProcessor.States as Json;
    expect(definition.States.BackupShards.MaxConcurrency).toBe(4);
    expect(definition.States.BackupShards.ItemProcessor.ProcessorConfig ?? { Mode: 'INLINE' }).toMatchObject({ Mode: 'INLINE' });
    const tasks = Object.entries(shardStates).filter(([, state]) => state.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['ArchiveBinlogs', 'ContinueDump', 'FailShard', 'FinishDump', 'PollSnapshot', 'RecordRestoreWindow', 'StartDump', 'StartSnapshot']);
    for (const [name, state] of tasks) {
      expect(state.Retry, name).toContainEqual(expect.objectContaining({ ErrorEquals: [...TRANSIENT_BACKUP_ERRORS], IntervalSeconds: 5, BackoffRate: 2, MaxAttempts: 3 }));
      if (name !== 'FailShard') expect(state.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'FailShard' }]);
    }
    expect(shardStates.WaitForSnapshot).toMatchObject({ Type: 'Wait', SecondsPath: '$.snapshot.waitSeconds' });
    expect(definition.States.BackupIncomplete).toMatchObject({ Type: 'Fail', Error: 'BackupEpochIncomplete' });
  });

  it('keeps no per-shard results in the state: FinishEpoch reads how each shard ended from the catalog', () => {
    const definition = backupDefinitionFromTemplate(template.toJSON(), backupStateMachineLogicalId(synth().stacks.backup)) as Json;
    expect(definition.States.BackupShards.ResultPath).toBeNull();
    expect(definition.States.FinishEpoch.Parameters.task).toBe('backup.finishEpoch');
    expect(definition.States.FinishEpoch.Parameters.input).toEqual({ 'epochId.$': '$.epoch.epochId' });
  });

  it('sends BackupFailed and BackupVerificationFailed to the operator topic and alarms on failed runs', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['shardkeeper.backup'], 'detail-type': ['BackupFailed', 'BackupVerificationFailed'] },
      Targets: [Match.objectLike({ Arn: Match.anyValue(), InputTransformer: Match.anyValue() })],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsFailed', AlarmActions: [Match.anyValue()] });
  });

  it('runs large fleets in a Distributed Map, copies snapshots cross-region and locks objects when configured', () => {
    const { template: extras, stacks } = synth(EXTRAS);
    const definition = backupDefinitionFromTemplate(extras.toJSON(), backupStateMachineLogicalId(stacks.backup)) as Json;
    expect(definition.States.BackupShards).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 16,
      ResultPath: null,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      // BeginEpoch wrote the shard tasks to S3: no fleet is too large for a state's 256 KB.
      ItemReader: { ReaderConfig: { InputType: 'JSON' }, Parameters: { 'Key.$': '$.epoch.itemsKey' } },
      ResultWriter: { Parameters: { Prefix: 'results' } },
    });
    expect(definition.States.BackupShards).not.toHaveProperty('ItemsPath');
    // The workflow's own S3 grants reach its files bucket only, never the backups.
    expectWorkflowFiles(extras, {
      bucketPrefix: 'BackupWorkflowFiles',
      envVar: 'BACKUP_ITEMS_BUCKET',
      plannerRole: 'BackupTasksRole',
      machineRole: 'BackupWorkflowRole',
      dataBucketPrefix: 'BackupBackups',
    });
    extras.hasResourceProperties('AWS::S3::Bucket', { ObjectLockEnabled: true, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } } } });
    const rendered = JSON.stringify(statementsOf(extras, 'BackupTasksRole'));
    expect(rendered).toContain(':rds:eu-central-1:');
    expect(rendered).toContain('secret:shardkeeper/restore-target-??????');
    extras.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TIME_ZONE: 'Europe/Berlin', COPY_REGION: 'eu-central-1' }) },
    });
  });

  it.each([
    ['the demo config', {}],
    ['every option', EXTRAS],
  ])('passes cdk-nag with %s', (_label, backup) => {
    const { app } = synth(backup);
    app.synth();
    const report = join(app.outdir, 'validation-report.json');
    const findings = existsSync(report)
      ? (JSON.parse(readFileSync(report, 'utf8')).pluginReports as Json[]).flatMap((plugin) => (plugin.violations as Json[]).map((violation) => violation.ruleName))
      : [];
    expect(findings).toEqual([]);
  });
});
