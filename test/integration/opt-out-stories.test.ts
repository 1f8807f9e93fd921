/**
 * The opt-out stories of issues #10 and #9, one test per story, through the real handlers: files put into s3rver and
 * fed to the ingest handler, contacts in dynalite, the sync handler against the local Graph API server. Each test
 * also scans everything the product wrote (bucket, table, logs, Graph requests) for the plaintext it was given.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { describeErasure, eraseIdentities } from '../../functions/app/erase';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import type { Runtime } from '../../functions/app/runtime';
import type { IngestReport } from '../../functions/core/ingest';
import { describeExclusion } from '../../functions/core/segments';
import type { SyncReport } from '../../functions/core/sync';
import { handleSync } from '../../functions/sync';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { writeOfRecord } from '../helpers/contact-writes';
import { type Pipeline, startPipeline } from '../helpers/pipeline';
import { makeZip } from '../unit/reading/zip-writer';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let fake: FakeMeta;
let p: Pipeline;
/** Every plaintext identity a test handed the product: none may appear in anything it wrote. */
let plaintext: string[];

const CONFIG = `
version: 1
defaultCountry: US
lists:
  de-list: { defaultCountry: DE }
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
segments:
  - id: subscribers
    where: { consent: subscribed }
    destinations: [{ destination: meta-main, audienceName: "Subscribers", minSize: 1 }]
  - id: everyone
    destinations: [{ destination: meta-main, audienceName: "Everyone", minSize: 1 }]
`;

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  fake.reset();
  plaintext = [];
  p = await startPipeline(CONFIG);
});
afterEach(async () => {
  try {
    await expectNoPlaintext();
  } finally {
    await p.close();
  }
});

/** Remembers the identities of a file's body so the leak scan looks for them. */
function remember(...values: string[]) {
  plaintext.push(...values);
}

async function drop(key: string, body: Buffer | string, exportedAt?: string): Promise<ObjectOutcome> {
  const { outcomes, response } = await p.drop(key, body, exportedAt);
  expect(response.batchItemFailures).toEqual([]);
  expect(outcomes).toHaveLength(1);
  return outcomes[0]!.outcome;
}

async function ingest(key: string, body: Buffer | string, exportedAt?: string): Promise<IngestReport> {
  const outcome = await drop(key, body, exportedAt);
  expect(outcome.kind, JSON.stringify(outcome)).toBe('ingested');
  return (outcome as { report: IngestReport }).report;
}

/** The sync Lambda's handler against the local Graph API server, with `config` (default: the pipeline's). */
async function sync(config?: string): Promise<SyncReport> {
  const rt: Runtime = config ? { ...p.rt, config: parseAudienceConfig(parseYaml(config)) } : p.rt;
  const out = await handleSync({ trigger: 'test' }, rt, 10 * 60_000, {
    ...process.env,
    META_ACCESS_TOKEN: 'test-token',
    META_AD_ACCOUNT_ID: 'act_777',
    META_GRAPH_URL: fake.baseUrl,
  });
  expect(out.done).toBe(true);
  return (await p.readJson(out.reportKey)) as unknown as SyncReport;
}

const audienceId = (name: string) => {
  const a = fake.audiences().find((x) => x.name === name && !x.deleted);
  expect(a, `audience ${name}`).toBeDefined();
  return a!.id;
};

/** Every row any /users or /usersreplace upload (POST) ever carried, as hashes. */
function uploadedRows(): string[][] {
  return fake.requests
    .filter((r) => r.method === 'POST' && /\/users(replace)?$/.test(r.path) && r.status === 200)
    .flatMap((r) => {
      const body = r.body as { payload: unknown };
      const payload = (typeof body.payload === 'string' ? JSON.parse(body.payload) : body.payload) as {
        data: string[][];
      };
      return payload.data;
    });
}
const everUploaded = (hash: string) => uploadedRows().some((row) => row.includes(hash));

/** Everything the product wrote: bucket objects (the quarantine holds raw files by design), table items, logs, requests. */
async function expectNoPlaintext() {
  if (plaintext.length === 0) return;
  const texts: Array<[string, string]> = [];
  for (const key of await p.listKeys('')) {
    if (key.startsWith('quarantine/')) continue;
    texts.push([key, await p.readText(key)]);
  }
  const client = new DynamoDBClient({});
  const doc = DynamoDBDocumentClient.from(client);
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new ScanCommand({ TableName: p.aws.table, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) texts.push([`table ${item.pk} ${item.sk}`, JSON.stringify(item)]);
    start = out.LastEvaluatedKey;
  } while (start);
  client.destroy();
  texts.push(['logs', p.logger.lines.join('\n')]);
  texts.push(['graph requests', JSON.stringify(fake.requests)]);
  for (const [where, text] of texts) {
    const lower = text.toLowerCase();
    for (const v of plaintext)
      expect({ where, leaked: lower.includes(v.toLowerCase()) ? v : undefined }).toEqual({
        where,
        leaked: undefined,
      });
  }
}

const csv = (header: string, rows: string[]) => `${header}\n${rows.join('\n')}\n`;

