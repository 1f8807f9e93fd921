/**
 * Rows read by worker threads (the ingest function on two vCPUs, a local run of big files) must decide exactly what
 * one thread decides. The same story of drops goes through two pipelines (s3rver + dynalite, the real ingest
 * handler), one reading every row itself and one with the product's row pool of two workers; every report and every
 * item stored must be equal, and the people who opted out are never uploaded by the pooled one.
 *
 * The files are a few thousand rows, so each is read as several chunks (512 records each) and the story's people sit
 * in different chunks: a duplicate whose opt-out comes thousands of lines after its subscription, an erased person
 * and a suppressed one in the middle, damaged rows and a future timestamp near chunk boundaries.
 */
import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClosableRowPool, createRowPool } from '../../functions/app/row-pool';
import type { IngestReport } from '../../functions/core/ingest';
import { handleSync } from '../../functions/sync';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { type Pipeline, startPipeline } from '../helpers/pipeline';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const CONFIG = `
version: 1
defaultCountry: US
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
segments:
  - id: everyone
    destinations: [{ destination: meta-main, audienceName: "Everyone", minSize: 1 }]
`;

const HEADER = 'Email,First Name,Last Name,Phone,City,State,Zip,Country,Status,Signup Date,Last Open';

/** A generic export of `n` people, with the story's rows placed where `at` says (line → row text). */
function file(n: number, at: Record<number, string>, skip: Set<number> = new Set()): string {
  const lines = [HEADER];
  for (let i = 0; i < n; i++) {
    const line = i + 2;
    if (at[line] !== undefined) {
      lines.push(at[line]);
      continue;
    }
    if (skip.has(i)) continue;
    const phone = i % 3 === 0 ? `+1 (312) 555-${String(1000 + (i % 9000)).padStart(4, '0')}` : '';
    lines.push(
      `p${i}@example.com,Ann${i % 40},Lee${i % 55},${phone},Chicago,IL,${String(60600 + (i % 90))},US,subscribed,2024-03-0${(i % 9) + 1},2025-05-01`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const ALL = 3_000;
const story = {
  // Subscribed early, unsubscribed in the same file far later: the opt-out wins, across chunks.
  twiceEarly: 'twice@example.com,Tom,Two,,Chicago,IL,60601,US,subscribed,2024-01-02,2025-05-01',
  twiceLate: 'TWICE@example.com ,Tom,Two,,Chicago,IL,60601,US,unsubscribed,2024-01-02,2025-05-01',
  unsub: 'gone@example.com,Gil,Gone,,Chicago,IL,60601,US,unsubscribed,2024-01-02,2025-05-01',
  erased: 'erased@example.com,Eve,Rased,,Chicago,IL,60601,US,subscribed,2024-01-02,2025-05-01',
  suppressed: 'held@example.com,Hal,Held,+1 312 555 0199,Chicago,IL,60601,US,subscribed,2024-01-02,2025-05-01',
  damaged: 'broken@example.com,"Bro""ken,Row,,Chicago,IL',
  wrongCount: 'short@example.com,Sho,Rt',
  future: 'later@example.com,Lee,Later,,Chicago,IL,60601,US,subscribed,2031-01-01,2031-01-02',
  badEmail: 'not-an-email,No,Mail,,Chicago,IL,60601,US,subscribed,2024-01-02,2025-05-01',
  excelPhone: 'xl@example.com,Ex,Cel,3.12555E+09,Chicago,IL,60601,US,subscribed,2024-01-02,2025-05-01',
};

let fake: FakeMeta;
let pool: ClosableRowPool | undefined;
let pooledChunks = 0;

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  pool = createRowPool({ threads: 2 });
});
afterAll(async () => {
  await pool?.close();
  await fake?.close();
});

/** An outcome or item without what differs between two runs of the story (object versions, times of the run). */
function comparable(o: unknown): unknown {
  return JSON.parse(
    JSON.stringify(o ?? null)
      .replace(/#[^"\\]+/g, '#<version>')
      // Times of the run itself (report keys, commit and ingest times): the story's export times are the same in both.
      .replace(/\d{4}-\d\d-\d\dT\d\d[-:]\d\d[-:]\d\d(?:[.-]\d{3})?Z/g, '<time>'),
  );
}

async function tableItems(p: Pipeline): Promise<string[]> {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: p.aws.table, ExclusiveStartKey: start }));
    items.push(...((out.Items ?? []) as Record<string, unknown>[]));
    start = out.LastEvaluatedKey;
  } while (start);
  doc.destroy();
  // Leases and run records carry times and owners of their own; contacts, blocks and snapshots must be equal.
  return items
    .filter((i) => !/^(LOCK|RUN|SYNC|AUD)/.test(String(i.pk)))
    .map((i) => JSON.stringify(comparable(i), Object.keys(i).sort()))
    .sort();
}

