import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { describeSandbox, SANDBOX_DIR, SANDBOX_STATE_FILE, startSandbox } from '../local/sandbox';
import type { CliContext, GlobalOptions } from './context';

interface SandboxFlags extends GlobalOptions {
  port: number;
  shards: number;
  players: number;
  mysqlUrl?: string;
  reset?: boolean;
  databasePrefix: string;
  replicas: number;
  gameLogs: number;
}

export async function sandboxCommand(context: CliContext, options: SandboxFlags): Promise<void> {
  const log = (line: string) => context.err(`${line}\n`);
  const sandbox = await startSandbox({
    port: options.port,
    shards: options.shards,
    players: options.players,
    mysqlUrl: options.mysqlUrl ?? context.env.MYSQL_URL,
    searchPath: context.env.PATH,
    reset: options.reset === true,
    databasePrefix: options.databasePrefix,
    replicas: options.replicas,
    gameLogsPerShard: options.gameLogs,
    log,
  });
  // Lets other shardkeeper commands in this folder find the sandbox's catalog.
  mkdirSync(SANDBOX_DIR, { recursive: true });
  writeFileSync(SANDBOX_STATE_FILE, JSON.stringify({ catalogUrl: sandbox.catalogUrl, lookupUrl: sandbox.server.url, replicatedDir: sandbox.replicatedDir, recovery: sandbox.replicatedShards.length > 0, pid: process.pid }, null, 2));
  context.out(
    options.json
      ? `${JSON.stringify({ lookupUrl: sandbox.server.url, catalogUrl: sandbox.catalogUrl, mapVersion: sandbox.map.version, shards: sandbox.map.shards.map((s) => s.name) })}\n`
      : `${describeSandbox(sandbox)}\n`,
  );
  await context.untilStopped();
  log('stopping the sandbox');
  rmSync(SANDBOX_STATE_FILE, { force: true });
  await sandbox.stop();
}
