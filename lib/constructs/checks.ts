import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Throws when `value` is not a whole number in [min, max], naming the prop, what was received and what to do. */
export function requireWholeNumber(
  scope: IConstruct,
  prop: string,
  value: number,
  range: { min: number; max: number },
  hint: string,
): void {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new Error(
      `${scope.node.path}: ${prop} must be a whole number from ${range.min} to ${range.max}; received ${String(value)}. ${hint}`,
    );
  }
}

/** Throws a props error in the house format: what was wrong, what was received, what to do. */
export function propError(scope: IConstruct, message: string): Error {
  return new Error(`${scope.node.path}: ${message}`);
}

/**
 * The string cdk-nag uses for a policy resource in a finding id (`AwsSolutions-IAM5[Resource::<this>]`):
 * intrinsics are flattened, `{ Fn::GetAtt: [L, A] }` → `<L.A>`, `{ Ref: L }` → `<L>`, joins concatenated.
 */
export function nagResourceString(scope: IConstruct, arn: string): string {
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const join = o['Fn::Join'] as [string, unknown[]] | undefined;
      if (join) return join[1].map(flatten).join(join[0]);
      const getAtt = o['Fn::GetAtt'] as [unknown, unknown] | undefined;
      if (getAtt) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
      if ('Ref' in o) return `<${flatten(o.Ref)}>`;
    }
    return JSON.stringify(node);
  };
  return flatten(Stack.of(scope).resolve(arn));
}

/** Acknowledges one cdk-nag IAM5 finding (a wildcard in one resource ARN) on `scope`, with the reason it is needed. */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResourceString(scope, arn)}]`, reason });
}
