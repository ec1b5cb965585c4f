import { CfnOutput, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import type { ShardkeeperConfig } from '../config';
import type { OperatorAlerts } from '../constructs/health-monitor';
import { LogArchiver } from '../constructs/log-archiver';
import type { CoreStack } from './core-stack';

export interface ArchiveStackProps extends StackProps {
  config: ShardkeeperConfig;
  core: CoreStack;
  /** The Shardkeeper event bus, where archive events go. */
  bus: IEventBus;
}

/** Archiving old rows to S3, on the core stack's network, catalog and operator topic. */
export class ArchiveStack extends Stack {
  readonly archiver: LogArchiver;

  constructor(scope: Construct, id: string, props: ArchiveStackProps) {
    super(scope, id, props);
    Validations.of(this).acknowledge({
      id: '@aws-cdk/core:crossStackReferencesDefaultStrong',
      reason: "Strong references are intended: CloudFormation must refuse to change the core stack's VPC, catalog or operator topic, or the event bus, while this stack uses them.",
    });
    const { config, core } = props;
    const alerts: OperatorAlerts = { topic: core.ops.topic, dashboard: new Dashboard(this, 'Dashboard', { dashboardName: `${config.stackPrefix}-archive` }), alarms: [] };
    this.archiver = new LogArchiver(this, 'Archive', {
      config: config.archive,
      access: { vpc: core.network.vpc, subnets: core.network.appSubnets, fleet: config.fleet },
      catalog: core.catalog,
      bus: props.bus,
      alerts,
      logRetention: config.logRetentionDays,
      namePrefix: config.stackPrefix,
    });
    alerts.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Archive alarms', alarms: alerts.alarms, width: 24 }));

    new CfnOutput(this, 'ArchiveBucketName', { value: this.archiver.bucket.bucketName, description: 'Archived rows: table=…/shard=…/dt=…/*.jsonl.zst' });
    new CfnOutput(this, 'ArchiveStateMachineArn', { value: this.archiver.stateMachine.stateMachineArn, description: 'Start with {"tables": [...], "shards": [...]} (both optional)' });
    new CfnOutput(this, 'ArchiveGlueDatabase', { value: this.archiver.glueDatabaseName, description: 'Athena: SELECT … FROM <database>.archived_rows WHERE "table" = …' });
    new CfnOutput(this, 'ArchiveAthenaWorkGroup', { value: this.archiver.workGroupName, description: 'Athena workgroup with encrypted results' });
  }
}
