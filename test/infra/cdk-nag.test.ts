import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';

const demoConfig = cdkJson.context.shardkeeper;
const outdirs: string[] = [];

interface ValidationReport {
  pluginReports: { pluginName: string; violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[] }[];
}

/** Synthesizes the whole app with cdk-nag and returns every finding as `severity rule at path`. */
function findings(config: Record<string, unknown>): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'shardkeeper-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  const { core } = buildApp(app, parseConfig(config, 'test'));
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }
  const reportFile = join(outdir, 'validation-report.json');
  const report: ValidationReport = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : { pluginReports: [] };
  const found = report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((violation) =>
      violation.violatingConstructs.map((construct) => `${violation.severity} ${violation.ruleName} at ${construct.constructPath} (${plugin.pluginName})`),
    ),
  );
  if (synthError && found.length === 0) throw synthError;
  const annotations = [
    ...Annotations.fromStack(core).findError('*', Match.anyValue()),
    ...Annotations.fromStack(core).findWarning('*', Match.anyValue()),
  ].map((annotation) => `${annotation.entry.type} ${String(annotation.entry.data)} at ${annotation.id}`);
  return [...found, ...annotations];
}

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions checks on the whole app', () => {
  it('finds nothing unacknowledged with the demo config (created VPC, public endpoint)', () => {
    expect(findings(demoConfig)).toEqual([]);
  });

  it('finds nothing unacknowledged with the private endpoint', () => {
    expect(findings({ ...demoConfig, lookup: { ...demoConfig.lookup, endpoint: 'private' } })).toEqual([]);
  });

  it('finds nothing unacknowledged in an imported VPC with a reader instance', () => {
    const config = {
      ...demoConfig,
      vpc: {
        vpcId: 'vpc-0123456789abcdef0',
        vpcCidrBlock: '10.20.0.0/16',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'],
      },
      catalog: { ...demoConfig.catalog, reader: true },
      lookup: { ...demoConfig.lookup, endpoint: 'private' },
    };
    expect(findings(config)).toEqual([]);
  });

  it('reports a finding nobody acknowledged', () => {
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'shardkeeper-nag-')), context: { 'aws:cdk:bundling-stacks': [] } });
    outdirs.push(app.outdir);
    const { core } = buildApp(app, parseConfig(demoConfig, 'test'));
    new Bucket(core, 'UnloggedBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });
});
