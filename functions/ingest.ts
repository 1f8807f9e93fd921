/**
 * Ingest Lambda: SQS (fed by S3 ObjectCreated under incoming/ and erasure/) → one use case per object.
 * Reports partial batch failures so one bad message is retried alone and, after three tries, lands in the DLQ.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { type ObjectOutcome, processObject } from './app/ingest-object';
import { buildRuntime, type Runtime } from './app/runtime';

const s3EventSchema = z.object({
  Records: z
    .array(
      z.object({
        eventName: z.string().optional(),
        s3: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
      }),
    )
    .optional(),
  Event: z.string().optional(), // "s3:TestEvent" when the notification is first configured
});

let runtime: Runtime | undefined;

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

export async function handleIngestEvent(
  event: SQSEvent,
  rt: Runtime,
  onOutcome?: (key: string, outcome: ObjectOutcome) => void,
): Promise<SQSBatchResponse> {
  try {
    return await handleMessages(event, rt, onOutcome);
  } finally {
    // One flush per invocation: every list's counts of this batch, one EMF line per list.
    rt.metrics.flush();
  }
}

async function handleMessages(
  event: SQSEvent,
  rt: Runtime,
  onOutcome?: (key: string, outcome: ObjectOutcome) => void,
): Promise<SQSBatchResponse> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  for (const message of event.Records) {
    let body: z.infer<typeof s3EventSchema>;
    try {
      body = s3EventSchema.parse(JSON.parse(message.body));
    } catch {
      // Not an S3 notification: retrying cannot help; log and drop it (nothing of a file is lost).
      rt.logger.warn('message_not_s3_event', { messageId: message.messageId });
      continue;
    }
    for (const record of body.Records ?? []) {
      try {
        const key = decodeKey(record.s3.object.key);
        const outcome = await processObject({ ...rt, now: () => rt.clock.now() }, key);
        onOutcome?.(key, outcome);
        rt.logger.info('object_processed', {
          messageId: message.messageId,
          outcome: outcome.kind,
          reportKey: 'reportKey' in outcome ? outcome.reportKey : undefined,
        });
      } catch (e) {
        rt.logger.error('object_failed', {
          messageId: message.messageId,
          receiveCount: message.attributes?.ApproximateReceiveCount,
          error: (e as Error).message,
        });
        failures.push({ itemIdentifier: message.messageId });
        break;
      }
    }
  }
  return { batchItemFailures: failures };
}

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  runtime ??= buildRuntime();
  return handleIngestEvent(event, runtime);
};
