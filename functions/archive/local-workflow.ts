import { App, Stack } from 'aws-cdk-lib';
import type { CfnStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { definitionFromTemplate, runStateMachineLocally, type LocalExecution, type LocalTaskHandlers } from '../local/local-state-machine';
import { parseConfig, type ShardkeeperConfigInput } from '../../cdk/config';
import { buildApp } from '../../cdk/stacks/build-app';

/**
 * The archive workflow as deployed, run on this machine: the definition comes from synthesizing
 * the archive stack, and its Plan, Archive, ReportFailure and Summarize states call local task functions
 * (the same factories the Lambda handlers use) instead of Lambda.
 */

type Json = Record<string, unknown>;

/** Synthesizes the app (no bundling, no cdk-nag) with this config and returns the archive workflow's definition. */
export function synthesizeArchiveDefinition(config: ShardkeeperConfigInput = {}): StateMachineDefinition {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const { archive } = buildApp(app, parseConfig(config, 'local archive workflow'));
  const machine = archive.archiver.stateMachine;
  const template = app.synth({ validateOnSynthesis: false }).getStackArtifact(archive.artifactId).template as Json;
  return definitionFromTemplate(template, Stack.of(machine).getLogicalId(machine.node.defaultChild as CfnStateMachine));
}

export interface ArchiveWorkflowTasks {
  plan: (input: unknown) => Promise<unknown>;
  archive: (input: unknown) => Promise<unknown>;
  reportFailure: (input: unknown) => Promise<unknown>;
  summarize: (input: unknown) => Promise<unknown>;
}

export interface LocalWorkflowOptions {
  /** Becomes `$$.Execution.Name`, hence the run id. */
  executionName: string;
  /** The run's start, for the cutoffs (default: now). */
  startTime?: string;
  /** Pause before each retry, in ms, instead of the definition's intervals. */
  retryDelayMs?: number;
  /** Duration of every Wait state, in ms, instead of the definition's. */
  waitMs?: number;
}

export type LocalWorkflowResult = LocalExecution;

const TASK_STATES = { Plan: 'plan', Archive: 'archive', ReportFailure: 'reportFailure', Summarize: 'summarize' } as const;
const WAIT_STATES = ['WaitWhileThrottled', 'WaitOutBlackout'];

export async function runArchiveWorkflowLocally(definition: StateMachineDefinition, tasks: ArchiveWorkflowTasks, input: Json, options: LocalWorkflowOptions): Promise<LocalWorkflowResult> {
  const handlers: LocalTaskHandlers = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [state, task] of Object.entries(TASK_STATES)) {
    // The interpreter stamps $$.Execution.StartTime with the wall clock; a pinned start reaches Plan here.
    const pinned = (taskInput: unknown) => (task === 'plan' && options.startTime ? { ...(taskInput as Json), startedAt: options.startTime } : taskInput);
    handlers[state] = ((taskInput: unknown) => tasks[task](pinned(taskInput))) as unknown as LocalTaskHandlers[string];
    if (options.retryDelayMs !== undefined) retryIntervalOverrides[state] = options.retryDelayMs;
  }
  const waitTimeOverrides = options.waitMs === undefined ? {} : Object.fromEntries(WAIT_STATES.map((state) => [state, options.waitMs!]));
  return runStateMachineLocally(definition, input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides, waitTimeOverrides },
    context: { Execution: { Id: `local:${options.executionName}`, Name: options.executionName } },
  });
}
