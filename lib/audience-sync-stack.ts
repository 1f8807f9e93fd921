import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { AudienceConfig } from '../functions/core/config';
import { propError } from './constructs/checks';
import { ContactTable } from './constructs/contact-table';
import { DropBucket, DropPrefix } from './constructs/drop-bucket';
import { HouseFunction } from './constructs/house-function';
import { IngestPipeline } from './constructs/ingest-pipeline';
import { Monitoring } from './constructs/monitoring';
import { SyncSchedule } from './constructs/sync-schedule';

const FUNCTIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'functions');

/** Name of the secret the stack creates when no existing one is named. */
export const DEFAULT_META_TOKEN_SECRET_NAME = 'audience-sync/meta-access-token';

export interface AudienceSyncStackProps extends StackProps {
  /** The validated audiences config (see `loadConfigFile`); embedded in both function bundles. */
  readonly config: AudienceConfig;
  /**
   * EventBridge Scheduler expression for the nightly sync.
   * @default 'cron(0 3 * * ? *)'
   */
  readonly scheduleExpression?: string;
  /**
   * IANA time zone of the schedule.
   * @default 'UTC'
   */
  readonly scheduleTimeZone?: string;
  /**
   * Days after which raw files under `incoming/` (and `quarantine/`) expire, if ingest has not deleted them.
   * Must be at least the config's `keepRawFilesDays`.
   * @default 7
   */
  readonly rawRetentionDays?: number;
  /**
   * Retention of every log group, in days; one of the values CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, …).
   * @default 30
   */
  readonly logRetentionDays?: number;
  /**
   * ARN of a customer-managed KMS key for the bucket, the table and the created secret. Its key policy must let
   * this account's IAM principals use it (the default key policy does). Either way, queues use SSE-SQS (S3 cannot
   * notify a queue under a key whose policy we cannot change) and log groups use the stack's own `LogKey`.
   * @default - S3-managed (SSE-S3) bucket, AWS-managed `aws/dynamodb` for the table, `aws/secretsmanager` for the secret
   */
  readonly kmsKeyArn?: string;
  /**
   * Name of an existing Secrets Manager secret holding the Meta access token.
   * @default - the stack creates `audience-sync/meta-access-token` with a placeholder value
   */
  readonly metaTokenSecretName?: string;
  /**
   * Email address subscribed to the alarm topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Memory of the sync function in MB. Sync evaluates segments over every stored contact in memory: measured about
   * 3 GB for a million contacts, so raise this with the contact count (128–10,240).
   * @default 1024
   */
  readonly syncMemoryMb?: number;
}

/**
 * audience-sync: contact exports dropped in S3 are ingested (hashed) into DynamoDB and synced nightly to ad
 * platforms' custom audiences. See docs/architecture.md.
 */
export class AudienceSyncStack extends Stack {
  public readonly dropBucket: DropBucket;
  public readonly contactTable: ContactTable;
  public readonly ingestFunction: HouseFunction;
  public readonly syncFunction: HouseFunction;
  public readonly ingestPipeline: IngestPipeline;
  public readonly syncSchedule: SyncSchedule;
  public readonly monitoring: Monitoring;
  /** The Meta access token (created, or referenced by name). */
  public readonly metaTokenSecret: secretsmanager.ISecret;
  /** Encrypts every log group of the stack. */
  public readonly logKey: kms.Key;

