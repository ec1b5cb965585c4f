import { DescribeDBClustersCommand, FailoverDBClusterCommand, RDSClient, type DBCluster } from '@aws-sdk/client-rds';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuroraClusterFailover, clusterIdFromArn } from '../../../functions/adapters/aurora-cluster-failover';
import { SfnTaskCallbacks } from '../../../functions/adapters/sfn-task-callbacks';
import { NodeNotReadyError } from '../../../functions/shared/errors';
import { ManualClock } from '../fakes/in-memory-catalog';

const rds = mockClient(RDSClient);
const sfn = mockClient(SFNClient);

const cluster = (status: string, writer: string | undefined): { DBClusters: DBCluster[] } => ({
  DBClusters: [
    {
      DBClusterIdentifier: 'shard-40-80',
      Status: status,
      DBClusterMembers: ['shard-40-80-1', 'shard-40-80-2'].map((id) => ({ DBInstanceIdentifier: id, IsClusterWriter: id === writer })),
    },
  ],
});

function failover(waitMs = 10_000) {
  const clock = new ManualClock();
  const sleeps: number[] = [];
  const adapter = new AuroraClusterFailover({
    client: new RDSClient({ region: 'eu-west-1' }),
    waitMs,
    pollIntervalMs: 1_000,
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
  });
  return { adapter, sleeps };
}

describe('Aurora cluster failover', () => {
  beforeEach(() => rds.reset());

  it('starts FailoverDBCluster and polls until another instance writes to an available cluster', async () => {
    rds
      .on(DescribeDBClustersCommand)
      .resolvesOnce(cluster('available', 'shard-40-80-1'))
      .resolvesOnce(cluster('failing-over', 'shard-40-80-1'))
      .resolvesOnce(cluster('failing-over', undefined))
      .resolves(cluster('available', 'shard-40-80-2'));
    rds.on(FailoverDBClusterCommand).resolves({});
    const { adapter, sleeps } = failover();
    await expect(adapter.failover('shard-40-80', 'shard-40-80-1')).resolves.toBe('shard-40-80-2');
    expect(rds).toHaveReceivedCommandTimes(FailoverDBClusterCommand, 1);
    expect(rds).toHaveReceivedCommandWith(FailoverDBClusterCommand, { DBClusterIdentifier: 'shard-40-80' });
    expect(sleeps).toEqual([1_000, 1_000]);
  });

  it('does not start a second failover when retried while one runs or after it finished', async () => {
    rds.on(DescribeDBClustersCommand).resolvesOnce(cluster('failing-over', 'shard-40-80-1')).resolves(cluster('available', 'shard-40-80-2'));
    const { adapter } = failover();
    await expect(adapter.failover('shard-40-80', 'shard-40-80-1')).resolves.toBe('shard-40-80-2');
    await expect(adapter.failover('shard-40-80', 'shard-40-80-1')).resolves.toBe('shard-40-80-2');
    expect(rds).toHaveReceivedCommandTimes(FailoverDBClusterCommand, 0);
  });

  it('gives up with NodeNotReady (retried by the workflow) when no new writer appears in time', async () => {
    rds.on(DescribeDBClustersCommand).resolves(cluster('failing-over', 'shard-40-80-1'));
    const { adapter } = failover(3_000);
    await expect(adapter.failover('shard-40-80', 'shard-40-80-1')).rejects.toThrow(NodeNotReadyError);
  });

  it('names the current writer', async () => {
    rds.on(DescribeDBClustersCommand).resolves(cluster('available', 'shard-40-80-2'));
    await expect(failover().adapter.currentWriter('shard-40-80')).resolves.toBe('shard-40-80-2');
  });

  it('takes the cluster identifier from a cluster ARN and refuses anything else', () => {
    expect(clusterIdFromArn('arn:aws:rds:eu-west-1:111122223333:cluster:shard-40-80')).toBe('shard-40-80');
    expect(() => clusterIdFromArn('arn:aws:rds:eu-west-1:111122223333:db:shard-40-80-1')).toThrow(/not an RDS cluster ARN/);
  });
});

describe('Step Functions task callbacks', () => {
  beforeEach(() => sfn.reset());

  it('approves with SendTaskSuccess and the decision as JSON output', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    await new SfnTaskCallbacks(new SFNClient({ region: 'eu-west-1' })).succeed('token-1', { decision: 'approved', decidedBy: 'alice' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-1', output: '{"decision":"approved","decidedBy":"alice"}' });
  });

  it('rejects with SendTaskFailure, keeping error and cause inside the API limits', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await new SfnTaskCallbacks(new SFNClient({ region: 'eu-west-1' })).fail('token-1', 'RecoveryRejected', 'x'.repeat(40_000));
    const input = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ taskToken: 'token-1', error: 'RecoveryRejected' });
    expect(input.cause).toHaveLength(32_768);
  });
});
