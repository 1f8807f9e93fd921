/**
 * The whole path through the real Lambda handlers: a file put into s3rver, its S3 event through the ingest handler,
 * contacts read back from dynalite, the sync handler against a local Graph API server, exact hashed payloads asserted.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { asSqsEvent } from '../../bin/local/embedded';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import { handler as ingestHandler } from '../../functions/ingest';
import { handleSync, handler as syncHandler } from '../../functions/sync';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { type Pipeline, startPipeline } from '../helpers/pipeline';
import { makeZip } from '../unit/reading/zip-writer';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'exports');
const SAMPLES = join(process.cwd(), 'samples');

let fake: FakeMeta;
let p: Pipeline;

const CONFIG = `
version: 1
lists:
  de-list: { defaultCountry: DE }
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
segments:
  - id: newsletter
    lists: [newsletter]
    where: { consent: subscribed }
    destinations: [{ destination: meta-main, audienceName: "Newsletter", minSize: 1 }]
`;

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  fake.reset();
  p = await startPipeline(CONFIG);
});
afterEach(async () => {
  await p.close();
});

async function drop(
  key: string,
  body: Buffer | string,
  exportedAt?: string,
): Promise<Array<{ key: string; outcome: ObjectOutcome }>> {
  const { outcomes, response } = await p.drop(key, body, exportedAt);
  expect(response.batchItemFailures).toEqual([]);
  return outcomes;
}

const sync = () =>
  handleSync({ trigger: 'test' }, p.rt, 10 * 60_000, {
    ...process.env,
    META_ACCESS_TOKEN: 'test-token',
    META_AD_ACCOUNT_ID: 'act_777',
    META_GRAPH_URL: fake.baseUrl,
  });
const listKeys = (prefix: string) => p.listKeys(prefix);
const readJson = (key: string) => p.readJson(key) as Promise<Record<string, never>>;

async function writeConfig() {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'as-cfg-')), 'audiences.yaml');
  writeFileSync(file, CONFIG);
  return file;
}

const membersPayload = (method: string) =>
  fake.requests
    .filter((r) => r.method === method && /\/users$/.test(r.path))
    .map((r) => {
      const p = (r.body as { payload: unknown }).payload;
      return (typeof p === 'string' ? JSON.parse(p) : p) as { schema: string[]; data: string[][] };
    });

describe('walking skeleton through the real handlers', () => {
  it('a CSV dropped in the bucket becomes hashed contacts and then exact Meta payloads', async () => {
    const csv =
      'E-Mail Address,First Name,Country\n  Ada@Example.COM ,Ada,CA\nbob@example.com,Bob,US\nnot-an-email,Carl,US\n,Dora,US\n';
    await p.s3.send(new PutObjectCommand({ Bucket: p.aws.bucket, Key: 'incoming/newsletter/contacts.csv', Body: csv }));
    // The Lambda entry itself, building its runtime from the environment like in the cloud.
    process.env.AUDIENCE_CONFIG_FILE = await writeConfig();
    const res = await ingestHandler(asSqsEvent(p.aws.drainEvents()));
    expect(res.batchItemFailures).toEqual([]);

    const stored = [];
    for await (const c of p.rt.store.contacts('newsletter')) stored.push(c);
    expect(stored.map((c) => c.keys.meta?.EMAIL).sort()).toEqual(
      [sha('ada@example.com'), sha('bob@example.com')].sort(),
    );
    expect(stored.every((c) => c.consent === 'subscribed')).toBe(true);
    // The raw file is gone; a report accounts for every row without values.
    expect(await listKeys('incoming/')).toEqual([]);
    const [reportKey] = await listKeys('reports/ingest/newsletter/');
    const report = await readJson(
      reportKey!.endsWith('.json')
        ? reportKey!
        : (await listKeys('reports/ingest/newsletter/')).find((k) => k.endsWith('.json'))!,
    );
    expect(report).toMatchObject({ rows: 4, accepted: 2, rejected: 2, format: 'generic' });
    expect(report.rows).toBe(Number(report.accepted) + Number(report.rejected));
    expect(JSON.stringify(report)).not.toMatch(/example\.com|not-an-email|Carl|Dora/);

    const out = await syncHandler({ trigger: 'schedule' }, {
      getRemainingTimeInMillis: () => 600_000,
    } as never).catch((e) => e);
    // The handler without Meta env has no credentials: it reports not-sent, it does not crash.
    expect(out).toMatchObject({ done: true });

    const result = await sync();
    expect(result).toMatchObject({ done: true, iteration: 1 });
    const [audience] = fake.audiences();
    expect(audience).toMatchObject({ name: 'Newsletter', customerFileSource: 'USER_PROVIDED_ONLY' });
    const [payload] = membersPayload('POST');
    expect(payload!.schema).toEqual(['EMAIL', 'FN', 'FI', 'COUNTRY']);
    const rows = payload!.data.map((r) => r.join('|')).sort();
    expect(rows).toEqual(
      [
        [sha('ada@example.com'), sha('ada'), sha('a'), sha('ca')].join('|'),
        [sha('bob@example.com'), sha('bob'), sha('b'), sha('us')].join('|'),
      ].sort(),
    );
    expect(fake.members(audience!.id).size).toBe(2);
    // CloudWatch metrics ride on the logs (Embedded Metric Format, built by Powertools): per destination and
    // segment, never per person.
    const emf = p.metrics.lines.map((l) => JSON.parse(l)).filter((l) => l._aws?.CloudWatchMetrics);
    expect(emf).toContainEqual(
      expect.objectContaining({ Destination: 'meta-main', Segment: 'newsletter', Added: 2, Removed: 0 }),
    );
    // The run got to the end (the "sync did not run" alarm watches this) and no API call failed.
    expect(emf).toContainEqual(expect.objectContaining({ Segments: 'all', SyncCompleted: 1 }));
    expect(emf.filter((l) => 'ApiErrors' in l)).toEqual([]);
    expect((await listKeys('reports/sync/')).some((k) => k.endsWith('.html'))).toBe(true);
  });

  it('a platform error is counted by destination, kind and Meta code, and the token never reaches a log line', async () => {
    await drop('incoming/newsletter/members.csv', 'email,country\nada@example.com,CA\n');
    fake.tokens.delete('test-token'); // Meta now answers every call with code 190 (token expired)
    await sync();
    const emf = p.metrics.lines.map((l) => JSON.parse(l));
    expect(emf).toContainEqual(
      expect.objectContaining({
        Destination: 'meta-main',
        Platform: 'meta',
        ErrorKind: 'auth',
        Code: '190',
        ApiErrors: expect.anything(),
      }),
    );
    const logs = p.logger.lines.join('\n');
    expect(logs).toContain('"event":"destination_alert"');
    expect(logs).not.toContain('test-token');
  });

  it('a Mailchimp zip with an unsubscribed member removes them from the Meta audience', async () => {
    const sub = (emails: string[]) =>
      `Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,LAST_CHANGED,TAGS\n${emails.map((e) => `${e},,,3,2024-01-01 10:00:00,2024-01-01 10:05:00,us,2024-02-01 10:00:00,"""Editors"""`).join('\n')}\n`;
    const unsub = (emails: string[]) =>
      `Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,UNSUB_TIME,TAGS\n${emails.map((e) => `${e},,,2,2024-01-01 10:00:00,,us,2024-03-01 10:00:00,`).join('\n')}\n`;
    const v1 = makeZip([
      {
        name: 'subscribed_members_export_ba473dc14f.csv',
        data: sub(['u1@example.com', 'u2@example.com', 'u3@example.com']),
      },
      { name: 'unsubscribed_members_export_ba473dc14f.csv', data: unsub([]) },
    ]);
    await drop('incoming/newsletter/export-v1.zip', v1, '2026-11-01T00:00:00Z');
    await sync();
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id)).toEqual(new Set(['u1', 'u2', 'u3'].map((u) => sha(`${u}@example.com`))));

    const v2 = makeZip([
      { name: 'subscribed_members_export_ba473dc14f.csv', data: sub(['u2@example.com', 'u3@example.com']) },
      { name: 'unsubscribed_members_export_ba473dc14f.csv', data: unsub(['u1@example.com']) },
    ]);
    const [ingested] = await drop('incoming/newsletter/export-v2.zip', v2, '2026-11-08T00:00:00Z');
    expect(ingested!.outcome).toMatchObject({
      kind: 'ingested',
      report: { consent: { subscribed: 2, unsubscribed: 1 } },
    });
    await sync();
    const [removal] = membersPayload('DELETE');
    expect(removal!.data.map((r) => r[0])).toEqual([sha('u1@example.com')]);
    expect(fake.members(id)).toEqual(new Set([sha('u2@example.com'), sha('u3@example.com')]));
  });
});

describe('snapshot semantics on dynalite', () => {
  const csv = (emails: string[]) => `email\n${emails.join('\n')}\n`;
  const listed = async () => {
    const out: string[] = [];
    for await (const c of p.rt.store.contacts('newsletter')) out.push(c.keys.meta?.EMAIL ?? '');
    return out.sort();
  };

  it('v2 without some members makes them leave; v1 arriving late is ignored; the same object twice is a no-op', async () => {
    await drop(
      'incoming/newsletter/v1.csv',
      csv(['a@example.com', 'b@example.com', 'c@example.com']),
      '2026-11-01T00:00:00Z',
    );
    await sync();
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(3);

    const [v2] = await drop(
      'incoming/newsletter/v2.csv',
      csv(['a@example.com', 'b@example.com']),
      '2026-11-02T00:00:00Z',
    );
    expect(v2!.outcome).toMatchObject({ report: { removed: 1, unchanged: 2, written: 0 } });
    expect(await listed()).toEqual([sha('a@example.com'), sha('b@example.com')].sort());
    await sync();
    expect(fake.members(id)).toEqual(new Set([sha('a@example.com'), sha('b@example.com')]));

    const [late] = await drop(
      'incoming/newsletter/v1-late.csv',
      csv(['a@example.com', 'b@example.com', 'c@example.com']),
      '2026-11-01T00:00:00Z',
    );
    expect(late!.outcome).toMatchObject({ kind: 'ingested', report: { status: 'stale' } });
    expect(await listed()).toEqual([sha('a@example.com'), sha('b@example.com')].sort());

    const [again] = await drop(
      'incoming/newsletter/v2.csv',
      csv(['a@example.com', 'b@example.com']),
      '2026-11-02T00:00:00Z',
    );
    expect(again!.outcome).toMatchObject({ report: { status: 'already_ingested' } });
    const seen = fake.requests.length;
    await sync();
    expect(fake.requests.slice(seen).filter((r) => /\/users$/.test(r.path))).toHaveLength(0);
  });

  it('two drops of one list at the same time are ingested one after the other; the newer export wins either way', async () => {
    const { PutObjectCommand: Put } = await import('@aws-sdk/client-s3');
    const { processObject } = await import('../../functions/app/ingest-object');
    for (const [key, emails, at] of [
      ['incoming/newsletter/old.csv', ['a@example.com', 'b@example.com'], '2026-11-01T00:00:00Z'],
      ['incoming/newsletter/new.csv', ['a@example.com', 'c@example.com'], '2026-11-02T00:00:00Z'],
    ] as const) {
      await p.s3.send(
        new Put({ Bucket: p.aws.bucket, Key: key, Body: csv([...emails]), Metadata: { 'exported-at': at } }),
      );
    }
    p.aws.drainEvents();
    const deps = {
      ...p.rt,
      now: () => new Date(),
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms / 40)),
    };
    const outcomes = await Promise.all([
      processObject(deps as never, 'incoming/newsletter/new.csv'),
      processObject(deps as never, 'incoming/newsletter/old.csv'),
    ]);
    expect(outcomes.every((o) => o.kind === 'ingested')).toBe(true);
    expect(await listed()).toEqual([sha('a@example.com'), sha('c@example.com')].sort());
  });

  it('a snapshot older than a delta never overwrites or removes what the delta wrote', async () => {
    await drop('incoming/newsletter/s1.csv', csv(['a@example.com']), '2026-11-01T00:00:00Z');
    await drop('incoming/newsletter/delta/d3.csv', 'email,country\nb@example.com,CA\n', '2026-11-03T00:00:00Z');
    const [s2] = await drop(
      'incoming/newsletter/s2.csv',
      'email,country\na@example.com,US\nb@example.com,US\n',
      '2026-11-02T00:00:00Z',
    );
    expect(s2!.outcome).toMatchObject({ report: { status: 'ingested', staleRows: 1 } });
    const b = [];
    for await (const c of p.rt.store.contacts('newsletter')) if (c.keys.meta?.EMAIL === sha('b@example.com')) b.push(c);
    expect(b[0]).toMatchObject({ attrs: { country: 'CA' }, seenAt: '2026-11-03T00:00:00.000Z' });
    const [s2b] = await drop('incoming/newsletter/s2b.csv', csv(['a@example.com']), '2026-11-02T12:00:00Z');
    expect(s2b!.outcome).toMatchObject({ report: { removed: 0 } });
    expect(await listed()).toHaveLength(2);
  });

  it('delta drops upsert without removing; suppress drops block people, who then leave audiences', async () => {
    await drop('incoming/newsletter/base.csv', csv(['a@example.com', 'b@example.com']), '2026-11-01T00:00:00Z');
    await drop('incoming/newsletter/delta/new.csv', csv(['c@example.com']), '2026-11-02T00:00:00Z');
    expect(await listed()).toHaveLength(3);
    await sync();
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(3);
    const [s] = await drop('incoming/newsletter/suppress/optouts.csv', csv(['B@Example.com']), '2026-11-03T00:00:00Z');
    expect(s!.outcome).toMatchObject({ report: { suppression: { identities: 1, matchedNow: 1 } } });
    await sync();
    expect(fake.members(id)).toEqual(new Set([sha('a@example.com'), sha('c@example.com')]));
  });
});

describe('erasure files dropped under erasure/', () => {
  it('suppress the person, delete them from every list, remove them at the next sync, and keep them out', async () => {
    const csv = (emails: string[]) => `email,phone\n${emails.join('\n')}\n`;
    await drop(
      'incoming/newsletter/v1.csv',
      csv(['a@example.com,', 'b@example.com,+1 (616) 954-7888']),
      '2026-11-01T00:00:00Z',
    );
    await sync();
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(2);

    // Erased by phone only: the contact is keyed by email, and still found.
    const [er] = await drop('erasure/request-42.csv', 'phone\n0016169547888\n');
    expect(er!.outcome).toMatchObject({ kind: 'erasure', erased: 1 });
    expect(await listKeys('erasure/')).toEqual([]);
    const audit = await readJson((er!.outcome as { reportKey: string }).reportKey);
    expect(JSON.stringify(audit)).not.toMatch(/6169547888|example\.com/);
    await sync();
    expect(fake.members(id)).toEqual(new Set([sha('a@example.com')]));

    // An old export that still contains the person does not bring them back.
    const [again] = await drop(
      'incoming/newsletter/v2.csv',
      csv(['a@example.com,', 'b@example.com,+1 (616) 954-7888']),
      '2026-11-05T00:00:00Z',
    );
    expect(again!.outcome).toMatchObject({ report: { rejections: { erased: 1 }, accepted: 1 } });
    await sync();
    expect(fake.members(id)).toEqual(new Set([sha('a@example.com')]));
  });
});

describe('files without a header row, and lists with a default country', () => {
  it('a header-less CSV keeps its first person and never uses a value as a column name', async () => {
    const [r] = await drop(
      'incoming/newsletter/no-header.csv',
      'jane@example.com,Jane\nbob@example.com,Bob\nbad@,Carol\n',
    );
    const report = (r!.outcome as { report: { rows: number; accepted: number; rejected: number } }).report;
    expect(report).toMatchObject({ rows: 3, accepted: 2, rejected: 1 });
    const csvKey = (await listKeys('reports/ingest/newsletter/')).find((k) => k.endsWith('.rejected.csv'))!;
    const rejected = await p.readText(csvKey);
    expect(rejected).toContain('column 1');
    expect(rejected).not.toMatch(/jane|example\.com|Carol/);
    const stored = [];
    for await (const c of p.rt.store.contacts('newsletter')) stored.push(c.keys.meta?.EMAIL);
    expect(stored).toContain(sha('jane@example.com'));
  });

  it("a list's default country sets the zone: an EEA list without opt-in is not uploaded", async () => {
    await drop('incoming/de-list/leser.csv', 'email\nleser@example.com\n');
    const { runSync } = await import('../../functions/core/sync');
    const { parseAudienceConfig: parseConfig } = await import('../../functions/adapters/config-file');
    const config = parseConfig({
      version: 1,
      lists: { 'de-list': { defaultCountry: 'DE' } },
      segments: [{ id: 's', lists: ['de-list'] }],
    });
    const r = await runSync({ ...p.rt, config, destinations: {} }, { dryRun: true });
    expect(r.segments[0]).toMatchObject({ matched: 1, eligible: 0, excluded: { no_opt_in_eea: 1 } });
  });
});

describe('erasure across lists', () => {
  it('erasing by phone deletes every record of the person, also those keyed by an email found through the phone', async () => {
    await drop('incoming/a-news/n.csv', 'email\nann@example.com\nzed@example.com\n', '2026-11-01T00:00:00Z');
    await drop('incoming/b-shop/s.csv', 'email,phone\nann@example.com,+1 616 954 7888\n', '2026-11-01T00:00:00Z');
    const [er] = await drop('erasure/req.csv', 'phone\n+16169547888\n');
    expect(er!.outcome).toMatchObject({ kind: 'erasure', erased: 2 });
    const left = [];
    for (const list of ['a-news', 'b-shop'])
      for await (const c of p.rt.store.contacts(list)) left.push(c.keys.meta?.EMAIL);
    expect(left).toEqual([sha('zed@example.com')]);
    const erased = [];
    for await (const b of p.rt.store.blocks()) if (b.kind === 'erasure') erased.push(b.hash);
    expect(erased).toContain(sha('ann@example.com'));
  });
});

describe('a snapshot with an unreadable part', () => {
  it('is refused whole: the tables that could be read change nothing, the missing one might hold opt-outs', async () => {
    const sub = 'Email Address,First Name,MEMBER_RATING\na@example.com,A,3\nb@example.com,B,3\n';
    await drop(
      'incoming/newsletter/v1.zip',
      makeZip([{ name: 'subscribed_members_export_1.csv', data: sub }]),
      '2026-11-01T00:00:00Z',
    );
    const before = [];
    for await (const c of p.rt.store.contacts('newsletter')) before.push(c);
    const [r] = await drop(
      'incoming/newsletter/v2.zip',
      makeZip([
        {
          name: 'subscribed_members_export_1.csv',
          data: 'Email Address,First Name,MEMBER_RATING\na@example.com,Ann,5\nc@example.com,C,3\n',
        },
        { name: 'unsubscribed_members_export_1.csv', data: 'foo,bar\n1,2\n' },
      ]),
      '2026-11-02T00:00:00Z',
    );
    expect(r!.outcome.kind).toBe('quarantined');
    expect((r!.outcome as { reason: string }).reason).toMatch(
      /1 of 2 tables could not be read, so nothing of the file was stored: unsubscribed_members_export_1\.csv/,
    );
    const after = [];
    for await (const c of p.rt.store.contacts('newsletter')) after.push(c);
    expect(after).toEqual(before);
    expect((await p.rt.store.getSnapshot('newsletter'))?.source).toMatch(/v1\.zip/);
    expect((await p.rt.store.listState('newsletter')).applying).toBeUndefined();
  });
});

describe('bad input: a clear rejection and nothing lost', () => {
  it('a binary file is quarantined with a report saying why, and nothing is stored', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    const [r] = await drop('incoming/newsletter/logo.csv', png);
    expect(r!.outcome.kind).toBe('quarantined');
    expect(await listKeys('quarantine/')).toEqual(['quarantine/newsletter/logo.csv']);
    expect(await listKeys('incoming/')).toEqual([]);
    const report = await readJson((r!.outcome as { reportKey: string }).reportKey);
    expect(report).toMatchObject({ status: 'quarantined', reason: 'not_text' });
  });

  it('a file whose columns cannot be recognized is quarantined, describing its columns by shape', async () => {
    const [r] = await drop('incoming/newsletter/weird.csv', 'foo,bar\n1,2\n3,4\n');
    expect(r!.outcome.kind).toBe('quarantined');
    const reason = (r!.outcome as { reason: string }).reason;
    expect(reason).toMatch(/Columns \(2\): column 0 \(numbers\), column 1 \(numbers\)/);
    expect(reason).not.toMatch(/foo|bar/);
    expect(reason).toMatch(/by header or by 0-based position/);
  });

  it('a key outside incoming/<list>/ is quarantined with the fix in the message', async () => {
    const [r] = await drop('incoming/Bad List!/x.csv', 'email\na@example.com\n');
    expect(r!.outcome).toMatchObject({ kind: 'quarantined' });
    expect((r!.outcome as { reason: string }).reason).toMatch(/lowercase letters/);
  });
});

describe('real sample exports round trip through the ingest handler', () => {
  it.each([
    ['mailchimp', join(FIXTURES, 'mailchimp-tryghost-migrate-unsubscribed.csv'), { unsubscribed: 5 }],
    ['mailchimp', join(FIXTURES, 'mailchimp-tryghost-migrate-cleaned.csv'), { cleaned: 5 }],
    ['mailchimp', join(FIXTURES, 'mailchimp-tryghost-migrate-subscribed.csv'), { subscribed: 5 }],
    ['substack', join(SAMPLES, 'substack', 'email_list.csv'), {}],
    ['beehiiv', join(SAMPLES, 'beehiiv', 'members.csv'), {}],
    ['shopify', join(SAMPLES, 'shop', 'customers_export.csv'), {}],
    ['klaviyo', join(SAMPLES, 'crm', 'klaviyo-profiles.csv'), {}],
    ['brevo', join(SAMPLES, 'eu-newsletter', 'brevo-contacts.csv'), {}],
  ])('%s %s', async (format, path, consent) => {
    const [r] = await drop(`incoming/newsletter/${path.split('/').pop()}`, readFileSync(path));
    const report = (
      r!.outcome as {
        report: { format: string; rows: number; accepted: number; rejected: number; consent: Record<string, number> };
      }
    ).report;
    expect(report.format).toBe(format);
    expect(report.rows).toBe(report.accepted + report.rejected);
    expect(report.consent).toMatchObject(consent);
    const stored = [];
    for await (const c of p.rt.store.contacts('newsletter')) stored.push(c);
    expect(stored).toHaveLength(report.accepted);
    for (const c of stored) expect(c.keys.meta?.EMAIL).toMatch(/^[0-9a-f]{64}$/);
  });
});
