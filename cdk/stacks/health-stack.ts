import { CfnOutput, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { ShardkeeperConfig } from '../config';
import { FailoverWorkflow } from '../constructs/failover-workflow';
import { HealthMonitor, type FleetAccess, type OperatorAlerts } from '../constructs/health-monitor';
import type { CoreStack } from './core-stack';

export interface HealthStackProps extends StackProps {
  config: ShardkeeperConfig;
  core: CoreStack;
}

/** Health monitoring and event-driven recovery of the fleet, on the core stack's network, catalog and operator topic. */
export class HealthStack extends Stack {
  readonly monitor: HealthMonitor;
  readonly recovery: FailoverWorkflow;

  constructor(scope: Construct, id: string, props: HealthStackProps) {
    super(scope, id, props);
    Validations.of(this).acknowledge({
      id: '@aws-cdk/core:crossStackReferencesDefaultStrong',
      reason: "Strong references are intended: CloudFormation must refuse to change the core stack's VPC, catalog or operator topic while this stack uses them.",
    });
    const { config, core } = props;
    const logRetention = config.logRetentionDays;
    const access: FleetAccess = { vpc: core.network.vpc, subnets: core.network.appSubnets, fleet: config.fleet };
    const alerts: OperatorAlerts = { topic: core.ops.topic, dashboard: new Dashboard(this, 'Dashboard', { dashboardName: `${config.stackPrefix}-health` }), alarms: [] };

    this.monitor = new HealthMonitor(this, 'Health', { config: config.health, access, catalog: core.catalog, alerts, logRetention, namePrefix: config.stackPrefix });
    this.recovery = new FailoverWorkflow(this, 'Recovery', { config: config.recovery, access, bus: this.monitor.bus, catalog: core.catalog, alerts, logRetention });
    alerts.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Health and recovery alarms', alarms: alerts.alarms, width: 24 }));

    new CfnOutput(this, 'EventBusName', { value: this.monitor.bus.eventBusName, description: 'Shardkeeper health and recovery events' });
    new CfnOutput(this, 'FailoverStateMachineArn', { value: this.recovery.failover.stateMachineArn, description: 'Started by ShardPrimaryDown' });
    new CfnOutput(this, 'RunbookStateMachineArn', { value: this.recovery.runbook.stateMachineArn, description: 'Waits for shardkeeper recovery approve|reject' });
  }
}
