import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where MySQL/MariaDB servers and client tools are installed, Lambda layers (/opt/bin) included. */
const STANDARD_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin', '/opt/bin'];

/**
 * The first of `names` found in the standard folders, then in `pathVariable` (a PATH value the
 * caller read from its own environment: the CLI's, never a function's).
 */
export function findExecutable(names: readonly string[], pathVariable = ''): string | undefined {
  const dirs = [...STANDARD_DIRS, ...pathVariable.split(delimiter).filter(Boolean)];
  for (const name of names) {
    const found = dirs.map((dir) => join(dir, name)).find((candidate) => existsSync(candidate));
    if (found) return found;
  }
  return undefined;
}
