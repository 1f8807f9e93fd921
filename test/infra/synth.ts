import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { buildApp } from '../../bin/app';

/** Every App writes (or at least creates) a cloud assembly directory; these are removed after each test file. */
const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh cloud assembly directory, removed after the test file. */
export function tempOutdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'audience-sync-infra-'));
  outdirs.push(dir);
  return dir;
}

/** Writes `yaml` as a config file in a fresh temporary directory (removed after the test file); returns its path. */
export function writeTempConfig(yaml: string): string {
  const path = join(tempOutdir(), 'audiences.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** A small config kept for these tests, so product edits to the example config do not move them. */
export const FIXTURE_CONFIG = fileURLToPath(new URL('./fixtures/audiences.yaml', import.meta.url));

/** Context that skips esbuild: template tests look at the template, not the bundle. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };

/**
 * Builds the real app (cdk-nag registered) and returns the stack's template. CDK's built-in CloudFormation
 * schema validation costs ~6 s per process and is exercised by the cdk-nag test, so it is off here.
 */
export function synthTemplate(context: Record<string, unknown> = {}): Template {
  process.env.CDK_VALIDATION = 'false';
  const { stack } = buildApp({
    context: { ...NO_BUNDLING, configFile: FIXTURE_CONFIG, ...context },
    outdir: tempOutdir(),
  });
  return Template.fromStack(stack);
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of the IAM policies attached to the role whose logical id starts with `rolePrefix`. */
export function statementsOfRole(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref.startsWith(rolePrefix)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** The logical id of the only resource of `type` whose logical id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0] as string;
}

/** A state machine definition as an object, with intrinsic references replaced by `<ref>`. */
export function stateMachineDefinition(
  template: Template,
  prefix = 'SyncScheduleStateMachine',
): {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, Record<string, unknown>>;
} {
  const machine = template.findResources('AWS::StepFunctions::StateMachine')[
    logicalId(template, 'AWS::StepFunctions::StateMachine', prefix)
  ];
  const body = machine?.Properties.DefinitionString as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof body === 'string' ? body : body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '<ref>')).join('');
  return JSON.parse(text);
}
