/**
 * How DynamoDB holds a contact: its key, what the store reads or conditions on by itself (cid, seenAt, the content
 * hash), list and source, and the rest of the record as one JSON text that the hash is taken of. Contacts stored as
 * separate attributes by earlier versions read back the same, are not rewritten while unchanged, and are rewritten
 * in the new form when they change. Against dynalite, through ingest as deployed.
 */
import { createHash } from 'node:crypto';
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { memoryLogger } from '../../functions/adapters/logger';
import { contentText } from '../../functions/core/contact-content';
import { type IngestReport, ingestExport } from '../../functions/core/ingest';
import type { ContactRecord } from '../../functions/core/model';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { type StoreHarness, startStore } from '../helpers/harness';
import { bufferSource } from '../unit/reading/helpers';

const config = parseAudienceConfig({
  version: 1,
  destinations: { meta: { platform: 'meta' }, google: { platform: 'google' } },
});

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// Shopify customers with every kind of value a record holds: an external id, phones, names with accents and quotes,
// an address with a ZIP+4, consent, tags, numbers; one person repeated with another tag.
const HEADER =
  'Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags';
const ROWS = [
  '6001,Ána,Müller-Lüdenscheidt,ana@example.com,yes,,1 Calle Sol,,Sevilla,SE,ES,41001,,+34 612 345 678,no,120.50,3,,no,"vip, spring"',
  '6002,Bo,"O\'Neil, Jr.",bo@example.com,no,,2 Market St,,San Francisco,CA,US,94103-1234,(415) 555-0101,,no,0.00,0,,no,',
  '6003,Cy,,cy@example.com,no,,,,,,,,,,no,,,,no,"a ""quoted"" tag"',
  '6001,Ana,,ana@example.com,yes,,,,,,,,,,no,,,,no,late',
];
const csv = (rows: string[]) => `${[HEADER, ...rows].join('\n')}\n`;

let h: StoreHarness;
let doc: DynamoDBDocumentClient;
beforeAll(async () => {
  h = await startStore();
  doc = DynamoDBDocumentClient.from(h.client);
});
afterAll(async () => {
  await h.close();
});

function ingest(text: string, exportedAt: string): Promise<IngestReport> {
  return ingestExport(
    {
      list: 'shop',
      kind: 'snapshot',
      source: `incoming/shop/customers_export.csv#${exportedAt}`,
      exportedAt,
      exportedAtFrom: 'metadata',
      entries: readExport(bufferSource('customers_export.csv', Buffer.from(text, 'utf8'), 4096)),
    },
    config,
    { store: h.store, platforms: PLATFORMS, logger: memoryLogger(), now: () => new Date('2026-03-10T00:00:00Z') },
  );
}

async function contactItems(): Promise<Record<string, unknown>[]> {
  const out = await doc.send(new ScanCommand({ TableName: h.aws.table }));
  return ((out.Items ?? []) as Record<string, unknown>[])
    .filter((i) => String(i.sk).startsWith('C#'))
    .sort((a, b) => String(a.sk).localeCompare(String(b.sk)));
}

async function held(): Promise<ContactRecord[]> {
  const out: ContactRecord[] = [];
  for await (const c of h.store.contacts('shop')) out.push(c);
  return out;
}

