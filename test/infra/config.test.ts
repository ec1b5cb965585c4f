import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { configuredAvailabilityZones, loadConfig, parseConfig } from '../../cdk/config';
import { REPO_ROOT } from '../../cdk/constructs/app-function';
import { ConfigError } from '../../functions/shared/errors';

const demoConfig = cdkJson.context.shardkeeper;
const scratch = mkdtempSync(join(tmpdir(), 'shardkeeper-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeConfig(name: string, content: unknown): string {
  const file = join(scratch, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The message of the ConfigError that parsing `raw` throws. */
function problemsWith(raw: unknown): string {
  try {
    parseConfig(raw, 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected the config to be rejected');
}

const importedVpc = {
  vpcId: 'vpc-0123456789abcdef0',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'],
};

describe('deployment config', () => {
  it('fills every default from an empty config', () => {
    const config = parseConfig({}, 'test');
    expect(config).toMatchObject({
      stackPrefix: 'Shardkeeper',
      env: {},
      vpc: { create: { maxAzs: 2 } },
      catalog: { minCapacity: 0.5, maxCapacity: 4, deletionProtection: true, databaseName: 'shardkeeper', backupRetentionDays: 7, reader: false },
      lookup: { revalidateMs: 1000, endpoint: 'public', throttle: { rate: 1000, burst: 2000 } },
      logRetentionDays: 30,
    });
    expect(config.fleet).toBeUndefined();
  });

  it('accepts the demo config in cdk.json with its four-shard keyspace fleet', () => {
    const config = parseConfig(demoConfig, 'cdk.json');
    expect(config.fleet?.shards.map((shard) => shard.name)).toEqual(['-40', '40-80', '80-c0', 'c0-']);
    expect(config.env).toEqual({ account: '111122223333', region: 'eu-west-1' });
  });

  it('reads the shardkeeper context key, as an object or as a JSON string from -c', () => {
    const fromObject = loadConfig(new App({ context: { shardkeeper: { stackPrefix: 'FromContext' } } }));
    const fromString = loadConfig(new App({ context: { shardkeeper: JSON.stringify({ stackPrefix: 'FromCli' }) } }));
    expect([fromObject.stackPrefix, fromString.stackPrefix]).toEqual(['FromContext', 'FromCli']);
  });

  it('prefers the file named by -c configFile over the context key', () => {
    const file = writeConfig('file.json', { stackPrefix: 'FromFile' });
    const config = loadConfig(new App({ context: { configFile: file, shardkeeper: { stackPrefix: 'FromContext' } } }));
    expect(config.stackPrefix).toBe('FromFile');
  });

  it('says which config file is missing or not JSON', () => {
    const missing = join(scratch, 'missing.json');
    expect(() => loadConfig(new App({ context: { configFile: missing } }))).toThrow(`Cannot read Shardkeeper config ${missing}`);
    const broken = writeConfig('broken.json', '{ "stackPrefix": ');
    expect(() => loadConfig(new App({ context: { configFile: broken } }))).toThrow(`Shardkeeper config ${broken} is not valid JSON`);
  });

  it('lists every problem at once, one path and message per line', () => {
    const message = problemsWith({ stackPrefx: 'Typo', catalog: { minCapacity: 8, maxCapacity: 2 }, lookup: { endpoint: 'internal' }, alarmEmail: 'ops' });
    expect(message.split('\n')).toEqual([
      'Invalid Shardkeeper config (test):',
      expect.stringMatching(/^ {2}- lookup\.endpoint: .*"public"\|"private"/),
      expect.stringMatching(/^ {2}- alarmEmail: Invalid email/),
      expect.stringMatching(/^ {2}- \(root\): Unrecognized key: "stackPrefx"/),
    ]);
  });

  it('checks cross-field rules once the fields are valid', () => {
    expect(problemsWith({ catalog: { minCapacity: 8, maxCapacity: 2 } })).toContain('catalog.minCapacity: must not exceed catalog.maxCapacity');
  });

  it('names the imported VPC fields that are wrong or missing', () => {
    const message = problemsWith({ vpc: { vpcId: 'my-vpc', availabilityZones: ['eu-west-1a', 'eu-west-1b'], privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'] } });
    expect(message).toContain('vpc.vpcId: must look like vpc-0123456789abcdef0');
    expect(message).toContain('vpc.privateSubnetIds: Too small');
  });

  it('rejects subnets that do not spread evenly over the zones, and unknown VPC fields', () => {
    const message = problemsWith({ vpc: { ...importedVpc, privateSubnetIds: [...importedVpc.privateSubnetIds, 'subnet-0ccccccccccccccc3'], cidr: '10.0.0.0/16' } });
    expect(message).toContain('vpc.privateSubnetIds: must list the same number of subnets in each of the 2 availability zones');
    expect(message).toContain('vpc: Unrecognized key: "cidr"');
  });

  it('reads a { create } VPC as a demo VPC and reports its own fields', () => {
    expect(problemsWith({ vpc: { create: { maxAzs: 1 } } })).toMatch(/vpc\.create\.maxAzs: Too small/);
  });

  it('requires the CIDR of an imported VPC for a private endpoint', () => {
    expect(problemsWith({ vpc: importedVpc, lookup: { endpoint: 'private' } })).toContain('vpc.vpcCidrBlock: is required for a private lookup endpoint');
    expect(parseConfig({ vpc: { ...importedVpc, vpcCidrBlock: '10.20.0.0/16' }, lookup: { endpoint: 'private' } }, 'test').lookup.endpoint).toBe('private');
  });

  it('rejects a fleet map that fails the shard map schema', () => {
    const fleet = { shards: [{ name: '-80', database: 'bad-name', nodes: [{ id: 'a', role: 'leader', host: 'h' }] }, { name: '80-', database: 'db' }] };
    const message = problemsWith({ fleet });
    expect(message).toContain('fleet.shards.0.database: database must be a valid MySQL identifier');
    expect(message).toMatch(/fleet\.shards\.0\.nodes\.0\.role: .*"primary"\|"replica"/);
  });

  it('rejects a fleet map whose shards leave a gap in the keyspace', () => {
    const fleet = { shards: [{ name: '-40', database: 'a' }, { name: '80-', database: 'b' }] };
    expect(problemsWith({ fleet })).toMatch(/^ {2}- fleet: .+/m);
  });

  it('takes the availability zones from config so synth needs no lookup', () => {
    expect(configuredAvailabilityZones(parseConfig(demoConfig, 'test'))).toEqual(['eu-west-1a', 'eu-west-1b']);
    expect(configuredAvailabilityZones(parseConfig({ vpc: importedVpc }, 'test'))).toEqual(importedVpc.availabilityZones);
    expect(configuredAvailabilityZones(parseConfig({}, 'test'))).toBeUndefined();
  });
});

describe('cdk app entry point', () => {
  it('prints one clear message and exits non-zero on a bad config', () => {
    const file = writeConfig('bad.json', { vpc: { vpcId: 'vpc-1' }, lookup: { throttle: { rate: -1 } } });
    const result = spawnSync(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['cdk/app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ configFile: file }), CDK_OUTDIR: join(scratch, 'out') },
      // spawnSync blocks the test's own timeout: a child that never exits must fail the test, not stall the run.
      timeout: 25_000,
      killSignal: 'SIGKILL',
    });
    expect(result.signal, 'the app did not exit within 25 s').toBeNull();
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `Invalid Shardkeeper config (${file}):`,
      '  - vpc.vpcId: must look like vpc-0123456789abcdef0',
      '  - vpc.availabilityZones: Invalid input: expected array, received undefined',
      '  - vpc.privateSubnetIds: Invalid input: expected array, received undefined',
      '  - lookup.throttle.rate: Too small: expected number to be >=1',
    ]);
  });
});