describe('#10: an opt-out outlives a damaged or missing row', () => {
  it('Person unsubscribed in list A, subscribed in list B. In A’s next snapshot their row is damaged (column_count_mismatch) → never uploaded; with their email damaged to an invalid address → still never uploaded', async () => {
    remember('ann@example.com', 'bob@example.com', 'carl@example.com');
    const ann = sha('ann@example.com');
    await ingest(
      'incoming/list-a/a1.csv',
      csv('email,status', ['ann@example.com,unsubscribed', 'bob@example.com,subscribed']),
      '2026-11-01T00:00:00Z',
    );
    await ingest(
      'incoming/list-b/b1.csv',
      csv('email', ['ann@example.com', 'carl@example.com']),
      '2026-11-01T00:00:00Z',
    );
    let report = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('bob@example.com'), sha('carl@example.com')]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ unsubscribed: 1 });

    // A's next snapshot: Ann's row has a column too many. Nobody leaves A by this snapshot; her opt-out stays.
    const damaged = await ingest(
      'incoming/list-a/a2.csv',
      csv('email,status', ['ann@example.com,unsubscribed,oops', 'bob@example.com,subscribed']),
      '2026-11-02T00:00:00Z',
    );
    expect(damaged).toMatchObject({ rows: 2, accepted: 1, rejected: 1, removed: 0 });
    expect(damaged.rejections).toEqual({ column_count_mismatch: 1 });
    expect(damaged.message).toMatch(/could not be read \(column_count_mismatch 1\), so nobody left the list/);
    report = await sync();
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ unsubscribed: 1 });

    // The next one has her address damaged into an invalid one: her A record leaves, the opt-out block stays.
    const invalid = await ingest(
      'incoming/list-a/a3.csv',
      csv('email,status', ['ann@@example.com,unsubscribed', 'bob@example.com,subscribed']),
      '2026-11-03T00:00:00Z',
    );
    remember('ann@@example.com');
    expect(invalid).toMatchObject({ rows: 2, accepted: 1, rejected: 1, removed: 1 });
    expect(invalid.rejections).toEqual({ invalid_email: 1 });
    expect(await p.rt.store.getContact('list-a', ann)).toBeUndefined();
    report = await sync();
    for (const seg of ['everyone', 'subscribers'])
      expect(report.segments.find((s) => s.id === seg)!.excluded, seg).toEqual({ opted_out_elsewhere: 1 });

    // And a snapshot of A without her at all: still out.
    await ingest('incoming/list-a/a4.csv', csv('email,status', ['bob@example.com,subscribed']), '2026-11-04T00:00:00Z');
    await sync();
    expect(everUploaded(ann)).toBe(false);
    for (const name of ['Everyone', 'Subscribers']) expect(fake.members(audienceId(name)).has(ann), name).toBe(false);
  });
});

describe('#10 attack: an opt-out on a shared identity', () => {
  it('a phone-only unsubscribe blocks the email-keyed record with that phone, also when the same file is dropped again or its row is damaged', async () => {
    remember('xena@example.com', '6169547888', '+16169547888');
    const xena = sha('xena@example.com');
    const file = (phoneRow: string) =>
      csv('email,phone,status', [
        'xena@example.com,+1 616 954 7888,subscribed',
        phoneRow,
        'other@example.com,,subscribed',
      ]);
    remember('other@example.com');
    await ingest('incoming/list-a/v1.csv', file(',+1 616 954 7888,unsubscribed'), '2026-11-01T00:00:00Z');
    let report = await sync();
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({
      unsubscribed: 1,
      opted_out_elsewhere: 1,
    });
    // The very same file again: nothing in it changed, so nothing about who may be uploaded may change either.
    const again = await ingest('incoming/list-a/v2.csv', file(',+1 616 954 7888,unsubscribed'), '2026-11-02T00:00:00Z');
    expect(again).toMatchObject({ written: 0, unchanged: 3 });
    report = await sync();
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({
      unsubscribed: 1,
      opted_out_elsewhere: 1,
    });
    // The phone-only row damaged: nobody leaves, and the opt-out it recorded still holds.
    await ingest('incoming/list-a/v3.csv', file(',+1 616 954 7888,unsubscribed,x'), '2026-11-03T00:00:00Z');
    report = await sync();
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({
      unsubscribed: 1,
      opted_out_elsewhere: 1,
    });
    expect(everUploaded(xena)).toBe(false);
    expect(everUploaded(sha('+16169547888'))).toBe(false);
    // Once the list records the phone subscribed again, the list's own opt-out is lifted and both may go up.
    await ingest('incoming/list-a/v4.csv', file(',+1 616 954 7888,subscribed'), '2026-11-04T00:00:00Z');
    report = await sync();
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({});
    expect(fake.members(audienceId('Everyone')).has(xena)).toBe(true);
  });
});

const MC_SUB_HEADER = 'Email Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,LAST_CHANGED';
const MC_UNSUB_HEADER = 'Email Address,First Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,UNSUB_TIME';
const mcSub = (email: string, optIn = '2024-01-01 10:00:00', confirm = '2024-01-01 10:05:00', cc = 'us') =>
  `${email},,3,${optIn},${confirm},${cc},2024-02-01 10:00:00`;
const mcUnsub = (email: string, at = '2024-03-01 10:00:00', cc = 'us') =>
  `${email},,2,2024-01-01 10:00:00,2024-01-01 10:05:00,${cc},${at}`;
const mailchimpZip = (subscribed: string[], unsubscribed: string[]) =>
  makeZip([
    { name: 'subscribed_members_export_ba473dc14f.csv', data: csv(MC_SUB_HEADER, subscribed) },
    { name: 'unsubscribed_members_export_ba473dc14f.csv', data: csv(MC_UNSUB_HEADER, unsubscribed) },
  ]);