describe('a contact in DynamoDB', () => {
  let first: ContactRecord[];

  it('is its key, the few fields the store reads by itself, and its content as one text that its hash is of', async () => {
    const report = await ingest(csv(ROWS), '2026-03-01T00:00:00.000Z');
    expect(report).toMatchObject({ accepted: 4, merged: 1, written: 3 });
    const items = await contactItems();
    expect(items).toHaveLength(3);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(['cid', 'h', 'list', 'pk', 'r', 'seenAt', 'sk', 'source']);
      expect(item.h).toBe(sha(item.r as string));
      // Pseudonymous: no address, name or phone in clear.
      expect(item.r).not.toMatch(/example\.com|Müller|Ána|612 345|555-0101/);
    }
    first = await held();
    expect(first.find((c) => c.cid === sha('ana@example.com'))?.consent).toBe('subscribed');
    expect(first.find((c) => c.cid === sha('cy@example.com'))?.consent).not.toBe('subscribed');
    // What is read back is the record whose content was written, every field of it.
    for (const c of first) {
      const item = items.find((i) => i.cid === c.cid) as Record<string, unknown>;
      expect(contentText(c)).toBe(item.r);
      expect(c).toMatchObject({ list: 'shop', seenAt: '2026-03-01T00:00:00.000Z', source: item.source });
      expect(await h.store.getContact('shop', c.cid)).toEqual(c);
    }
    const ana = first.find((c) => c.cid === sha('ana@example.com')) as ContactRecord;
    expect(ana.ids).toHaveLength(3); // the email, the phone, the customer id
    expect(ana.attrs).toMatchObject({ spend: 120.5, orders: 3, country: 'ES' });
    expect(ana.attrs.tags).toEqual(expect.arrayContaining(['vip', 'spring', 'late']));
  });

  it('stored as separate attributes by an earlier version, reads back the same and is not rewritten while unchanged', async () => {
    // The table as the earlier version left it: each contact's fields as attributes, beside its content hash.
    for (const item of await contactItems()) {
      const record = first.find((c) => c.cid === item.cid) as ContactRecord;
      await doc.send(
        new PutCommand({
          TableName: h.aws.table,
          Item: { pk: item.pk, sk: item.sk, ...record, h: item.h },
        }),
      );
    }
    expect((await contactItems()).every((i) => i.r === undefined)).toBe(true);
    expect(await held()).toEqual(first);
    for (const c of first) expect(await h.store.getContact('shop', c.cid)).toEqual(c);

    // The same people the next day: nothing to write, and the old items stay as they are.
    const again = await ingest(csv(ROWS), '2026-03-02T00:00:00.000Z');
    expect({ written: again.written, unchanged: again.unchanged }).toEqual({ written: 0, unchanged: 3 });
    expect((await contactItems()).every((i) => i.r === undefined)).toBe(true);
  });

  it('stored the earlier way, is written the new way when it changes; the others keep their form and read the same', async () => {
    // Cy subscribes.
    const changed = ROWS.map((r) => (r.startsWith('6003,') ? r.replace(',no,', ',yes,') : r));
    const report = await ingest(csv(changed), '2026-03-03T00:00:00.000Z');
    expect({ written: report.written, unchanged: report.unchanged }).toEqual({ written: 1, unchanged: 2 });
    const items = await contactItems();
    const cy = items.find((i) => i.cid === sha('cy@example.com')) as Record<string, unknown>;
    expect(typeof cy.r).toBe('string');
    expect(items.filter((i) => i.r === undefined)).toHaveLength(2);
    const now = await held();
    expect(now.find((c) => c.cid === sha('cy@example.com'))?.consent).toBe('subscribed');
    expect(now.filter((c) => c.cid !== sha('cy@example.com'))).toEqual(
      first.filter((c) => c.cid !== sha('cy@example.com')),
    );
  });
});

describe('a member of an audience in DynamoDB', () => {
  const keys = { EMAIL: sha('ana@example.com'), PHONE: sha('34612345678'), COUNTRY: sha('es'), EXTERN_ID: 'a"b\\c' };

  it('keeps the keys it was sent with as one text, and one recorded before as a map reads the same', async () => {
    await h.store.recordSynced('meta#all', [{ cid: 'c1', keys, session: 3 }], []);
    const out = await doc.send(new ScanCommand({ TableName: h.aws.table }));
    const item = (out.Items ?? []).find((i) => i.pk === 'AUD#meta#all' && i.sk === 'C#c1') as Record<string, unknown>;
    expect(item).toMatchObject({ cid: 'c1', k: JSON.stringify(keys), session: 3 });
    expect(item.keys).toBeUndefined();

    // As an earlier version recorded it.
    await doc.send(
      new PutCommand({
        TableName: h.aws.table,
        Item: { pk: 'AUD#meta#all', sk: 'C#c2', cid: 'c2', keys, pending: true },
      }),
    );
    const members = [];
    for await (const m of h.store.syncedMembers('meta#all')) members.push(m);
    expect(members).toEqual([
      { cid: 'c1', keys, session: 3 },
      { cid: 'c2', keys, pending: true },
    ]);
  });
});
