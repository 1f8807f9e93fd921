import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/app';
import { parseAudienceConfig as parseConfig } from '../../functions/adapters/config-file';
import { AudienceSyncStack, type AudienceSyncStackProps } from '../../lib/audience-sync-stack';
import { DropBucket } from '../../lib/constructs/drop-bucket';
import { HouseFunction } from '../../lib/constructs/house-function';
import { SyncSchedule } from '../../lib/constructs/sync-schedule';
import { FIXTURE_CONFIG, NO_BUNDLING, tempOutdir } from './synth';

process.env.CDK_VALIDATION = 'false';

/** Config files written by the tests. */
const dir = tempOutdir();

const build = (context: Record<string, unknown>) => () =>
  buildApp({ context: { ...NO_BUNDLING, configFile: FIXTURE_CONFIG, ...context }, outdir: tempOutdir() });

function writeConfig(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

describe('synth fails', () => {
  it('when a segment in the config is invalid, naming the segment', () => {
    const configFile = writeConfig(
      'bad-segment.yaml',
      ['version: 1', 'segments:', '  - id: big-spenders', '    where: { number: spend, gte: lots }'].join('\n'),
    );
    expect(build({ configFile })).toThrow(/segment "big-spenders": where.*number/s);
  });

  it('when the config names an undefined destination', () => {
    const configFile = writeConfig(
      'bad-destination.yaml',
      [
        'version: 1',
        'segments:',
        '  - id: all',
        '    destinations: [{ destination: meta-nowhere, audienceName: All }]',
      ].join('\n'),
    );
    expect(build({ configFile })).toThrow(/segment "all": destination "meta-nowhere" is not defined/);
  });

  it('when the config file does not exist', () => {
    expect(build({ configFile: join(dir, 'missing.yaml') })).toThrow(/cannot read .*missing\.yaml: ENOENT/);
  });

  it('when the config keeps raw files longer than the bucket does', () => {
    const configFile = writeConfig('keep.yaml', 'version: 1\nkeepRawFilesDays: 10\n');
    expect(build({ configFile })).toThrow(/keepRawFilesDays.*raise rawRetentionDays to at least 10/);
  });

  it.each([
    [{ rawRetentionDays: 0 }, /rawRetentionDays must be a whole number from 1 to 365; received 0/],
    [{ rawRetentionDays: '7.5' }, /context rawRetentionDays must be a whole number; received "7.5"/],
    [{ logRetentionDays: 10 }, /logRetentionDays must be one of 1, 3, 5, 7, 14, 30,.*received 10/],
    [
      { scheduleCron: '0 3 * * *' },
      /scheduleExpression must be an EventBridge Scheduler expression.*received "0 3 \* \* \*"/,
    ],
    [{ scheduleCron: 'cron(0 3 * * *)' }, /six fields/],
    [{ scheduleTimeZone: 'Mars/Olympus_Mons' }, /timeZone must be an IANA time zone.*received "Mars\/Olympus_Mons"/],
    [{ kmsKeyArn: 'alias/audience-sync' }, /kmsKeyArn must be a key ARN.*received "alias\/audience-sync"/],
    [{ alarmEmail: 'ops' }, /alarmEmail must be an email address; received "ops"/],
    [
      { metaTokenSecretName: 'shared/meta-token' },
      /^context metaTokenSecretName is gone: each destination has its own secret now; .*tokenSecretName for meta, keySecretName for google\)\.$/,
    ],
  ])('when context is %j', (context, message) => {
    expect(build(context)).toThrow(message);
  });
});

