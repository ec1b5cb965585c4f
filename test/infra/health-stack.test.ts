import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';
import type { HealthStack } from '../../cdk/stacks/health-stack';
import { definitionsFromTemplate, stateMachineLogicalIds, type RecoveryDefinitions } from '../../functions/recovery/local-workflows';
import { RECOVERY_REJECTED, TRANSIENT_ERRORS } from '../../functions/recovery/workflow-contract';
import { healthMonitorEnvSchema, recoveryTasksEnvSchema } from '../../functions/shared/env';
import {
  DataCorruptionReported,
  eventPattern,
  healthEventContracts,
  QuorumLost,
  recoveryEventContracts,
  ShardNodeDown,
  ShardNodeRecovered,
  ShardPrimaryDown,
  ShardPrimaryUnreachable,
  SplitBrainSuspected,
} from '../../functions/shared/events';

const demoConfig = cdkJson.context.shardkeeper;
const AURORA_40_80 = 'arn:aws:rds:eu-west-1:111122223333:cluster:shard-40-80';
const AURORA_C0 = 'arn:aws:rds:eu-west-1:111122223333:cluster:shard-c0-ff';
const outdirs: string[] = [];

type Json = Record<string, any>;

function synth(overrides: Record<string, unknown> = {}): { app: App; health: HealthStack; template: Template } {
  const outdir = mkdtempSync(join(tmpdir(), 'shardkeeper-health-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const { health } = buildApp(app, parseConfig({ ...demoConfig, ...overrides }, 'test'));
  return { app, health, template: Template.fromStack(health) };
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function resources(template: Template, type: string, props: Json = {}): [string, Json][] {
  return Object.entries(template.findResources(type, props));
}

function functionWithVariable(template: Template, variable: string): [string, Json] {
  const found = resources(template, 'AWS::Lambda::Function').filter(([, fn]) => variable in (fn.Properties.Environment?.Variables ?? {}));
  expect(found, `one function with ${variable}`).toHaveLength(1);
  return found[0]!;
}

function statementsOfFunction(template: Template, fn: Json): Json[] {
  const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
  return resources(template, 'AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties.Roles as Json[]).some((role) => role.Ref === roleId))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as Json[]);
}

/** Resources per action, over every statement that grants it. */
function resourcesByAction(statements: Json[]): Map<string, unknown[]> {
  const byAction = new Map<string, unknown[]>();
  for (const statement of statements) {
    for (const action of asArray(statement.Action as string | string[])) byAction.set(action, [...(byAction.get(action) ?? []), ...asArray(statement.Resource)]);
  }
  return byAction;
}

function rule(template: Template, description: RegExp): Json {
  const found = resources(template, 'AWS::Events::Rule').filter(([, r]) => description.test(r.Properties.Description ?? ''));
  expect(found, `one rule like ${description}`).toHaveLength(1);
  return found[0]![1].Properties;
}

/** A state machine's definition with its intrinsics resolved. */
function definition(health: HealthStack, template: Template, machine: keyof RecoveryDefinitions): Json {
  return definitionsFromTemplate(template.toJSON(), stateMachineLogicalIds(health))[machine] as unknown as Json;
}

describe('health stack with the demo fleet', () => {
  let template: Template;
  let health: HealthStack;
  let monitor: Json;
  let tasks: Json;

  beforeAll(() => {
    ({ template, health } = synth({ recovery: { auroraClusters: { '40-80': AURORA_40_80, 'c0-': AURORA_C0 } } }));
    [, monitor] = functionWithVariable(template, 'PARTITION_INDEX');
    [, tasks] = functionWithVariable(template, 'AURORA_CLUSTERS');
  });

  it('starts the monitor every minute, and lets it run past the next start to hand over', () => {
    const schedule = rule(template, /health monitor partition 0/);
    expect(schedule.ScheduleExpression).toBe('rate(1 minute)');
    expect(schedule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [expect.stringMatching(/^HealthMonitor0/), 'Arn'] } })]);
    expect(monitor.Properties.Timeout).toBeGreaterThan(60);
  });

  it('runs one monitor per partition, each told which share of the shards it probes', () => {
    const partitioned = synth({ health: { partitions: 3 } }).template;
    const monitors = resources(partitioned, 'AWS::Lambda::Function').filter(([, fn]) => 'PARTITION_INDEX' in (fn.Properties.Environment?.Variables ?? {}));
    expect(monitors.map(([, fn]) => `${fn.Properties.Environment.Variables.PARTITION_INDEX}/${fn.Properties.Environment.Variables.PARTITION_COUNT}`).sort()).toEqual(['0/3', '1/3', '2/3']);
    expect(resources(partitioned, 'AWS::Events::Rule', { Properties: { ScheduleExpression: 'rate(1 minute)' } })).toHaveLength(3);
  });

  it('runs the monitor and the recovery tasks in the VPC, on Node 24 arm64, with exactly their env schemas', () => {
    for (const [fn, schema] of [
      [monitor, healthMonitorEnvSchema],
      [tasks, recoveryTasksEnvSchema],
    ] as const) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      expect(fn.Properties.VpcConfig.SubnetIds.length).toBeGreaterThan(0);
      const variables = Object.keys(fn.Properties.Environment.Variables).filter((name) => !/^(NODE_OPTIONS|NODE_EXTRA_CA_CERTS|POWERTOOLS_)/.test(name));
      // TLS to RDS nodes verifies against the runtime's RDS certificate authorities.
      expect(fn.Properties.Environment.Variables.NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
      expect(variables.sort()).toEqual(Object.keys(schema.shape).sort());
      expect(JSON.stringify(fn.Properties.Environment.Variables)).not.toMatch(/resolve:secretsmanager|SecretString|password/i);
    }
    expect(JSON.parse(tasks.Properties.Environment.Variables.AURORA_CLUSTERS)).toEqual({ '40-80': AURORA_40_80, 'c0-': AURORA_C0 });
  });

  it("lets the monitor read the fleet's node secrets and the catalog's, nothing else in Secrets Manager", () => {
    const fleetSecrets = new Set(demoConfig.fleet.shards.flatMap((shard) => shard.nodes.map((node) => node.secretRef)));
    const secrets = resourcesByAction(statementsOfFunction(template, monitor)).get('secretsmanager:GetSecretValue')!;
    const literal = secrets.filter((arn): arn is string => typeof arn === 'string');
    expect(new Set(literal)).toEqual(fleetSecrets);
    // The one non-literal resource is the catalog's secret (a Ref across stacks).
    expect(secrets.filter((arn) => typeof arn !== 'string')).toHaveLength(1);
  });

  it('grants each role only what its function does, with no wildcard actions or resources beyond X-Ray', () => {
    for (const fn of [monitor, tasks]) {
      const statements = statementsOfFunction(template, fn);
      const actions = [...resourcesByAction(statements).keys()].sort();
      const expected = [
        'events:PutEvents',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'rds-data:BeginTransaction',
        'rds-data:CommitTransaction',
        'rds-data:ExecuteStatement',
        'rds-data:RollbackTransaction',
        'secretsmanager:GetSecretValue',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ];
      expect(actions).toEqual(fn === tasks ? [...expected, 'rds:DescribeDBClusters', 'rds:FailoverDBCluster'].sort() : expected);
      for (const statement of statements) {
        expect(asArray(statement.Action).some((action: string) => action.includes('*'))).toBe(false);
        if (!asArray(statement.Action)[0].startsWith('xray:')) expect(JSON.stringify(statement.Resource)).not.toMatch(/"\*"/);
      }
    }
  });

  it('puts events only on the Shardkeeper bus', () => {
    const [busId] = resources(template, 'AWS::Events::EventBus')[0]!;
    for (const fn of [monitor, tasks]) {
      expect(resourcesByAction(statementsOfFunction(template, fn)).get('events:PutEvents')).toEqual([{ 'Fn::GetAtt': [busId, 'Arn'] }]);
    }
  });

  it("allows rds:FailoverDBCluster only on the fleet's configured Aurora clusters", () => {
    const byAction = resourcesByAction(statementsOfFunction(template, tasks));
    expect(byAction.get('rds:FailoverDBCluster')).toEqual([AURORA_40_80, AURORA_C0]);
    expect(byAction.get('rds:DescribeDBClusters')).toEqual([AURORA_40_80, AURORA_C0]);
    expect(resourcesByAction(statementsOfFunction(template, monitor)).has('rds:FailoverDBCluster')).toBe(false);

    const withoutClusters = synth().template;
    const [, bare] = functionWithVariable(withoutClusters, 'AURORA_CLUSTERS');
    expect(resourcesByAction(statementsOfFunction(withoutClusters, bare)).has('rds:FailoverDBCluster')).toBe(false);
  });

  it('builds every rule pattern from the declared event contracts, on the custom bus', () => {
    const [busId] = resources(template, 'AWS::Events::EventBus')[0]!;
    const onBus = { Ref: busId };
    const cases: [RegExp, Json][] = [
      [/Fails a shard over/, eventPattern(ShardPrimaryDown)],
      [/Takes a DOWN replica out/, { ...eventPattern(ShardNodeDown), detail: { role: ['replica'] } }],
      [/Puts a recovered replica back/, eventPattern(ShardNodeRecovered)],
      [/manual runbook/, eventPattern(QuorumLost, SplitBrainSuspected)],
      [/data corruption runbook/, eventPattern(DataCorruptionReported)],
      [/Recovery starts, outcomes/, eventPattern(...recoveryEventContracts)],
      [/Health findings that need an operator/, eventPattern(ShardPrimaryDown, ShardPrimaryUnreachable, QuorumLost, SplitBrainSuspected)],
    ];
    for (const [description, pattern] of cases) {
      const properties = rule(template, description);
      expect(properties.EventPattern, String(description)).toEqual(pattern);
      expect(properties.EventBusName, String(description)).toEqual(onBus);
    }
    // Every detail-type a rule listens to is a declared health or recovery contract.
    const declared = new Set([...healthEventContracts, ...recoveryEventContracts].map((contract) => contract.detailType));
    for (const [, r] of resources(template, 'AWS::Events::Rule')) for (const type of r.Properties.EventPattern?.['detail-type'] ?? []) expect(declared).toContain(type);
  });

  it('starts each workflow from its rule with the whole event as input', () => {
    const machines = resources(template, 'AWS::StepFunctions::StateMachine').map(([id]) => id);
    for (const [description, machine] of [
      [/Fails a shard over/, /Failover/],
      [/Takes a DOWN replica out/, /ReplicaRecovery/],
      [/manual runbook/, /Runbook/],
      [/data corruption runbook/, /Runbook/],
    ] as const) {
      const [target] = rule(template, description).Targets as Json[];
      expect(target!.Arn).toEqual({ Ref: machines.find((id) => machine.test(id)) });
      expect(target!.Input).toBeUndefined();
      expect(target!.RoleArn).toBeDefined();
    }
  });

  it('retries transient errors with backoff on every failover task and catches everything into the failure path', () => {
    const failover = definition(health, template, 'failover');
    const tasksStates = Object.entries(failover.States as Record<string, Json>).filter(([, state]) => state.Type === 'Task');
    expect(tasksStates.map(([name]) => name).sort()).toEqual(
      ['Complete', 'FenceOldPrimary', 'PickCandidate', 'PostCheckWrite', 'PreCheck', 'Promote', 'RecordFailure', 'RepointReplicas', 'UpdateShardMap'].sort(),
    );
    for (const [name, state] of tasksStates) {
      expect(state.Retry, name).toContainEqual({ ErrorEquals: [...TRANSIENT_ERRORS], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 });
      if (name === 'RecordFailure') {
        expect(state.Catch).toBeUndefined();
        expect(failover.States[state.Next]).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
      } else {
        expect(state.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }]);
      }
    }
    expect(failover.States.PostCheckWrite.Retry).toContainEqual(expect.objectContaining({ ErrorEquals: ['NodeNotWritable'] }));
    // A split holding the shard's lock is waited out: this retrier comes before the shorter transient one.
    const preCheckRetries = failover.States.PreCheck.Retry as Json[];
    const locked = preCheckRetries.findIndex((retry) => JSON.stringify(retry) === JSON.stringify({ ErrorEquals: ['RecoveryInProgress'], IntervalSeconds: 10, MaxAttempts: 6, BackoffRate: 2 }));
    expect(locked).toBeGreaterThanOrEqual(0);
    expect(locked).toBeLessThan(preCheckRetries.findIndex((retry) => retry.ErrorEquals.includes('CatalogUnavailable')));
  });

  it('makes the runbook wait for a task token for at most a day, a rejection ending it cleanly', () => {
    const runbook = definition(health, template, 'runbook');
    const request = runbook.States.RequestApproval;
    expect(request).toMatchObject({ Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', TimeoutSeconds: 86_400 });
    expect(request.Parameters.Payload['taskToken.$']).toBe('$$.Task.Token');
    expect(request.Catch).toEqual([
      { ErrorEquals: [RECOVERY_REJECTED], ResultPath: '$.error', Next: 'CloseAfterRejection' },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CloseAfterFailure' },
    ]);
  });

  it('logs every state machine execution in full and traces it with X-Ray, ending before the shard lock expires', () => {
    const machines = resources(template, 'AWS::StepFunctions::StateMachine');
    expect(machines).toHaveLength(3);
    for (const [, machine] of machines) {
      expect(machine.Properties).toMatchObject({ TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true } });
    }
    const failover = definition(health, template, 'failover');
    expect(failover.TimeoutSeconds).toBe(14 * 60);
  });

  it('pages operators through the core topic on monitor errors, a silent monitor, down nodes and failed recoveries', () => {
    const alarms = resources(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    expect(alarms.map((alarm) => alarm.MetricName).sort()).toEqual(
      ['Errors', 'ExecutionsFailed', 'ExecutionsFailed', 'ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsTimedOut', 'ExecutionsTimedOut', 'Invocations', 'NodesDown', 'ShardsUnhealthy'].sort(),
    );
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ 'Fn::ImportValue': expect.stringMatching(/AlarmTopic/) }]);
    expect(alarms.find((alarm) => alarm.MetricName === 'Invocations')).toMatchObject({ ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'Shardkeeper-health' });
  });

  it('opens no ingress and only MySQL and HTTPS egress for the functions in the VPC', () => {
    for (const [, group] of resources(template, 'AWS::EC2::SecurityGroup')) {
      expect(group.Properties.SecurityGroupIngress).toBeUndefined();
      expect((group.Properties.SecurityGroupEgress as Json[]).map((rule) => rule.FromPort).sort()).toEqual([3306, 443]);
    }
  });
});

