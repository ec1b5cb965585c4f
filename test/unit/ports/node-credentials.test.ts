import { describe, expect, it } from 'vitest';
import { urlAccount, urlCredentials } from '../../../functions/ports/node-credentials';

const NODE = { id: 'n1', role: 'primary' as const, host: '127.0.0.1', port: 3306 };

describe('the account a mysql URL names', () => {
  it('decodes a percent-encoded user and password', () => {
    expect(urlAccount(new URL('mysql://ops%40studio:p%3Ass%2Fw0rd@db.internal:3306'))).toEqual({ user: 'ops@studio', password: 'p:ss/w0rd' });
  });

  it('is root with an empty password when the URL names no account', () => {
    expect(urlAccount(new URL('mysql://127.0.0.1:3306'))).toEqual({ user: 'root', password: '' });
  });

  it('is the one account for every node', async () => {
    await expect(urlCredentials(new URL('mysql://archiver:secret@127.0.0.1')).credentialsFor(NODE)).resolves.toEqual({ user: 'archiver', password: 'secret' });
  });
});
