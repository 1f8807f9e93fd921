import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { propError, requireWholeNumber } from './checks';
import { DropPrefix } from './drop-bucket';

/** SQS needs the visibility timeout to cover the function's timeout plus retries of the batch; AWS advises 6×. */
const VISIBILITY_PER_FUNCTION_TIMEOUT = 6;

export interface IngestPipelineProps {
  /** The bucket whose uploads are ingested. */
  readonly bucket: s3.IBucket;
  /** The ingest function. It must report partial batch failures (`batchItemFailures`). */
  readonly ingestFunction: lambda.Function;
  /**
   * Key prefixes whose ObjectCreated events are ingested. Prefixes must not overlap.
   * @default ['incoming/', 'erasure/']
   */
  readonly prefixes?: readonly string[];
  /**
   * Receives before a message moves to the dead-letter queue.
   * @default 3
   */
  readonly maxReceiveCount?: number;
}

/**
 * S3 ObjectCreated (under `incoming/` and `erasure/`) → SQS IngestQueue (+ dead-letter queue) → ingest function,
 * one file per invocation. The queue absorbs bursts and redelivers when a run dies mid-file.
 */
export class IngestPipeline extends Construct {
  /** Receives the bucket's ObjectCreated events. */
  public readonly queue: sqs.Queue;
  /** Messages that failed `maxReceiveCount` times, kept 14 days for inspection and redrive. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: IngestPipelineProps) {
    super(scope, id);
    const prefixes = props.prefixes ?? [DropPrefix.incoming, DropPrefix.erasure];
    const maxReceiveCount = props.maxReceiveCount ?? 3;
    requireWholeNumber(
      this,
      'maxReceiveCount',
      maxReceiveCount,
      { min: 1, max: 1000 },
      'Give how often a file is retried before its event goes to the DLQ, e.g. 3.',
    );
    if (prefixes.length === 0) throw propError(this, 'prefixes must name at least one key prefix; received [].');
    for (const p of prefixes) {
      if (!p.endsWith('/') || p.length < 2) {
        throw propError(this, `prefixes must end with "/", like "incoming/"; received ${JSON.stringify(p)}.`);
      }
      const overlapping = prefixes.find((q) => q !== p && q.startsWith(p));
      if (overlapping) {
        throw propError(this, `prefixes "${p}" and "${overlapping}" overlap, which S3 refuses; keep only "${p}".`);
      }
    }
    const functionTimeout = props.ingestFunction.timeout;
    if (!functionTimeout) {
      throw propError(
        this,
        'ingestFunction has no timeout set; give it one so the queue visibility timeout can follow.',
      );
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // SSE-SQS, not a customer key: S3 can only notify a KMS-encrypted queue if the key policy lets
    // s3.amazonaws.com use the key, and the policy of an imported key cannot be changed from here.
    // Messages carry bucket and object names only.
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(functionTimeout.toSeconds() * VISIBILITY_PER_FUNCTION_TIMEOUT),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    for (const prefix of prefixes) {
      props.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(this.queue), { prefix });
    }
    this.acknowledgeNotificationsHandler();

    props.ingestFunction.addEventSource(
      new sources.SqsEventSource(this.queue, {
        // Exports are big: one file per invocation gets the whole function.
        batchSize: 1,
        reportBatchItemFailures: true,
      }),
    );
  }

  /** The stack-wide custom resource that configures S3 notifications, created by `addEventNotification`. */
  private acknowledgeNotificationsHandler(): void {
    const handler = Stack.of(this).node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
    const role = handler?.node.tryFindChild('Role');
    if (!role) return;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'CDK-owned custom resource that sets bucket notifications at deploy time; its role is not configurable.',
    });
  }
}
