import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlCatalog } from '../../../functions/adapters/sql-catalog';
import { SqlRecoveryStore } from '../../../functions/adapters/sql-recovery-store';
import { recoveryLockName } from '../../../functions/recovery/context';
import { bootstrapCatalog } from '../../../functions/catalog/bootstrap';
import { demoShardMap } from '../../../functions/core/population';
import { withDatabase } from '../../../functions/local/sandbox';
import { createScratchDatabase, mysqlUrl, type ScratchDatabase } from '../helpers/mariadb';
import { cli } from '../../unit/cli/run-cli';

describe('shardkeeper CLI against a real catalog', () => {
  let scratch: ScratchDatabase;
  let catalogArg: string[];

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    await bootstrapCatalog(new SqlCatalog(scratch.executor), demoShardMap(4));
    catalogArg = ['--catalog', withDatabase(mysqlUrl(), scratch.database)];
  });
  afterAll(async () => scratch.drop());

  it('routes a key with the map in the catalog', async () => {
    const run = await cli('route', '12345', '--json', ...catalogArg);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ key: '12345', keyspaceId: '831ccd7c38f86297', shard: '80-c0', writer: '127.0.0.1:3306', mapVersion: 1 });
  });

  it('shows the map without secret references', async () => {
    const run = await cli('map', 'show', '--json', ...catalogArg);
    expect(run.code).toBe(0);
    const map = JSON.parse(run.out);
    expect(map.shards.map((shard: { name: string }) => shard.name)).toEqual(['-40', '40-80', '80-c0', 'c0-']);
  });

  it('plans a split without changing the map, then applies it as a new version', async () => {
    const dryRun = JSON.parse((await cli('map', 'split', '40-80', '--json', ...catalogArg)).out);
    expect(dryRun).toMatchObject({ into: ['40-60', '60-80'], fractionOfShardMoving: 0.5, fractionOfKeyspaceMoving: 0.125, applied: false, basedOnVersion: 1 });

    const applied = await cli('map', 'split', '40-80', '--apply', '--json', ...catalogArg);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.out)).toMatchObject({ applied: true, newVersion: 2 });

    const shards = JSON.parse((await cli('map', 'show', '--json', ...catalogArg)).out).shards.map((shard: { name: string }) => shard.name);
    expect(shards).toEqual(['-40', '40-60', '60-80', '80-c0', 'c0-']);
    const history = JSON.parse((await cli('map', 'history', '--json', ...catalogArg)).out);
    expect(history[0]).toMatchObject({ version: 2, summary: 'split 40-80 into 40-60 and 60-80' });
  });

  it('does not split a shard while a recovery holds it, and splits it once the recovery is done', async () => {
    const recovery = new SqlRecoveryStore(scratch.executor);
    // The demo shards share one server: one recovery lock covers them all.
    const lock = recoveryLockName((await new SqlCatalog(scratch.executor).loadShardMap())!, 'c0-');
    expect(lock).toBe('-40');
    expect(await recovery.acquireLock(lock, 'failover-c0-1', 60_000)).toEqual({ acquired: true });
    const refused = await cli('map', 'split', 'c0-', '--apply', ...catalogArg);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/recovery failover-c0-1 holds shard -40 until \S+; split it once that recovery is done/);
    const version = async () => JSON.parse((await cli('map', 'show', '--json', ...catalogArg)).out).version as number;
    const before = await version();

    await recovery.releaseLock(lock, 'failover-c0-1');
    const applied = await cli('map', 'split', 'c0-', '--apply', '--json', ...catalogArg);
    expect(applied.code, applied.err).toBe(0);
    expect(await version()).toBe(before + 1);
    // The split let go of the lock.
    expect(await recovery.acquireLock(lock, 'failover-c0-2', 60_000)).toEqual({ acquired: true });
  });

  it('refuses to split a shard that does not exist', async () => {
    const run = await cli('map', 'split', '12-34', ...catalogArg);
    expect(run.code).toBeGreaterThan(0);
    expect(run.err).toMatch(/12-34/);
  });

  it('rejects an invalid key with exit code 2', async () => {
    const run = await cli('route', '-5', ...catalogArg);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/negative/);
  });

  it.each(['map show', 'health', 'archive status', 'backup list', 'recovery status'])('%s says a --catalog that is not a URL is not one', async (command) => {
    const run = await cli(...command.split(' '), '--catalog', 'not a url');
    expect(run.code).toBe(1);
    expect(run.err).toBe('error: catalog URL "not a url" is not a URL like mysql://user@host:3306/database\n');
  });

  it('says the catalog is unreachable and how to get one, instead of printing a stack trace', async () => {
    const run = await cli('map', 'show', '--catalog', 'mysql://root@127.0.0.1:1/sk_catalog');
    expect(run.code).toBe(1);
    expect(run.err).toBe('error: cannot use the catalog at 127.0.0.1:1/sk_catalog (ECONNREFUSED); start the sandbox with npm start or pass --catalog\n');
    expect(run.err).not.toMatch(/\n\s+at /);
  });
});