describe('#10: one person twice in one file', () => {
  it('The same address twice in one file (subscribed, then unsubscribed), or in both the subscribed and unsubscribed files of one Mailchimp zip → never uploaded; the most restrictive consent wins', async () => {
    remember('dup@example.com', 'keep@example.com', 'zip@example.com', 'late@example.com');
    const dup = sha('dup@example.com');
    const zip = sha('zip@example.com');
    const late = sha('late@example.com');
    // One CSV, the same person subscribed then unsubscribed (spelled differently), and the other way round.
    const plain = await ingest(
      'incoming/plain/p1.csv',
      csv('email,status', [
        'dup@example.com,subscribed',
        'keep@example.com,subscribed',
        'DUP@Example.com ,unsubscribed',
        'late@example.com,unsubscribed',
        'Late@example.com,subscribed',
      ]),
      '2026-11-01T00:00:00Z',
    );
    expect(plain).toMatchObject({ rows: 5, accepted: 5, rejected: 0, merged: 2 });
    expect((await p.rt.store.getContact('plain', dup))?.consent).toBe('unsubscribed');
    expect((await p.rt.store.getContact('plain', late))?.consent).toBe('unsubscribed');
    // A Mailchimp zip that lists one member in both its subscribed and unsubscribed files.
    const mc = await ingest(
      'incoming/mc/export.zip',
      mailchimpZip([mcSub('zip@example.com'), mcSub('keep@example.com')], [mcUnsub('Zip@Example.com')]),
      '2026-11-01T00:00:00Z',
    );
    expect(mc).toMatchObject({ format: 'mailchimp', rows: 3, accepted: 3, merged: 1 });
    expect((await p.rt.store.getContact('mc', zip))?.consent).toBe('unsubscribed');
    const report = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('keep@example.com')]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ unsubscribed: 3 });

    // Second run: the same files again, but the subscribed occurrence is now unchanged since the first run (the
    // store already holds the merged record): the merge still starts from what is stored, and nobody is uploaded.
    await ingest(
      'incoming/mc/export-2.zip',
      mailchimpZip([mcSub('zip@example.com'), mcSub('keep@example.com')], [mcUnsub('zip@example.com')]),
      '2026-11-02T00:00:00Z',
    );
    // A person uploaded once, then listed twice (subscribed and unsubscribed) in the next snapshot, is removed.
    await ingest(
      'incoming/mc/export-3.zip',
      mailchimpZip(
        [mcSub('zip@example.com'), mcSub('keep@example.com')],
        [mcUnsub('zip@example.com'), mcUnsub('keep@example.com')],
      ),
      '2026-11-03T00:00:00Z',
    );
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set());
    expect(fake.members(audienceId('Subscribers'))).toEqual(new Set());
    for (const h of [dup, zip, late]) expect(everUploaded(h)).toBe(false);
  });
});

const segmentsConfig = (segments: string, extra = '') => `
version: 1
defaultCountry: US
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
${extra}
segments:
${segments}
`;
const seg = (id: string, audienceName: string, where = '') =>
  `  - id: ${id}\n${where ? `    where: ${where}\n` : ''}    destinations: [{ destination: meta-main, audienceName: "${audienceName}", minSize: 1 }]\n`;