describe('fleet secrets from config', () => {
  it('grants a secret named without its random suffix through the suffix wildcard', () => {
    const fleet = structuredClone(demoConfig.fleet);
    fleet.shards[0]!.nodes[0]!.secretRef = 'shardkeeper/shard-00-40';
    fleet.shards[0]!.nodes[1]!.secretRef = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:shardkeeper/partial';
    const { template } = synth({ fleet });
    const [, monitor] = functionWithVariable(template, 'PARTITION_INDEX');
    const secrets = resourcesByAction(statementsOfFunction(template, monitor)).get('secretsmanager:GetSecretValue')!;
    expect(JSON.stringify(secrets)).toContain(':secret:shardkeeper/shard-00-40-??????');
    expect(secrets).toContain('arn:aws:secretsmanager:eu-west-1:111122223333:secret:shardkeeper/partial-??????');
  });
});

describe('cdk-nag on the health stack', () => {
  it('finds nothing unacknowledged, with and without Aurora clusters', () => {
    for (const overrides of [{}, { recovery: { auroraClusters: { '40-80': AURORA_40_80 } }, health: { partitions: 2 } }]) {
      const { app, health } = synth(overrides);
      let failure: unknown;
      try {
        app.synth();
      } catch (error) {
        failure = error;
      }
      const reportFile = join(app.outdir, 'validation-report.json');
      const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as Json) : { pluginReports: [] };
      const findings = (report.pluginReports as Json[]).flatMap((plugin) =>
        (plugin.violations as Json[]).flatMap((violation) => (violation.violatingConstructs as Json[]).map((construct) => `${violation.ruleName} at ${construct.constructPath}`)),
      );
      expect(findings.filter((finding) => finding.includes('Health'))).toEqual([]);
      expect(failure).toBeUndefined();
      const annotations = [...Annotations.fromStack(health).findError('*', Match.anyValue()), ...Annotations.fromStack(health).findWarning('*', Match.anyValue())];
      expect(annotations.map((annotation) => `${String(annotation.entry.data)} at ${annotation.id}`)).toEqual([]);
    }
  });
});

describe('deployment config for recovery', () => {
  it('refuses an Aurora cluster for a shard that is not an Aurora shard of the fleet', () => {
    expect(() => parseConfig({ ...demoConfig, recovery: { auroraClusters: { 'ff-': AURORA_C0 } } }, 'test')).toThrow(/recovery\.auroraClusters\.ff-: names no Aurora shard/);
    expect(() => parseConfig({ ...demoConfig, recovery: { auroraClusters: { '40-80': 'shard-40-80' } } }, 'test')).toThrow(/must be an RDS cluster ARN/);
  });
});
