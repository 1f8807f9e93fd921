import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { requireWholeNumber } from './checks';

/** Key prefixes of the drop bucket. Each has its own lifecycle rule and its own grants. */
export const DropPrefix = {
  /** Contact exports dropped by marketers: `incoming/<list-id>/<file>`. */
  incoming: 'incoming/',
  /** Erasure requests (right to be forgotten). */
  erasure: 'erasure/',
  /** Files that could not be read, kept with their error report until they expire. */
  quarantine: 'quarantine/',
  /** Per-ingest and per-sync JSON + HTML reports (no PII). */
  reports: 'reports/',
  /** A fanned-out ingest's files between its steps (hashes and counts, as the table holds), removed by its commit. */
  staging: 'staging/',
} as const;

export interface DropBucketProps {
  /**
   * Customer-managed KMS key for SSE-KMS (with an S3 Bucket Key, so each object does not cost a KMS call).
   * @default - S3-managed encryption (SSE-S3)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Days after which objects under `incoming/` and `quarantine/` expire (then 1 more day as a noncurrent version).
   * A backstop: ingest deletes the version of each raw file it read; this bounds how long PII can stay when ingest
   * never ran, failed, or was told to keep the file (`keepRawFilesDays`).
   * @default 7
   */
  readonly rawRetentionDays?: number;
  /**
   * Days after which reports under `reports/` expire.
   * @default 400
   */
  readonly reportRetentionDays?: number;
  /**
   * Days after which server access logs expire.
   * @default 365
   */
  readonly accessLogRetentionDays?: number;
}

/**
 * The bucket marketers drop contact exports into, plus its server-access-log bucket.
 * Both are private, SSL-only, encrypted and retained when the stack is deleted.
 */
export class DropBucket extends Construct {
  /** The drop bucket (`incoming/`, `erasure/`, `quarantine/`, `reports/`). */
  public readonly bucket: s3.Bucket;
  /** Receives the drop bucket's server access logs. */
  public readonly accessLogBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DropBucketProps = {}) {
    super(scope, id);
    const rawRetentionDays = props.rawRetentionDays ?? 7;
    const reportRetentionDays = props.reportRetentionDays ?? 400;
    const accessLogRetentionDays = props.accessLogRetentionDays ?? 365;
    requireWholeNumber(
      this,
      'rawRetentionDays',
      rawRetentionDays,
      { min: 1, max: 365 },
      'S3 expires objects after at least 1 day; pass e.g. -c rawRetentionDays=7.',
    );
    requireWholeNumber(
      this,
      'reportRetentionDays',
      reportRetentionDays,
      { min: 1, max: 3650 },
      'Give the number of days reports are kept, e.g. 400.',
    );
    requireWholeNumber(
      this,
      'accessLogRetentionDays',
      accessLogRetentionDays,
      { min: 1, max: 3650 },
      'Give the number of days access logs are kept, e.g. 365.',
    );

    // Log delivery through a bucket policy (not the LogDeliveryWrite ACL, which buckets with
    // ObjectOwnership=BucketOwnerEnforced refuse). Set here so the stack does not depend on cdk.json flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging only delivers to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(accessLogRetentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const noncurrentAfterOneDay = Duration.days(1);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'drop-bucket/',
      lifecycleRules: [
        // Ingest deletes the version it read, which leaves nothing behind. Noncurrent versions still appear when a
        // rule below expires a current version (a file ingest left, or never ingested) or when something deletes or
        // overwrites without a version id: none of them outlives that by more than a day.
        {
          id: 'expire-incoming',
          prefix: DropPrefix.incoming,
          expiration: Duration.days(rawRetentionDays),
          noncurrentVersionExpiration: noncurrentAfterOneDay,
        },
        {
          id: 'expire-quarantine',
          prefix: DropPrefix.quarantine,
          expiration: Duration.days(rawRetentionDays),
          noncurrentVersionExpiration: noncurrentAfterOneDay,
        },
        {
          id: 'expire-erasure',
          prefix: DropPrefix.erasure,
          expiration: Duration.days(1),
          noncurrentVersionExpiration: noncurrentAfterOneDay,
        },
        {
          id: 'expire-reports',
          prefix: DropPrefix.reports,
          expiration: Duration.days(reportRetentionDays),
          noncurrentVersionExpiration: noncurrentAfterOneDay,
        },
        {
          // A fanned-out ingest deletes its staging files when it commits; one that failed leaves them a day.
          id: 'expire-staging',
          prefix: DropPrefix.staging,
          expiration: Duration.days(1),
          noncurrentVersionExpiration: noncurrentAfterOneDay,
        },
        {
          id: 'housekeeping',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