describe('#10: renamed and removed segments', () => {
  it('After renaming a segment, its old audience is never synced again: the erased person and every later unsubscribe stay in it forever → a renamed segment keeps its audience and members, a removed one is emptied and erasure reaches it, `keep` keeps members but opt-outs and erasures still leave', async () => {
    const people = ['ana', 'ben', 'cem', 'dia', 'eli', 'fay'].map((n) => `${n}@example.com`);
    remember(...people);
    const [ana, ben, cem, dia, eli, fay] = people.map(sha) as [string, string, string, string, string, string];
    const snapshot = (at: string, rows: string[]) =>
      ingest(`incoming/news/${at.slice(0, 10)}.csv`, csv('email,status,tags', rows), at);
    await snapshot('2026-11-01T00:00:00Z', [
      'ana@example.com,subscribed,vip',
      'ben@example.com,subscribed,',
      'cem@example.com,subscribed,',
      'dia@example.com,subscribed,vip',
      'eli@example.com,subscribed,promo',
      'fay@example.com,subscribed,promo',
    ]);
    const v1 = segmentsConfig(
      seg('newsletter', 'Newsletter') + seg('vip', 'VIP', '{ tag: vip }') + seg('promo', 'Promo', '{ tag: promo }'),
    );
    await sync(v1);
    const newsletter = audienceId('Newsletter');
    const vip = audienceId('VIP');
    const promo = audienceId('Promo');
    expect(fake.members(newsletter)).toEqual(new Set([ana, ben, cem, dia, eli, fay]));

    // Renamed segment (same audience name), and Ben erased before the next sync.
    const v2 = segmentsConfig(
      seg('news', 'Newsletter') + seg('vip', 'VIP', '{ tag: vip }') + seg('promo', 'Promo', '{ tag: promo }'),
    );
    const er = await drop('erasure/req-1.csv', 'email\nben@example.com\n');
    expect(er).toMatchObject({ kind: 'erasure', erased: 1 });
    let seen = fake.requests.length;
    let report = await sync(v2);
    const renamed = report.audiences.find((a) => a.segment === 'news')!;
    expect(renamed).toMatchObject({ audienceId: newsletter, added: 0, removed: 1, created: false });
    expect(renamed.message).toMatch(/took over the synced members of meta-main#newsletter \(the segment was renamed\)/);
    // No removal storm, no re-upload: one removal of exactly Ben, and the old segment is not reported as an orphan.
    const calls = fake.requests.slice(seen).filter((r) => /\/users$/.test(r.path));
    expect(calls.map((r) => r.method)).toEqual(['DELETE']);
    expect(fake.removeCalls(newsletter).at(-1)).toMatchObject({ rows: 1 });
    expect(report.audiences.some((a) => a.orphan)).toBe(false);
    expect(fake.audiences().filter((a) => a.name === 'Newsletter')).toHaveLength(1);
    expect(fake.members(newsletter)).toEqual(new Set([ana, cem, dia, eli, fay]));

    // A later unsubscribe leaves the renamed segment's audience.
    await snapshot('2026-11-02T00:00:00Z', [
      'ana@example.com,subscribed,vip',
      'cem@example.com,unsubscribed,',
      'dia@example.com,subscribed,vip',
      'eli@example.com,subscribed,promo',
      'fay@example.com,subscribed,promo',
    ]);
    await sync(v2);
    expect(fake.members(newsletter)).toEqual(new Set([ana, dia, eli, fay]));

    // The vip segment leaves the config (default orphanedAudiences: empty) while Ana is erased: the VIP audience is
    // emptied, Ana with it, and it is never filled again.
    await drop('erasure/req-2.csv', 'email\nana@example.com\n');
    const v3 = segmentsConfig(seg('news', 'Newsletter') + seg('promo', 'Promo', '{ tag: promo }'));
    report = await sync(v3);
    expect(report.audiences.find((a) => a.audienceName === 'VIP')).toMatchObject({
      orphan: 'empty',
      status: 'retired',
      removed: 2,
    });
    expect(fake.members(vip)).toEqual(new Set());
    expect(fake.members(newsletter)).toEqual(new Set([dia, eli, fay]));
    seen = fake.requests.length;
    report = await sync(v3);
    expect(report.audiences.some((a) => a.audienceName === 'VIP')).toBe(false);
    expect(fake.requests.slice(seen).some((r) => r.path.startsWith(`/${vip}`))).toBe(false);

    // promo leaves under `keep`: its members stay, but Eli's erasure and Fay's unsubscribe still take them out.
    const v4 = segmentsConfig(seg('news', 'Newsletter'), 'orphanedAudiences: keep');
    report = await sync(v4);
    expect(report.audiences.find((a) => a.audienceName === 'Promo')).toMatchObject({
      orphan: 'keep',
      removed: 0,
      status: 'retired',
    });
    expect(fake.members(promo)).toEqual(new Set([eli, fay]));
    await drop('erasure/req-3.csv', 'email\neli@example.com\n');
    await snapshot('2026-11-03T00:00:00Z', [
      'dia@example.com,subscribed,vip',
      'fay@example.com,unsubscribed,promo',
      'gus@example.com,subscribed,promo',
    ]);
    remember('gus@example.com');
    report = await sync(v4);
    expect(report.audiences.find((a) => a.audienceName === 'Promo')!.message).toMatch(
      /only opt-outs and erasures leave it/,
    );
    // Nobody new joins a kept audience.
    expect(fake.members(promo)).toEqual(new Set());
    expect(fake.members(newsletter)).toEqual(new Set([dia, sha('gus@example.com')]));
    // The erased are in no audience the product ever made.
    for (const a of fake.audiences())
      for (const h of [ben, ana, eli]) expect(fake.members(a.id).has(h), `${a.name} ${h}`).toBe(false);
  });
});

describe('#10: export times that would freeze a list', () => {
  it('`exported-at: 2099-01-01` makes every later export stale … `exported-at: 1` is read as the year 2001 → refused with a clear report, later exports still apply, and a future snapshot time already in the store does not freeze the list', async () => {
    remember('zed@example.com', 'yan@example.com', 'old@example.com');
    const [zed, yan, old] = ['zed', 'yan', 'old'].map((n) => sha(`${n}@example.com`)) as [string, string, string];
    const body = csv('email', ['zed@example.com', 'old@example.com']);
    for (const [meta, why] of [
      ['2099-01-01', /exported-at 2099-01-01 is in the future \(now .*\); fix the uploader's clock/],
      ['1', /exported-at "1" is not an ISO date; set it like 2026-11-20T08:00:00Z/],
      ['2001', /exported-at "2001" is not an ISO date/],
      ['1999-12-31', /exported-at 1999-12-31 is before 2000/],
      ['next tuesday', /is not an ISO date/],
    ] as const) {
      const out = await drop(`incoming/frozen/bad-${meta.replace(/\W/g, '')}.csv`, body, meta);
      expect(out.kind, meta).toBe('quarantined');
      const report = await p.readJson((out as { reportKey: string }).reportKey);
      expect(report).toMatchObject({ status: 'quarantined', reason: 'bad_export_time', list: 'frozen' });
      expect(report.error, meta).toMatch(why);
    }
    expect(await p.rt.store.listState('frozen')).toEqual({});
    expect(await p.listKeys('incoming/')).toEqual([]);
    expect(await p.listKeys('quarantine/frozen/')).toHaveLength(5);

    // A later export with a true time applies as if the refused ones never came.
    const good = await ingest('incoming/frozen/good.csv', body, '2026-11-01T00:00:00Z');
    expect(good).toMatchObject({ status: 'ingested', written: 2 });
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([zed, old]));

    // A store written before export times were checked: the snapshot and its contacts carry 2099.
    const future = '2099-01-01T00:00:00.000Z';
    const stored = [];
    for await (const c of p.rt.store.contacts('frozen')) stored.push({ ...c, seenAt: future });
    await p.rt.store.putContacts(stored.map((c) => writeOfRecord(c, sha(JSON.stringify(c)))));
    const snap = (await p.rt.store.getSnapshot('frozen'))!;
    expect(
      await p.rt.store.commitSnapshot({ ...snap, source: 'incoming/frozen/old-bug.csv#1', exportedAt: future }),
    ).toBe('committed');

    // The next true export still applies: Zed's unsubscribe is written, Old (absent) leaves, Yan joins.
    const next = await ingest(
      'incoming/frozen/next.csv',
      csv('email,status', ['zed@example.com,unsubscribed', 'yan@example.com,subscribed']),
      '2026-11-10T00:00:00Z',
    );
    expect(next).toMatchObject({ status: 'ingested', staleRows: 0, removed: 1 });
    expect((await p.rt.store.getContact('frozen', zed))?.consent).toBe('unsubscribed');
    expect(await p.rt.store.getContact('frozen', old)).toBeUndefined();
    expect((await p.rt.store.getSnapshot('frozen'))?.exportedAt).toBe('2026-11-10T00:00:00.000Z');
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([yan]));
    // And an older export arriving late is still stale against the true time now committed.
    const late = await ingest('incoming/frozen/late.csv', body, '2026-11-05T00:00:00Z');
    expect(late.status).toBe('stale');
  });
});

