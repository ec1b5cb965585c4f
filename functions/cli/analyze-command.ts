import { parseKey, type ParsedKey } from '../core/keys';
import { analyzeDistribution, planResize, type DistributionReport, type ResizePlan } from '../core/planners';
import { chapterPopulation, chapterRangeStrategy, demoShardMap, randomUint64Keys } from '../core/population';
import { createRouter } from '../core/router';
import type { StrategyConfig, StrategyKind } from '../core/shard-map-types';
import { ValidationError } from '../shared/errors';
import { print, type CliContext, type GlobalOptions } from './context';
import { bar, percent, table } from './format';

interface AnalyzeFlags extends GlobalOptions {
  strategy: StrategyKind | 'all';
  shards: number;
  keys: number;
  preset?: 'chapter';
  add?: number;
  virtualNodes: number;
  seed: number;
}

const STRATEGIES: StrategyKind[] = ['keyspace', 'modulo', 'range', 'ring', 'jump'];
const MAX_KEYS = 5_000_000;

/** Raw-id bounds: the chapter's 125,000-id slices for its 8 shards, else equal slices of the population's span. */
function rangeStrategy(flags: AnalyzeFlags, keys: string[]): StrategyConfig {
  if (flags.preset === 'chapter' && flags.shards === 8) return chapterRangeStrategy();
  const max = keys.reduce((highest, key) => (BigInt(key) > highest ? BigInt(key) : highest), 0n);
  const step = max / BigInt(flags.shards) + 1n;
  return { kind: 'range', upperBounds: Array.from({ length: flags.shards - 1 }, (_, i) => String(step * BigInt(i + 1) - 1n)) };
}

function strategyConfig(kind: StrategyKind, flags: AnalyzeFlags, keys: string[]): StrategyConfig {
  switch (kind) {
    case 'range':
      return rangeStrategy(flags, keys);
    case 'ring':
      return { kind, virtualNodes: flags.virtualNodes };
    default:
      return { kind };
  }
}

function renderDistribution(kind: StrategyKind, report: DistributionReport): string {
  const max = Math.max(...report.shards.map((share) => share.keys));
  return [
    `${kind}: ${report.keys} keys over ${report.shards.length} shards — std dev ${report.stdDev.toFixed(1)}, max/mean ${report.maxOverMean.toFixed(3)}, min/mean ${report.minOverMean.toFixed(3)}`,
    table(
      ['shard', 'keys', 'share', ''],
      report.shards.map((share) => [share.shard, share.keys, `${share.percent.toFixed(2)}%`, bar(share.keys, max, 30)]),
    ),
  ].join('\n');
}

function renderMovement(plans: ResizePlan[]): string {
  return table(
    ['strategy', 'from', 'to', 'keys moved', 'moved', 'theoretical minimum', 'largest flow'],
    plans.map((plan) => {
      const largest = plan.flows.filter((flow) => flow.from !== flow.to).sort((a, b) => b.keys - a.keys)[0];
      return [plan.strategy, plan.from, plan.to, plan.movedKeys, percent(plan.movedFraction), percent(plan.minimumFraction), largest ? `${largest.from} → ${largest.to}: ${largest.keys}` : '-'];
    }),
  );
}

export async function analyzeCommand(context: CliContext, flags: AnalyzeFlags): Promise<void> {
  if (flags.shards < 1 || flags.shards > 4096) throw new ValidationError('--shards must be between 1 and 4096');
  if (!flags.preset && (flags.keys < 1 || flags.keys > MAX_KEYS)) throw new ValidationError(`--keys must be between 1 and ${MAX_KEYS}`);
  if (flags.add !== undefined && (flags.add < 1 || flags.shards + flags.add > 4096)) throw new ValidationError('--add must be at least 1 and keep the fleet at 4096 shards or fewer');

  const population = flags.preset === 'chapter' ? chapterPopulation() : randomUint64Keys(flags.keys, flags.seed);
  const parsed: ParsedKey[] = population.map((key) => parseKey(key, 'uint64'));
  const kinds = flags.strategy === 'all' ? STRATEGIES : [flags.strategy];

  const distributions = kinds.map((kind) => {
    const router = createRouter(demoShardMap(flags.shards, { strategy: strategyConfig(kind, flags, population) }));
    return { strategy: kind, ...analyzeDistribution(router, parsed) };
  });
  const movable = kinds.filter((kind) => kind !== 'range');
  const movements =
    flags.add === undefined ? [] : movable.map((kind) => planResize(strategyConfig(kind, flags, population), flags.shards, flags.shards + flags.add!, parsed));

  const populationLabel = flags.preset === 'chapter' ? 'chapter preset (82,020 ids: sequential, random, event bursts)' : `${flags.keys} random 64-bit keys (seed ${flags.seed})`;
  print(context, flags, { population: flags.preset ?? 'random', keys: parsed.length, distributions, movements }, () =>
    [
      `population: ${populationLabel}`,
      '',
      ...distributions.map((report) => `${renderDistribution(report.strategy, report)}\n`),
      ...(movements.length === 0
        ? []
        : [
            `adding ${flags.add} shard(s): ${flags.shards} → ${flags.shards + flags.add!}${kinds.includes('range') ? ' (range maps grow by splitting ranges: see `map split`)' : ''}`,
            renderMovement(movements),
          ]),
    ].join('\n'),
  );
}