  constructor(scope: Construct, id: string, props: AudienceSyncStackProps) {
    super(scope, id, props);
    const rawRetentionDays = props.rawRetentionDays ?? 7;
    const logRetention = toRetentionDays(this, props.logRetentionDays ?? 30);
    const { config } = props;
    if (config.keepRawFilesDays > rawRetentionDays) {
      throw propError(
        this,
        `the config keeps raw files ${config.keepRawFilesDays} days (keepRawFilesDays) but the bucket expires them after ${rawRetentionDays} (rawRetentionDays); raise rawRetentionDays to at least ${config.keepRawFilesDays} or lower keepRawFilesDays.`,
      );
    }
    const customerKey = props.kmsKeyArn ? importKey(this, props.kmsKeyArn) : undefined;

    this.logKey = new kms.Key(this, 'LogKey', {
      description: 'Encrypts the audience-sync log groups',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.logKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogs',
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*`,
          },
        },
      }),
    );

    this.dropBucket = new DropBucket(this, 'DropBucket', { encryptionKey: customerKey, rawRetentionDays });
    this.contactTable = new ContactTable(this, 'ContactTable', { encryptionKey: customerKey });
    const bucket = this.dropBucket.bucket;
    const table = this.contactTable.table;

    this.metaTokenSecret = props.metaTokenSecretName
      ? importSecret(this, 'MetaTokenSecret', props.metaTokenSecretName)
      : this.createTokenSecret(customerKey);

    const logging = { logRetention, logEncryptionKey: this.logKey };
    this.ingestFunction = new HouseFunction(this, 'IngestFunction', {
      entry: join(FUNCTIONS_DIR, 'ingest.ts'),
      description: 'Ingests one dropped export or erasure request into the contact table',
      config,
      memorySize: 1769,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(4),
      ...logging,
    });
    this.ingestFunction.grantTable(table, 'readWrite');
    this.ingestFunction.useBucket(bucket, {
      read: [DropPrefix.incoming, DropPrefix.erasure],
      write: [DropPrefix.reports, DropPrefix.quarantine],
      delete: [DropPrefix.incoming, DropPrefix.erasure],
    });

    this.syncFunction = new HouseFunction(this, 'SyncFunction', {
      entry: join(FUNCTIONS_DIR, 'sync.ts'),
      description: 'Runs one bounded slice of the audience sync and returns its checkpoint',
      config,
      memorySize: props.syncMemoryMb ?? 1024,
      timeout: Duration.minutes(15),
      ...logging,
    });
    this.syncFunction.grantTable(table, 'readWrite');
    this.syncFunction.useBucket(bucket, { write: [DropPrefix.reports] });
    // The one token secret. A destination's `tokenSecretName` in the config is for local runs: in the cloud the
    // handler reads META_TOKEN_SECRET_ID first, so no other secret is granted.
    this.syncFunction.useSecret(this.metaTokenSecret);

    this.ingestPipeline = new IngestPipeline(this, 'IngestPipeline', {
      bucket,
      ingestFunction: this.ingestFunction.function,
    });
    this.syncSchedule = new SyncSchedule(this, 'SyncSchedule', {
      syncFunction: this.syncFunction.function,
      scheduleExpression: props.scheduleExpression,
      timeZone: props.scheduleTimeZone,
      ...logging,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', { alarmEmail: props.alarmEmail });
    this.monitoring.alarmOnQueueMessages(
      'IngestDeadLetters',
      this.ingestPipeline.deadLetterQueue,
      'A dropped file failed ingest 3 times; its event is in the ingest DLQ. See the ingest logs, fix, then redrive.',
    );
    this.monitoring.alarmOnQueueMessages(
      'ScheduleDeadLetters',
      this.syncSchedule.deadLetterQueue,
      'The scheduler could not start the nightly sync; the request is in the schedule DLQ.',
    );
    this.monitoring.alarmOnExecutionsFailed(
      'SyncFailed',
      this.syncSchedule.stateMachine,
      'A sync execution failed or timed out; the next run resumes from the last checkpoint.',
    );
    this.monitoring.alarmOnFunctionErrors('IngestErrors', this.ingestFunction.function, 'The ingest function failed.');
    this.monitoring.alarmOnFunctionErrors('SyncErrors', this.syncFunction.function, 'The sync function failed.');
    this.monitoring.alarmOnLogEvent(
      'DestinationAlert',
      this.syncFunction.logGroup,
      'destination_alert',
      'A destination needs a person (token expired, terms not accepted); other destinations kept syncing.',
    );

    const outputs: Record<string, [string, string]> = {
      BucketName: [bucket.bucketName, 'Drop exports under incoming/<list-id>/'],
      TableName: [table.tableName, 'Contact table'],
      SyncStateMachineArn: [this.syncSchedule.stateMachine.stateMachineArn, 'Start a sync on demand'],
      SyncFunctionName: [this.syncFunction.function.functionName, 'Sync function'],
      MetaTokenSecretArn: [this.metaTokenSecret.secretArn, 'Put the Meta system-user access token here'],
      AlarmTopicArn: [this.monitoring.topic.topicArn, 'Alarm topic'],
    };
    for (const [name, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, name, { value, description });
    }
  }

  private createTokenSecret(key: kms.IKey | undefined): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'MetaTokenSecret', {
      secretName: DEFAULT_META_TOKEN_SECRET_NAME,
      description:
        'Meta system-user access token for audience-sync. Set it with: aws secretsmanager put-secret-value --secret-string <token>',
      // Starts "empty": an accessToken of "" makes the sync say the token is not set yet. Secrets Manager fills
      // the placeholder key itself, so no value, not even an empty one, is written into the template.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ accessToken: '' }),
        generateStringKey: 'placeholder',
      },
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The Meta token is issued and rotated by a person in Meta Business Settings; Secrets Manager cannot rotate it.',
    });
    return secret;
  }
}

const RETENTION_DAYS = new Set(
  Object.values(logs.RetentionDays).filter(
    (v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE,
  ),
);

function toRetentionDays(scope: Construct, days: number): logs.RetentionDays {
  if (!RETENTION_DAYS.has(days)) {
    throw propError(
      scope,
      `logRetentionDays must be one of ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}; received ${String(days)}.`,
    );
  }
  return days as logs.RetentionDays;
}

function importKey(scope: Construct, arn: string): kms.IKey {
  if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(mrk-)?[0-9a-f-]+$/.test(arn)) {
    throw propError(
      scope,
      `kmsKeyArn must be a key ARN like arn:aws:kms:eu-west-1:123456789012:key/<key-id> (not an alias); received ${JSON.stringify(arn)}.`,
    );
  }
  return kms.Key.fromKeyArn(scope, 'CustomerKey', arn);
}

function importSecret(scope: Construct, id: string, name: string): secretsmanager.ISecret {
  if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
    throw propError(scope, `secret name must use letters, digits and /_+=.@- only; received ${JSON.stringify(name)}.`);
  }
  return secretsmanager.Secret.fromSecretNameV2(scope, id, name);
}