describe('#10: suppressions', () => {
  it('a phone-only row doesn’t match a contact stored by email; suppressing someone not yet in the list does nothing, and the next snapshot uploads them; the next ordinary snapshot undoes a suppression → each fixed', async () => {
    remember('ann@example.com', 'bob@example.com', 'dan@example.com', '6169547888', '+16169547888');
    const [ann, bob, dan] = ['ann', 'bob', 'dan'].map((n) => sha(`${n}@example.com`)) as [string, string, string];
    const everyone = () => fake.members(audienceId('Everyone'));
    await ingest(
      'incoming/shop/v1.csv',
      csv('email,phone,status', ['ann@example.com,+1 616 954 7888,subscribed', 'bob@example.com,,subscribed']),
      '2026-11-01T00:00:00Z',
    );
    await sync();
    expect(everyone()).toEqual(new Set([ann, bob]));

    // A phone-only suppress row blocks the person stored by email.
    const byPhone = await ingest('incoming/shop/suppress/s1.csv', 'phone\n616-954-7888\n', '2026-11-05T00:00:00Z');
    expect(byPhone.suppression).toEqual({ identities: 1, matchedNow: 1 });
    let report = await sync();
    expect(everyone()).toEqual(new Set([bob]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ suppressed: 1 });

    // Dan is suppressed before any list holds him: it matches nobody now, and holds when he arrives.
    const early = await ingest('incoming/shop/suppress/s2.csv', 'email\nDan@Example.com\n', '2026-11-05T00:00:00Z');
    expect(early.suppression).toEqual({ identities: 1, matchedNow: 0 });
    // The next ordinary snapshot lists both as subscribed (an opt-in, but none recorded after the suppression).
    const v2 = await ingest(
      'incoming/shop/v2.csv',
      csv('email,phone,status', [
        'ann@example.com,+1 616 954 7888,subscribed',
        'bob@example.com,,subscribed',
        'dan@example.com,,subscribed',
      ]),
      '2026-11-06T00:00:00Z',
    );
    expect(v2.heldBySuppression).toBe(2);
    report = await sync();
    expect(everyone()).toEqual(new Set([bob]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ suppressed: 2 });
    expect(describeExclusion('suppressed')).toBe('suppressed by a suppress file');

    // A Mailchimp list that records Dan's opt-in before the suppression changes nothing…
    await ingest(
      'incoming/news/mc1.zip',
      mailchimpZip([mcSub('dan@example.com', '2026-10-01 10:00:00', '2026-10-01 10:05:00')], []),
      '2026-11-07T00:00:00Z',
    );
    await sync();
    expect(everyone().has(dan)).toBe(false);
    // …one that records an opt-in (confirmed) after the suppression lifts it.
    await ingest(
      'incoming/news/mc2.zip',
      mailchimpZip([mcSub('dan@example.com', '2026-11-07 10:00:00', '2026-11-07 10:05:00')], []),
      '2026-11-08T00:00:00Z',
    );
    await sync();
    expect(everyone()).toEqual(new Set([bob, dan]));

    // An unsuppress drop lifts Ann's suppression, naming the same phone another way.
    const lift = await ingest('incoming/shop/unsuppress/u1.csv', 'phone\n+1 (616) 954-7888\n', '2026-11-09T00:00:00Z');
    expect(lift.suppression).toEqual({ identities: 1, matchedNow: 1, lifted: 1, heldByOtherLists: 0 });
    report = await sync();
    expect(everyone()).toEqual(new Set([ann, bob, dan]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({});

    // Another list's suppression is not this list's to lift: the legal team suppresses Bob, the shop's unsuppress
    // drop leaves him out and says where his suppression came from.
    await ingest('incoming/legal/suppress/hold.csv', 'email\nbob@example.com\n', '2026-11-10T00:00:00Z');
    const notOurs = await ingest('incoming/shop/unsuppress/u2.csv', 'email\nbob@example.com\n', '2026-11-11T00:00:00Z');
    expect(notOurs.suppression).toEqual({ identities: 1, matchedNow: 1, lifted: 0, heldByOtherLists: 1 });
    expect(notOurs.message).toMatch(/recorded by other lists' suppress drops and still hold/);
    await sync();
    expect(everyone()).toEqual(new Set([ann, dan]));
    // The list that recorded it lifts it.
    await ingest('incoming/legal/unsuppress/release.csv', 'email\nbob@example.com\n', '2026-11-12T00:00:00Z');
    await sync();
    expect(everyone()).toEqual(new Set([ann, bob, dan]));
  });
});

/** A Mailchimp zip whose second entry's compressed data is destroyed half-way (as a cut download leaves it). */
function zipWithDamagedSecondEntry(subscribed: string[], unsubscribed: string[]): Buffer {
  const second = csv(MC_UNSUB_HEADER, unsubscribed);
  const zip = mailchimpZip(subscribed, unsubscribed);
  const body = deflateRawSync(Buffer.from(second));
  const at = zip.indexOf(body);
  expect(at).toBeGreaterThan(0);
  zip.fill(0xff, at + Math.floor(body.length / 3), at + body.length);
  return zip;
}

describe('#10: a zip with a damaged entry', () => {
  it('A zip whose second entry is damaged is reported QUARANTINED, yet the first entry’s rows were stored and uploaded → nothing stored, nothing uploaded', async () => {
    const subs = Array.from({ length: 50 }, (_, i) => `sub${i}@example.com`);
    remember(...subs, 'gone@example.com', 'kept@example.com');
    const gone = sha('gone@example.com');
    // A list seen for the first time: nothing of the file reaches the store.
    const first = await drop(
      'incoming/mc/first.zip',
      zipWithDamagedSecondEntry(
        subs.map((e) => mcSub(e)),
        subs.map((e) => mcUnsub(e)),
      ),
      '2026-11-01T00:00:00Z',
    );
    expect(first.kind).toBe('quarantined');
    const qReport = await p.readJson((first as { reportKey: string }).reportKey);
    expect(qReport).toMatchObject({ status: 'quarantined', reason: 'corrupt_archive', list: 'mc' });
    expect(qReport.error).toMatch(/unsubscribed_members_export_ba473dc14f\.csv/);
    expect(await p.rt.store.listIds()).toEqual([]);
    expect(await p.listKeys('quarantine/mc/')).toEqual(['quarantine/mc/first.zip']);
    await sync();
    expect(uploadedRows()).toEqual([]);

    // A list with a committed snapshot: a damaged next export changes nothing, the unreadable part might hold opt-outs.
    await ingest(
      'incoming/mc/v1.zip',
      mailchimpZip([mcSub('gone@example.com'), mcSub('kept@example.com')], []),
      '2026-11-02T00:00:00Z',
    );
    await sync();
    const before = [];
    for await (const c of p.rt.store.contacts('mc')) before.push(c);
    const seen = fake.requests.length;
    for (const [name, zip] of [
      [
        'v2.zip',
        zipWithDamagedSecondEntry(
          [...subs.map((e) => mcSub(e)), mcSub('kept@example.com')],
          [mcUnsub('gone@example.com')],
        ),
      ],
      [
        'v2b.zip',
        makeZip([
          {
            name: 'subscribed_members_export_ba473dc14f.csv',
            data: csv(
              MC_SUB_HEADER,
              subs.map((e) => mcSub(e)),
            ),
          },
          {
            name: 'unsubscribed_members_export_ba473dc14f.csv',
            data: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
          },
        ]),
      ],
    ] as const) {
      const out = await drop(`incoming/mc/${name}`, zip, '2026-11-03T00:00:00Z');
      expect(out.kind, name).toBe('quarantined');
      const after = [];
      for await (const c of p.rt.store.contacts('mc')) after.push(c);
      expect(after, name).toEqual(before);
      expect((await p.rt.store.listState('mc')).applying, name).toBeUndefined();
      expect((await p.rt.store.getSnapshot('mc'))?.source, name).toMatch(/v1\.zip/);
    }
    const report = await sync();
    expect(fake.requests.slice(seen).filter((r) => /\/users/.test(r.path))).toEqual([]);
    expect(report.audiences.every((a) => a.added === 0 && a.removed === 0)).toBe(true);
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([gone, sha('kept@example.com')]));
    for (const e of subs) expect(everUploaded(sha(e)), e).toBe(false);
  });
});

describe('#10: countries that were read as the list default', () => {
  it('`GER`, `Federal Republic of Germany`, `République française` became US → treated as the EEA they are (not uploaded without a recorded opt-in), and a country that cannot be read gets the strictest zone and is counted in the report warnings', async () => {
    const rows = [
      ['ger@example.com', 'GER'],
      ['frg@example.com', 'Federal Republic of Germany'],
      ['rf@example.com', 'République française'],
      ['typo@example.com', 'Germny'],
      ['us@example.com', 'United States'],
    ];
    remember(...rows.map(([e]) => e!));
    const report = await ingest(
      'incoming/leads/leads.csv',
      csv(
        'email,country',
        rows.map(([e, c]) => `${e},${c}`),
      ),
      '2026-11-01T00:00:00Z',
    );
    expect(report.warnings).toEqual([{ reason: 'unrecognized_country', column: 'country', rows: 1 }]);
    const stored = async (email: string) => (await p.rt.store.getContact('leads', sha(email)))!;
    for (const [email, country] of [
      ['ger@example.com', 'DE'],
      ['frg@example.com', 'DE'],
      ['rf@example.com', 'FR'],
    ] as const) {
      const c = await stored(email);
      expect(c.attrs, email).toMatchObject({ country, zone: 'EEA' });
      expect(c.keys.meta?.COUNTRY, email).toBe(sha(country.toLowerCase()));
    }
    const typo = await stored('typo@example.com');
    expect(typo.attrs.zone).toBe('EEA');
    expect(typo.attrs.country).toBeUndefined();
    expect(typo.keys.meta?.COUNTRY).toBeUndefined();

    const sr = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('us@example.com')]));
    const excluded = sr.segments.find((s) => s.id === 'everyone')!.excluded;
    expect(excluded).toEqual({ no_opt_in_eea: 4 });
    expect(Object.keys(excluded).map(describeExclusion)).toEqual(['no opt-in recorded (EEA)']);
  });
});

