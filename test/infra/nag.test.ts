import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/app';
import { FIXTURE_CONFIG, NO_BUNDLING, tempOutdir } from './synth';

interface Report {
  pluginReports: Array<{ pluginName: string; violations: Array<{ ruleName: string; severity: string }> }>;
}

/**
 * Synthesizes the real app (default config, cdk-nag registered) and returns the validation report, if written.
 * `cfnValidation` keeps CDK's built-in CloudFormation schema validation on, as in `cdk synth` (~5 s).
 */
function synthesize(context: Record<string, unknown>, cfnValidation: boolean) {
  process.env.CDK_VALIDATION = cfnValidation ? 'true' : 'false';
  const outdir = tempOutdir();
  const { app } = buildApp({ context: { ...NO_BUNDLING, ...context }, outdir });
  app.synth();
  const file = join(outdir, 'validation-report.json');
  const report: Report = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { pluginReports: [] };
  return { app, report };
}

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          id: id.replace(/^Annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/** How cdk-nag writes a state machine's name, taken from its ARN at deploy time. */
const machineName = (logicalId: string) =>
  JSON.stringify({ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: logicalId }] }] });

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['defaults, as cdk synth runs it', {}, true],
    [
      'customer key, alarm email, several destinations of two platforms, one secret imported by name',
      {
        kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        alarmEmail: 'ops@example.com',
        configFile: FIXTURE_CONFIG,
      },
      false,
    ],
  ])('reports no unacknowledged finding (%s)', (_name, context, cfnValidation) => {
    const { report } = synthesize(context, cfnValidation);
    const findings = report.pluginReports
      .filter((r) => r.pluginName.startsWith('AwsSolutions'))
      .flatMap((r) => r.violations.map((v) => v.ruleName));
    expect(findings).toEqual([]);
    const errors = report.pluginReports.flatMap((r) => r.violations.filter((v) => v.severity === 'error'));
    expect(errors).toEqual([]);
  });

  it('acknowledges one finding per call, below the stack, each with a reason (review aid)', () => {
    const { app } = buildApp({ context: NO_BUNDLING, outdir: tempOutdir() });
    const acks = acknowledgements(app);
    for (const a of acks) {
      expect(a.path.split('/').length, a.path).toBeGreaterThan(1);
      expect(a.reason.length, a.id).toBeGreaterThan(40);
    }
    expect(acks.map((a) => `${a.path} ${a.id}`).sort()).toEqual(
      [
        'AudienceSync/BucketNotificationsHandler050a0587b7544547bf325f094a3db834/Role AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'AudienceSync/IngestFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/erasure/*]',
        'AudienceSync/IngestFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/incoming/*]',
        'AudienceSync/IngestFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/quarantine/*]',
        'AudienceSync/IngestFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/reports/*]',
        'AudienceSync/IngestFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
        'AudienceSync/DestinationSecrets/google-ads AwsSolutions-SMG4',
        'AudienceSync/DestinationSecrets/meta-main AwsSolutions-SMG4',
        'AudienceSync/SyncFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/reports/*]',
        'AudienceSync/SyncFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
        'AudienceSync/SyncSchedule/DeadLetterQueue AwsSolutions-SQS3',
        'AudienceSync/SyncSchedule/StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::*]',
        'AudienceSync/SyncSchedule/StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<SyncFunction9CE4905E.Arn>:*]',
        ...[':*', '/AddShards:*', '/RemoveShards:*'].map(
          (suffix) =>
            `AudienceSync/SyncSchedule/StateMachine/DistributedMapPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${machineName('SyncScheduleStateMachine358A04FB')}${suffix}]`,
        ),
        ...[':*', '/StageChunks:*', '/ApplyShards:*'].map(
          (suffix) =>
            `AudienceSync/IngestFanOut/StateMachine/DistributedMapPolicy AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${machineName('IngestFanOutStateMachineFDC1D596')}${suffix}]`,
        ),
        'AudienceSync/IngestFanOut/StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::*]',
        'AudienceSync/IngestFanOut/StateMachine/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<IngestStepsFunction87E9FA82.Arn>:*]',
        ...['incoming', 'quarantine', 'reports', 'staging'].map(
          (prefix) =>
            `AudienceSync/IngestStepsFunction/Role/DefaultPolicy AwsSolutions-IAM5[Resource::<DropBucket0EBEB047.Arn>/${prefix}/*]`,
        ),
        'AudienceSync/IngestStepsFunction/TracingPolicy AwsSolutions-IAM5[Resource::*]',
      ].sort(),
    );
  });

  it('acknowledges SMG4 on each secret the stack creates, with its platform, and on no imported one', () => {
    const { app } = buildApp({ context: { ...NO_BUNDLING, configFile: FIXTURE_CONFIG }, outdir: tempOutdir() });
    const smg4 = acknowledgements(app).filter((a) => a.id === 'AwsSolutions-SMG4');
    expect(smg4.map((a) => a.path).sort()).toEqual(
      ['google-ads', 'meta-main', 'meta-us'].map((d) => `AudienceSync/DestinationSecrets/${d}`),
    );
    for (const a of smg4) {
      const platform = a.path.includes('google') ? 'Google Customer Match' : 'Meta (Facebook, Instagram)';
      expect(a.reason).toMatch(new RegExp(`^${platform.replace(/[()]/g, '\\$&')} credentials are issued by a person`));
    }
  });
});
