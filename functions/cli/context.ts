import { existsSync, readFileSync } from 'node:fs';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import type { Catalog } from '../ports/catalog';
import type { SqlExecutor } from '../ports/sql';
import { CatalogUnavailableError } from '../shared/errors';
import { SANDBOX_STATE_FILE } from '../local/sandbox';

export interface GlobalOptions {
  json?: boolean;
  catalog?: string;
}

export interface CliContext {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
  /** stderr is a terminal: progress is redrawn in place rather than logged line by line. */
  interactive?: boolean;
  /** Resolves when the command should finish; the sandbox waits on it. */
  untilStopped: () => Promise<void>;
}

export const DEFAULT_CATALOG_URL = 'mysql://root@127.0.0.1:3306/sk_catalog';

/** The catalog's URL: --catalog, the environment, the running sandbox's, or the default; checked to be a URL. */
export function catalogUrl(context: CliContext, options: GlobalOptions): string {
  const url = options.catalog || context.env.SHARDKEEPER_CATALOG_URL || sandboxCatalogUrl() || DEFAULT_CATALOG_URL;
  if (!URL.canParse(url)) throw new CatalogUnavailableError(`catalog URL ${JSON.stringify(url)} is not a URL like mysql://user@host:3306/database`);
  return url;
}

function sandboxCatalogUrl(): string | undefined {
  if (!existsSync(SANDBOX_STATE_FILE)) return undefined;
  return (JSON.parse(readFileSync(SANDBOX_STATE_FILE, 'utf8')) as { catalogUrl?: string }).catalogUrl;
}

/** Opens the catalog for one command and always closes it; `sql` is its executor, for the other stores in it. */
export async function withCatalog<T>(context: CliContext, options: GlobalOptions, work: (catalog: Catalog, sql: SqlExecutor) => Promise<T>): Promise<T> {
  const url = catalogUrl(context, options);
  const pool = createMysqlPool({ url, connectionLimit: 2 });
  try {
    const sql = createMysqlExecutor(pool);
    return await work(new SqlCatalog(sql), sql);
  } catch (error) {
    throw explainCatalogFailure(error, url);
  } finally {
    await pool.end();
  }
}

const UNUSABLE_CATALOG = /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ER_BAD_DB_ERROR|ER_ACCESS_DENIED_ERROR|ER_ACCESS_DENIED_NO_PASSWORD_ERROR)$/;

/**
 * A catalog that cannot be reached or opened, told as what to do about it; any other error as it
 * is. The catalog's executor reports a refused or lost connection as CatalogUnavailableError with
 * the driver's error as the cause (a shard's connection errors come otherwise).
 */
export function explainCatalogFailure(error: unknown, catalogUrl: string): unknown {
  const driverError = error instanceof CatalogUnavailableError ? error.cause : error;
  const code = (driverError as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !UNUSABLE_CATALOG.test(code)) return error;
  // Host and database only: the URL may hold a password.
  const { host, pathname } = new URL(catalogUrl);
  return new CatalogUnavailableError(`cannot use the catalog at ${host}${pathname} (${code}); start the sandbox with npm start or pass --catalog`, { cause: error });
}

export function print(context: CliContext, options: GlobalOptions, value: unknown, human: () => string): void {
  context.out(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}
