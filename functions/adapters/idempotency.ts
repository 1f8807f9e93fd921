/**
 * "Process each dropped object version once", with Powertools for AWS Lambda's Idempotency on the contact table.
 *
 * Why here, and only here. What a retried or repeated event could do again:
 * - An export's data is safe by design: the staged two-phase commit writes a version once, and the same version
 *   again is `already_ingested`. But S3 delivers notifications at least once and SQS redelivers, and each repeat of
 *   an event still does work: a second report page and run record for the same drop (`status` shows it twice), a
 *   delta or suppress drop that is kept (`keepRawFilesDays` > 0) read and staged in full again, and an erasure
 *   request that arrives twice at once scans every list twice, holds every list's ingest lock twice and leaves a
 *   second audit report that says "0 contact records deleted" for the same request.
 * - The sync start is not made idempotent: its state carries no id of the Step Functions execution, so a retried
 *   first slice and a second execution look the same to the function, and handing the second execution the first
 *   one's run id would let two executions work one run at once. The sync's lease and checkpoints already keep a
 *   duplicate start from sending anything twice: it waits for the lock and then finds nothing left to do.
 *
 * The key is the object version (bucket, key, and the event's versionId, else its sequencer): a repeat of the same
 * notification is answered from the record; a new upload of the same key (a new version) is processed as usual. An
 * event with neither (the local runner's, which has no versioning) is processed every time, as before.
 *
 * Records live in the single table (pk `IDEMPOTENCY#ingest`, sk `<function>#<hash>`) and expire through its TTL
 * attribute. A failed processing leaves no record (the retry runs in full); a crashed one holds the key only until
 * the invocation's own deadline (the Lambda context is registered per invocation).
 */
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { dynamoClient } from './aws-clients';

/** One version of one object, as its S3 event names it. */
export interface ObjectVersion {
  bucket: string;
  key: string;
  version: string;
}

/** What is kept of a processing: small (the record holds it) and free of data (ids and kinds only). */
export interface ProcessedSummary {
  kind: string;
  reportKey?: string;
  [k: string]: string | undefined;
}

export interface ObjectOnce {
  /** Runs `work` for this version unless it already ran (then its stored summary); `ran` tells which. */
  run(id: ObjectVersion, work: () => Promise<ProcessedSummary>): Promise<{ summary: ProcessedSummary; ran: boolean }>;
  /** Lets a crashed invocation's in-progress record expire with the invocation's deadline. */
  registerLambdaContext(context: Context): void;
}

/** How long a processed version is remembered: longer than S3's and SQS's redeliveries (3 receives × 90 min). */
export const PROCESSED_TTL_S = 24 * 3600;
/** The partition of the idempotency records in the contact table. */
export const IDEMPOTENCY_PK = 'IDEMPOTENCY#ingest';

export function objectOnce(tableName: string, client: DynamoDBClient = dynamoClient()): ObjectOnce {
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName,
    keyAttr: 'pk',
    sortKeyAttr: 'sk',
    staticPkValue: IDEMPOTENCY_PK,
    // The table's TTL attribute (lib/constructs/contact-table.ts): DynamoDB deletes expired records.
    expiryAttr: 'expiresAt',
    awsSdkV3Client: client,
  });
  const config = new IdempotencyConfig({ expiresAfterSeconds: PROCESSED_TTL_S });
  // Only the version (argument 0) is hashed into the key; the work is passed along.
  const once = makeIdempotent(async (_id: ObjectVersion, work: () => Promise<ProcessedSummary>) => work(), {
    persistenceStore,
    config,
    dataIndexArgument: 0,
  });
  return {
    async run(id, work) {
      let ran = false;
      const summary = (await once(id, async () => {
        ran = true;
        return work();
      })) as ProcessedSummary;
      return { summary, ran };
    },
    registerLambdaContext: (context) => config.registerLambdaContext(context),
  };
}
