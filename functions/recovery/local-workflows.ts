import { App, Stack } from 'aws-cdk-lib';
import type { CfnStateMachine, StateMachine as CdkStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { definitionFromTemplate, runStateMachineLocally, type LocalExecution, type LocalTaskHandlers } from '../local/local-state-machine';
import { parseConfig } from '../../cdk/config';
import { CoreStack } from '../../cdk/stacks/core-stack';
import { HealthStack } from '../../cdk/stacks/health-stack';
import type { RecoveryStore } from '../ports/recovery-store';
import type { TaskCallbacks } from '../ports/task-callbacks';
import { AppError } from '../shared/errors';
import type { RecoveryDeps } from './context';
import { LOCAL_TASK_TOKEN_PREFIX } from './operator';
import { runRecoveryTask } from './tasks';
import type { RecoveryTaskPayload } from './workflow-contract';

/**
 * The recovery state machines as deployed, run on this machine: the definitions come from
 * synthesizing the health stack, and every task state calls the same `runRecoveryTask` the
 * Lambda handler calls, over whatever dependencies the caller hands in.
 */

export interface RecoveryDefinitions {
  failover: StateMachineDefinition;
  replica: StateMachineDefinition;
  runbook: StateMachineDefinition;
}

type Json = Record<string, unknown>;

/** The definitions of a synthesized health stack's template. */
export function definitionsFromTemplate(template: Json, logicalIds: Record<keyof RecoveryDefinitions, string>): RecoveryDefinitions {
  const definition = (logicalId: string) => definitionFromTemplate(template, logicalId);
  return { failover: definition(logicalIds.failover), replica: definition(logicalIds.replica), runbook: definition(logicalIds.runbook) };
}

export function stateMachineLogicalIds(health: HealthStack): Record<keyof RecoveryDefinitions, string> {
  const id = (machine: CdkStateMachine) => Stack.of(machine).getLogicalId(machine.node.defaultChild as CfnStateMachine);
  return { failover: id(health.recovery.failover), replica: id(health.recovery.replica), runbook: id(health.recovery.runbook) };
}

/**
 * Synthesizes the core and health stacks (without bundling or cdk-nag) and returns the recovery
 * definitions. The definitions do not depend on the fleet, so a bare config does.
 */
export function synthesizeRecoveryDefinitions(config: unknown = {}): RecoveryDefinitions {
  const parsed = parseConfig(config, 'local workflows');
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const core = new CoreStack(app, 'LocalCore', { config: parsed });
  const health = new HealthStack(app, 'LocalHealth', { config: parsed, core });
  const template = app.synth().getStackArtifact(health.artifactId).template as Json;
  return definitionsFromTemplate(template, stateMachineLogicalIds(health));
}

/** Tasks waiting for a decision in this process; resolved in-process or from the catalog. */
export class LocalTaskTokens implements TaskCallbacks {
  private readonly waiting = new Map<string, { resolve: (output: Json) => void; reject: (error: Error) => void }>();

  /** Tokens of executions still waiting. */
  pending(): string[] {
    return [...this.waiting.keys()];
  }

  waitFor(taskToken: string): Promise<Json> {
    return new Promise((resolve, reject) => this.waiting.set(taskToken, { resolve, reject }));
  }

  async succeed(taskToken: string, output: Record<string, unknown>): Promise<void> {
    this.take(taskToken).resolve(output);
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    const failure = new Error(cause);
    failure.name = error;
    this.take(taskToken).reject(failure);
  }

  /**
   * Delivers decisions another process (the CLI) recorded in the catalog, for tokens this process
   * waits on; returns how many it delivered. Call it on a timer while executions wait.
   */
  async deliverDecisions(store: RecoveryStore): Promise<number> {
    let delivered = 0;
    for (const token of this.pending()) {
      const approval = await store.approval(token.slice(LOCAL_TASK_TOKEN_PREFIX.length));
      if (!approval?.decision || approval.taskToken !== token) continue;
      if (approval.decision === 'approved') await this.succeed(token, { decision: 'approved', decidedBy: approval.decidedBy });
      else await this.fail(token, 'RecoveryRejected', `rejected by ${approval.decidedBy}`);
      delivered++;
    }
    return delivered;
  }

  private take(taskToken: string) {
    const waiter = this.waiting.get(taskToken);
    if (!waiter) throw new AppError(`no local execution waits for task token ${taskToken}`);
    this.waiting.delete(taskToken);
    return waiter;
  }
}

export interface LocalRunOptions {
  /** Becomes `$$.Execution.Name`, hence the recovery id; the task token is derived from it. */
  executionName: string;
  tokens?: LocalTaskTokens;
  /** Pause before each retry, in ms, instead of the definition's intervals (tests). */
  retryDelayMs?: number;
  /** Duration of every Wait state, in ms, instead of the definition's (tests). */
  waitMs?: number;
}

export type LocalRunResult = LocalExecution;

type States = StateMachineDefinition['States'];

function allStates(definition: { States: States }): [string, States[string]][] {
  return Object.entries(definition.States);
}

/** Runs one execution of `definition` for an EventBridge event, with every task bound to the local use cases. */
export async function runLocalWorkflow(definition: StateMachineDefinition, deps: RecoveryDeps, event: Json, options: LocalRunOptions): Promise<LocalRunResult> {
  const token = `${LOCAL_TASK_TOKEN_PREFIX}${options.executionName}`;
  const handlers: LocalTaskHandlers = {};
  const retryIntervalOverrides: Record<string, number> = {};
  const waitTimeOverrides: Record<string, number> = {};
  for (const [name, state] of allStates(definition)) {
    if (state.Type === 'Wait' && options.waitMs !== undefined) waitTimeOverrides[name] = options.waitMs;
    if (state.Type !== 'Task') continue;
    if (options.retryDelayMs !== undefined) retryIntervalOverrides[name] = options.retryDelayMs;
    handlers[name] = (state.Resource.endsWith('.waitForTaskToken')
      ? async (input: { Payload: RecoveryTaskPayload }) => {
          const tokens = options.tokens;
          if (!tokens) throw new AppError(`state ${name} waits for a task token; pass LocalRunOptions.tokens`);
          await runRecoveryTask(deps, input.Payload);
          // Registered in the same turn the request was recorded, so no decision can come in between.
          return tokens.waitFor(input.Payload.taskToken ?? token);
        }
      : async (input: unknown) => runRecoveryTask(deps, input)) as unknown as LocalTaskHandlers[string];
  }

  return runStateMachineLocally(definition, event, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides, waitTimeOverrides },
    context: {
      Execution: { Id: `local:${options.executionName}`, Name: options.executionName, Input: event as never, StartTime: new Date().toISOString() },
      Task: { Token: token },
    },
  });
}
