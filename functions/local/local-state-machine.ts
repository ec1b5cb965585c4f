import { StateMachine, type RunOptions, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { AppError } from '../shared/errors';

export type LocalTaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

export interface LocalExecution {
  status: 'succeeded' | 'failed';
  output: unknown;
  error?: { name: string; message: string };
  /** States entered, in order (a retried state appears once per attempt), including those inside Maps. */
  states: string[];
  retries: string[];
}

/**
 * Runs one execution of a synthesized state machine with aws-local-stepfunctions, recording the
 * states it went through; a failed execution is a result, not a throw.
 */
export async function runStateMachineLocally(definition: StateMachineDefinition, input: unknown, options: RunOptions): Promise<LocalExecution> {
  const execution = new StateMachine(definition).run(input as never, options);
  const states: string[] = [];
  const retries: string[] = [];
  const logging = (async () => {
    for await (const entry of execution.eventLogs) {
      if (entry.type === 'StateEntered') states.push(entry.state.name);
      if (entry.type === 'StateRetried') retries.push(entry.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await logging;
    return { status: 'succeeded', output, states, retries };
  } catch (error) {
    await logging;
    // The interpreter wraps the failing state's error; its cause carries the name a Fail state or task raised.
    const cause = (error as { cause?: unknown }).cause as { name?: string; message?: string } | undefined;
    return { status: 'failed', output: null, error: { name: cause?.name ?? (error as Error).name, message: cause?.message ?? (error as Error).message }, states, retries };
  }
}

type Json = Record<string, unknown>;
const PLACEHOLDER_ENV = { region: 'eu-west-1', account: '111122223333' };

/** Renders the intrinsics a synthesized definition uses into placeholder ARNs the local runner accepts. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Json;
  const { region, account } = PLACEHOLDER_ENV;
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if ('Fn::GetAtt' in intrinsic) {
    const [logicalId] = intrinsic['Fn::GetAtt'] as [string, string];
    return `arn:aws:lambda:${region}:${account}:function:${logicalId}`;
  }
  if ('Ref' in intrinsic) {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::URLSuffix': 'amazonaws.com' };
    return pseudo[String(intrinsic.Ref)] ?? `arn:aws:states:${region}:${account}:stateMachine:${String(intrinsic.Ref)}`;
  }
  throw new AppError(`cannot render ${JSON.stringify(value)} in a state machine definition`);
}

/** A state machine's definition from a synthesized template, ready for runStateMachineLocally. */
export function definitionFromTemplate(template: Json, logicalId: string): StateMachineDefinition {
  const resource = (template.Resources as Record<string, { Properties: { DefinitionString: unknown } }>)[logicalId];
  if (!resource) throw new AppError(`the template has no state machine ${logicalId}`);
  return JSON.parse(render(resource.Properties.DefinitionString)) as StateMachineDefinition;
}
