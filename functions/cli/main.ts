import { Command, CommanderError, Option } from 'commander';
import { AppError, ValidationError } from '../shared/errors';
import { analyzeCommand } from './analyze-command';
import { registerChaosCommands } from './chaos-command';
import { registerArchiveCommands } from './archive-command';
import { registerBackupCommands } from './backup-command';
import type { CliContext } from './context';
import { healthCommand } from './health-command';
import { mapHistoryCommand, mapShowCommand, mapSplitCommand, routeCommand } from './map-commands';
import { registerRecoveryCommands } from './recovery-command';
import { registerRestoreCommands } from './restore-command';
import { sandboxCommand } from './sandbox-command';

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new ValidationError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
};

export function buildProgram(context: CliContext): Command {
  const program = new Command('shardkeeper')
    .description('Operations layer for a sharded MySQL fleet: routing, shard map, sandbox')
    .option('--json', 'print machine-readable JSON')
    .option('--catalog <url>', 'catalog MySQL URL (default: $SHARDKEEPER_CATALOG_URL, the running sandbox, or mysql://root@127.0.0.1:3306/sk_catalog)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: context.out, writeErr: context.err });

  program
    .command('route')
    .description('show the shard, writer and readers for a key')
    .argument('<key>', 'player id (decimal, up to 18446744073709551615) or string id')
    .action((key: string, _options, command: Command) => routeCommand(context, command.optsWithGlobals(), key));

  const map = program.command('map').description('inspect and change the shard map');
  map
    .command('show')
    .description('print the current shard map')
    .action((_options, command: Command) => mapShowCommand(context, command.optsWithGlobals()));
  map
    .command('split')
    .description('plan splitting a range shard in two; --apply commits the new map')
    .argument('<shard>', 'shard to split, e.g. 40-80')
    .option('--at <hex>', 'split point (hex keyspace prefix); default: the midpoint')
    .option('--apply', 'commit the split (both halves keep the parent database until data is moved)')
    .action((shard: string, _options, command: Command) => mapSplitCommand(context, command.optsWithGlobals(), shard));
  map
    .command('history')
    .description('list shard map versions, newest first')
    .option('--limit <n>', 'how many versions', integer('--limit'), 20)
    .action((_options, command: Command) => mapHistoryCommand(context, command.optsWithGlobals()));

  program
    .command('analyze')
    .description('key distribution per shard for a routing strategy, and key movement when adding shards')
    .addOption(new Option('--strategy <kind>', 'routing strategy').choices(['keyspace', 'modulo', 'range', 'ring', 'jump', 'all']).default('keyspace'))
    .option('--shards <n>', 'number of shards', integer('--shards'), 8)
    .option('--keys <n>', 'random 64-bit keys to analyse', integer('--keys'), 100_000)
    .addOption(new Option('--preset <name>', 'use a built-in key population instead of random keys').choices(['chapter']))
    .option('--add <n>', 'also show movement when adding this many shards', integer('--add'))
    .option('--virtual-nodes <n>', 'ring: virtual nodes per shard', integer('--virtual-nodes'), 150)
    .option('--seed <n>', 'seed of the random key population', integer('--seed'), 42)
    .action((_options, command: Command) => analyzeCommand(context, command.optsWithGlobals()));

  program
    .command('health')
    .description('probe every node of the fleet and show node states and shard verdicts')
    .option('--watch', 'probe again every interval until Ctrl-C')
    .option('--interval <ms>', 'time between probes with --watch', integer('--interval'), 1000)
    .option('--concurrency <n>', 'probes in flight at once', integer('--concurrency'), 64)
    .option('--connect-timeout <ms>', 'connect and query timeout per probe', integer('--connect-timeout'), 2000)
    .addOption(new Option('--tls <mode>', 'TLS to the nodes (default: off for loopback nodes, else required)').choices(['required', 'off']))
    .action((_options, command: Command) => healthCommand(context, command.optsWithGlobals()));

  registerBackupCommands(program, context, integer);
  registerArchiveCommands(program, context, integer);
  registerRestoreCommands(program, context);
  registerRecoveryCommands(program, context, integer);
  registerChaosCommands(program, context, integer);

  program
    .command('sandbox')
    .description('start the local sandbox (same as npm start)')
    .option('--port <n>', 'lookup API port', integer('--port'), 3000)
    .option('--shards <n>', 'demo fleet size', integer('--shards'), 4)
    .option('--players <n>', 'players to seed', integer('--players'), 100_000)
    .option('--mysql-url <url>', 'MySQL to use (default: $MYSQL_URL, then root@127.0.0.1:3306, then a private server)')
    .option('--reset', 'drop and rebuild the sandbox databases')
    .option('--database-prefix <prefix>', 'prefix of the catalog and shard databases', 'sk_')
    .option('--game-logs <n>', 'game_logs rows seeded per shard over the last 9 months', integer('--game-logs'), 20_000)
    .option('--replicas <n>', 'run every shard as a primary with this many GTID replicas (private servers)', integer('--replicas'), 0)
    .action((_options, command: Command) => sandboxCommand(context, command.optsWithGlobals()));

  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 bad usage or input). Never prints a stack trace. */
export async function runCli(argv: string[], context: CliContext): Promise<number> {
  const program = buildProgram(context);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    const json = argv.includes('--json');
    const code = error instanceof AppError ? error.code : 'InternalError';
    const message = error instanceof Error ? error.message : String(error);
    context.err(json ? `${JSON.stringify({ error: code, message })}\n` : `error: ${message}\n`);
    return error instanceof ValidationError ? 2 : 1;
  }
}