describe('#10 attack: two countries in one row', () => {
  it('Mailchimp’s geo-IP CC says US, the address says Germany (or the other way round) → the stricter zone decides, and the report counts the conflict', async () => {
    const rows = [
      ['geo-us@example.com', 'Germany', 'us'],
      ['geo-de@example.com', 'United States', 'de'],
      ['agree@example.com', 'United States', 'us'],
    ];
    remember(...rows.map(([e]) => e!));
    const report = await ingest(
      'incoming/leads/leads.csv',
      csv(
        'email,country,country code',
        rows.map((r) => r.join(',')),
      ),
      '2026-11-01T00:00:00Z',
    );
    expect(report.warnings).toEqual([{ reason: 'conflicting_country', column: 'country', rows: 2 }]);
    for (const email of ['geo-us@example.com', 'geo-de@example.com'])
      expect((await p.rt.store.getContact('leads', sha(email)))!.attrs.zone, email).toBe('EEA');
    const sr = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('agree@example.com')]));
    expect(sr.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ no_opt_in_eea: 2 });
  });
});

describe('#10 attack: two letters that are no country', () => {
  it('a two-letter country that is no ISO code (EU, EL, XX) gets the strictest zone and a warning, never a laxer zone; a bad code column does not hide the country column', async () => {
    const rows = [
      ['eu@example.com', 'EU', ''],
      ['el@example.com', 'EL', ''],
      ['xx@example.com', 'XX', ''],
      ['both@example.com', 'Deutschland', 'ZZ'],
      ['ok@example.com', 'us', ''],
    ];
    remember(...rows.map(([e]) => e!));
    const report = await ingest(
      'incoming/leads/leads.csv',
      csv(
        'email,country,country code',
        rows.map((r) => r.join(',')),
      ),
      '2026-11-01T00:00:00Z',
    );
    expect(report.warnings).toEqual([{ reason: 'unrecognized_country', column: 'country', rows: 3 }]);
    for (const [email] of rows.slice(0, 3)) {
      const c = (await p.rt.store.getContact('leads', sha(email!)))!;
      expect(c.attrs.zone, email).toBe('EEA');
      expect(c.attrs.country, email).toBeUndefined();
    }
    expect((await p.rt.store.getContact('leads', sha('both@example.com')))!.attrs).toMatchObject({
      country: 'DE',
      zone: 'EEA',
    });
    const sr = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('ok@example.com')]));
    expect(sr.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({ no_opt_in_eea: 4 });
  });
});

