import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { AppFunction, REPO_ROOT } from '../../cdk/constructs/app-function';
import { parseConfig } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';
import { intrinsicResolver, REGION } from './intrinsics';

const demoConfig = cdkJson.context.shardkeeper;
/** Every option that adds a variable to some function's environment. */
const everyOption = {
  ...demoConfig,
  health: { partitions: 2 },
  backup: { distributedMap: true, copyRegion: 'eu-central-1', restoreTarget: { host: 'restore.internal.example', secretRef: 'shardkeeper/restore-target' } },
  archive: {
    tables: [
      { table: 'game_logs', timeColumn: 'created_at' },
      { table: 'telemetry', timeColumn: 'at', layout: 'daily-tables' },
    ],
    blackouts: [{ weekly: { days: ['sat'], from: '18:00', to: '23:00' }, reason: 'weekend raids' }],
    distributedMap: true,
  },
};

type Json = Record<string, any>;

interface DeployedFunction {
  path: string;
  entry: string;
  environment: Record<string, string>;
}

/** Every AppFunction of the app built from `config`, with its environment as CloudFormation would resolve it. */
function functionsOf(config: unknown): DeployedFunction[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  buildApp(app, parseConfig(config, 'test'));
  const assembly = app.synth();
  const stacks = app.node.children.filter((child): child is Stack => child instanceof Stack);
  const templates = stacks.map((stack) => assembly.getStackArtifact(stack.artifactId).template as Json);
  const render = intrinsicResolver(templates);

  return app.node.findAll().filter((construct): construct is AppFunction<never> => construct instanceof AppFunction).map((fn) => {
    const stack = Stack.of(fn);
    const template = templates[stacks.indexOf(stack)]!;
    const logicalId = stack.resolve((fn.node.defaultChild as CfnFunction).logicalId) as string;
    const variables = template.Resources[logicalId].Properties.Environment.Variables as Json;
    return { path: fn.node.path, entry: fn.entry, environment: Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, render(value, template)])) };
  });
}

const demoFunctions = functionsOf(demoConfig);
const everyOptionFunctions = functionsOf(everyOption);
const functionFor = (functions: readonly DeployedFunction[], entry: string) => functions.find((candidate) => candidate.entry === entry)!;

const processEnv = { ...process.env };
interface RefusingMock {
  reset(): { onAnyCommand(): { rejects(error: Error): unknown } };
  calls(): unknown[];
  restore(): void;
}
/** The AWS clients the handlers build at cold start, refusing every call. */
const aws: RefusingMock[] = [mockClient(RDSDataClient), mockClient(EventBridgeClient), mockClient(RDSClient), mockClient(S3Client), mockClient(SecretsManagerClient)];

beforeEach(() => {
  for (const mock of aws) mock.reset().onAnyCommand().rejects(new Error('no AWS call expected'));
});
afterEach(() => {
  process.env = { ...processEnv };
});
afterAll(() => {
  for (const mock of aws) mock.restore();
});

/** Imports a handler module afresh, as a cold start does, with the Lambda runtime's variables plus `environment`. */
async function coldStart(entry: string, environment: Record<string, string>): Promise<{ handler: (event: unknown, context?: unknown) => Promise<unknown> }> {
  process.env = { ...processEnv, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', POWERTOOLS_LOG_LEVEL: 'SILENT', ...environment };
  vi.resetModules();
  return import(join(REPO_ROOT, entry));
}

const lambdaContext = { getRemainingTimeInMillis: () => 900_000, functionName: 'test', awsRequestId: 'test' };

describe.each([
  ['the demo config', demoFunctions],
  ['every option', everyOptionFunctions],
])('the functions of the app built from %s', (_label, functions) => {

  it('include every handler of the app', () => {
    expect(new Set(functions.map((fn) => fn.entry))).toEqual(
      new Set([
        'functions/lookup/handler.ts',
        'functions/catalog/bootstrap-handler.ts',
        'functions/health/handler.ts',
        'functions/recovery/tasks-handler.ts',
        'functions/backup/tasks-handler.ts',
        'functions/archive/plan-handler.ts',
        'functions/archive/summary-handler.ts',
        'functions/archive/slice-handler.ts',
        'functions/archive/failure-handler.ts',
      ]),
    );
  });

  it.each(functions.map((fn) => [fn.path, fn] as const))('%s starts with the environment its construct gives it', async (_path, fn) => {
    const module = await coldStart(fn.entry, fn.environment);
    expect(module.handler).toBeTypeOf('function');
  });
});

describe('a Step Functions task handler given a malformed event', () => {
  const tasks: Array<[string, RegExp]> = [
    ['functions/archive/plan-handler.ts', /invalid archive plan input: runId/],
    ['functions/archive/slice-handler.ts', /invalid archive slice input: table/],
    ['functions/archive/summary-handler.ts', /invalid archive summary input: runId/],
    ['functions/archive/failure-handler.ts', /invalid archive failure input: table/],
    ['functions/recovery/tasks-handler.ts', /not a recovery task payload/],
    ['functions/backup/tasks-handler.ts', /not a backup task payload/],
  ];

  it.each(tasks)('%s refuses it with what is wrong, before any AWS or MySQL call', async (entry, message) => {
    const { handler } = await coldStart(entry, functionFor(everyOptionFunctions, entry).environment);
    await expect(handler({ nonsense: true }, lambdaContext)).rejects.toThrow(message);
    for (const mock of aws) expect(mock.calls()).toEqual([]);
  });
});

describe('the functions that are not Step Functions tasks', () => {
  const environmentOf = (entry: string) => functionFor(demoFunctions, entry).environment;

  it('the lookup function answers with a 503 naming the problem, never a stack, while it cannot load a shard map', async () => {
    const { handler } = await coldStart('functions/lookup/handler.ts', environmentOf('functions/lookup/handler.ts'));
    // The Data API is mocked to refuse every call.
    const response = (await handler({ version: '2.0', rawPath: '/v1/route/12345', headers: {}, isBase64Encoded: false, requestContext: { http: { method: 'GET' } } })) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'CatalogUnavailable', message: expect.stringMatching(/catalog is unreachable/) });
    expect(response.body).not.toMatch(/\n\s+at /);
  });

  it('the catalog bootstrap lets its resource be deleted without touching the catalog', async () => {
    const { handler } = await coldStart('functions/catalog/bootstrap-handler.ts', environmentOf('functions/catalog/bootstrap-handler.ts'));
    expect(await handler({ RequestType: 'Delete', ResourceProperties: {} })).toEqual({ PhysicalResourceId: 'shardkeeper-catalog' });
    for (const mock of aws) expect(mock.calls()).toEqual([]);
  });
});

it('a handler whose construct left out a variable refuses to start, naming it', async () => {
  const fn = functionFor(demoFunctions, 'functions/archive/slice-handler.ts');
  const { ARCHIVE_BUCKET: _left, ...environment } = fn.environment;
  await expect(coldStart(fn.entry, environment)).rejects.toThrow(/invalid function environment: ARCHIVE_BUCKET/);
});