interface StoryResult {
  outcomes: unknown[];
  items: string[][];
  reports: IngestReport[];
  uploaded: string[];
}

/** The story, through one pipeline (the embedded S3 and DynamoDB are per process: one pipeline at a time). */
async function runStory(rowPool: ClosableRowPool | undefined): Promise<StoryResult> {
  fake.reset();
  const p = await startPipeline(CONFIG);
  // Counts the chunks the workers read, so the story proves they read them.
  p.rt.rowPool = rowPool && {
    split: rowPool.split,
    map: async function* (chunks, job) {
      for await (const out of rowPool.map(chunks, job)) {
        pooledChunks++;
        yield out;
      }
    },
  };
  const result: StoryResult = { outcomes: [], items: [], reports: [], uploaded: [] };
  const drop = async (key: string, body: string, exportedAt?: string) => {
    const { outcomes, response } = await p.drop(key, body, exportedAt);
    expect(response.batchItemFailures).toEqual([]);
    expect(outcomes).toHaveLength(1);
    const o = outcomes[0]!.outcome;
    result.outcomes.push(comparable(o));
    if (o.kind === 'ingested') {
      result.reports.push(o.report);
      result.items.push(await tableItems(p));
    }
  };
  try {
    await drop('erasure/req-1.csv', 'email\nerased@example.com\n');
    await drop('incoming/shop/suppress/hold.csv', 'email\nheld@example.com\n', '2025-05-20T00:00:00Z');
    await drop(
      'incoming/shop/customers.csv',
      file(ALL, {
        40: story.twiceEarly,
        513: story.damaged,
        514: story.wrongCount,
        1030: story.unsub,
        1200: story.erased,
        1536: story.suppressed,
        1537: story.future,
        2049: story.badEmail,
        2500: story.excelPhone,
        2990: story.twiceLate,
      }),
      '2025-06-01T00:00:00Z',
    );
    // A day later the unsubscribed person's row is damaged: nobody is removed, and the opt-out holds.
    await drop(
      'incoming/shop/customers.csv',
      file(ALL, { 1030: 'gone@example.com,Gil,"Go"ne,,Chicago', 1536: story.suppressed, 2990: story.twiceLate }),
      '2025-06-02T00:00:00Z',
    );
    // Another day: a clean export without a quarter of the people, who leave.
    await drop(
      'incoming/shop/customers.csv',
      file(ALL, { 1030: story.unsub, 2990: story.twiceLate }, new Set(Array.from({ length: 750 }, (_, i) => i * 4))),
      '2025-06-03T00:00:00Z',
    );
    const out = await handleSync({ trigger: 'test' }, p.rt, 10 * 60_000, {
      ...process.env,
      META_ACCESS_TOKEN: 'test-token',
      META_AD_ACCOUNT_ID: 'act_777',
      META_GRAPH_URL: fake.baseUrl,
    });
    expect(out.done).toBe(true);
    result.uploaded = fake.requests
      .filter((r) => r.method === 'POST' && /\/users$/.test(r.path) && r.status === 200)
      .flatMap((r) => {
        const body = r.body as { payload: unknown };
        const payload = (typeof body.payload === 'string' ? JSON.parse(body.payload) : body.payload) as {
          data: string[][];
        };
        return payload.data.flat();
      })
      .sort();
    return result;
  } finally {
    await p.close();
  }
}

