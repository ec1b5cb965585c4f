import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSecretsManagerCredentials } from '../../../functions/adapters/secrets-credentials';
import type { ShardNode } from '../../../functions/core/shard-map-types';
import { staticCredentials } from '../../../functions/ports/node-credentials';
import { NodeCredentialsError } from '../../../functions/shared/errors';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shard-80-admin-AbCdEf';
const node = (overrides: Partial<ShardNode> = {}): ShardNode => ({ id: '-80-a', role: 'primary', host: '10.0.1.15', port: 3306, secretRef: SECRET_ARN, ...overrides });
const rdsSecret = (password: string) =>
  JSON.stringify({ username: 'shardkeeper', password, engine: 'mysql', host: 'shard-80.cluster-abc.eu-west-1.rds.amazonaws.com', port: 3306, dbClusterIdentifier: 'shard-80' });

const secrets = mockClient(SecretsManagerClient);

describe('Secrets Manager node credentials', () => {
  let now: number;
  const clock = { now: () => now };
  const credentials = () => createSecretsManagerCredentials(new SecretsManagerClient({ region: 'eu-west-1' }), { ttlMs: 60_000, clock });

  beforeEach(() => {
    secrets.reset();
    now = 1_700_000_000_000;
  });

  it("reads the node's secret as RDS stores it", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: rdsSecret('s3cret') });
    expect(await credentials().credentialsFor(node())).toEqual({ user: 'shardkeeper', password: 's3cret' });
  });

  it('reads a secret once for concurrent lookups and reuses it until the TTL runs out', async () => {
    secrets.on(GetSecretValueCommand).resolvesOnce({ SecretString: rdsSecret('first') }).resolves({ SecretString: rdsSecret('second') });
    const resolver = credentials();
    const nodes = ['-80-a', '-80-b', '-80-c'].map((id) => node({ id }));
    const first = await Promise.all(nodes.map((each) => resolver.credentialsFor(each)));
    expect(first.map((each) => each.password)).toEqual(['first', 'first', 'first']);
    now += 59_999;
    expect((await resolver.credentialsFor(node())).password).toBe('first');
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    now += 1;
    expect((await resolver.credentialsFor(node())).password).toBe('second');
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('reads the secret again after invalidate, as after a rotation', async () => {
    secrets.on(GetSecretValueCommand).resolvesOnce({ SecretString: rdsSecret('old') }).resolves({ SecretString: rdsSecret('rotated') });
    const resolver = credentials();
    expect((await resolver.credentialsFor(node())).password).toBe('old');
    resolver.invalidate(node());
    expect((await resolver.credentialsFor(node())).password).toBe('rotated');
  });

  it('does not cache a failed read', async () => {
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }))
      .resolves({ SecretString: rdsSecret('s3cret') });
    const resolver = credentials();
    await expect(resolver.credentialsFor(node())).rejects.toThrow(new RegExp(`cannot read secret ${SECRET_ARN}: Secrets Manager can't find`));
    expect((await resolver.credentialsFor(node())).password).toBe('s3cret');
  });

  it('says clearly that a node without secretRef has no credentials, without calling AWS', async () => {
    const failure = credentials().credentialsFor(node({ id: '40-80-b', secretRef: undefined }));
    await expect(failure).rejects.toBeInstanceOf(NodeCredentialsError);
    await expect(failure).rejects.toThrow(/node 40-80-b has no secretRef/);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 0);
  });

  it.each([
    ['not JSON', { SecretString: 'password=hunter2' }, /is not JSON/],
    ['without a password', { SecretString: JSON.stringify({ username: 'shardkeeper', token: 'hunter2' }) }, /lacks a string "username" and "password"/],
    ['binary', { SecretBinary: new Uint8Array([104, 117, 110, 116, 101, 114, 50]) }, /binary secrets are not supported/],
  ])('rejects a secret that is %s without echoing its content', async (_, response, message) => {
    secrets.on(GetSecretValueCommand).resolves(response);
    const error = await credentials()
      .credentialsFor(node())
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NodeCredentialsError);
    expect(String((error as Error).message)).toMatch(message);
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
  });

  it('hands every node the same account from static credentials', async () => {
    expect(await staticCredentials('root', '').credentialsFor(node({ secretRef: undefined }))).toEqual({ user: 'root', password: '' });
  });
});
