/**
 * Exports read as the marketer meant them (issue: never reject a person for an attribute, read every column a file
 * has, keep values out of everything but hashes), through the real ingest handler into s3rver + dynalite.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestReport } from '../../functions/core/ingest';
import type { ContactRecord } from '../../functions/core/model';
import { type Pipeline, startPipeline } from '../helpers/pipeline';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let p: Pipeline;
let n = 0;

beforeAll(async () => {
  p = await startPipeline('version: 1\ndestinations:\n  meta-main: { platform: meta }\n');
});
afterAll(async () => {
  await p.close();
});

async function ingest(file: string, body: string): Promise<{ report: IngestReport; stored: ContactRecord[] }> {
  const list = `r${++n}`;
  const { outcomes } = await p.drop(`incoming/${list}/${file}`, body, '2026-11-20T00:00:00Z');
  const outcome = outcomes[0]!.outcome;
  if (outcome.kind !== 'ingested') throw new Error(`not ingested: ${JSON.stringify(outcome)}`);
  const stored: ContactRecord[] = [];
  for await (const c of p.rt.store.contacts(list)) stored.push(c);
  return { report: outcome.report, stored };
}

describe('never reject a person for an attribute', () => {
  it('HubSpot M/D/YY dates: the file’s other date columns prove month-first, nobody is rejected', async () => {
    const rows = Array.from({ length: 14 }, (_, i) => `h${i}@example.com,11/${(i % 9) + 1}/23 14:05,1/15/24`);
    const body = `Record ID,Email,Create Date,Last Activity Date,Marketing contact status\n${rows.map((r, i) => `${i},${r.split(',')[0]},${r.split(',')[1]},${r.split(',')[2]},Marketing contact`).join('\n')}\n`;
    const { report, stored } = await ingest('hubspot-crm-exports-all-contacts.csv', body);
    expect(report).toMatchObject({ format: 'hubspot', rows: 14, accepted: 14, rejected: 0 });
    expect(stored.find((c) => c.cid === sha('h2@example.com'))?.attrs.signupAt).toBe('2023-11-03T14:05:00.000Z');
  });

  it('a date-sorted export whose first 200 rows fall on January 2–12 is read whole, not 41 % rejected', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      const day = 2 + Math.floor((i / 3_000) * 27); // Jan 2 … Jan 28, sorted
      rows.push(`d${i}@example.com,${String(day).padStart(2, '0')}/01/2024`);
    }
    const { report, stored } = await ingest('leads.csv', `Email,Signup Date\n${rows.join('\n')}\n`);
    expect(report).toMatchObject({ rows: 3_000, accepted: 3_000, rejected: 0 });
    expect(report.warnings).toEqual([]);
    // Day-first, as the later rows (13/01 and on) show.
    expect(stored.find((c) => c.cid === sha('d0@example.com'))?.attrs.signupAt).toBe('2024-01-02T00:00:00.000Z');
  });

  it('a date nothing can decide drops only that attribute, counted with its column; the person stays', async () => {
    const { report, stored } = await ingest('contacts.csv', 'Email,Signup Date\nx@example.com,03/04/2024\n');
    expect(report).toMatchObject({ accepted: 1, rejected: 0 });
    expect(report.warnings).toEqual([{ reason: 'ambiguous_date', column: 'Signup Date', rows: 1 }]);
    expect(stored[0]?.attrs.signupAt).toBeUndefined();
  });
});

describe('read every column a file has', () => {
  it('a generic CSV with a madid column keeps its first_name, last_name, gender and external_id', async () => {
    const body =
      'email,madid,first_name,last_name,gender,external_id,notes\n' +
      'm@example.com,AECE52E7-03EE-455A-B3C4-E57283966239,Mia,Ruiz,F,CRM-7,hello\n';
    const { report, stored } = await ingest('customer-list.csv', body);
    const keys = stored[0]!.keys.meta!;
    expect(keys).toMatchObject({
      EMAIL: sha('m@example.com'),
      FN: sha('mia'),
      LN: sha('ruiz'),
      GEN: sha('f'),
      MADID: 'aece52e7-03ee-455a-b3c4-e57283966239',
      EXTERN_ID: 'CRM-7',
    });
    const columns = report.entries[0]!.columns!;
    expect(columns.read.map((c) => c.column)).toEqual([
      'email',
      'madid',
      'first_name',
      'last_name',
      'gender',
      'external_id',
    ]);
    expect(columns.ignored).toEqual(['notes']);
  });

  it('repeated identifier headers are all read: an address only in the second Email column is kept', async () => {
    const body = 'Email,Email,Status,Status\n,second@example.com,subscribed,\nfirst@example.com,,subscribed,\n';
    const { report, stored } = await ingest('dupes.csv', body);
    expect(report).toMatchObject({ accepted: 2, rejected: 0 });
    expect(stored.map((c) => c.cid).sort()).toEqual([sha('first@example.com'), sha('second@example.com')].sort());
  });

  it('a ZIP+4 without a country is a US ZIP: sent as its first five digits', async () => {
    const { stored } = await ingest('zips.csv', 'Email,Zip\nz@example.com,94035-1234\n');
    expect(stored[0]!.keys.meta!.ZIP).toBe(sha('94035'));
  });
});

describe('keep values out of everything but hashes', () => {
  it.each([
    ['User ID', 'ann.id@example.com', () => sha('ann.id@example.com')],
    ['Customer ID', '+1 (616) 954-7888', () => sha('16169547888')],
  ])('a %s column holding an email or phone is that key, hashed, never an id in clear', async (header, value, hash) => {
    const { stored } = await ingest('ids.csv', `First Name,${header}\nAnn,"${value}"\n`);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.cid).toBe(hash());
    expect(stored[0]!.keys.meta!.EXTERN_ID).toBeUndefined();
    expect(JSON.stringify(stored[0])).not.toContain(value);
  });
});
