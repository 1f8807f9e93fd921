import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { PLATFORMS } from '../../functions/platforms/registry';
import { shardConcurrencyOf } from '../../lib/audience-sync-stack';
import {
  actionsOf,
  logicalId,
  resourcesOf,
  type Statement,
  stateMachineDefinition,
  statementsOfRole,
  synthTemplate,
  writeTempConfig,
} from './synth';

const CUSTOMER_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** The resources of every Allow statement that grants `action`. */
const grantsOf = (statements: Statement[], action: string) =>
  statements.filter((s) => s.Effect === 'Allow' && actionsOf(s).includes(action)).flatMap(resourcesOf);

/** The Lambda function's env vars as in the template. */
const envOf = (t: Template, prefix: string): Record<string, unknown> =>
  t.findResources('AWS::Lambda::Function')[logicalId(t, 'AWS::Lambda::Function', prefix)]?.Properties.Environment
    .Variables;

/** The sync function's DESTINATION_SECRETS, parsed, with each `{ Ref: X }` written as `<X>`. */
function destinationSecretsOf(t: Template): Record<string, string> {
  const value = envOf(t, 'SyncFunction').DESTINATION_SECRETS as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof value === 'string'
      ? value
      : value['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join('');
  return JSON.parse(text);
}

let template: Template;
/** Every optional context key set, to see each reach the template. */
let custom: Template;

beforeAll(() => {
  template = synthTemplate();
  custom = synthTemplate({
    rawRetentionDays: '14',
    logRetentionDays: 90,
    scheduleCron: 'cron(30 1 * * ? *)',
    scheduleTimeZone: 'Europe/Berlin',
    kmsKeyArn: CUSTOMER_KEY,
    alarmEmail: 'ops@example.com',
    syncMemoryMb: '3008',
  });
});

const denyInsecureTransport = Match.arrayWith([
  Match.objectLike({
    Effect: 'Deny',
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  }),
]);

/** The same, for plain vitest assertions on values taken out of the template. */
const deniesInsecureTransport = expect.arrayContaining([
  expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
]);

describe('DropBucket', () => {
  const bucketId = () => logicalId(template, 'AWS::S3::Bucket', 'DropBucket0');

  it('is S3-managed encrypted by default and uses the customer key when given', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'drop-bucket/' }),
    });
    custom.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: CUSTOMER_KEY },
          },
        ],
      },
    });
  });

  it('blocks public access, is retained, and its policy allows SSL only, on both buckets', () => {
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets)).toHaveLength(2);
    for (const bucket of Object.values(buckets)) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.Properties.BucketEncryption).toBeDefined();
      expect(bucket.Properties.LifecycleConfiguration.Rules.length).toBeGreaterThan(0);
    }
    const policies = template.findResources('AWS::S3::BucketPolicy');
    expect(Object.keys(policies)).toHaveLength(2);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(deniesInsecureTransport);
    }
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId() },
      PolicyDocument: { Statement: denyInsecureTransport },
    });
  });

  it('expires incoming/ after rawRetentionDays (default 7, context 14) and its old versions after 1 day', () => {
    const incomingRule = (days: number) =>
      Match.objectLike({
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({
              Prefix: 'incoming/',
              Status: 'Enabled',
              ExpirationInDays: days,
              NoncurrentVersionExpiration: { NoncurrentDays: 1 },
            }),
          ]),
        },
      });
    template.hasResourceProperties('AWS::S3::Bucket', incomingRule(7));
    custom.hasResourceProperties('AWS::S3::Bucket', incomingRule(14));
  });

  it('expires quarantine/, erasure/, reports/ (old versions after 1 day), incomplete uploads and lone delete markers', () => {
    const oldVersions = { NoncurrentVersionExpiration: { NoncurrentDays: 1 } };
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'quarantine/', ExpirationInDays: 7, ...oldVersions }),
          Match.objectLike({ Prefix: 'erasure/', ExpirationInDays: 1, ...oldVersions }),
          Match.objectLike({ Prefix: 'reports/', ExpirationInDays: 400, ...oldVersions }),
          Match.objectLike({
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            ExpiredObjectDeleteMarker: true,
          }),
        ]),
      },
    });
  });

  it('notifies the ingest queue of objects created under incoming/ and erasure/ only', () => {
    const queueArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'IngestPipelineQueue'), 'Arn'] };
    const rule = (prefix: string) => ({
      Events: ['s3:ObjectCreated:*'],
      Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: prefix }] } },
      QueueArn: queueArn,
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: bucketId() },
      NotificationConfiguration: { QueueConfigurations: [rule('incoming/'), rule('erasure/')] },
    });
  });
});

