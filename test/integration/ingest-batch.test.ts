/**
 * The ingest handler's SQS batch (Powertools Batch) and its once-per-object-version processing (Powertools
 * Idempotency on the contact table), through the real handler against s3rver and dynalite.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { asSqsEvent, type S3EventRecord } from '../../bin/local/embedded';
import { dynamoClient } from '../../functions/adapters/aws-clients';
import { IDEMPOTENCY_PK, objectOnce, PROCESSED_TTL_S } from '../../functions/adapters/idempotency';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import { handleIngestEvent } from '../../functions/ingest';
import { type Pipeline, startPipeline } from '../helpers/pipeline';

const CONFIG = `
version: 1
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
segments:
  - id: all
    where: { consent: subscribed }
    destinations: [{ destination: meta-main, audienceName: "All", minSize: 1 }]
`;
const csv = (n: number, list: string) =>
  `email,first_name\n${Array.from({ length: n }, (_, i) => `${list}${i}@example.com,P${i}`).join('\n')}\n`;

/** A Lambda context with a deadline, as the function gets one (the idempotency record's in-progress expiry). */
const context = { getRemainingTimeInMillis: () => 600_000, functionName: 'IngestFunction' } as unknown as Context;

let p: Pipeline;
beforeEach(async () => {
  p = await startPipeline(CONFIG);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await p.close();
});

async function put(key: string, body: string): Promise<S3EventRecord[]> {
  await p.s3.send(new PutObjectCommand({ Bucket: p.aws.bucket, Key: key, Body: body }));
  return p.aws.drainEvents();
}

async function deliver(records: S3EventRecord[], opts: Parameters<typeof handleIngestEvent>[3] = {}) {
  const outcomes: Array<{ key: string; outcome: ObjectOutcome }> = [];
  const event = asSqsEvent(records);
  const response = await handleIngestEvent(event, p.rt, (key, outcome) => outcomes.push({ key, outcome }), opts);
  return { event, response, outcomes };
}

describe('the SQS batch (Powertools batch processor)', () => {
  it('a failing message is reported alone; the messages before and after it are ingested', async () => {
    const first = await put('incoming/alpha/a.csv', csv(2, 'alpha'));
    const second = await put('incoming/beta/b.csv', csv(3, 'beta'));
    const bad = structuredClone(first);
    bad[0]!.s3.object.key = 'incoming/alpha/50%.csv'; // not URL-encoded as S3 encodes keys: this message fails
    const { event, response, outcomes } = await deliver([...first, ...bad, ...second]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[1]!.messageId }]);
    expect(outcomes.map((o) => [o.key, o.outcome.kind])).toEqual([
      ['incoming/alpha/a.csv', 'ingested'],
      ['incoming/beta/b.csv', 'ingested'],
    ]);
    expect((await p.rt.store.getSnapshot('beta'))?.counts.accepted).toBe(3);
    expect(p.logger.lines.filter((l) => l.includes('"event":"object_failed"'))).toHaveLength(1);
    // The metrics of the invocation were flushed once, for both lists.
    expect(p.metrics.lines.map((l) => JSON.parse(l).List)).toEqual(['alpha', 'beta']);
  });

  it('a batch whose every message fails answers with all of them instead of failing the invocation', async () => {
    const records = await put('incoming/alpha/a.csv', csv(1, 'alpha'));
    const bad = structuredClone(records);
    bad[0]!.s3.object.key = 'incoming/alpha/%E0%A4%A.csv';
    const { event, response } = await deliver(bad);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
  });
});

describe('each object version once (Powertools Idempotency)', () => {
  it('the same notification again is answered from the record: no second report, no second run record', async () => {
    const once = objectOnce(p.aws.table);
    once.registerLambdaContext(context);
    const records = await put('incoming/alpha/a.csv', csv(2, 'alpha'));
    expect(records[0]!.s3.object).toHaveProperty('sequencer');
    const first = await deliver(records, { once });
    expect(first.outcomes.map((o) => o.outcome.kind)).toEqual(['ingested']);
    const reportKey = (first.outcomes[0]!.outcome as { reportKey: string }).reportKey;
    const reports = await p.listKeys('reports/');
    const runs = await p.rt.store.runs('ingest', 10);

    const again = await deliver(records, { once });
    expect(again.response.batchItemFailures).toEqual([]);
    expect(again.outcomes.map((o) => o.outcome)).toEqual([
      { kind: 'duplicate', of: 'ingested', firstReportKey: reportKey },
    ]);
    expect(await p.listKeys('reports/')).toEqual(reports);
    expect(await p.rt.store.runs('ingest', 10)).toHaveLength(runs.length);

    // The record sits in the single table, expires through its TTL attribute and keeps ids only.
    const doc = DynamoDBDocumentClient.from(dynamoClient());
    const items = await doc.send(
      new QueryCommand({
        TableName: p.aws.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': IDEMPOTENCY_PK },
      }),
    );
    expect(items.Items).toHaveLength(1);
    const item = items.Items![0]!;
    expect(item.status).toBe('COMPLETED');
    expect(item.expiresAt).toBeGreaterThan(Date.now() / 1000 + PROCESSED_TTL_S - 120);
    expect(item.data).toEqual({ kind: 'ingested', reportKey });
    expect(JSON.stringify(item)).not.toContain('example.com');
    doc.destroy();
  });

  it('a new upload of the same key is a new version and is processed', async () => {
    const once = objectOnce(p.aws.table);
    const v1 = await put('incoming/alpha/a.csv', csv(2, 'alpha'));
    expect((await deliver(v1, { once })).outcomes.map((o) => o.outcome.kind)).toEqual(['ingested']);
    const v2 = await put('incoming/alpha/a.csv', csv(3, 'alpha'));
    expect(v2[0]!.s3.object).not.toEqual(v1[0]!.s3.object);
    expect((await deliver(v2, { once })).outcomes.map((o) => o.outcome.kind)).toEqual(['ingested']);
    expect((await p.rt.store.getSnapshot('alpha'))?.counts.accepted).toBe(3);
  });

  it('a processing that failed leaves no record: the retry runs in full', async () => {
    const once = objectOnce(p.aws.table);
    once.registerLambdaContext(context);
    const records = await put('incoming/alpha/a.csv', csv(2, 'alpha'));
    vi.spyOn(p.rt.bucket, 'head').mockRejectedValueOnce(new Error('S3 timed out'));
    const failed = await deliver(records, { once });
    expect(failed.response.batchItemFailures).toHaveLength(1);
    const retry = await deliver(records, { once });
    expect(retry.response.batchItemFailures).toEqual([]);
    expect(retry.outcomes.map((o) => o.outcome.kind)).toEqual(['ingested']);
  });

  it('the same notification twice at once: one processes it, the other is retried later', async () => {
    const once = objectOnce(p.aws.table);
    once.registerLambdaContext(context);
    const records = await put('incoming/alpha/a.csv', csv(50, 'alpha'));
    const [a, b] = await Promise.all([deliver(records, { once }), deliver(records, { once })]);
    const kinds = [...a.outcomes, ...b.outcomes].map((o) => o.outcome.kind);
    expect(kinds).toEqual(['ingested']);
    expect(a.response.batchItemFailures.length + b.response.batchItemFailures.length).toBe(1);
    expect(p.logger.lines.some((l) => l.includes('already an execution in progress'))).toBe(true);
    // Redelivered after the first finished: answered from the record.
    expect((await deliver(records, { once })).outcomes.map((o) => o.outcome.kind)).toEqual(['duplicate']);
  });
});
