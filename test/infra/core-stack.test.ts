import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../cdk/config';
import { CoreStack } from '../../cdk/stacks/core-stack';
import { lookupEnvSchema } from '../../functions/shared/env';
import { shardMapDraftSchema } from '../../functions/shared/shard-map-schema';
import { intrinsicResolver } from './intrinsics';

const demoConfig = cdkJson.context.shardkeeper;

/** Synthesizes the core stack from the demo config with `overrides` merged in; bundling skipped. */
function synthCore(overrides: Record<string, unknown> = {}): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const core = new CoreStack(app, 'Core', { config: parseConfig({ ...demoConfig, ...overrides }, 'test'), env: demoConfig.env });
  const gameBackend = new Role(core, 'GameBackendRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
  core.lookupApi.grantInvoke(gameBackend);
  return Template.fromStack(core);
}

type Json = Record<string, any>;

function resourcesOfType(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type));
}

function onlyResource(template: Template, type: string, props: Json = {}): [string, Json] {
  const found = Object.entries(template.findResources(type, props));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0]!;
}

/** Renders CloudFormation intrinsics to the strings they resolve to (Ref of a secret is its ARN). */
function render(value: unknown, template: Template): string {
  return intrinsicResolver([template.toJSON()])(value, template.toJSON());
}

function policyStatementsOf(template: Template, roleLogicalId: string): Json[] {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties.Roles as Json[]).some((role) => role.Ref === roleLogicalId))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as Json[]);
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