describe('ContactTable', () => {
  it('has pk/sk, on-demand billing, PITR, SSE, TTL and deletion protection, and is retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
    });
  });

  it('uses the customer key when given', () => {
    custom.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: CUSTOMER_KEY },
    });
  });
});

describe('IngestPipeline', () => {
  it('redrives to a 14-day DLQ after 3 receives, with visibility 6x the function timeout', () => {
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'IngestPipelineDeadLetterQueue');
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 3 },
      VisibilityTimeout: 6 * 900,
      SqsManagedSseEnabled: true,
    });
    expect(template.findResources('AWS::SQS::Queue')[dlq]?.Properties).toMatchObject({
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  it('encrypts every queue and lets none of them be used without SSL', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(3);
    for (const q of Object.values(queues)) expect(q.Properties.SqsManagedSseEnabled).toBe(true);
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    const covered = policies.flatMap((p) => {
      expect(p.Properties.PolicyDocument.Statement).toEqual(deniesInsecureTransport);
      return (p.Properties.Queues as Array<{ Ref: string }>).map((r) => r.Ref);
    });
    expect(covered.sort()).toEqual(Object.keys(queues).sort());
  });

  it('feeds the ingest function one message at a time with partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'IngestFunction') },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('HouseFunction', () => {
  it('runs every function (ingest, ingest steps, sync) on the newest Node.js, ARM64, traced, with source maps', () => {
    const fns = template.findResources('AWS::Lambda::Function', {
      Properties: { Runtime: Match.stringLikeRegexp('^nodejs') },
    });
    expect(Object.keys(fns)).toHaveLength(3);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Environment: {
          Variables: {
            NODE_OPTIONS: '--enable-source-maps',
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          },
        },
      });
    }
  });

  it('sizes ingest at two vCPUs, 15 min, 4 GiB /tmp and sync at 1024 MB, 15 min', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Ingests'),
      MemorySize: 3538,
      Timeout: 900,
      EphemeralStorage: { Size: 4096 },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Runs one bounded slice'),
      MemorySize: 1024,
      Timeout: 900,
    });
  });

  it('gives sync the memory from context syncMemoryMb (it holds every contact while evaluating segments)', () => {
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Runs one bounded slice'),
      MemorySize: 3008,
    });
  });

  it('gives each function its own encrypted log group with the configured retention', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    // Three functions and two state machines.
    expect(Object.keys(groups)).toHaveLength(5);
    for (const g of Object.values(groups)) {
      expect(g.Properties.RetentionInDays).toBe(30);
      expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'LogKey'), 'Arn'] });
      expect(g.DeletionPolicy).toBe('Retain');
    }
    for (const g of Object.values(custom.findResources('AWS::Logs::LogGroup'))) {
      expect(g.Properties.RetentionInDays).toBe(90);
    }
    for (const fn of ['IngestFunction', 'IngestStepsFunction', 'SyncFunction']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.anyValue(),
        Role: { 'Fn::GetAtt': [logicalId(template, 'AWS::IAM::Role', `${fn}Role`), 'Arn'] },
        LoggingConfig: { LogGroup: { Ref: logicalId(template, 'AWS::Logs::LogGroup', `${fn}LogGroup`) } },
      });
    }
  });

  it('sets the env vars that match each grant; no credential is ever in env', () => {
    const table = { Ref: logicalId(template, 'AWS::DynamoDB::Table', 'ContactTable') };
    const bucket = { Ref: logicalId(template, 'AWS::S3::Bucket', 'DropBucket0') };
    expect(envOf(template, 'IngestFunction')).toMatchObject({ TABLE_NAME: table, BUCKET_NAME: bucket });
    expect(envOf(template, 'SyncFunction')).toMatchObject({ TABLE_NAME: table, BUCKET_NAME: bucket });
    expect(Object.keys(envOf(template, 'IngestFunction')).sort()).toEqual(
      [
        'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
        'BUCKET_NAME',
        'FANOUT_BYTES',
        'FANOUT_STATE_MACHINE_ARN',
        'NODE_OPTIONS',
        'TABLE_NAME',
      ].sort(),
    );
    expect(envOf(template, 'IngestFunction')).toMatchObject({
      FANOUT_STATE_MACHINE_ARN: { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine', 'IngestFanOut') },
      FANOUT_BYTES: String(256 * 1024 * 1024),
    });
    expect(envOf(template, 'IngestStepsFunction')).toMatchObject({
      TABLE_NAME: table,
      BUCKET_NAME: bucket,
      FANOUT_CHUNK_BYTES: String(64 * 1024 * 1024),
    });
    expect(Object.keys(envOf(template, 'SyncFunction')).sort()).toEqual(
      [
        'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
        'BUCKET_NAME',
        'DESTINATION_SECRETS',
        'NODE_OPTIONS',
        'TABLE_NAME',
      ].sort(),
    );
  });
});

