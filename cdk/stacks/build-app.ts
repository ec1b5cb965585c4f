import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ShardkeeperConfig } from '../config';
import { CoreStack } from './core-stack';

export interface ShardkeeperStacks {
  core: CoreStack;
}

/** Every stack of the suite from a validated config, checked by cdk-nag; `cdk/app.ts` and the infra tests share it. */
export function buildApp(app: App, config: ShardkeeperConfig): ShardkeeperStacks {
  const core = new CoreStack(app, `${config.stackPrefix}Core`, {
    config,
    stackName: `${config.stackPrefix}-core`,
    env: config.env,
    description: 'Shardkeeper foundation: network, catalog, shard lookup API, operator alarms',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { core };
}
