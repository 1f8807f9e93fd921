import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { AudienceConfig } from '../functions/core/config';
import type { PlatformRegistry } from '../functions/core/platform';
import { PLATFORMS } from '../functions/platforms/registry';
import { propError } from './constructs/checks';
import { ContactTable } from './constructs/contact-table';
import { DestinationSecrets } from './constructs/destination-secrets';
import { DropBucket, DropPrefix } from './constructs/drop-bucket';
import { HouseFunction } from './constructs/house-function';
import { IngestFanOut } from './constructs/ingest-fan-out';
import { IngestPipeline } from './constructs/ingest-pipeline';
import { Monitoring } from './constructs/monitoring';
import { SyncSchedule } from './constructs/sync-schedule';

const FUNCTIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'functions');

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
   * ARN of a customer-managed KMS key for the bucket, the table and the destination secrets the stack creates. Its key
   * policy must let this account's IAM principals use it (the default key policy does). A secret a destination names
   * in the config (imported by name) is assumed to use this key too, so the sync function may decrypt with it. Either
   * way, queues use SSE-SQS (S3 cannot notify a queue under a key whose policy we cannot change) and log groups use
   * the stack's own `LogKey`.
   * @default - S3-managed (SSE-S3) bucket, AWS-managed `aws/dynamodb` for the table, `aws/secretsmanager` for secrets
   */
  readonly kmsKeyArn?: string;
  /**
   * Email address subscribed to the alarm topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Memory of the sync function in MB (128–10,240). Sync holds one shard of people at a time, so this does not grow
   * with the contact count (the README's Scale section has the measured slope); more memory is more CPU per worker.
   * @default 1024
   */
  readonly syncMemoryMb?: number;
  /**
   * The "sync did not run" alarm fires when no full sync run completed for this long. Keep it a little longer than
   * the time between two scheduled runs (2–168 hours).
   * @default Duration.hours(26) - a nightly schedule, with two hours' slack
   */
  readonly syncNotRunAfter?: Duration;
  /**
   * Exports (snapshots and deltas) of at least this many bytes are read by parallel workers (the IngestFanOut state
   * machine) instead of one ingest function. Plain UTF-8 / Windows-1252 CSVs are split; zips and UTF-16 files are
   * read whole by one worker.
   * @default 268435456 (256 MiB)
   */
  readonly fanOutBytes?: number;
  /**
   * Target size of one chunk of a fanned-out export (about 500,000 rows of 130 bytes at the default).
   * @default 67108864 (64 MiB)
   */
  readonly fanOutChunkBytes?: number;
  /**
   * Cid shards of a fanned-out export written at once (1–16). Each worker keeps about 4,000 contact items a second
   * (2 WCU each) in flight, so 5 stay within DynamoDB's default per-table quota of 40,000 write units a second; raise
   * it with the quota (the README's Scale section has the arithmetic).
   * @default 5
   */
  readonly fanOutShardConcurrency?: number;
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
  /** The workers of big exports (chunks, cid shards) and their state machine. */
  public readonly ingestStepsFunction: HouseFunction;
  public readonly ingestFanOut: IngestFanOut;
  public readonly syncSchedule: SyncSchedule;
  public readonly monitoring: Monitoring;
  /** Ingest, sync, API errors and alarms at a glance (output DashboardName). */
  public readonly dashboard: cloudwatch.Dashboard;
  /** One secret per destination of the config (created, or imported by the name the destination gives). */
  public readonly destinationSecrets: DestinationSecrets;
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
    if ((props as { metaTokenSecretName?: unknown }).metaTokenSecretName !== undefined) {
      throw propError(this, metaTokenSecretNameGone('the metaTokenSecretName prop'));
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

    this.destinationSecrets = new DestinationSecrets(this, 'DestinationSecrets', {
      destinations: config.destinations,
      platforms: PLATFORMS,
      encryptionKey: customerKey,
    });

    const logging = { logRetention, logEncryptionKey: this.logKey };
    this.ingestFunction = new HouseFunction(this, 'IngestFunction', {
      entry: join(FUNCTIONS_DIR, 'ingest.ts'),
      description: 'Ingests one dropped export or erasure request into the contact table',
      config,
      // Two vCPUs (1,769 MB each): a worker thread and the handler's thread read the rows; the handler's also frames
      // the file and stages what it changes (functions/app/row-pool.ts).
      memorySize: 3538,
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

    const fanOutBytes = props.fanOutBytes ?? 256 * 1024 * 1024;
    const chunkBytes = props.fanOutChunkBytes ?? 64 * 1024 * 1024;
    requireBytes(this, 'fanOutBytes', fanOutBytes, 1024);
    requireBytes(this, 'fanOutChunkBytes', chunkBytes, 1024);
    this.ingestStepsFunction = new HouseFunction(this, 'IngestStepsFunction', {
      entry: join(FUNCTIONS_DIR, 'ingest-steps.ts'),
      description: 'One step of a fanned-out ingest: plan, a chunk, a cid shard, commit',
      config,
      memorySize: 1769,
      timeout: Duration.minutes(15),
      // A chunk's staged records, or a shard's (about 1 KB a contact), spool here.
      ephemeralStorageSize: Size.gibibytes(10),
      ...logging,
    });
    this.ingestStepsFunction.grantTable(table, 'readWrite');
    this.ingestStepsFunction.useBucket(bucket, {
      read: [DropPrefix.incoming, DropPrefix.staging],
      write: [DropPrefix.reports, DropPrefix.quarantine, DropPrefix.staging],
      delete: [DropPrefix.incoming, DropPrefix.staging],
    });
    this.ingestStepsFunction.function.addEnvironment('FANOUT_CHUNK_BYTES', String(chunkBytes));
    this.ingestFanOut = new IngestFanOut(this, 'IngestFanOut', {
      stepsFunction: this.ingestStepsFunction.function,
      shardConcurrency: props.fanOutShardConcurrency ?? 5,
      ...logging,
    });
    this.ingestFunction.startsExecutionsOf(this.ingestFanOut.stateMachine, 'FANOUT_STATE_MACHINE_ARN', {
      FANOUT_BYTES: String(fanOutBytes),
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
    // Each destination's own secret, to the sync function alone (ingest never talks to a platform). A secret imported
    // by name carries no key CDK knows: with a customer key, it is assumed to be encrypted with that key.
    const secrets = this.destinationSecrets.secrets;
    if (Object.keys(secrets).length) {
      this.syncFunction.useDestinationSecrets(secrets, { importedSecretKey: customerKey });
    }

    this.ingestPipeline = new IngestPipeline(this, 'IngestPipeline', {
      bucket,
      ingestFunction: this.ingestFunction.function,
    });
    this.syncSchedule = new SyncSchedule(this, 'SyncSchedule', {
      syncFunction: this.syncFunction.function,
      shardConcurrency: shardConcurrencyOf(config),
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
    this.monitoring.alarmOnExecutionsFailed(
      'IngestFanOutFailed',
      this.ingestFanOut.stateMachine,
      'A big export failed in a chunk or shard after its retries; the list keeps its previous snapshot. Drop it again.',
    );
    this.monitoring.alarmOnFunctionErrors('SyncErrors', this.syncFunction.function, 'The sync function failed.');
    this.monitoring.alarmOnLogEvent(
      'DestinationAlert',
      this.syncFunction.logGroup,
      'destination_alert',
      'A destination needs a person (token expired, terms not accepted); other destinations kept syncing.',
    );
    const notRunAfter = props.syncNotRunAfter ?? Duration.hours(26);
    this.monitoring.alarmOnSyncNotRun(
      'SyncDidNotRun',
      notRunAfter,
      `No full sync run completed in the last ${notRunAfter.toHours()} hours: the schedule did not start it, or every run since failed, hung or was cut off. See the sync state machine's executions.`,
    );
    this.dashboard = this.monitoring.addDashboard('Dashboard', {
      stateMachine: this.syncSchedule.stateMachine,
      functions: { ingest: this.ingestFunction.function, sync: this.syncFunction.function },
    });

    /** Output name → value, description and (for a destination's) whose it is. */
    const outputs: Record<string, [string, string, string?]> = {
      BucketName: [bucket.bucketName, 'Drop exports under incoming/<list-id>/'],
      TableName: [table.tableName, 'Contact table'],
      SyncStateMachineArn: [this.syncSchedule.stateMachine.stateMachineArn, 'Start a sync on demand'],
      SyncFunctionName: [this.syncFunction.function.functionName, 'Sync function'],
      AlarmTopicArn: [this.monitoring.topic.topicArn, 'Alarm topic'],
      DashboardName: [this.dashboard.dashboardName, 'CloudWatch dashboard: ingest, sync, API errors, alarms'],
    };
    for (const d of Object.values(this.destinationSecrets.byDestination)) {
      const name = `SecretArn${pascalCase(d.destinationId)}`;
      const taken = outputs[name];
      if (taken) {
        throw propError(
          this,
          `destination "${d.destinationId}" would get output ${name}, which ${taken[2] ?? 'another output'} has; rename one of the destinations.`,
        );
      }
      outputs[name] = [
        d.secret.secretArn,
        `Put the ${d.spec.displayName} credentials of destination ${d.destinationId} here: ${d.spec.secret.description}`,
        `destination "${d.destinationId}"`,
      ];
    }
    for (const [name, [value, description]] of Object.entries(outputs)) {
      new CfnOutput(this, name, { value, description });
    }
  }
}

/**
 * Shard groups that may run at once: every group may call every destination, so the strictest per-account
 * concurrency of the platforms the config sends to (`PlatformSpec.limits.concurrency`) bounds them all.
 */
export function shardConcurrencyOf(config: AudienceConfig, platforms: PlatformRegistry = PLATFORMS): number {
  const used = new Set(config.segments.flatMap((s) => s.destinations.map((d) => d.destination)));
  const limits = [...used].map((id) => platforms[config.destinations[id]?.platform ?? '']?.limits.concurrency ?? 1);
  return Math.max(1, Math.min(...limits, 16));
}

const RETENTION_DAYS = new Set(
  Object.values(logs.RetentionDays).filter(
    (v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE,
  ),
);

function requireBytes(scope: Construct, prop: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw propError(scope, `${prop} must be a whole number of bytes, at least ${min}; received ${String(value)}.`);
}

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

/** `SecretArnMetaMain` for destination `meta-main`: the id's letters and digits, each word capitalised. */
function pascalCase(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Synth's answer to `metaTokenSecretName` (the prop, or the context key in bin/app.ts), which named the one token
 * secret of the stack before each destination had its own.
 */
export function metaTokenSecretNameGone(what: string): string {
  const fields = Object.values(PLATFORMS)
    .map((p) => `${p.secret.nameField} for ${p.id}`)
    .join(', ');
  return `${what} is gone: each destination has its own secret now; to use an existing one, name it in the destination's config (${fields}).`;
}
