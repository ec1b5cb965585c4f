import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { catalogMigrations, migrate, type Migration } from '../../../functions/adapters/catalog-migrations';
import { createMysqlExecutor } from '../../../functions/adapters/mysql-executor';
import { ConfigError } from '../../../functions/shared/errors';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/mariadb';

const versions = catalogMigrations.map((migration) => migration.version);
const latest = Math.max(...versions);

describe('catalog migrations on MariaDB', () => {
  let scratch: ScratchDatabase;
  beforeEach(async () => {
    scratch = await createScratchDatabase();
  });
  afterEach(async () => {
    await scratch.drop();
  });

  const tables = async () =>
    (
      await scratch.executor.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = :database', {
        database: scratch.database,
      })
    )
      .map((row) => String(row.name))
      .sort();

  it('applies every migration once and creates the shard map tables', async () => {
    await expect(migrate(scratch.executor)).resolves.toEqual({ applied: versions, current: latest });
    expect(await tables()).toEqual(
      expect.arrayContaining(['sk_key_overrides', 'sk_schema_migrations', 'sk_shard_map_state', 'sk_shard_map_versions', 'sk_shard_nodes', 'sk_shards']),
    );
    const [recorded] = await scratch.executor.query('SELECT version, name, checksum FROM sk_schema_migrations ORDER BY version');
    expect(recorded).toMatchObject({ version: 1, name: 'shard-map' });
    expect(String(recorded?.checksum)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('re-applies as a no-op', async () => {
    await migrate(scratch.executor);
    await expect(migrate(scratch.executor)).resolves.toEqual({ applied: [], current: latest });
    const [state] = await scratch.executor.query('SELECT COUNT(*) AS state_rows FROM sk_shard_map_state');
    expect(Number(state?.state_rows)).toBe(1);
  });

  it('lets two processes migrate at once: both succeed and the schema is applied exactly once', async () => {
    const other = createMysqlExecutor(scratch.openPool());
    const results = await Promise.all([migrate(scratch.executor), migrate(other)]);
    expect(results.map((result) => result.applied).sort((a, b) => a.length - b.length)).toEqual([[], versions]);
    expect(results.every((result) => result.current === latest)).toBe(true);
    const [count] = await scratch.executor.query('SELECT COUNT(*) AS applied FROM sk_schema_migrations');
    expect(Number(count?.applied)).toBe(versions.length);
  });

  it('applies a migration appended later without touching the applied ones', async () => {
    await migrate(scratch.executor);
    const appended: Migration = { version: latest + 1, name: 'appended', statements: ['CREATE TABLE IF NOT EXISTS sk_appended (id INT PRIMARY KEY) ENGINE=InnoDB'] };
    await expect(migrate(scratch.executor, [...catalogMigrations, appended])).resolves.toEqual({ applied: [latest + 1], current: latest + 1 });
    expect(await tables()).toContain('sk_appended');
  });

  it('refuses to run when an applied migration was edited', async () => {
    await migrate(scratch.executor);
    const [first] = catalogMigrations;
    const edited: Migration[] = [{ ...first!, statements: [...first!.statements, 'CREATE TABLE IF NOT EXISTS sk_sneaky (id INT PRIMARY KEY)'] }];
    const attempt = migrate(scratch.executor, edited);
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/migration 1 \(shard-map\) changed after it was applied/);
    expect(await tables()).not.toContain('sk_sneaky');
  });

  it('ignores whitespace-only changes to an applied migration', async () => {
    await migrate(scratch.executor);
    const reindented = catalogMigrations.map((migration) => ({ ...migration, statements: migration.statements.map((statement) => `\n  ${statement.replace(/ +/g, '   ')}  `) }));
    await expect(migrate(scratch.executor, reindented)).resolves.toEqual({ applied: [], current: latest });
  });

  it('releases the migration lock so the next migrate does not wait', async () => {
    await migrate(scratch.executor);
    const [lock] = await scratch.executor.query("SELECT IS_FREE_LOCK(CONCAT('sk_migrate.', DATABASE())) AS free");
    expect(Number(lock?.free)).toBe(1);
  });
});
