import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { configuredAvailabilityZones, type ShardkeeperConfig } from '../config';
import { Network } from '../constructs/network';
import { OpsDashboard } from '../constructs/ops-dashboard';
import { ShardCatalog } from '../constructs/shard-catalog';
import { ShardLookupApi } from '../constructs/shard-lookup-api';

export interface CoreStackProps extends StackProps {
  config: ShardkeeperConfig;
}

/** The foundation every capability builds on: network, operator alarms, the catalog and shard lookup. */
export class CoreStack extends Stack {
  readonly network: Network;
  readonly ops: OpsDashboard;
  readonly catalog: ShardCatalog;
  readonly lookupApi: ShardLookupApi;
  private readonly zones: string[] | undefined;

  constructor(scope: Construct, id: string, props: CoreStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.zones = configuredAvailabilityZones(config);
    const logRetention = config.logRetentionDays;

    this.network = new Network(this, 'Network', { config: config.vpc, logRetention });
    this.ops = new OpsDashboard(this, 'Ops', { dashboardName: config.stackPrefix, alarmEmail: config.alarmEmail });
    this.catalog = new ShardCatalog(this, 'Catalog', {
      config: config.catalog,
      vpc: this.network.vpc,
      dataSubnets: this.network.dataSubnets,
      appSubnets: this.network.appSubnets,
      initialShardMap: config.fleet,
      logRetention,
    });
    this.lookupApi = new ShardLookupApi(this, 'Lookup', {
      config: config.lookup,
      catalog: this.catalog,
      ops: this.ops,
      logRetention,
      network: { vpc: this.network.vpc, subnets: this.network.appSubnets },
    });

    new CfnOutput(this, 'LookupApiUrl', { value: this.lookupApi.url, description: 'Base URL of the shard lookup API (IAM-signed requests)' });
    new CfnOutput(this, 'CatalogClusterArn', { value: this.catalog.cluster.clusterArn, description: 'Catalog cluster, for the Data API' });
    new CfnOutput(this, 'CatalogSecretArn', { value: this.catalog.secret.secretArn, description: 'Catalog credentials, for the Data API' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.ops.topic.topicArn, description: 'Operator alarm topic' });
  }

  /** Zones from config, so synth never looks them up. */
  override get availabilityZones(): string[] {
    return this.zones ?? super.availabilityZones;
  }
}
