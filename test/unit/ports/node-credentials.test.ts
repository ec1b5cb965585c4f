import { describe, expect, it } from 'vitest';
import { urlAccount, urlCredentials } from '../../../functions/ports/node-credentials';

const PRIMARY = { id: 'n1', role: 'primary' as const, host: '127.0.0.1', port: 3306 };
const REPLICA = { id: 'n2', role: 'replica' as const, host: '10.0.0.7', port: 3307, secretRef: 'sk/shard-40/n2' };

describe('the account a mysql URL names', () => {
  it('decodes a percent-encoded user and password', () => {
    expect(urlAccount(new URL('mysql://ops%40studio:p%3Ass%2Fw0rd@db.internal:3306'))).toEqual({ user: 'ops@studio', password: 'p:ss/w0rd' });
  });

  it('is root with an empty password when the URL names no account', () => {
    expect(urlAccount(new URL('mysql://127.0.0.1:3306'))).toEqual({ user: 'root', password: '' });
  });

  it('is the one account for every node', async () => {
    const credentials = urlCredentials(new URL('mysql://archiver:secret@127.0.0.1'));
    for (const node of [PRIMARY, REPLICA]) await expect(credentials.credentialsFor(node)).resolves.toEqual({ user: 'archiver', password: 'secret' });
  });
});
