/**
 * Ingest Lambda: SQS (fed by S3 ObjectCreated under incoming/ and erasure/) → one use case per object.
 * Reports partial batch failures (Powertools' batch processor) so one bad message is retried alone and, after three
 * tries, lands in the DLQ; each object version is processed once (adapters/idempotency.ts says why here).
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { type ObjectOnce, type ObjectVersion, objectOnce, type ProcessedSummary } from './adapters/idempotency';
import { addLambdaContext } from './adapters/lambda-logger';
import { type ObjectOutcome, processObject } from './app/ingest-object';
import { createRowPool, rowThreads } from './app/row-pool';
import { processor as rowProcessor } from './app/row-processor';
import { buildRuntime, type Runtime, readEnv } from './app/runtime';
import type { ChunkProcessor } from './reading/pool';
import { isPoolWorker, servePool } from './reading/pool-serve';

// The function's bundle is one file: its row pool's workers start this same file, which then only serves rows.
if (!isMainThread && isPoolWorker(workerData)) servePool(rowProcessor as ChunkProcessor<unknown, unknown>);

const s3EventSchema = z.object({
  Records: z
    .array(
      z.object({
        eventName: z.string().optional(),
        s3: z.object({
          bucket: z.object({ name: z.string() }),
          object: z.object({ key: z.string(), versionId: z.string().optional(), sequencer: z.string().optional() }),
        }),
      }),
    )
    .optional(),
  Event: z.string().optional(), // "s3:TestEvent" when the notification is first configured
});

let runtime: Runtime | undefined;
const tableEnv = z.object({ TABLE_NAME: z.string().min(1, 'TABLE_NAME must name the contact table') });

/**
 * S3 event keys are URL-encoded with + for spaces (a literal + arrives as %2B, % as %25). A key that is not
 * valid encoding did not come from S3: it fails with a readable message instead of a URIError.
 */
export function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    throw new Error(`object key ${JSON.stringify(key)} in the event is not URL-encoded as S3 encodes event keys`);
  }
}

/** The version an S3 event names: its versionId (versioned bucket), else its sequencer; none from the local runner. */
function versionOf(bucket: string, record: S3Record): ObjectVersion | undefined {
  const version = record.s3.object.versionId ?? record.s3.object.sequencer;
  return version ? { bucket, key: record.s3.object.key, version } : undefined;
}

type S3Record = NonNullable<z.infer<typeof s3EventSchema>['Records']>[number];

/** What an idempotency record keeps of an outcome: kind and report key (never a report, never data). */
function summaryOf(outcome: ObjectOutcome): ProcessedSummary {
  return { kind: outcome.kind, reportKey: 'reportKey' in outcome ? outcome.reportKey : undefined };
}

export interface IngestOptions {
  /** Each object version once (the function); without it every event is processed (local runs). */
  once?: ObjectOnce;
  /** The Lambda context, for Powertools' batch processor. */
  context?: Context;
}

/**
 * One SQS batch through Powertools' batch processor: each message is handled on its own, in order, and a message that
 * fails is reported in `batchItemFailures` without failing its siblings (even when it is the whole batch: the event
 * source mapping reports partial failures, so the answer, not an error, tells SQS what to retry).
 */
export async function handleIngestEvent(
  event: SQSEvent,
  rt: Runtime,
  onOutcome?: (key: string, outcome: ObjectOutcome) => void,
  opts: IngestOptions = {},
): Promise<SQSBatchResponse> {
  try {
    return await processPartialResponse(
      event,
      (message: SQSRecord) => handleMessage(message, rt, onOutcome, opts.once),
      new BatchProcessor(EventType.SQS),
      { context: opts.context, processInParallel: false, throwOnFullBatchFailure: false },
    );
  } finally {
    rt.metrics.flush();
  }
}

async function handleMessage(
  message: SQSRecord,
  rt: Runtime,
  onOutcome: ((key: string, outcome: ObjectOutcome) => void) | undefined,
  once: ObjectOnce | undefined,
): Promise<void> {
  let body: z.infer<typeof s3EventSchema>;
  try {
    body = s3EventSchema.parse(JSON.parse(message.body));
  } catch {
    // Not an S3 notification: retrying cannot help; log and drop it (nothing of a file is lost).
    rt.logger.warn('message_not_s3_event', { messageId: message.messageId });
    return;
  }
  for (const record of body.Records ?? []) {
    try {
      const key = decodeKey(record.s3.object.key);
      const work = () =>
        processObject({ ...rt, now: () => rt.clock.now(), wallNow: () => rt.clock.wall?.() ?? rt.clock.now() }, key);
      const version = once ? versionOf(record.s3.bucket.name, record) : undefined;
      let outcome: ObjectOutcome;
      if (once && version) {
        let full: ObjectOutcome | undefined;
        const { summary, ran } = await once.run(version, async () => {
          full = await work();
          return summaryOf(full);
        });
        outcome = ran && full ? full : { kind: 'duplicate', of: summary.kind, firstReportKey: summary.reportKey };
      } else outcome = await work();
      onOutcome?.(key, outcome);
      rt.logger.info('object_processed', {
        messageId: message.messageId,
        outcome: outcome.kind,
        reportKey: 'reportKey' in outcome ? outcome.reportKey : undefined,
        duplicateOf: outcome.kind === 'duplicate' ? outcome.of : undefined,
      });
    } catch (e) {
      rt.logger.error('object_failed', {
        messageId: message.messageId,
        receiveCount: message.attributes?.ApproximateReceiveCount,
        error: (e as Error).message,
      });
      // The message is retried (and after three tries lands in the DLQ); the rest of its records wait for that.
      throw e;
    }
  }
}

let once: ObjectOnce | undefined;

export const handler = async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
  // Two vCPUs (3,538 MB and more): rows are read by worker threads, kept for the container's life.
  runtime ??= {
    ...buildRuntime(),
    rowPool: createRowPool({ threads: rowThreads(), workerScript: new URL(import.meta.url), processorInScript: true }),
  };
  once ??= objectOnce(readEnv(tableEnv).TABLE_NAME);
  if (context) {
    addLambdaContext(runtime.logger, context);
    once.registerLambdaContext(context);
  }
  return handleIngestEvent(event, runtime, undefined, { once, context });
};