describe('core stack with the public lookup endpoint', () => {
  let template: Template;
  let lookupFunction: Json;
  let lookupFunctionId: string;

  beforeAll(() => {
    template = synthCore();
    [lookupFunctionId, lookupFunction] = onlyResource(template, 'AWS::Lambda::Function', { Properties: { Handler: 'index.handler', MemorySize: 512 } });
  });

  it('requires IAM authorization on every HTTP API route', () => {
    const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);
    expect(routes.map((route) => route.RouteKey).sort()).toEqual(['ANY /{proxy+}', 'GET /v1/route/{key}', 'GET /v1/shard-map', 'POST /v1/route']);
    for (const route of routes) expect(route.AuthorizationType, route.RouteKey).toBe('AWS_IAM');
  });

  it('sends every route to the lookup function with payload format 2.0', () => {
    const [, integration] = onlyResource(template, 'AWS::ApiGatewayV2::Integration');
    expect(integration.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    expect(integration.Properties.IntegrationUri).toEqual({ 'Fn::GetAtt': [lookupFunctionId, 'Arn'] });
  });

  it('throttles the stage from config and writes JSON access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: demoConfig.lookup.throttle.rate, ThrottlingBurstLimit: demoConfig.lookup.throttle.burst },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] }, Format: Match.stringLikeRegexp('"caller":"\\$context.identity.userArn"') },
    });
  });

  it('runs the lookup function on Node 24, arm64, traced and outside the VPC', () => {
    expect(lookupFunction.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
    expect(lookupFunction.Properties.VpcConfig).toBeUndefined();
  });

  it('gives the lookup function exactly its env schema plus the Powertools settings, and no secret values', () => {
    const variables = lookupFunction.Properties.Environment.Variables as Json;
    const rendered = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, render(value, template)]));
    const env = lookupEnvSchema.parse(rendered);
    expect(env.MAP_REVALIDATE_MS).toBe(demoConfig.lookup.revalidateMs);
    expect(env.CATALOG_DATABASE).toBe(demoConfig.catalog.databaseName);
    expect(Object.keys(variables).sort()).toEqual(
      [...Object.keys(lookupEnvSchema.shape), 'NODE_OPTIONS', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME'].sort(),
    );
    const [secretAttachmentId] = onlyResource(template, 'AWS::SecretsManager::SecretTargetAttachment');
    expect(variables.CATALOG_SECRET_ARN).toEqual({ Ref: secretAttachmentId });
    expect(JSON.stringify(variables)).not.toMatch(/resolve:secretsmanager|SecretString|password/i);
  });

  it('lets the lookup role run single Data API statements on the catalog and read its secret, nothing more', () => {
    const roleId = lookupFunction.Properties.Role['Fn::GetAtt'][0] as string;
    expect(template.toJSON().Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    const statements = policyStatementsOf(template, roleId);
    const [clusterId] = onlyResource(template, 'AWS::RDS::DBCluster');
    const [secretAttachmentId] = onlyResource(template, 'AWS::SecretsManager::SecretTargetAttachment');
    const byAction = Object.fromEntries(statements.map((statement) => [asArray(statement.Action).join(','), statement.Resource]));
    expect(Object.keys(byAction).sort()).toEqual([
      'logs:CreateLogStream,logs:PutLogEvents',
      'rds-data:ExecuteStatement',
      'secretsmanager:GetSecretValue',
      'xray:PutTraceSegments,xray:PutTelemetryRecords',
    ]);
    expect(render(byAction['rds-data:ExecuteStatement'], template)).toBe(`arn:aws:rds:eu-west-1:111122223333:cluster:${clusterId}`);
    expect(byAction['secretsmanager:GetSecretValue']).toEqual({ Ref: secretAttachmentId });
    for (const statement of statements) {
      expect(asArray(statement.Action).some((action: string) => action.includes('*'))).toBe(false);
      // X-Ray accepts no resource scoping; every other statement names its resource.
      if (!asArray(statement.Action)[0].startsWith('xray:')) expect(JSON.stringify(statement.Resource)).not.toContain('*');
    }
  });

  it('grants game backends execute-api:Invoke on the three lookup routes only', () => {
    const statements = policyStatementsOf(template, onlyResource(template, 'AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'ec2.amazonaws.com' } }] } } })[0]);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.Action).toBe('execute-api:Invoke');
    const routes = (statements[0]!.Resource as unknown[]).map((arn) => render(arn, template).replace(/^.*:Lookup\w+\//, ''));
    expect(routes.sort()).toEqual(['$default/GET/v1/route/*', '$default/GET/v1/shard-map', '$default/POST/v1/route']);
  });

  it('pages operators on lookup errors, throttles, 5xx and p99 latency above 100 ms', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties);
    const [topicId] = onlyResource(template, 'AWS::SNS::Topic');
    expect(alarms.map((alarm) => alarm.MetricName).sort()).toEqual(['5xx', 'Errors', 'Latency', 'Throttles']);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
    expect(alarms.find((alarm) => alarm.MetricName === 'Latency')).toMatchObject({ ExtendedStatistic: 'p99', Threshold: 100, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it('encrypts the operator topic with a rotating key and refuses plain HTTP', () => {
    const [keyId] = onlyResource(template, 'AWS::KMS::Key', { Properties: { Description: Match.stringLikeRegexp('alarm topic') } });
    template.hasResourceProperties('AWS::KMS::Key', { Description: Match.stringLikeRegexp('alarm topic'), EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('outputs the lookup URL and the catalog cluster ARN', () => {
    const outputs = template.toJSON().Outputs as Json;
    expect(render(outputs.LookupApiUrl.Value, template)).toMatch(/^https:\/\/Lookup\w+\.execute-api\.eu-west-1\./);
    expect(render(outputs.CatalogClusterArn.Value, template)).toMatch(/^arn:aws:rds:eu-west-1:111122223333:cluster:/);
  });
});

describe('catalog', () => {
  let template: Template;

  beforeAll(() => {
    template = synthCore();
  });

  it('is an encrypted Aurora MySQL Serverless v2 cluster with the Data API, IAM auth and deletion protection', () => {
    const [, cluster] = onlyResource(template, 'AWS::RDS::DBCluster');
    expect(cluster.Properties).toMatchObject({
      Engine: 'aurora-mysql',
      ServerlessV2ScalingConfiguration: { MinCapacity: demoConfig.catalog.minCapacity, MaxCapacity: demoConfig.catalog.maxCapacity },
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      KmsKeyId: { 'Fn::GetAtt': [expect.any(String), 'Arn'] },
      EnableIAMDatabaseAuthentication: true,
      DeletionProtection: true,
      BackupRetentionPeriod: demoConfig.catalog.backupRetentionDays,
      EnableCloudwatchLogsExports: ['error', 'general', 'slowquery', 'audit'],
      DatabaseName: demoConfig.catalog.databaseName,
    });
    expect(cluster.Properties.EngineVersion).toMatch(/^8\.0\.mysql_aurora\.3\./);
    const instances = resourcesOfType(template, 'AWS::RDS::DBInstance').map(([, instance]) => instance.Properties);
    expect(instances).toEqual([expect.objectContaining({ DBInstanceClass: 'db.serverless', PubliclyAccessible: false })]);
  });

  it('keeps the cluster in isolated subnets and rotates its generated secret', () => {
    const [, subnetGroup] = onlyResource(template, 'AWS::RDS::DBSubnetGroup');
    const isolated = resourcesOfType(template, 'AWS::EC2::Subnet')
      .filter(([, subnet]) => (subnet.Properties.Tags as Json[]).some((tag) => tag.Key === 'aws-cdk:subnet-type' && tag.Value === 'Isolated'))
      .map(([id]) => ({ Ref: id }));
    expect(subnetGroup.Properties.SubnetIds).toEqual(isolated);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(30 days)' } });
  });

  it('runs the bootstrap custom resource with the fleet from config and a migrations checksum, after the cluster', () => {
    const [, bootstrap] = onlyResource(template, 'Custom::ShardkeeperCatalogBootstrap');
    const initial = shardMapDraftSchema.parse(JSON.parse(bootstrap.Properties.InitialShardMap as string));
    expect(initial.shards.map((shard) => shard.name)).toEqual(['-40', '40-80', '80-c0', 'c0-']);
    expect(initial).toEqual(shardMapDraftSchema.parse(demoConfig.fleet));
    expect(bootstrap.Properties.MigrationsChecksum).toMatch(/^[0-9a-f]{64}$/);
    const [writerId] = onlyResource(template, 'AWS::RDS::DBInstance');
    expect(bootstrap.DependsOn).toContain(writerId);
  });

  it('seeds no map when the config has no fleet', () => {
    const { fleet: _fleet, ...withoutFleet } = demoConfig;
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const core = new CoreStack(app, 'Core', { config: parseConfig(withoutFleet, 'test'), env: demoConfig.env });
    Template.fromStack(core).hasResourceProperties('Custom::ShardkeeperCatalogBootstrap', { InitialShardMap: '' });
  });

  it('lets the bootstrap function use Data API transactions on the catalog only', () => {
    const [, bootstrapFunction] = onlyResource(template, 'AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('Migrates') } });
    expect(bootstrapFunction.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
    const statements = policyStatementsOf(template, bootstrapFunction.Properties.Role['Fn::GetAtt'][0]);
    const dataApi = statements.find((statement) => asArray(statement.Action)[0].startsWith('rds-data:'));
    expect(asArray(dataApi!.Action).sort()).toEqual(['rds-data:BeginTransaction', 'rds-data:CommitTransaction', 'rds-data:ExecuteStatement', 'rds-data:RollbackTransaction']);
  });
});

describe('core stack with the private lookup endpoint', () => {
  let template: Template;

  beforeAll(() => {
    template = synthCore({ lookup: { ...demoConfig.lookup, endpoint: 'private' } });
  });

  it('serves a private REST API instead of the HTTP API', () => {
    expect(resourcesOfType(template, 'AWS::ApiGatewayV2::Api')).toHaveLength(0);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['PRIVATE'] } });
  });

  it('requires IAM authorization on every REST method, for the same paths plus a catch-all', () => {
    const methods = resourcesOfType(template, 'AWS::ApiGateway::Method').map(([, method]) => method.Properties);
    expect(methods.length).toBeGreaterThanOrEqual(4);
    for (const method of methods) expect(method.AuthorizationType).toBe('AWS_IAM');
    const paths = resourcesOfType(template, 'AWS::ApiGateway::Resource').map(([, resource]) => resource.Properties.PathPart as string);
    expect(paths.sort()).toEqual(['route', 'shard-map', 'v1', '{key}', '{proxy+}'].sort());
  });

  it('admits requests only through its execute-api VPC endpoint', () => {
    const [endpointId] = onlyResource(template, 'AWS::EC2::VPCEndpoint', {
      Properties: { ServiceName: 'com.amazonaws.eu-west-1.execute-api', VpcEndpointType: 'Interface', PrivateDnsEnabled: true },
    });
    const [, api] = onlyResource(template, 'AWS::ApiGateway::RestApi');
    const statements = api.Properties.Policy.Statement as Json[];
    expect(statements).toEqual([
      expect.objectContaining({ Effect: 'Allow', Condition: { StringEquals: { 'aws:SourceVpce': { Ref: endpointId } } } }),
      expect.objectContaining({ Effect: 'Deny', Principal: { AWS: '*' }, Condition: { StringNotEquals: { 'aws:SourceVpce': { Ref: endpointId } } } }),
    ]);
    expect(statements[0]!.Principal.AWS).not.toBe('*');
  });

  it('logs access and throttles the stage from config', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('resourcePath') },
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: demoConfig.lookup.throttle.rate, ThrottlingBurstLimit: demoConfig.lookup.throttle.burst })],
    });
  });

  it('grants game backends execute-api:Invoke on the three lookup routes of the stage only', () => {
    const grantee = onlyResource(template, 'AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'ec2.amazonaws.com' } }] } } })[0];
    const [statement] = policyStatementsOf(template, grantee);
    const routes = (statement!.Resource as unknown[]).map((arn) => render(arn, template).replace(/^.*:Lookup\w+\//, ''));
    expect(routes.sort()).toEqual(['api/GET/v1/route/*', 'api/GET/v1/shard-map', 'api/POST/v1/route']);
  });
});

describe('core stack in an imported VPC', () => {
  const importedVpc = {
    vpcId: 'vpc-0123456789abcdef0',
    vpcCidrBlock: '10.20.0.0/16',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'],
  };
  let template: Template;

  beforeAll(() => {
    template = synthCore({ vpc: importedVpc, lookup: { ...demoConfig.lookup, endpoint: 'private' } });
  });

  it('creates no VPC and places the catalog and the endpoint in the configured subnets', () => {
    expect(resourcesOfType(template, 'AWS::EC2::VPC')).toHaveLength(0);
    template.hasResourceProperties('AWS::RDS::DBSubnetGroup', { SubnetIds: importedVpc.privateSubnetIds });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcId: importedVpc.vpcId, SubnetIds: importedVpc.privateSubnetIds });
  });

  it("opens the endpoint to HTTPS from the VPC's CIDR only", () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [Match.objectLike({ CidrIp: importedVpc.vpcCidrBlock, FromPort: 443, ToPort: 443, IpProtocol: 'tcp' })],
    });
  });
});