describe('synth fails on destination secrets', () => {
  const destinations = (lines: string[]) =>
    writeConfig('dest.yaml', ['version: 1', 'destinations:', ...lines].join('\n'));

  it('when a destination names a secret that is not a valid secret name', () => {
    const configFile = destinations(['  meta-x: { platform: meta, tokenSecretName: "meta token" }']);
    expect(build({ configFile })).toThrow(
      /DestinationSecrets: destination "meta-x": tokenSecretName must be a secret name of letters, digits and \/_\+=\.@- only; received "meta token"\./,
    );
  });

  it('when two destination ids would share one stack output', () => {
    const configFile = destinations(['  meta-main: { platform: meta }', '  meta_main: { platform: meta }']);
    expect(build({ configFile })).toThrow(
      'AudienceSync: destination "meta_main" would get output SecretArnMetaMain, which destination "meta-main" has; rename one of the destinations.',
    );
  });

  it('when a caller still passes the metaTokenSecretName prop', () => {
    const app = new App({ context: NO_BUNDLING, outdir: tempOutdir() });
    const props = { config: parseConfig({ version: 1 }), metaTokenSecretName: 'shared/meta-token' };
    expect(() => new AudienceSyncStack(app, 'Old', props as AudienceSyncStackProps)).toThrow(
      /^Old: the metaTokenSecretName prop is gone: /,
    );
  });
});

describe('constructs refuse bad props', () => {
  const config = parseConfig({ version: 1 });
  const entry = join(import.meta.dirname, '../../functions/sync.ts');

  function fixture() {
    const app = new App({ context: NO_BUNDLING, outdir: tempOutdir() });
    const stack = new Stack(app, 'Test');
    const fn = new HouseFunction(stack, 'Fn', { entry, config, timeout: Duration.minutes(1) });
    return { stack, fn };
  }

  it('DropBucket: rawRetentionDays 0', () => {
    const stack = new Stack(new App({ outdir: tempOutdir() }), 'Test');
    expect(() => new DropBucket(stack, 'Drop', { rawRetentionDays: 0 })).toThrow(
      'Test/Drop: rawRetentionDays must be a whole number from 1 to 365; received 0.',
    );
  });

  it('HouseFunction: a timeout over 15 minutes, or an entry that does not exist', () => {
    const { stack } = fixture();
    expect(() => new HouseFunction(stack, 'Long', { entry, config, timeout: Duration.minutes(20) })).toThrow(
      /timeout \(seconds\) must be a whole number from 1 to 900; received 1200/,
    );
    expect(() => new HouseFunction(stack, 'Missing', { entry: 'functions/nope.ts', config })).toThrow(
      /entry "functions\/nope.ts" does not exist/,
    );
  });

  it('HouseFunction.useBucket: no prefix, or a prefix that is not one segment ending in "/"', () => {
    const { stack, fn } = fixture();
    const bucket = new s3.Bucket(stack, 'B');
    expect(() => fn.useBucket(bucket, {})).toThrow(/at least one prefix/);
    expect(() => fn.useBucket(bucket, { read: [''] })).toThrow(/received ""/);
    expect(() => fn.useBucket(bucket, { read: ['incoming'] })).toThrow(/received "incoming"/);
    fn.useBucket(bucket, { read: ['incoming/'] });
    expect(() => fn.useBucket(bucket, { write: ['reports/'] })).toThrow(/useBucket was called twice/);
  });

  it('HouseFunction.grantTable: granted twice', () => {
    const { stack, fn } = fixture();
    const table = new dynamodb.Table(stack, 'T', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
    fn.grantTable(table, 'read');
    expect(() => fn.grantTable(table, 'readWrite')).toThrow(/TablePolicy was granted twice/);
  });

  it('HouseFunction.useDestinationSecrets: no secrets, an id that is no destination id, or granted twice', () => {
    const { stack, fn } = fixture();
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'app/token');
    expect(() => fn.useDestinationSecrets({})).toThrow(
      'Test/Fn: useDestinationSecrets needs at least one destination secret; received none (a config without destinations needs no call).',
    );
    expect(() => fn.useDestinationSecrets({ 'Meta Main': secret })).toThrow(
      /^Test\/Fn: useDestinationSecrets: a destination id uses lowercase letters, .*received "Meta Main"\.$/,
    );
    fn.useDestinationSecrets({ 'meta-main': secret });
    expect(() => fn.useDestinationSecrets({ 'meta-eu': secret })).toThrow(/SecretPolicy was granted twice/);
  });

  it('SyncSchedule: a timeout of zero', () => {
    const { stack, fn } = fixture();
    expect(() => new SyncSchedule(stack, 'Sync', { syncFunction: fn.function, timeout: Duration.seconds(0) })).toThrow(
      /timeout \(minutes\) must be a whole number/,
    );
  });
});
