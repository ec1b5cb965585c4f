import { AlarmStatusWidget, Dashboard, type AlarmBase, type IWidget } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface OpsDashboardProps {
  dashboardName: string;
  alarmEmail?: string;
}

/**
 * Where operators look and get paged: one SNS topic for every alarm of the suite and one
 * CloudWatch dashboard. Capabilities add their alarms and widgets here.
 */
export class OpsDashboard extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  private readonly alarms: AlarmBase[] = [];

  constructor(scope: Construct, id: string, props: OpsDashboardProps) {
    super(scope, id);
    const key = new Key(this, 'TopicKey', { enableKeyRotation: true, description: 'Encrypts the Shardkeeper operator alarm topic' });
    // Alarms publish to an encrypted topic only if CloudWatch may use its key.
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'AlarmTopic', { displayName: 'Shardkeeper alarms', masterKey: key, enforceSSL: true });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName });
    this.dashboard.addWidgets(new AlarmStatusRow(this.alarms));
  }

  /** Pages operators when the alarm fires and when it recovers; lists it on the dashboard. */
  addAlarm(...alarms: AlarmBase[]): void {
    for (const alarm of alarms) {
      alarm.addAlarmAction(new SnsAction(this.topic));
      alarm.addOkAction(new SnsAction(this.topic));
      this.alarms.push(alarm);
    }
  }

  addWidgets(...widgets: IWidget[]): void {
    this.dashboard.addWidgets(...widgets);
  }
}

/** The alarm status of the whole suite, rendered when the dashboard is, so alarms added later appear too. */
class AlarmStatusRow implements IWidget {
  readonly width = 24;
  readonly height = 4;
  private x = 0;
  private y = 0;

  constructor(private readonly alarms: readonly AlarmBase[]) {}

  position(x: number, y: number): void {
    this.x = x;
    this.y = y;
  }

  toJson(): unknown[] {
    if (this.alarms.length === 0) return [];
    const widget = new AlarmStatusWidget({ title: 'Shardkeeper alarms', alarms: [...this.alarms], width: this.width, height: this.height });
    widget.position(this.x, this.y);
    return widget.toJson();
  }
}