describe('IAM', () => {
  const tableArn = () => ({ 'Fn::GetAtt': [logicalId(template, 'AWS::DynamoDB::Table', 'ContactTable'), 'Arn'] });
  const objectsUnder = (prefix: string) => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(template, 'AWS::S3::Bucket', 'DropBucket0'), 'Arn'] }, `/${prefix}*`]],
  });

  it('lets ingest read and delete incoming/ and erasure/ (any version), write reports/ and quarantine/, nothing else in S3', () => {
    const ingest = statementsOfRole(template, 'IngestFunctionRole');
    const readAndDelete = [objectsUnder('incoming/'), objectsUnder('erasure/')];
    // The bucket is versioned: reads and deletes after a HeadObject carry its VersionId (see iam-coverage.test.ts).
    for (const action of ['s3:GetObject', 's3:GetObjectVersion', 's3:DeleteObject', 's3:DeleteObjectVersion']) {
      expect(grantsOf(ingest, action), action).toEqual(readAndDelete);
    }
    expect(grantsOf(ingest, 's3:PutObject')).toEqual([objectsUnder('reports/'), objectsUnder('quarantine/')]);
    const s3Actions = ingest.flatMap(actionsOf).filter((a) => a.startsWith('s3:'));
    expect(new Set(s3Actions)).toEqual(
      new Set(['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']),
    );
  });

  it('does not let ingest read any secret', () => {
    const ingest = statementsOfRole(template, 'IngestFunctionRole');
    expect(ingest.flatMap(actionsOf).filter((a) => a.startsWith('secretsmanager:') || a.startsWith('kms:'))).toEqual(
      [],
    );
  });

  it('lets sync write reports/ only: it cannot read, write or delete incoming/', () => {
    const sync = statementsOfRole(template, 'SyncFunctionRole');
    const s3 = sync.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3.flatMap(actionsOf)).toEqual(['s3:PutObject']);
    expect(s3.flatMap(resourcesOf)).toEqual([objectsUnder('reports/')]);
    expect(JSON.stringify(sync)).not.toContain('incoming/');
  });

  it('scopes table grants to the table ARN', () => {
    for (const role of ['IngestFunctionRole', 'SyncFunctionRole']) {
      const statements = statementsOfRole(template, role).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(statements).toHaveLength(1);
      expect(resourcesOf(statements[0] as Statement)).toEqual([tableArn()]);
      expect(actionsOf(statements[0] as Statement)).toEqual(
        expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']),
      );
    }
  });

  it('grants no dynamodb, s3, secretsmanager or kms action on "*" anywhere, and no wildcard actions', () => {
    for (const t of [template, custom]) {
      const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
        (p) => p.Properties.PolicyDocument.Statement as Statement[],
      );
      for (const s of statements) {
        const dataActions = actionsOf(s).filter((a) => /^(dynamodb|s3|secretsmanager|kms):/.test(a));
        if (dataActions.length) expect(resourcesOf(s), JSON.stringify(s)).not.toContain('*');
        expect(
          actionsOf(s).filter((a) => a.includes('*')),
          JSON.stringify(s),
        ).toEqual([]);
      }
    }
  });

  it('grants the customer key to the functions by ARN when one is given', () => {
    const ingest = statementsOfRole(custom, 'IngestFunctionRole');
    const sync = statementsOfRole(custom, 'SyncFunctionRole');
    // Bucket reads, bucket writes (multipart) and the table each need the key.
    expect(grantsOf(ingest, 'kms:Decrypt')).toEqual([CUSTOMER_KEY, CUSTOMER_KEY, CUSTOMER_KEY]);
    // Sync: the table, reports/ (multipart) and the destination secrets.
    expect(grantsOf(sync, 'kms:Decrypt')).toEqual([CUSTOMER_KEY, CUSTOMER_KEY, CUSTOMER_KEY]);
    expect(new Set(grantsOf(sync, 'kms:GenerateDataKey'))).toEqual(new Set([CUSTOMER_KEY]));
    const kmsResources = [...ingest, ...sync].filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(new Set(kmsResources.flatMap(resourcesOf))).toEqual(new Set([CUSTOMER_KEY]));
  });

  it('gives the functions no managed policies (no AWSLambdaBasicExecutionRole)', () => {
    for (const role of ['IngestFunctionRole', 'SyncFunctionRole']) {
      const props = template.findResources('AWS::IAM::Role')[logicalId(template, 'AWS::IAM::Role', role)]?.Properties;
      expect(props.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('SyncSchedule', () => {
  it('runs nightly at 03:00 UTC by default, at the context cron and time zone otherwise', () => {
    const target = {
      Arn: { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine', 'SyncScheduleStateMachine') },
      Input: JSON.stringify({ trigger: 'schedule' }),
      DeadLetterConfig: {
        Arn: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'SyncScheduleDeadLetterQueue'), 'Arn'] },
      },
      RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
    };
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: Match.objectLike(target),
    });
    custom.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 1 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
  });

  it('runs the sync in steps: Plan → RemoveShards (Distributed Map) → Decide → AddShards (Distributed Map) → Finish', () => {
    const def = stateMachineDefinition(template);
    const states = def.States;
    const serviceRetry = expect.objectContaining({
      ErrorEquals: expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']),
      BackoffRate: 2,
    });
    expect(def.StartAt).toBe('Plan');
    for (const [name, step, next] of [
      ['Plan', 'plan', 'Planned'],
      ['Decide', 'decide', 'AddShards'],
      ['Finish', 'finish', 'IsDone'],
      ['Abort', 'abort', 'SyncFailed'],
    ] as const) {
      // Each step gets the whole state and answers with the next one.
      expect(states[name]).toMatchObject({ Type: 'Task', Next: next, Resource: '<ref>' });
      expect(states[name]?.Parameters).toEqual({ step, 'run.$': '$' });
      expect(states[name]?.Retry).toEqual([serviceRetry]);
    }
    expect(states.Planned).toMatchObject({ Type: 'Choice', Default: 'InvalidState' });
    expect(states.Planned?.Choices).toEqual([
      { Not: { Variable: '$.next', IsPresent: true }, Next: 'InvalidState' },
      { Variable: '$.next', StringEquals: 'shards', Next: 'RemoveShards' },
      { Variable: '$.next', StringEquals: 'wait', Next: 'BackOffRequested' },
      { Variable: '$.next', StringEquals: 'done', Next: 'SyncDone' },
    ]);
    expect(states.SyncFailed).toMatchObject({ Type: 'Fail', Error: 'SyncShardGroupFailed' });
    expect(states.IsDone?.Choices).toEqual(
      expect.arrayContaining([
        { Variable: '$.done', BooleanEquals: true, Next: 'SyncDone' },
        { Variable: '$.done', BooleanEquals: false, Next: 'BackOffRequested' },
      ]),
    );
    // A run that is not done waits what it asked for (rate limit, busy lock, list being written) and plans again.
    expect(states.BackOffRequested?.Choices).toEqual([
      { Not: { Variable: '$.waitSeconds', IsPresent: true }, Next: 'Pause' },
      { Variable: '$.waitSeconds', IsNumeric: true, Next: 'BackOff' },
    ]);
    expect(states.BackOff).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Plan' });
    expect(states.Pause).toMatchObject({ Type: 'Wait', Seconds: 1, Next: 'Plan' });
    expect(states.SyncDone).toEqual({ Type: 'Succeed' });
    expect(def.TimeoutSeconds).toBe(12 * 3600);
  });

  it.each([
    ['RemoveShards', 'remove', 'Decide'],
    ['AddShards', 'add', 'Finish'],
  ])(
    '%s is a Distributed Map over the shard groups, bounded by the platforms, each group retried alone',
    (name, pass, next) => {
      const map = stateMachineDefinition(template).States[name]!;
      expect(map).toMatchObject({
        Type: 'Map',
        Next: next,
        ItemsPath: '$.groups',
        // The fixture config sends to Meta and Google, 4 calls at once per ad account each.
        MaxConcurrency: 4,
        ResultPath: null,
        Label: name,
        ItemSelector: {
          step: pass,
          'runId.$': '$.runId',
          'iteration.$': '$.iteration',
          'group.$': '$$.Map.Item.Value',
        },
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Abort' }],
      });
      const processor = map.ItemProcessor as {
        ProcessorConfig: unknown;
        StartAt: string;
        States: Record<string, Record<string, unknown>>;
      };
      expect(processor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      const group = processor.States[processor.StartAt]!;
      expect(group).toMatchObject({ Type: 'Task', Next: `${name}GroupDone` });
      // A run that lost its lock stops; Lambda service errors and any other failure are retried, the group alone.
      expect(group.Retry).toEqual([
        expect.objectContaining({ ErrorEquals: ['LeaseLost'], MaxAttempts: 0 }),
        expect.objectContaining({ ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']) }),
        expect.objectContaining({ ErrorEquals: ['States.ALL'], MaxAttempts: 2, BackoffRate: 2 }),
      ]);
      // A group cut short by the Lambda deadline (done: false) is invoked again.
      expect(processor.States[`${name}GroupDone`]).toMatchObject({
        Type: 'Choice',
        Choices: [{ Variable: '$.done', BooleanEquals: true, Next: `${name}GroupOk` }],
        Default: `${name}GroupPause`,
      });
      expect(processor.States[`${name}GroupPause`]).toMatchObject({
        Type: 'Wait',
        Seconds: 1,
        Next: processor.StartAt,
      });
    },
  );

  it('bounds the Maps by the strictest platform the config sends to: every group may call every destination', () => {
    const config = parseAudienceConfig({
      version: 1,
      destinations: {
        fast: { platform: 'meta', adAccountId: 'act_1' },
        slow: { platform: 'google', operatingAccountId: '123-456-7890' },
        unused: { platform: 'google', operatingAccountId: '123-456-7891' },
      },
      segments: [
        { id: 'a', where: { consent: 'subscribed' }, destinations: [{ destination: 'fast', audienceName: 'A' }] },
        { id: 'b', where: { consent: 'subscribed' }, destinations: [{ destination: 'slow', audienceName: 'B' }] },
      ],
    });
    const limited = (meta: number, google: number) => ({
      meta: { ...PLATFORMS.meta!, limits: { ...PLATFORMS.meta!.limits, concurrency: meta } },
      google: { ...PLATFORMS.google!, limits: { ...PLATFORMS.google!.limits, concurrency: google } },
    });
    expect(shardConcurrencyOf(config)).toBe(4);
    expect(shardConcurrencyOf(config, limited(4, 2))).toBe(2);
    expect(shardConcurrencyOf(config, limited(1, 8))).toBe(1);
    // A destination no segment sends to does not bound anything.
    const onlyFast = { ...config, segments: config.segments.slice(0, 1) };
    expect(shardConcurrencyOf(onlyFast, limited(3, 1))).toBe(3);
  });

  it('lets the state machine start, describe and stop only its own Distributed Map runs', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('SyncScheduleStateMachineRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const start = statements.filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start.length).toBeGreaterThan(0);
    for (const s of start) expect(JSON.stringify(s.Resource)).toContain('SyncScheduleStateMachine');
  });

  it('is a traced standard workflow that logs ALL events without execution data', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: {
              LogGroupArn: {
                'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', 'SyncScheduleLogGroup'), 'Arn'],
              },
            },
          },
        ],
      },
    });
  });
});

