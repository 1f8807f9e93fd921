/**
 * Hostile input through the real ingest handler: each ends in a clear rejection (quarantine with a reason, or rows
 * rejected with a reason), never a crash loop. Only failures that a retry can fix are reported back to SQS, so a
 * poisoned file cannot cycle the queue; those are retried three times and then land in the DLQ.
 */
import { deflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asSqsEvent } from '../../bin/local/embedded';
import type { ContactStore } from '../../functions/core/ports';
import { handleIngestEvent } from '../../functions/ingest';
import { type Pipeline, startPipeline } from '../helpers/pipeline';
import { makeZip } from '../unit/reading/zip-writer';

let p: Pipeline;
beforeEach(async () => {
  p = await startPipeline('version: 1\n');
});
afterEach(async () => {
  await p.close();
});

const only = async (key: string, body: Buffer | string) => {
  const { outcomes, response } = await p.drop(key, body);
  expect(response.batchItemFailures).toEqual([]);
  expect(outcomes).toHaveLength(1);
  return outcomes[0]!.outcome;
};

describe('files that cannot be read are quarantined with a reason, and never retried', () => {
  it('a zip bomb (ratio far over the limit) is refused before it fills the disk', async () => {
    const bomb = makeZip([{ name: 'members.csv', data: Buffer.alloc(50 * 1024 * 1024, 0x41) }]);
    expect(bomb.length).toBeLessThan(200_000);
    const out = await only('incoming/newsletter/bomb.zip', bomb);
    expect(out).toMatchObject({ kind: 'quarantined' });
    const report = await p.readJson((out as { reportKey: string }).reportKey);
    expect(report).toMatchObject({ status: 'quarantined', reason: 'zip_bomb' });
    expect(await p.listKeys('quarantine/')).toEqual(['quarantine/newsletter/bomb.zip']);
  });

  it('a zip whose entry name escapes with ../ is refused', async () => {
    const zip = makeZip([{ name: '../../evil.csv', data: 'email\na@example.com\n' }]);
    const out = await only('incoming/newsletter/trav.zip', zip);
    expect(out.kind).toBe('quarantined');
    expect((out as { reason: string }).reason).toMatch(/evil\.csv|unsafe|path/i);
  });

  it('a zip with too many entries is refused', async () => {
    const zip = makeZip(
      Array.from({ length: 60 }, (_, i) => ({ name: `part-${i}.csv`, data: 'email\na@example.com\n' })),
    );
    const out = await only('incoming/newsletter/many.zip', zip);
    expect(out.kind).toBe('quarantined');
    expect((out as { reason: string }).reason).toMatch(/entries|files/i);
  });

  it('an empty file is quarantined as empty', async () => {
    const out = await only('incoming/newsletter/empty.csv', '');
    expect(out.kind).toBe('quarantined');
    const report = await p.readJson((out as { reportKey: string }).reportKey);
    expect(report.reason).toBe('empty');
  });

  it('an Excel workbook is quarantined with advice to save it as CSV', async () => {
    const xlsx = makeZip([
      { name: '[Content_Types].xml', data: '<Types/>' },
      { name: 'xl/workbook.xml', data: '<workbook/>' },
    ]);
    const out = await only('incoming/newsletter/contacts.xlsx', xlsx);
    expect(out.kind).toBe('quarantined');
    expect((out as { reason: string }).reason).toMatch(/CSV/);
  });

  it('a gzip file is not text', async () => {
    const gz = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), deflateRawSync(Buffer.alloc(1000))]);
    const out = await only('incoming/newsletter/contacts.csv.gz', gz);
    expect(out.kind).toBe('quarantined');
  });

  it('a file dropped outside incoming/<list-id>/ is quarantined, and nothing is stored', async () => {
    // Keys with ../ segments are refused the same way (parseDropKey unit tests); s3rver cannot store them.
    const out = await only('incoming/contacts.csv', 'email\na@example.com\n');
    expect(out.kind).toBe('quarantined');
    expect((out as { reason: string }).reason).toMatch(/incoming\/<list-id>\//);
    expect(await p.rt.store.listIds()).toEqual([]);
  });
});

