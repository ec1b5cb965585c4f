import { Match, type Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';

interface PolicyStatement {
  Action: string | string[];
  Resource: unknown;
}

/** S3 statements granted to the roles whose logical id starts with `rolePrefix`: actions sorted, resource as JSON. */
export function s3Grants(template: Template, rolePrefix: string): Array<{ actions: string[]; resource: string }> {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref.startsWith(rolePrefix)))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[])
    .filter((statement) => [statement.Action].flat().some((action) => action.startsWith('s3:')))
    .map((statement) => ({ actions: [statement.Action].flat().sort(), resource: JSON.stringify(statement.Resource) }));
}

/**
 * A Distributed Map's workflow-files bucket as both workflows must have it: encrypted and expiring
 * after 14 days; named by the Map's ItemReader and ResultWriter; passed to the step that plans a
 * run in `envVar`, which may only put objects under plans/; and the only bucket the state machine's
 * own S3 grants reach, never the data bucket.
 */
export function expectWorkflowFiles(
  template: Template,
  names: { bucketPrefix: string; envVar: string; plannerRole: string; machineRole: string; dataBucketPrefix: string },
): void {
  const buckets = Object.entries(template.findResources('AWS::S3::Bucket'));
  const [filesId, files] = buckets.find(([id]) => id.startsWith(names.bucketPrefix))!;
  const dataId = buckets.find(([id]) => id.startsWith(names.dataBucketPrefix))?.[0];
  expect(dataId).toBeDefined();
  expect(files).toMatchObject({ Properties: { LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 14, Status: 'Enabled' })] }, BucketEncryption: expect.anything() } });
  const definitions = JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'));
  expect(definitions.split(`{"Ref":"${filesId}"}`).length - 1).toBe(2);
  template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [names.envVar]: { Ref: filesId } }) } });
  expect(s3Grants(template, names.plannerRole).filter((grant) => grant.resource.includes(filesId))).toEqual([{ actions: ['s3:PutObject'], resource: JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [filesId, 'Arn'] }, '/plans/*']] }) }]);
  const machine = s3Grants(template, names.machineRole);
  expect(machine.length).toBeGreaterThan(0);
  expect(machine.every((grant) => grant.resource.includes(filesId) && !grant.resource.includes(dataId!))).toBe(true);
}
