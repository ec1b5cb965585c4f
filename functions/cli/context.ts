import { existsSync, readFileSync } from 'node:fs';
import { createMysqlExecutor, createMysqlPool } from '../adapters/mysql-executor';
import { SqlCatalog } from '../adapters/sql-catalog';
import type { Catalog } from '../ports/catalog';
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

export function catalogUrl(context: CliContext, options: GlobalOptions): string {
  if (options.catalog) return options.catalog;
  if (context.env.SHARDKEEPER_CATALOG_URL) return context.env.SHARDKEEPER_CATALOG_URL;
  if (existsSync(SANDBOX_STATE_FILE)) {
    const state = JSON.parse(readFileSync(SANDBOX_STATE_FILE, 'utf8')) as { catalogUrl?: string };
    if (state.catalogUrl) return state.catalogUrl;
  }
  return DEFAULT_CATALOG_URL;
}

/** Opens the catalog for one command and always closes it. */
export async function withCatalog<T>(context: CliContext, options: GlobalOptions, work: (catalog: Catalog) => Promise<T>): Promise<T> {
  const url = catalogUrl(context, options);
  if (!URL.canParse(url)) throw new CatalogUnavailableError(`catalog URL ${JSON.stringify(url)} is not a URL like mysql://user@host:3306/database`);
  const pool = createMysqlPool({ url, connectionLimit: 2 });
  try {
    return await work(new SqlCatalog(createMysqlExecutor(pool)));
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
  const parsed = URL.canParse(catalogUrl) ? new URL(catalogUrl) : undefined;
  const where = parsed ? ` at ${parsed.host}${parsed.pathname}` : '';
  return new CatalogUnavailableError(`cannot use the catalog${where} (${code}); start the sandbox with npm start or pass --catalog`, { cause: error });
}

export function print(context: CliContext, options: GlobalOptions, value: unknown, human: () => string): void {
  context.out(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}
