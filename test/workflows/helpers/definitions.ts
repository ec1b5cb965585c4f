import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { parseConfig } from '../../../cdk/config';
import { buildApp } from '../../../cdk/stacks/build-app';
import { definitionsFromTemplate, stateMachineLogicalIds, type RecoveryDefinitions } from '../../../functions/recovery/local-workflows';
import { EVENT_SOURCES } from '../../../functions/shared/events';

let cached: RecoveryDefinitions | undefined;

/** The recovery state machines as the demo app synthesizes them (bundling skipped), intrinsics resolved. */
export function demoRecoveryDefinitions(): RecoveryDefinitions {
  if (!cached) {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const { health } = buildApp(app, parseConfig(cdkJson.context.shardkeeper, 'test'));
    cached = definitionsFromTemplate(Template.fromStack(health).toJSON(), stateMachineLogicalIds(health));
  }
  return structuredClone(cached);
}

/** An event as EventBridge hands it to a Step Functions target. */
export function busEvent(detailType: string, detail: unknown, source: string = EVENT_SOURCES.health) {
  return {
    version: '0',
    id: 'c0ffee00-0000-4000-8000-000000000000',
    'detail-type': detailType,
    source,
    account: '111122223333',
    time: '2025-03-01T12:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail,
  };
}
