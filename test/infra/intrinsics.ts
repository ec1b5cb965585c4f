type Json = Record<string, any>;

/** Where the test apps deploy (the demo config's env). */
export const REGION = 'eu-west-1';
export const ACCOUNT = '111122223333';

/**
 * Resolves CloudFormation intrinsics in the templates of one app to the strings CloudFormation
 * would give: a Ref is the resource's logical id (a bucket's in lower case, as bucket names are; a
 * secret's ARN), an `Arn` attribute an ARN, and an import the value its stack exports.
 */
export function intrinsicResolver(templates: readonly Json[]): (value: unknown, template: Json) => string {
  const exported = new Map<string, [unknown, Json]>();
  for (const template of templates) {
    for (const output of Object.values<Json>(template.Outputs ?? {})) if (output.Export) exported.set(output.Export.Name, [output.Value, template]);
  }
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::URLSuffix': 'amazonaws.com' };

  function render(value: unknown, template: Json): string {
    if (typeof value === 'string' || typeof value === 'number') return String(value);
    const intrinsic = value as Json;
    if ('Fn::Join' in intrinsic) {
      const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => render(part, template)).join(separator);
    }
    if ('Fn::ImportValue' in intrinsic) {
      const [exportedValue, owner] = exported.get(render(intrinsic['Fn::ImportValue'], template)) ?? [];
      if (!owner) throw new Error(`no stack exports ${JSON.stringify(intrinsic['Fn::ImportValue'])}`);
      return render(exportedValue, owner);
    }
    if ('Ref' in intrinsic) {
      const ref = intrinsic.Ref as string;
      if (pseudo[ref]) return pseudo[ref];
      const type = template.Resources[ref]?.Type as string | undefined;
      if (type === 'AWS::SecretsManager::Secret' || type === 'AWS::SecretsManager::SecretTargetAttachment') return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${ref}`;
      return type === 'AWS::S3::Bucket' ? ref.toLowerCase() : ref;
    }
    if ('Fn::GetAtt' in intrinsic) {
      const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
      if (attribute !== 'Arn') return id;
      const service = String(template.Resources[id]?.Type ?? 'AWS::Unknown::Thing').split('::')[1]!.toLowerCase();
      return `arn:aws:${service}:${REGION}:${ACCOUNT}:${id}`;
    }
    throw new Error(`cannot render ${JSON.stringify(value)}`);
  }
  return render;
}
