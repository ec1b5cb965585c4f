import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { ResultWriterV2, S3JsonItemReader, type CfnStateMachine, type StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { MAP_ITEMS_PREFIX, MAP_RESULTS_PREFIX } from '../../functions/shared/map-items';

/**
 * A Distributed Map's own files: the items a workflow step writes before the Map starts, and the
 * results the Map writes back. Kept apart from the data buckets, so the workflow's grants never
 * reach backups or archived rows.
 */
export function workflowFilesBucket(scope: Construct, accessLogs: IBucket, logPrefix: string): Bucket {
  return new Bucket(scope, 'WorkflowFiles', {
    encryption: BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: logPrefix,
    // A run's items and results matter while it lasts (at most 7 days) and a little after.
    lifecycleRules: [{ id: 'ExpireWorkflowFiles', expiration: Duration.days(14), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/** Lets the step that plans a run write its items list, and nothing else in the bucket. */
export function grantMapItemsWrite(files: Bucket, grantee: IGrantable & { role?: Construct }): void {
  Grant.addToPrincipal({ grantee, actions: ['s3:PutObject'], resourceArns: [files.arnForObjects(`${MAP_ITEMS_PREFIX}*`)] });
  Validations.of(grantee.role!).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${Stack.of(files).getLogicalId(files.node.defaultChild as never)}.Arn>/${MAP_ITEMS_PREFIX}*]`,
    reason: "Each run's items go to an object named after the run; the grant covers that prefix of the workflow files bucket only.",
  });
}

/** The Map's item reader (the JSON array at `keyPath`) and result writer, both in the workflow files bucket. */
export function mapFilesAccess(files: Bucket, keyPath: string) {
  return { itemReader: new S3JsonItemReader({ bucket: files, key: keyPath }), resultWriterV2: new ResultWriterV2({ bucket: files, prefix: MAP_RESULTS_PREFIX }) };
}

/** The cdk-nag findings a Distributed Map's generated grants raise, with why each is as narrow as it can be. */
export function acknowledgeDistributedMap(machine: StateMachine, files: Bucket): void {
  const stack = Stack.of(machine);
  const machineId = stack.getLogicalId(machine.node.defaultChild as CfnStateMachine);
  // cdk-nag prints unresolved region and account as pseudo parameters.
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const executions = `arn:<AWS::Partition>:states:${region}:${account}:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machineId}"}]}]}`;
  for (const resource of [`${executions}:*`, `${executions}/*:*`]) {
    Validations.of(machine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${resource}]`,
      reason: "A Distributed Map manages its own child executions of this state machine, whose names it chooses; the grant covers this machine's executions only.",
    });
  }
  Validations.of(machine).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${stack.getLogicalId(files.node.defaultChild as never)}>/*]`,
    reason: "The Distributed Map reads each run's items and writes its results under names it chooses; the bucket holds only the workflow's own files.",
  });
}
