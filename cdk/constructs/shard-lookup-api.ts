import { Duration, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
  type IResource,
} from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination as HttpLogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, GraphWidget, TreatMissingData, type Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { InterfaceVpcEndpoint, InterfaceVpcEndpointAwsService, type IVpc, type SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { AccountRootPrincipal, AnyPrincipal, Effect, Grant, PolicyDocument, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { lookupEnvSchema } from '../../functions/shared/env';
import type { LookupConfig } from '../config';
import { AppFunction } from './app-function';
import type { OpsDashboard } from './ops-dashboard';
import type { ShardCatalog } from './shard-catalog';

export interface ShardLookupApiProps {
  config: LookupConfig;
  catalog: ShardCatalog;
  ops: OpsDashboard;
  logRetention: RetentionDays;
  /** Where the private endpoint's execute-api interface endpoint lives; unused by the public one. */
  network: { vpc: IVpc; subnets: SubnetSelection };
}

/** The routes game backends may call; anything else reaches the handler only to be refused. */
const ROUTES = [
  { method: 'GET', path: '/v1/route/{key}' },
  { method: 'POST', path: '/v1/route' },
  { method: 'GET', path: '/v1/shard-map' },
] as const;

const P99_LATENCY_THRESHOLD_MS = 100;
const REST_STAGE = 'api';

/**
 * The IAM-authorised shard lookup endpoint: an HTTP API (public) or a private REST API reachable
 * only through an execute-api VPC endpoint, both in front of one lookup function that reads the
 * catalog through the Data API and caches the shard map.
 */
export class ShardLookupApi extends Construct {
  readonly function: AppFunction<typeof lookupEnvSchema>;
  /** Base URL; append `/v1/route/{key}`. */
  readonly url: string;
  private readonly routeArns: string[];

  constructor(scope: Construct, id: string, props: ShardLookupApiProps) {
    super(scope, id);
    this.function = new AppFunction<typeof lookupEnvSchema>(this, 'LookupFunction', {
      entry: 'functions/lookup/handler.ts',
      serviceName: 'shard-lookup',
      description: 'Answers which shard owns a key, from a cached shard map',
      environment: { ...props.catalog.catalogEnvironment(), MAP_REVALIDATE_MS: String(props.config.revalidateMs) },
      memorySize: 512,
      timeout: Duration.seconds(10),
      awsSdk: 'runtime',
      logRetention: props.logRetention,
    });
    props.catalog.grantDataApiAccess(this.function, 'read');

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    const api = props.config.endpoint === 'public' ? this.createHttpApi(props.config, accessLogs) : this.createPrivateRestApi(props, accessLogs);
    this.url = api.url;
    this.routeArns = ROUTES.map((route) => api.arnFor(route.method, route.path.replace(/\{[^}]+\}/g, '*')));
    this.addAlarmsAndWidgets(props.ops, api.metrics);
  }

  /**
   * Lets a game backend's role call the lookup routes, and nothing else. The key segment of
   * `GET /v1/route/{key}` is a wildcard, which cdk-nag reports on the grantee (IAM5).
   */
  grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: this.routeArns });
  }

  private createHttpApi(config: LookupConfig, accessLogs: LogGroup): ApiParts {
    const api = new HttpApi(this, 'HttpApi', {
      description: 'Shardkeeper shard lookup',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    const integration = new HttpLambdaIntegration('Lookup', this.function, { scopePermissionToRoute: false });
    for (const route of ROUTES) api.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    // Unknown paths and methods reach the handler, which answers 404/405 in JSON.
    api.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.ANY], integration });

    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.throttle.rate, burstLimit: config.throttle.burst },
      accessLogSettings: { destination: new HttpLogGroupLogDestination(accessLogs), format: AccessLogFormat.custom(accessLogFormat('$context.routeKey')) },
    });
    return {
      url: stage.url,
      arnFor: (method, path) => api.arnForExecuteApi(method, path, stage.stageName),
      metrics: { serverErrors: api.metricServerError(), latency: api.metricLatency(), count: api.metricCount(), clientErrors: api.metricClientError() },
    };
  }

  private createPrivateRestApi(props: ShardLookupApiProps, accessLogs: LogGroup): ApiParts {
    const { network, config } = props;
    const endpoint = new InterfaceVpcEndpoint(this, 'ExecuteApiEndpoint', {
      vpc: network.vpc,
      service: InterfaceVpcEndpointAwsService.APIGATEWAY,
      subnets: network.subnets,
      privateDnsEnabled: true,
      // HTTPS from the VPC's CIDR: game backends anywhere in the VPC may call.
      open: true,
    });
    Validations.of(endpoint).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: "Ingress is HTTPS from the VPC's own CIDR block, an intrinsic cdk-nag cannot resolve; nothing outside the VPC is admitted.",
    });

    const api = new RestApi(this, 'RestApi', {
      description: 'Shardkeeper shard lookup (private)',
      endpointConfiguration: { types: [EndpointType.PRIVATE], vpcEndpoints: [endpoint] },
      // The account's IAM policies decide who calls; the endpoint is the only way in.
      policy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            principals: [new AccountRootPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { StringEquals: { 'aws:SourceVpce': endpoint.vpcEndpointId } },
          }),
          new PolicyStatement({
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { StringNotEquals: { 'aws:SourceVpce': endpoint.vpcEndpointId } },
          }),
        ],
      }),
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      cloudWatchRole: true,
      deployOptions: {
        stageName: REST_STAGE,
        tracingEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        throttlingRateLimit: config.throttle.rate,
        throttlingBurstLimit: config.throttle.burst,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(accessLogFormat('$context.resourcePath')),
      },
    });
    const validator = api.addRequestValidator('RequestValidator', { validateRequestParameters: true, validateRequestBody: true });
    const integration = new LambdaIntegration(this.function, { scopePermissionToMethod: false });
    const addMethods = (resource: IResource, method: string) => {
      const pathParameters = resource.path.match(/\{[^}+]+\}/g) ?? [];
      resource.addMethod(method, integration, {
        requestValidator: validator,
        requestParameters: Object.fromEntries(pathParameters.map((parameter) => [`method.request.path.${parameter.slice(1, -1)}`, true])),
      });
      // A REST resource with a method never falls through to {proxy+}: wrong methods must reach the handler for a 405.
      resource.addMethod('ANY', integration);
    };
    for (const route of ROUTES) addMethods(api.root.resourceForPath(route.path), route.method);
    api.root.addProxy({ defaultIntegration: integration, anyMethod: true });

    Validations.of(api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'Callers are AWS workloads (game backends) signing with SigV4; IAM authorization on every method takes the place of a Cognito user pool.',
    });
    Validations.of(api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason: 'The API is private: reachable only through the VPC endpoint in the resource policy, every method IAM-signed and throttled, so a WAF has nothing left to filter.',
    });
    Validations.of(api.node.findChild('CloudWatchRole')).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'API Gateway execution logging needs the account-level CloudWatch role; the AWS-managed policy is the documented form for it.',
    });
    return {
      url: api.url,
      arnFor: (method, path) => api.arnForExecuteApi(method, path, REST_STAGE),
      metrics: { serverErrors: api.metricServerError(), latency: api.metricLatency(), count: api.metricCount(), clientErrors: api.metricClientError() },
    };
  }

  private addAlarmsAndWidgets(ops: OpsDashboard, metrics: ApiMetrics): void {
    const fiveMinutes = Duration.minutes(5);
    /** Fires when the metric exceeds `above` in `datapoints` of the last `periods` periods. */
    const alarm = (id: string, metric: Metric, above: number, description: string, datapoints = 1, periods = 1) =>
      new Alarm(this, id, {
        metric,
        threshold: above,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: datapoints,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
    ops.addAlarm(
      alarm('FunctionErrors', this.function.metricErrors({ period: fiveMinutes }), 0, 'The lookup function crashed or timed out.'),
      alarm('FunctionThrottles', this.function.metricThrottles({ period: fiveMinutes }), 0, 'Lookup invocations were throttled: raise the concurrency limit.'),
      alarm('Api5xx', metrics.serverErrors.with({ period: fiveMinutes }), 4, 'The lookup API answered 5xx five times or more in five minutes: catalog unavailable or no shard map.'),
      alarm(
        'ApiP99Latency',
        metrics.latency.with({ statistic: 'p99', period: Duration.minutes(1) }),
        P99_LATENCY_THRESHOLD_MS,
        `Lookup p99 latency above ${P99_LATENCY_THRESHOLD_MS} ms in 3 of the last 5 minutes.`,
        3,
        5,
      ),
    );
    ops.addWidgets(
      new GraphWidget({ title: 'Lookup requests', left: [metrics.count, metrics.clientErrors, metrics.serverErrors], width: 8 }),
      new GraphWidget({
        title: 'Lookup latency (ms)',
        left: [metrics.latency.with({ statistic: 'p50' }), metrics.latency.with({ statistic: 'p99' })],
        leftAnnotations: [{ value: P99_LATENCY_THRESHOLD_MS, label: 'p99 target' }],
        width: 8,
      }),
      new GraphWidget({
        title: 'Lookup function',
        left: [this.function.metricInvocations(), this.function.metricErrors(), this.function.metricThrottles()],
        right: [this.function.metricDuration({ statistic: 'p99' })],
        width: 8,
      }),
    );
  }
}

interface ApiMetrics {
  serverErrors: Metric;
  clientErrors: Metric;
  latency: Metric;
  count: Metric;
}

interface ApiParts {
  url: string;
  arnFor: (method: string, path: string) => string;
  metrics: ApiMetrics;
}

/** One JSON line per request: who called which route, and how long it took. */
function accessLogFormat(routeVariable: string): string {
  return JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    caller: '$context.identity.userArn',
    sourceIp: '$context.identity.sourceIp',
    method: '$context.httpMethod',
    route: routeVariable,
    path: '$context.path',
    status: '$context.status',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integrationLatency',
  });
}