describe('rows that cannot be read are rejected with a reason; the rest of the file is kept', () => {
  it('a gigantic line, control characters, broken quoting and formula cells', async () => {
    const giant = 'x'.repeat(2 * 1024 * 1024);
    const csv = [
      'email,first name,tags',
      'a@example.com,Ann,vip',
      `b@example.com,${giant},vip`,
      'c@example.com,Ca\u0007rl,"=HYPERLINK(""http://evil"")"',
      'd@example.com,"Dora,vip',
      'e@example.com,Eve,+cmd|calc',
      'f@example.com,Fay,@SUM(1+1)',
    ].join('\n');
    const out = await only('incoming/newsletter/hostile.csv', csv);
    expect(out.kind).toBe('ingested');
    const report = (
      out as { report: { rows: number; accepted: number; rejected: number; rejections: Record<string, number> } }
    ).report;
    expect(report.rows).toBe(report.accepted + report.rejected);
    expect(report.rejections.row_too_large).toBe(1);
    expect(report.accepted).toBeGreaterThanOrEqual(4);
    // Formula cells are data, never evaluated and never echoed: the report carries no values at all.
    const keys = await p.listKeys('reports/ingest/newsletter/');
    for (const k of keys) expect(await p.readText(k)).not.toMatch(/HYPERLINK|calc|SUM\(|xxxxxxxx|example\.com/);
  });

  it('non-UTF-8 bytes (Windows-1252) are decoded, not lost', async () => {
    const body = Buffer.concat([
      Buffer.from('EMAIL;NACHNAME\r\nm@example.com;M'),
      Buffer.from([0xfc]),
      Buffer.from('ller\r\n'),
    ]);
    const out = await only('incoming/newsletter/latin1.csv', body);
    expect(out).toMatchObject({ kind: 'ingested', report: { accepted: 1, rejected: 0 } });
    const [entry] = (out as { report: { entries: Array<{ encoding: string; delimiter: string }> } }).report.entries;
    expect(entry).toMatchObject({ encoding: 'windows-1252', delimiter: ';' });
  });
});

describe('failures a retry can fix go back to SQS, one message at a time', () => {
  it('a store outage fails only its own message; the next message still succeeds', async () => {
    await p.s3.send(
      new (await import('@aws-sdk/client-s3')).PutObjectCommand({
        Bucket: p.aws.bucket,
        Key: 'incoming/a/x.csv',
        Body: 'email\na@example.com\n',
      }),
    );
    await p.s3.send(
      new (await import('@aws-sdk/client-s3')).PutObjectCommand({
        Bucket: p.aws.bucket,
        Key: 'incoming/b/y.csv',
        Body: 'email\nb@example.com\n',
      }),
    );
    const events = p.aws.drainEvents();
    expect(events).toHaveLength(2);
    const broken: ContactStore = Object.create(p.rt.store);
    const calls: string[] = [];
    broken.listState = async (list) => {
      calls.push(list);
      if (list === 'a') throw new Error('ProvisionedThroughputExceededException');
      return p.rt.store.listState(list);
    };
    const sqs = asSqsEvent(events);
    const res = await handleIngestEvent(sqs, { ...p.rt, store: broken });
    // a's message tried once (its retry is SQS's), b's read on.
    expect(calls.filter((l) => l === 'a')).toEqual(['a']);
    expect(calls).toContain('b');
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: sqs.Records[0]!.messageId }]);
    // The failed file is still there for the retry; the other was ingested and removed.
    expect(await p.listKeys('incoming/')).toEqual(['incoming/a/x.csv']);
    expect(p.logger.lines.some((l) => l.includes('"event":"object_failed"'))).toBe(true);
  });

  it('a message that is not an S3 event is dropped with a log line, not retried forever', async () => {
    const res = await handleIngestEvent(
      { Records: [{ messageId: 'm1', body: 'garbage', attributes: {} }] } as never,
      p.rt,
    );
    expect(res.batchItemFailures).toEqual([]);
    expect(p.logger.lines.some((l) => l.includes('message_not_s3_event'))).toBe(true);
  });
});