describe('rows read by worker threads decide what one thread decides', () => {
  it('a story across drops: erasure, suppression, duplicates across chunks, damaged rows, a second snapshot', async () => {
    expect(pool?.threads).toBe(2);
    const one = await runStory(undefined);
    const two = await runStory(pool);
    // Three snapshots of 3,000 rows: five chunks each after the sample's, read by the workers.
    expect(pooledChunks).toBeGreaterThanOrEqual(12);

    const [first, damaged, third] = two.reports.slice(-3) as [IngestReport, IngestReport, IngestReport];
    expect(first.rows).toBe(ALL);
    expect(first.merged).toBe(1);
    expect(first.heldBySuppression).toBe(1);
    expect(first.rejections).toMatchObject({ erased: 1, invalid_email: 1, broken_quoting: 1 });
    expect(first.rejections).toEqual({ erased: 1, invalid_email: 1, broken_quoting: 1, column_count_mismatch: 1 });
    expect(first.warnings.some((w) => w.reason === 'date_after_export')).toBe(true);
    expect(damaged.rejections).toEqual({ column_count_mismatch: 1 });
    expect(damaged.removed).toBe(0);
    expect(third.removed).toBeGreaterThan(700);

    // Every outcome (reports with their rejected rows, warnings and coverage) and every stored item, equal.
    expect(two.outcomes).toEqual(one.outcomes);
    expect(two.items).toEqual(one.items);
    expect(two.uploaded).toEqual(one.uploaded);

    // And the pooled run never uploaded the people who opted out, were erased or are held.
    expect(two.uploaded.length).toBeGreaterThan(1000);
    for (const email of ['twice@example.com', 'gone@example.com', 'erased@example.com', 'held@example.com'])
      expect(two.uploaded, email).not.toContain(sha(email));
    expect(two.uploaded).toContain(sha('p1@example.com'));
  }, 180_000);
});

describe('validating with worker threads (no store)', () => {
  it('counts the duplicates the workers only fingerprinted, as one thread counts them', async () => {
    const { ingestExport } = await import('../../functions/core/ingest');
    const { readExport } = await import('../../functions/reading');
    const { parseAudienceConfig } = await import('../../functions/adapters/config-file');
    const { memoryLogger } = await import('../../functions/adapters/logger');
    const { PLATFORMS } = await import('../../functions/platforms/registry');
    const { bufferSource } = await import('../unit/reading/helpers');
    // Every 7th row repeats a person from far earlier (other chunks), some of them twice.
    const rows: Record<number, string> = {};
    for (let line = 600; line < 4_000; line += 7)
      rows[line] = `p${line % 500}@example.com,Ann,Lee,,Chicago,IL,60601,US,subscribed,2024-03-01,2025-05-01`;
    const body = Buffer.from(file(4_000, rows));
    const run = (rowPool?: ClosableRowPool) =>
      ingestExport(
        {
          list: 'v',
          kind: 'snapshot',
          source: 'incoming/v/x.csv#1',
          exportedAt: '2025-06-01T00:00:00.000Z',
          exportedAtFrom: 'metadata',
          entries: readExport(bufferSource('x.csv', body)),
        },
        parseAudienceConfig({ version: 1, destinations: { meta: { platform: 'meta' } } }),
        { platforms: PLATFORMS, logger: memoryLogger(), now: () => new Date('2025-06-02T03:00:00Z'), rowPool },
      );
    const one = await run();
    const two = await run(pool);
    expect(one.merged).toBe(Object.keys(rows).length);
    expect(two).toEqual(one);
  }, 60_000);
});
