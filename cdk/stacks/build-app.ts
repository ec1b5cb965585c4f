import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ShardkeeperConfig } from '../config';
import { ArchiveStack } from './archive-stack';
import { BackupStack } from './backup-stack';
import { CoreStack } from './core-stack';
import { HealthStack } from './health-stack';

export interface ShardkeeperStacks {
  core: CoreStack;
  health: HealthStack;
  backup: BackupStack;
  archive: ArchiveStack;
}

/** Every stack of the suite from a validated config, checked by cdk-nag; `cdk/app.ts` and the infra tests share it. */
export function buildApp(app: App, config: ShardkeeperConfig): ShardkeeperStacks {
  const core = new CoreStack(app, `${config.stackPrefix}Core`, {
    config,
    stackName: `${config.stackPrefix}-core`,
    env: config.env,
    description: 'Shardkeeper foundation: network, catalog, shard lookup API, operator alarms',
  });
  const health = new HealthStack(app, `${config.stackPrefix}Health`, {
    config,
    core,
    stackName: `${config.stackPrefix}-health`,
    env: config.env,
    description: 'Shardkeeper health monitoring and event-driven recovery workflows',
  });
  const backup = new BackupStack(app, `${config.stackPrefix}Backup`, {
    config,
    core,
    health,
    stackName: `${config.stackPrefix}-backup`,
    env: config.env,
    description: 'Shardkeeper backup orchestration: scheduled verified backups, retention, restore tests',
  });
  const archive = new ArchiveStack(app, `${config.stackPrefix}Archive`, {
    config,
    core,
    bus: health.monitor.bus,
    stackName: `${config.stackPrefix}-archive`,
    env: config.env,
    description: 'Shardkeeper archiving: old rows to S3 exactly once, partition maintenance, storage tiers, Athena',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { core, health, backup, archive };
}