describe('#10 attack: a file without a header row whose first person has no email', () => {
  it('the first row is read as a person, never used as column names: nothing of it reaches a report, and a row that cannot be stored says why', async () => {
    remember('Annabel', '6169547888', 'bob@example.com', 'cid@example.com', 'Quentin', '6169547800');
    const stored = await ingest(
      'incoming/sms/list.csv',
      'Annabel,+1 616 954 7888,\nBob,+1 616 954 7889,bob@example.com\nCid,,cid@example.com\n',
      '2026-11-01T00:00:00Z',
    );
    // Three rows, three accounted for: Annabel's has no email column the file can be read by, and says so.
    expect(stored).toMatchObject({ rows: 3, accepted: 2, rejected: 1, rejections: { missing_identifier: 1 } });
    expect(stored.entries[0]!.columns!.ignored).toEqual(['column 1', 'column 2']);
    // A phone-only file without a header: quarantined (no column to read it by), naming no value of its first row.
    const out = await drop('incoming/sms2/list.csv', 'Quentin,+1 616 954 7800\nRuth,+1 616 954 7801\n');
    remember('Ruth');
    expect(out.kind).toBe('quarantined');
    expect((out as { reason: string }).reason).toMatch(
      /Columns \(2\): column 0 \(text\), column 1 \(looks like phone numbers\)/,
    );
  });
});

describe('#10: erasure of a national phone number', () => {
  it('`erase --phone "030 1234567"` uses the global default, not the German list’s → erased from the German list, the report says how it was read, and a number no list’s country makes valid asks plainly for the international form', async () => {
    remember('hans@example.com', 'joe@example.com', '1234567', '49301234567', '6169547888');
    const hans = sha('hans@example.com');
    await ingest(
      'incoming/de-list/kunden.csv',
      csv('email,phone,status', ['hans@example.com,030 1234567,subscribed']),
      '2026-11-01T00:00:00Z',
    );
    await ingest(
      'incoming/us-list/customers.csv',
      csv('email,phone', ['joe@example.com,(616) 954-7888']),
      '2026-11-01T00:00:00Z',
    );
    expect((await p.rt.store.getContact('de-list', hans))?.ids).toContain(sha('49301234567'));
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([hans, sha('joe@example.com')]));

    // The request names the number as the German list stores it, nationally.
    const er = await drop('erasure/request.csv', 'phone\n030 1234567\n');
    expect(er).toMatchObject({ kind: 'erasure', erased: 1 });
    const audit = await p.readJson((er as { reportKey: string }).reportKey);
    expect(audit).toMatchObject({
      requested: 1,
      hashed: 1,
      invalid: 0,
      contactsDeleted: 1,
      lists: ['de-list'],
      phoneReadings: [{ phone: 1, countries: ['DE'], lists: ['de-list'] }],
    });
    expect(await p.rt.store.getContact('de-list', hans)).toBeUndefined();
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('joe@example.com')]));

    // What the CLI prints, through the same use case: how each number was read, and what to do with one that is
    // valid under no list's country.
    const r = await eraseIdentities(
      p.rt.store,
      { emails: [], phones: ['030 1234567', '12 34'] },
      { now: new Date(), logger: p.rt.logger, config: p.rt.config },
    );
    expect(r).toMatchObject({ requested: 2, hashed: 1, invalid: 1, contactsDeleted: 0 });
    expect(describeErasure(r)).toBe(
      'erased: 1 of 2 identities blocked, 0 contact records deleted; phone 1 is national: read under DE (lists de-list); 1 not recognizable; give a phone in international form (+49 30 …) and an email as name@domain',
    );
  });
});

