/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Settings come from context (`-c key=value` or cdk.json):
 *
 * | key | default |
 * |---|---|
 * | configFile | config/audiences.example.yaml (validated here: a bad config fails synth) |
 * | scheduleCron | cron(0 3 * * ? *) |
 * | scheduleTimeZone | UTC |
 * | rawRetentionDays | 7 (lifecycle backstop for incoming/) |
 * | logRetentionDays | 30 |
 * | kmsKeyArn | none: S3-managed / AWS-owned encryption (with one: also the created secrets, and assumed for imported ones) |
 * | alarmEmail | none: no email subscription |
 * | syncMemoryMb | 1024 (sync reads people shard by shard) |
 * | fanOutBytes | 268435456: exports this big or bigger are read by parallel workers (IngestFanOut) |
 * | fanOutChunkBytes | 67108864: target size of one chunk of such an export |
 *
 * Secrets are not context: the stack creates one per destination of the config (audience-sync/<id>/…), or imports the
 * one a destination names (Meta `tokenSecretName`, Google `keySecretName`). The former `metaTokenSecretName` fails
 * synth with a message saying so.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfigFile } from '../functions/adapters/config-file';
import { AudienceSyncStack, metaTokenSecretNameGone } from '../lib/audience-sync-stack';

export const STACK_NAME = 'AudienceSync';

export interface BuildAppOptions {
  /** Context values, as `-c` would pass them (strings) or typed. @default - from cdk.json and the CLI */
  readonly context?: Record<string, unknown>;
  /** Cloud assembly directory. @default - CDK_OUTDIR, else a temporary directory */
  readonly outdir?: string;
}

/** Builds the app with cdk-nag's AwsSolutions checks registered; call `app.synth()` to check and write it. */
export function buildApp(options: BuildAppOptions = {}): { app: App; stack: AudienceSyncStack } {
  const app = new App({ context: options.context, outdir: options.outdir });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  const ctx = new ContextReader(app);
  if (ctx.string('metaTokenSecretName') !== undefined) {
    throw new Error(metaTokenSecretNameGone('context metaTokenSecretName'));
  }
  const configFile = ctx.string('configFile') ?? 'config/audiences.example.yaml';
  const config = loadConfigFile(resolve(configFile));

  const stack = new AudienceSyncStack(app, STACK_NAME, {
    description: 'audience-sync: contact exports dropped in S3 become hashed, consent-checked custom audiences',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    config,
    scheduleExpression: ctx.string('scheduleCron'),
    scheduleTimeZone: ctx.string('scheduleTimeZone'),
    rawRetentionDays: ctx.wholeNumber('rawRetentionDays'),
    logRetentionDays: ctx.wholeNumber('logRetentionDays'),
    kmsKeyArn: ctx.string('kmsKeyArn'),
    alarmEmail: ctx.string('alarmEmail'),
    syncMemoryMb: ctx.wholeNumber('syncMemoryMb'),
    fanOutBytes: ctx.wholeNumber('fanOutBytes'),
    fanOutChunkBytes: ctx.wholeNumber('fanOutChunkBytes'),
  });
  Tags.of(stack).add('app', 'audience-sync');
  return { app, stack };
}

/** Reads context values, which arrive as strings from `-c` and as JSON values from cdk.json or tests. */
class ContextReader {
  constructor(private readonly app: App) {}

  string(key: string): string | undefined {
    const value: unknown = this.app.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') {
      throw new Error(
        `context ${key} must be a string; received ${JSON.stringify(value)}. Pass it as -c ${key}=<value>.`,
      );
    }
    return value;
  }

  wholeNumber(key: string): number | undefined {
    const value: unknown = this.app.node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      throw new Error(
        `context ${key} must be a whole number; received ${JSON.stringify(value)}. Pass it as -c ${key}=14.`,
      );
    }
    return n;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) buildApp().app.synth();
