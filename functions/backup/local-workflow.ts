import { App, Stack } from 'aws-cdk-lib';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { definitionFromTemplate, runStateMachineLocally, type LocalExecution, type LocalTaskHandlers } from '../local/local-state-machine';
import { parseConfig, type ShardkeeperConfigInput } from '../../cdk/config';
import { BackupStack } from '../../cdk/stacks/backup-stack';
import { CoreStack } from '../../cdk/stacks/core-stack';
import { HealthStack } from '../../cdk/stacks/health-stack';
import { runBackupTask, type BackupTaskDeps } from './tasks';

/**
 * The backup state machine as deployed, run on this machine: the definition comes from
 * synthesizing the backup stack, and every task state calls the same `runBackupTask` the Lambda
 * handler calls. The inline Map runs here; a Distributed Map is deployed-only.
 */

type Json = Record<string, unknown>;

/** Region and account the local synthesis stamps on the stacks (the backup stack needs a concrete env). */
const ENV = { region: 'eu-west-1', account: '111122223333' };

/** The backup definition from a synthesized backup stack's template. */
export function backupDefinitionFromTemplate(template: Json, stateMachineLogicalId: string): StateMachineDefinition {
  return definitionFromTemplate(template, stateMachineLogicalId);
}

export function backupStateMachineLogicalId(stack: BackupStack): string {
  return Stack.of(stack).getLogicalId(stack.backups.stateMachine.node.defaultChild as CfnStateMachine);
}

/** Synthesizes the stacks the backup stack builds on (no bundling, no cdk-nag) and returns its definition. */
export function synthesizeBackupDefinition(config: ShardkeeperConfigInput = {}): StateMachineDefinition {
  const parsed = parseConfig({ env: ENV, ...config }, 'local backup workflow');
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const core = new CoreStack(app, 'LocalCore', { config: parsed, env: parsed.env });
  const health = new HealthStack(app, 'LocalHealth', { config: parsed, core, env: parsed.env });
  const backup = new BackupStack(app, 'LocalBackup', { config: parsed, core, health, env: parsed.env });
  const template = app.synth().getStackArtifact(backup.artifactId).template as Json;
  return backupDefinitionFromTemplate(template, backupStateMachineLogicalId(backup));
}

export interface LocalBackupRunOptions {
  /** Pause before each retry, in ms, instead of the definition's intervals (tests). */
  retryDelayMs?: number;
  /** Duration of every Wait state, in ms, instead of the definition's. */
  waitMs?: number;
  /** The deadline a dump step gets; the default gives each step a minute, as a short Lambda budget would. */
  deadline?: () => number;
}

export type LocalBackupRun = LocalExecution;

/** Runs one execution of the backup definition with every task bound to the local use cases. */
export async function runLocalBackupWorkflow(definition: StateMachineDefinition, deps: BackupTaskDeps, input: Json, options: LocalBackupRunOptions = {}): Promise<LocalBackupRun> {
  const handlers: LocalTaskHandlers = {};
  const retryIntervalOverrides: Record<string, number> = {};
  const waitTimeOverrides: Record<string, number> = {};
  const deadline = options.deadline ?? (() => Date.now() + 60_000);
  const visit = (states: StateMachineDefinition['States']) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Map') visit(((state as { ItemProcessor?: StateMachineDefinition }).ItemProcessor ?? (state as { Iterator: StateMachineDefinition }).Iterator).States);
      if (state.Type === 'Wait' && options.waitMs !== undefined) waitTimeOverrides[name] = options.waitMs;
      if (state.Type !== 'Task') continue;
      if (options.retryDelayMs !== undefined) retryIntervalOverrides[name] = options.retryDelayMs;
      handlers[name] = (async (payload: unknown) => runBackupTask(deps, payload, deadline())) as unknown as LocalTaskHandlers[string];
    }
  };
  visit(definition.States);

  return runStateMachineLocally(definition, input, { overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides, waitTimeOverrides } });
}