describe('IngestFanOut', () => {
  it('reads a big export in steps: Plan → StageChunks (Distributed Map) → ApplyShards (Distributed Map) → Commit', () => {
    const def = stateMachineDefinition(template, 'IngestFanOutStateMachine');
    const states = def.States;
    expect(def.StartAt).toBe('Plan');
    for (const [name, step, next] of [
      ['Plan', 'plan', 'Planned'],
      ['IngestWhole', 'whole', 'IngestDone'],
      ['Commit', 'commit', 'IngestDone'],
      ['Abort', 'abort', 'IngestFailed'],
    ] as const) {
      expect(states[name]).toMatchObject({ Type: 'Task', Next: next, Resource: '<ref>' });
      expect(states[name]?.Parameters).toEqual({ step, 'run.$': '$' });
    }
    expect(states.Planned?.Choices).toEqual([
      { Variable: '$.next', StringEquals: 'chunks', Next: 'StageChunks' },
      { Variable: '$.next', StringEquals: 'whole', Next: 'IngestWhole' },
      { Variable: '$.next', StringEquals: 'wait', Next: 'ListBusy' },
    ]);
    expect(states.Planned?.Default).toBe('IngestDone');
    expect(states.ListBusy).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Plan' });
    expect(states.IngestFailed).toMatchObject({ Type: 'Fail', Error: 'IngestChunkFailed' });
    expect(def.TimeoutSeconds).toBe(2 * 3600);
    // Leavers and the snapshot come after every chunk: the shards' Map runs after the chunks' Map, commit after both.
    for (const [name, items, step, key, concurrency, next] of [
      ['StageChunks', '$.chunks', 'stage', 'chunk', 40, 'ApplyShards'],
      ['ApplyShards', '$.shards', 'apply', 'shard', 5, 'Commit'], // 5 × ~8,000 WCU/s: DynamoDB's default 40,000 per table
    ] as const) {
      const map = states[name]!;
      expect(map).toMatchObject({
        Type: 'Map',
        Next: next,
        ItemsPath: items,
        MaxConcurrency: concurrency,
        ResultPath: null,
        ItemSelector: { step, 'runId.$': '$.runId', [`${key}.$`]: '$$.Map.Item.Value' },
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Abort' }],
      });
      const processor = map.ItemProcessor as {
        ProcessorConfig: unknown;
        StartAt: string;
        States: Record<string, Record<string, unknown>>;
      };
      expect(processor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      // A failing chunk or shard is retried alone; a run that lost the list's lock is not.
      expect(processor.States[processor.StartAt]?.Retry).toEqual([
        expect.objectContaining({ ErrorEquals: ['LeaseLost'], MaxAttempts: 0 }),
        expect.objectContaining({ ErrorEquals: expect.arrayContaining(['Lambda.ServiceException']) }),
        expect.objectContaining({ ErrorEquals: ['States.ALL'], MaxAttempts: 2 }),
      ]);
    }
  });

  it('lets the queue ingest start only this state machine, for files of fanOutBytes or more', () => {
    const machine = { Ref: logicalId(template, 'AWS::StepFunctions::StateMachine', 'IngestFanOut') };
    expect(grantsOf(statementsOfRole(template, 'IngestFunctionRole'), 'states:StartExecution')).toEqual([machine]);
    expect(grantsOf(statementsOfRole(template, 'SyncFunctionRole'), 'states:StartExecution')).toEqual([]);
    const small = synthTemplate({ fanOutBytes: '1048576', fanOutChunkBytes: 2097152 });
    expect(envOf(small, 'IngestFunction')).toMatchObject({ FANOUT_BYTES: '1048576' });
    expect(envOf(small, 'IngestStepsFunction')).toMatchObject({ FANOUT_CHUNK_BYTES: '2097152' });
    expect(() => synthTemplate({ fanOutBytes: 10 })).toThrow(/fanOutBytes must be a whole number of bytes, at least/);
  });

  it('gives the steps function incoming/ to read and delete, staging/ to use, reports/ and quarantine/ to write', () => {
    const statements = statementsOfRole(template, 'IngestStepsFunctionRole');
    const objects = (prefix: string) => ({
      'Fn::Join': [
        '',
        [{ 'Fn::GetAtt': [logicalId(template, 'AWS::S3::Bucket', 'DropBucket0'), 'Arn'] }, `/${prefix}*`],
      ],
    });
    expect(grantsOf(statements, 's3:GetObjectVersion')).toEqual([objects('incoming/'), objects('staging/')]);
    expect(grantsOf(statements, 's3:PutObject')).toEqual([
      objects('reports/'),
      objects('quarantine/'),
      objects('staging/'),
    ]);
    expect(grantsOf(statements, 's3:DeleteObjectVersion')).toEqual([objects('incoming/'), objects('staging/')]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^One step of a fanned-out ingest'),
      MemorySize: 1769,
      Timeout: 900,
      EphemeralStorage: { Size: 10240 },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'staging/', ExpirationInDays: 1 })]),
      },
    });
  });
});

