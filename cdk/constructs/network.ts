import { Validations } from 'aws-cdk-lib';
import { FlowLogDestination, SubnetType, Vpc, type IVpc, type SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { VpcConfig } from '../config';

export interface NetworkProps {
  config: VpcConfig;
  logRetention: RetentionDays;
}

/**
 * The VPC the fleet lives in: created for a demo fleet, or imported from ids in config (no
 * synth-time lookups). Databases go in `dataSubnets`; functions that open MySQL connections and
 * endpoints go in `appSubnets`, which reach AWS APIs.
 */
export class Network extends Construct {
  readonly vpc: IVpc;
  readonly appSubnets: SubnetSelection;
  readonly dataSubnets: SubnetSelection;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { config } = props;

    if ('create' in config) {
      const vpc = new Vpc(this, 'Vpc', {
        maxAzs: config.create.maxAzs,
        // One NAT gateway: the demo fleet values cost over surviving an AZ outage of egress.
        natGateways: 1,
        subnetConfiguration: [
          { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'app', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
          { name: 'data', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
        ],
      });
      vpc.addFlowLog('FlowLogs', {
        destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'FlowLogsGroup', { retention: props.logRetention })),
      });
      Validations.of(vpc).acknowledge({ id: 'CloudFormation-Validate::W3010', reason: 'Availability zones are set in config so synth needs no AWS lookups.' });
      this.vpc = vpc;
      this.appSubnets = { subnetType: SubnetType.PRIVATE_WITH_EGRESS };
      this.dataSubnets = { subnetType: SubnetType.PRIVATE_ISOLATED };
    } else {
      this.vpc = Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: config.vpcId,
        vpcCidrBlock: config.vpcCidrBlock,
        availabilityZones: config.availabilityZones,
        privateSubnetIds: config.privateSubnetIds,
        privateSubnetRouteTableIds: config.privateSubnetRouteTableIds,
      });
      if (!config.privateSubnetRouteTableIds) {
        Validations.of(this.vpc).acknowledge({
          id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
          reason: 'Nothing here adds routes or gateway endpoints to the imported subnets; their route tables are the network owner\'s.',
        });
      }
      this.appSubnets = { subnetType: SubnetType.PRIVATE_WITH_EGRESS };
      this.dataSubnets = this.appSubnets;
    }
  }
}
