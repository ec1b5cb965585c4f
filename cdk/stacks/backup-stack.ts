import { CfnOutput, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { ShardkeeperConfig } from '../config';
import { BackupOrchestrator } from '../constructs/backup-orchestrator';
import type { FleetAccess, OperatorAlerts } from '../constructs/health-monitor';
import type { CoreStack } from './core-stack';
import type { HealthStack } from './health-stack';

export interface BackupStackProps extends StackProps {
  config: ShardkeeperConfig;
  core: CoreStack;
  /** Its event bus carries the backup events too: one bus for the suite. */
  health: HealthStack;
}

/** Backup orchestration on the core stack's network, catalog and operator topic, publishing to the suite's bus. */
export class BackupStack extends Stack {
  readonly backups: BackupOrchestrator;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id, props);
    Validations.of(this).acknowledge({
      id: '@aws-cdk/core:crossStackReferencesDefaultStrong',
      reason: 'Strong references are intended: the core and health stacks must not drop the VPC, catalog, topic or bus this stack uses.',
    });
    const { config, core, health } = props;
    const access: FleetAccess = { vpc: core.network.vpc, subnets: core.network.appSubnets, fleet: config.fleet };
    const alerts: OperatorAlerts = { topic: core.ops.topic, dashboard: new Dashboard(this, 'Dashboard', { dashboardName: `${config.stackPrefix}-backup` }), alarms: [] };
    this.backups = new BackupOrchestrator(this, 'Backup', { config: config.backup, access, catalog: core.catalog, bus: health.monitor.bus, alerts, logRetention: config.logRetentionDays });
    alerts.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Backup alarms', alarms: alerts.alarms, width: 24 }));

    new CfnOutput(this, 'BackupBucketName', { value: this.backups.bucket.bucketName, description: 'Backups (KMS, SSL only, versioned, lifecycle by retention class)' });
    new CfnOutput(this, 'BackupStateMachineArn', { value: this.backups.stateMachine.stateMachineArn, description: 'Start with {"kind": "full" | "incremental", "shards"?: [...]}' });
  }
}