describe('Monitoring', () => {
  const topic = () => ({ Ref: logicalId(template, 'AWS::SNS::Topic', 'MonitoringTopic') });

  it('sends every alarm to the encrypted, SSL-only topic', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'MonitoringTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', { PolicyDocument: { Statement: denyInsecureTransport } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Effect: 'Allow' }),
        ]),
      },
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // DLQs (2), executions failed (sync, big-export fan-out), function errors (2), destination alerts, sync not run.
    expect(alarms).toHaveLength(8);
    for (const a of alarms) {
      expect(a.Properties).toMatchObject({ AlarmActions: [topic()], Threshold: 1 });
      // Every alarm fires on something happening, except the one that fires on the sync not happening.
      if (a.Properties.MetricName !== 'SyncCompleted')
        expect(a.Properties.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    }
  });

  it('alarms on both DLQs, failed syncs, function errors and destination alerts', () => {
    const queue = (prefix: string) => ({
      Name: 'QueueName',
      Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', prefix), 'QueueName'] },
    });
    for (const prefix of ['IngestPipelineDeadLetterQueue', 'SyncScheduleDeadLetterQueue']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [queue(prefix)],
      });
    }
    for (const fn of ['IngestFunction', 'SyncFunction']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(template, 'AWS::Lambda::Function', fn) } }],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsFailed' }) }),
        }),
      ]),
    });
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.event = "destination_alert" }',
      LogGroupName: { Ref: logicalId(template, 'AWS::Logs::LogGroup', 'SyncFunctionLogGroup') },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DestinationAlertEvents',
      Namespace: 'AudienceSync',
    });
  });

  it('alarms when no full sync run completed for 26 hours, missing data counting as not run', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AudienceSync',
      MetricName: 'SyncCompleted',
      Dimensions: [{ Name: 'Segments', Value: 'all' }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      AlarmActions: [topic()],
    });
  });

  it('refuses a "sync did not run" window CloudWatch cannot evaluate', async () => {
    const { App } = await import('aws-cdk-lib');
    const { Monitoring } = await import('../../lib/constructs/monitoring');
    const { Duration, Stack } = await import('aws-cdk-lib');
    const m = new Monitoring(new Stack(new App(), 'S'), 'M');
    expect(() => m.alarmOnSyncNotRun('A', Duration.days(8), 'x')).toThrow(/window \(hours\)/);
    expect(() => m.alarmOnSyncNotRun('B', Duration.minutes(90), 'x')).toThrow(/window \(hours\)/);
  });

  it('has a dashboard of the metrics the functions emit: per list, per audience, API errors by code, sync duration', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const join = dashboard!.Properties.DashboardBody['Fn::Join'][1] as unknown[];
    const body = JSON.parse(join.map((p) => (typeof p === 'string' ? p : 'REF')).join('')) as {
      widgets: Array<{ type: string; properties: { title?: string; metrics?: unknown[][] } }>;
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []);
    const expressions = metrics.flat().flatMap((m) => (m as { expression?: string }).expression ?? []);
    // Per-list, per-audience and per-code lines are SEARCH expressions over exactly the names and dimensions emitted.
    expect(expressions).toEqual(
      expect.arrayContaining([
        `SEARCH('{AudienceSync,List} MetricName="Accepted"', 'Sum', 86400)`,
        `SEARCH('{AudienceSync,List} MetricName="Rejected"', 'Sum', 86400)`,
        `SEARCH('{AudienceSync,Destination,Segment} MetricName="Added"', 'Sum', 86400)`,
        `SEARCH('{AudienceSync,Destination,Segment} MetricName="Removed"', 'Sum', 86400)`,
        `SEARCH('{AudienceSync,Destination,Platform,ErrorKind,Code} MetricName="ApiErrors"', 'Sum', 3600)`,
      ]),
    );
    const named = metrics.map((m) => m.filter((x) => typeof x === 'string').join(' '));
    expect(named).toEqual(
      expect.arrayContaining([
        'AWS/States ExecutionTime StateMachineArn REF',
        'AudienceSync SyncDuration Segments all',
        'AudienceSync SyncCompleted Segments all',
      ]),
    );
    expect(body.widgets.filter((w) => w.type === 'alarm')).toHaveLength(1);
  });

  it('subscribes the alarm email only when given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    custom.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});

describe('DestinationSecrets', () => {
  /** Destinations of test/infra/fixtures/audiences.yaml without a secret name, and the names the stack gives them. */
  const created = {
    'meta-main': 'audience-sync/meta-main/meta-access-token',
    'meta-us': 'audience-sync/meta-us/meta-access-token',
    'google-ads': 'audience-sync/google-ads/google-service-account',
  };
  const secretId = (t: Template, destination: string) =>
    logicalId(t, 'AWS::SecretsManager::Secret', `DestinationSecrets${destination.replace(/[^a-z0-9]/g, '')}`);
  /** `meta-eu` names audience-sync/meta-eu-token: Secrets Manager appends -<6 characters> to a name in its ARN. */
  const importedArn = (suffix: string) => ({
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':secretsmanager:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        `:secret:audience-sync/meta-eu-token${suffix}`,
      ],
    ],
  });

  /** The statements of the sync function's secret policy (the one `useDestinationSecrets` attaches). */
  const secretPolicyOf = (t: Template): Statement[] =>
    Object.entries(t.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('SyncFunctionSecretPolicy'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Statement[]);

  it('creates one secret per destination that names none, under its platform default name, with a placeholder, retained', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
    for (const [destination, name] of Object.entries(created)) {
      const secret = template.findResources('AWS::SecretsManager::Secret')[secretId(template, destination)];
      expect(secret).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          Name: name,
          Description: expect.stringContaining(`destination ${destination}`),
          // Secrets Manager fills the placeholder: no value, not even an empty one, is in the template.
          GenerateSecretString: { SecretStringTemplate: '{}', GenerateStringKey: 'placeholder' },
        },
      });
      expect(secret?.Properties).not.toHaveProperty('SecretString');
      expect(secret?.Properties).not.toHaveProperty('KmsKeyId');
    }
  });

  it('keeps stable logical ids, so a deploy never replaces a secret that holds credentials', () => {
    expect(secretId(template, 'meta-main')).toBe('DestinationSecretsmetamain328F934F');
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret')).sort()).toEqual(
      Object.keys(created)
        .map((d) => secretId(template, d))
        .sort(),
    );
  });

  it('gives the sync function DESTINATION_SECRETS: each destination id to its own secret', () => {
    expect(destinationSecretsOf(template)).toEqual({
      'meta-main': `<${secretId(template, 'meta-main')}>`,
      'meta-us': `<${secretId(template, 'meta-us')}>`,
      'google-ads': `<${secretId(template, 'google-ads')}>`,
      // Imported by name: the name is a valid SecretId.
      'meta-eu': 'audience-sync/meta-eu-token',
    });
  });

  it('lets sync read exactly those secrets, an imported one by "<partial ARN>-??????", and nothing else', () => {
    const sync = statementsOfRole(template, 'SyncFunctionRole');
    const statements = sync.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
    expect(statements).toHaveLength(1);
    expect(actionsOf(statements[0] as Statement)).toEqual(['secretsmanager:GetSecretValue']);
    expect(resourcesOf(statements[0] as Statement)).toEqual([
      { Ref: secretId(template, 'meta-main') },
      { Ref: secretId(template, 'meta-us') },
      importedArn('-??????'),
      { Ref: secretId(template, 'google-ads') },
    ]);
    // Created and imported secrets use aws/secretsmanager without a customer key: no key grant is needed.
    expect(sync.flatMap(actionsOf).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  it('gives the ingest function no secret, no key and no DESTINATION_SECRETS', () => {
    for (const t of [template, custom]) {
      const ingest = statementsOfRole(t, 'IngestFunctionRole');
      expect(JSON.stringify(ingest)).not.toMatch(/secretsmanager|DestinationSecrets|meta-eu-token/);
      expect(envOf(t, 'IngestFunction')).not.toHaveProperty('DESTINATION_SECRETS');
    }
  });

  it('encrypts the created secrets with the customer key, and lets sync decrypt with it (imported secrets too)', () => {
    for (const destination of Object.keys(created)) {
      expect(
        custom.findResources('AWS::SecretsManager::Secret')[secretId(custom, destination)]?.Properties.KmsKeyId,
      ).toBe(CUSTOMER_KEY);
    }
    const sync = statementsOfRole(custom, 'SyncFunctionRole');
    expect(secretPolicyOf(custom)).toEqual([
      expect.objectContaining({ Action: 'secretsmanager:GetSecretValue' }),
      // One grant covers every secret: an imported secret is assumed to use the customer key the stack deploys with.
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: CUSTOMER_KEY },
    ]);
    expect(grantsOf(sync, 'secretsmanager:GetSecretValue')).toContainEqual(importedArn('-??????'));
  });

  it('lets sync decrypt an imported secret with the customer key even when the stack creates no secret', () => {
    const configFile = writeTempConfig(
      'version: 1\ndestinations:\n  meta-eu: { platform: meta, tokenSecretName: audience-sync/meta-eu-token }\n',
    );
    const onlyImported = synthTemplate({ configFile, kmsKeyArn: CUSTOMER_KEY });
    onlyImported.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // The table's and the bucket's grants name the same key, but the secret's grant must not lean on them.
    expect(secretPolicyOf(onlyImported)).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: importedArn('-??????') },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: CUSTOMER_KEY },
    ]);
    expect(destinationSecretsOf(onlyImported)).toEqual({ 'meta-eu': 'audience-sync/meta-eu-token' });
  });

  it('outputs one secret ARN per destination, saying whose credentials go there', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    expect(outputs.SecretArnMetaMain).toEqual({
      Value: { Ref: secretId(template, 'meta-main') },
      Description: expect.stringMatching(
        /^Put the Meta \(Facebook, Instagram\) credentials of destination meta-main here: Meta system-user access token/,
      ),
    });
    expect(outputs.SecretArnMetaUs?.Value).toEqual({ Ref: secretId(template, 'meta-us') });
    expect(outputs.SecretArnMetaEu?.Value).toEqual(importedArn(''));
    expect(outputs.SecretArnGoogleAds).toEqual({
      Value: { Ref: secretId(template, 'google-ads') },
      Description: expect.stringMatching(
        /^Put the Google Customer Match credentials of destination google-ads here: Google service-account key/,
      ),
    });
  });
});

describe('a config without destinations', () => {
  let bare: Template;
  beforeAll(() => {
    bare = synthTemplate({ configFile: writeTempConfig('version: 1\n') });
  });

  it('creates no secret, grants none and sets no DESTINATION_SECRETS', () => {
    bare.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(JSON.stringify(statementsOfRole(bare, 'SyncFunctionRole'))).not.toContain('secretsmanager');
    expect(envOf(bare, 'SyncFunction')).not.toHaveProperty('DESTINATION_SECRETS');
    expect(Object.keys(bare.toJSON().Outputs).filter((o) => o.startsWith('SecretArn'))).toEqual([]);
  });
});

describe('AudienceSyncStack', () => {
  it('outputs the names and ARNs operators need, under stable names', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      [
        'AlarmTopicArn',
        'BucketName',
        'DashboardName',
        'SecretArnMetaMain',
        'SecretArnMetaUs',
        'SecretArnMetaEu',
        'SecretArnGoogleAds',
        'SyncFunctionName',
        'SyncStateMachineArn',
        'TableName',
      ].sort(),
    );
  });
});
