import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { $ZodObject } from 'zod/v4/core';
import type { EnvOf } from '../../functions/shared/env';
import { ESM_REQUIRE_BANNER } from '../bundling';

export const REPO_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const METRICS_NAMESPACE = 'Shardkeeper';

export interface AppFunctionProps<S extends $ZodObject> {
  /** Handler file relative to the repository root, exporting `handler`. */
  entry: string;
  /** Powertools service name: names logs, traces and metrics dimensions. */
  serviceName: string;
  /** Every variable of the function's env schema, as strings (tokens allowed). */
  environment: EnvOf<S>;
  description?: string;
  /** @default 256 */
  memorySize?: number;
  /** @default 30 seconds */
  timeout?: Duration;
  /** @default one month */
  logRetention?: RetentionDays;
  /** Only for functions that open MySQL connections; others reach AWS APIs over HTTPS. */
  vpc?: { vpc: IVpc; subnets: SubnetSelection; securityGroups?: ISecurityGroup[] };
  /**
   * `bundled` pins the SDK version we test with; `runtime` uses the SDK v3 shipped in the Lambda
   * runtime, for latency-critical functions whose cold start is dominated by bundle size.
   * @default 'bundled'
   */
  awsSdk?: 'bundled' | 'runtime';
}

/**
 * The one Lambda function shape of the app: Node 24 on arm64, X-Ray tracing, an explicit log group,
 * a role holding nothing but its log group (callers grant the rest), and a minified ESM bundle,
 * with the AWS SDK inside (so its version is the one we tested) unless a function opts for the runtime's.
 */
export class AppFunction<S extends $ZodObject> extends NodejsFunction {
  /** The handler file, relative to the repository root. */
  readonly entry: string;

  constructor(scope: Construct, id: string, props: AppFunctionProps<S>) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.serviceName}`,
      managedPolicies: props.vpc ? [ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole')] : [],
    });
    logGroup.grantWrite(role);
    if (props.vpc) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: 'Lambda needs ec2 network-interface actions to run in the VPC; they cannot be scoped to resources, so the AWS-managed policy is the least-privilege form.',
      });
    }

    super(scope, id, {
      entry: join(REPO_ROOT, props.entry),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      vpc: props.vpc?.vpc,
      vpcSubnets: props.vpc?.subnets,
      securityGroups: props.vpc?.securityGroups,
      environment: {
        ...(props.environment as Record<string, string>),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // Stack traces need file and line only; embedded sources would triple what Node parses at cold start.
        sourcesContent: false,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        bundleAwsSDK: props.awsSdk !== 'runtime',
        externalModules: props.awsSdk === 'runtime' ? ['@aws-sdk/*'] : [],
        forceDockerBundling: false,
      },
    });

    this.entry = props.entry;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level scoping.',
    });
  }
}