describe('#9: consent policy under the default config', () => {
  it('EEA/UK: a Mailchimp subscriber, a Klaviyo "Subscribed" profile, a Shopify "yes" customer are uploaded; a HubSpot contact without legal basis, a plain CSV without status, Constant Contact "implicit", Klaviyo "Never Subscribed" are not, and the report says why in words; an old config with explicit_opt_in still works, stricter', async () => {
    const files: Array<[list: string, file: string, body: string | Buffer, format: string]> = [
      [
        'mc',
        'audience.zip',
        mailchimpZip([mcSub('mc@example.com', '2024-01-01 10:00:00', '2024-01-01 10:05:00', 'de')], []),
        'mailchimp',
      ],
      [
        'kl',
        'profiles.csv',
        csv('Email,Klaviyo ID,First Name,Last Name,Country,Email Marketing Consent,Profile Created On', [
          'kls@example.com,01A,,,Germany,Subscribed,2024-05-15 12:00:00',
          'kln@example.com,01B,,,Germany,Never Subscribed,2024-05-15 12:00:00',
        ]),
        'klaviyo',
      ],
      [
        'shop',
        'customers_export.csv',
        csv(
          'Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags',
          ["'7210448301122,,,shop@example.com,yes,London,,GB,SW1A 1AA,,no,10.00,1,,no,"],
        ),
        'shopify',
      ],
      [
        'hs',
        'hubspot-crm-exports-all-contacts.csv',
        csv(
          'Record ID,First Name,Last Name,Email,Country/Region,Marketing contact status,Unsubscribed from all email,Create Date',
          ['101,,,hs@example.com,Germany,Marketing contact,false,2024-01-01'],
        ),
        'hubspot',
      ],
      ['plain', 'leads.csv', csv('email,country', ['plain@example.com,DE']), 'generic'],
      [
        'cc',
        'contact_export.csv',
        csv('Email address,First name,Last name,Email status,Email permission status,Country - Home', [
          'cc@example.com,,,Active,Implicit,Germany',
        ]),
        'constant_contact',
      ],
    ];
    remember(
      ...['mc', 'kls', 'kln', 'shop', 'hs', 'plain', 'cc'].map((n) => `${n}@example.com`),
      // The shop's customer id is not remembered: Meta takes EXTERN_ID in clear, by design (README).
      'SW1A',
    );
    for (const [list, file, body, format] of files) {
      const r = await ingest(`incoming/${list}/${file}`, body, '2026-11-01T00:00:00Z');
      expect(r.format, file).toBe(format);
      expect(r.accepted, file).toBe(r.rows);
    }
    const uploaded = new Set(['mc', 'kls', 'shop'].map((n) => sha(`${n}@example.com`)));
    let report = await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(uploaded);
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({
      no_opt_in_eea: 3,
      never_subscribed: 1,
    });
    // In words, on the report page a marketer opens, and in what `preview` prints (same words).
    const reports = await p.listKeys('reports/sync/');
    const html = await p.readText(
      reports
        .filter((k) => k.endsWith('.html'))
        .sort()
        .at(-1)!,
    );
    expect(html).toContain('no opt-in recorded (EEA): 3');
    expect(html).toContain('never subscribed: 1');
    expect(html).not.toMatch(/no_opt_in_eea/);

    // An old config that asks for an explicit (double) opt-in in the EEA and the UK: only Mailchimp's confirmed one passes.
    const strict = CONFIG.replace(
      'defaultCountry: US',
      'defaultCountry: US\nconsent: { EEA: explicit_opt_in, UK: explicit_opt_in }',
    );
    report = await sync(strict);
    expect(fake.members(audienceId('Everyone'))).toEqual(new Set([sha('mc@example.com')]));
    expect(report.segments.find((s) => s.id === 'everyone')!.excluded).toEqual({
      no_explicit_opt_in_eea: 4,
      no_explicit_opt_in_uk: 1,
      never_subscribed: 1,
    });
    expect(describeExclusion('no_explicit_opt_in_uk')).toBe('no confirmed (double) opt-in (UK)');
  });
});

describe('#13 attack: a status cell that names a member of every JavaScript object', () => {
  it("`constructor`, `__proto__` or `toString` as a status → the file is ingested; in beehiiv's vocabulary such a person is never subscribed and never uploaded, and in a plain CSV the word is an unknown status like any other", async () => {
    const words = ['constructor', '__proto__', 'toString'];
    const bee = ['ok@example.com', ...words.map((w) => `bee-${w.toLowerCase()}@example.com`)];
    const plain = words.map((w) => `plain-${w.toLowerCase()}@example.com`);
    remember(...bee, ...plain);
    const statuses = ['active', ...words];
    const beehiiv = await ingest(
      'incoming/news/export.csv',
      csv(
        'email,status,created_at,unsubscribed_at,last_opened_at,total_clicked',
        bee.map((e, i) => `${e},${statuses[i]},2026-01-02,,,0`),
      ),
      '2026-11-01T00:00:00Z',
    );
    expect(beehiiv).toMatchObject({ format: 'beehiiv', rows: 4, accepted: 4, rejected: 0 });
    expect(beehiiv.consent).toMatchObject({ subscribed: 1, never_subscribed: 3 });
    for (const e of bee.slice(1))
      expect((await p.rt.store.getContact('news', sha(e)))!.consent, e).toBe('never_subscribed');
    // A plain CSV's Status column is often a CRM's: an unknown word is ignored, as `blah` would be. (Dropped into a
    // list named `constructor`, which is a list like any other, without settings.)
    const generic = await ingest(
      'incoming/constructor/export.csv',
      csv('email,status', [...plain.map((e, i) => `${e},${words[i]}`), 'blah@example.com,blah']),
      '2026-11-01T00:00:00Z',
    );
    remember('blah@example.com');
    expect(generic).toMatchObject({ format: 'generic', rows: 4, accepted: 4, rejected: 0 });
    for (const e of [...plain, 'blah@example.com'])
      expect((await p.rt.store.getContact('constructor', sha(e)))!.consent, e).toBe('subscribed');
    await sync();
    expect(fake.members(audienceId('Everyone'))).toEqual(
      new Set([sha('ok@example.com'), ...plain.map(sha), sha('blah@example.com')]),
    );
    for (const e of bee.slice(1)) expect(everUploaded(sha(e)), e).toBe(false);
  });
});
