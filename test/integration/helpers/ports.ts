import { createServer } from 'node:net';

/**
 * Test servers listen below Linux's ephemeral range (32768–60999 by default), where no outgoing
 * connection of the test run can be holding the port; ports anything else listens on are skipped.
 */
const LOWEST = 20_000;
const HIGHEST = 32_000;

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** The first of `count` consecutive ports on 127.0.0.1 that nothing listens on now, at a random place in the range. */
export async function freePortBlock(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = await isFree(port);
    if (free) return base;
  }
  throw new Error(`no ${count} free consecutive ports between ${LOWEST} and ${HIGHEST}`);
}
