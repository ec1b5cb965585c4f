import { createHash } from 'node:crypto';
import { CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { Grant, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  AuroraMysqlEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
} from 'aws-cdk-lib/aws-rds';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { catalogMigrations, migrationChecksum } from '../../functions/adapters/catalog-migrations';
import type { ShardMapDraft } from '../../functions/core/shard-map-types';
import type { catalogBootstrapEnvSchema, catalogEnvSchema, EnvOf } from '../../functions/shared/env';
import type { CatalogConfig } from '../config';
import { AppFunction } from './app-function';

export interface ShardCatalogProps {
  config: CatalogConfig;
  vpc: IVpc;
  /** Where the cluster lives; needs no route out. */
  dataSubnets: SubnetSelection;
  /** Where the secret rotation function runs; must reach the Secrets Manager API. */
  appSubnets: SubnetSelection;
  /** Committed by the bootstrap only while the catalog holds no map. */
  initialShardMap: ShardMapDraft | undefined;
  logRetention: RetentionDays;
}

export type DataApiAccess = 'read' | 'write';

const LOG_EXPORTS = ['error', 'general', 'slowquery', 'audit'];
const READ_ACTIONS = ['rds-data:ExecuteStatement'];
const WRITE_ACTIONS = [...READ_ACTIONS, 'rds-data:BeginTransaction', 'rds-data:CommitTransaction', 'rds-data:RollbackTransaction'];

/**
 * The catalog: an Aurora MySQL Serverless v2 cluster reached through the Data API, migrated on
 * every deploy by a custom resource that also seeds the initial shard map from config.
 */
export class ShardCatalog extends Construct {
  readonly cluster: DatabaseCluster;
  readonly secret: ISecret;
  readonly databaseName: string;
  readonly encryptionKey: Key;
  /** The custom resource that migrates the catalog; depend on it to run after the schema is current. */
  readonly bootstrap: CustomResource;

  constructor(scope: Construct, id: string, props: ShardCatalogProps) {
    super(scope, id);
    const { config } = props;
    this.databaseName = config.databaseName;
    this.encryptionKey = new Key(this, 'StorageKey', { enableKeyRotation: true, description: 'Encrypts the Shardkeeper catalog cluster storage' });

    // A fixed identifier lets the log groups exist, with retention, before RDS first writes to them.
    // Their names are fixed too, so a retained group would block re-creating the stack.
    const clusterIdentifier = `${Stack.of(this).stackName}-catalog`.toLowerCase();
    const logGroups = LOG_EXPORTS.map(
      (log) =>
        new LogGroup(this, `${log}Logs`, {
          logGroupName: `/aws/rds/cluster/${clusterIdentifier}/${log}`,
          retention: props.logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
    );

    this.cluster = new DatabaseCluster(this, 'Cluster', {
      clusterIdentifier,
      engine: DatabaseClusterEngine.auroraMysql({ version: AuroraMysqlEngineVersion.VER_3_12_0 }),
      writer: ClusterInstance.serverlessV2('Writer', { autoMinorVersionUpgrade: true }),
      readers: config.reader ? [ClusterInstance.serverlessV2('Reader', { scaleWithWriter: true, autoMinorVersionUpgrade: true })] : [],
      serverlessV2MinCapacity: config.minCapacity,
      serverlessV2MaxCapacity: config.maxCapacity,
      vpc: props.vpc,
      vpcSubnets: props.dataSubnets,
      // Not 3306: every client uses the Data API, so nothing depends on the default port.
      port: 3307,
      credentials: Credentials.fromGeneratedSecret('shardkeeper_admin'),
      defaultDatabaseName: config.databaseName,
      storageEncrypted: true,
      storageEncryptionKey: this.encryptionKey,
      iamAuthentication: true,
      enableDataApi: true,
      deletionProtection: config.deletionProtection,
      backup: { retention: Duration.days(config.backupRetentionDays) },
      cloudwatchLogsExports: LOG_EXPORTS,
      parameters: {
        server_audit_logging: '1',
        server_audit_events: 'CONNECT,QUERY_DCL,QUERY_DDL',
        slow_query_log: '1',
        long_query_time: '1',
      },
    });
    for (const logGroup of logGroups) this.cluster.node.addDependency(logGroup);
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS14',
      reason: 'The catalog versions every shard map change itself and has point-in-time recovery within the backup window; Backtrack would add change-record cost for no extra recovery point.',
    });

    if (!this.cluster.secret) throw new Error('the catalog cluster was created without a generated secret');
    this.secret = this.cluster.secret;
    this.cluster.addRotationSingleUser({ automaticallyAfter: Duration.days(30), vpcSubnets: props.appSubnets });

    this.bootstrap = this.createBootstrap(props);
  }

  /** The variables every catalog client's environment schema starts with. */
  catalogEnvironment(): EnvOf<typeof catalogEnvSchema> {
    return {
      CATALOG_CLUSTER_ARN: this.cluster.clusterArn,
      CATALOG_SECRET_ARN: this.secret.secretArn,
      CATALOG_DATABASE: this.databaseName,
    };
  }

  /**
   * Grants the Data API calls a catalog client makes, on this cluster and its secret only.
   * `read` is a single statement at a time; `write` adds the transaction calls.
   */
  grantDataApiAccess(grantee: IGrantable, access: DataApiAccess = 'write'): Grant {
    Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: [this.secret.secretArn] });
    return Grant.addToPrincipal({ grantee, actions: access === 'read' ? READ_ACTIONS : WRITE_ACTIONS, resourceArns: [this.cluster.clusterArn] });
  }

  private createBootstrap(props: ShardCatalogProps): CustomResource {
    const onEvent = new AppFunction<typeof catalogBootstrapEnvSchema>(this, 'BootstrapFunction', {
      entry: 'functions/catalog/bootstrap-handler.ts',
      serviceName: 'catalog-bootstrap',
      description: 'Migrates the Shardkeeper catalog and seeds the initial shard map',
      environment: this.catalogEnvironment(),
      // A paused or cold cluster can take a while to answer the Data API.
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
    });
    this.grantDataApiAccess(onEvent);

    const frameworkRole = new Role(this, 'BootstrapProviderRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    const frameworkLogs = new LogGroup(this, 'BootstrapProviderLogs', { retention: props.logRetention });
    frameworkLogs.grantWrite(frameworkRole);
    const provider = new Provider(this, 'BootstrapProvider', { onEventHandler: onEvent, frameworkOnEventRole: frameworkRole, logGroup: frameworkLogs });
    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(onEvent.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason: 'The Provider framework may invoke any version of the bootstrap function it fronts, and only that function.',
    });

    const bootstrap = new CustomResource(this, 'Bootstrap', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::ShardkeeperCatalogBootstrap',
      properties: {
        InitialShardMap: props.initialShardMap ? JSON.stringify(props.initialShardMap) : '',
        MigrationsChecksum: migrationsChecksum(),
      },
    });
    // The Data API answers only once the writer instance is up.
    bootstrap.node.addDependency(this.cluster);
    return bootstrap;
  }
}

/** Changes whenever a migration is added or edited, so the next deploy runs the bootstrap again. */
function migrationsChecksum(): string {
  const hash = createHash('sha256');
  for (const migration of catalogMigrations) hash.update(`${migration.version}:${migrationChecksum(migration)}\n`);
  return hash.digest('hex');
}
