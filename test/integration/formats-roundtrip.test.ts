/**
 * One export per platform, dropped through the real ingest handler into s3rver + dynalite: the detected format,
 * the stored hashes and the consent state of each person. Fake people at example.com.
 */
import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentState } from '../../functions/core/model';
import { type Pipeline, startPipeline } from '../helpers/pipeline';
import { makeZip } from '../unit/reading/zip-writer';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Case {
  format: string;
  file: string;
  body: string | Buffer;
  /** email (as normalized) → consent; absent emails must not be stored. */
  consent: Record<string, ConsentState>;
  /** Meta keys every stored contact of this file must carry. */
  keys?: string[];
  explicitOptIn?: string[];
}

const CASES: Case[] = [
  {
    format: 'mailchimp',
    file: 'audience.zip',
    body: makeZip([
      {
        name: 'subscribed_members_export_ba473dc14f.csv',
        data: 'Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,REGION,LAST_CHANGED,TAGS\nmc1@example.com,Ann,Lee,4,2024-01-01 10:00:00,2024-01-01 10:05:00,uk,,2024-02-01 10:00:00,"""VIP"",""Editors"""\n',
      },
      {
        name: 'unsubscribed_members_export_ba473dc14f.csv',
        data: 'Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,REGION,UNSUB_TIME,TAGS\nmc2@example.com,,,2,,,us,ny,2024-03-01 10:00:00,\n',
      },
      {
        name: 'cleaned_members_export_ba473dc14f.csv',
        data: 'Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CONFIRM_TIME,CC,REGION,CLEAN_TIME,TAGS\nmc3@example.com,,,1,,,fr,,2024-03-01 10:00:00,\n',
      },
    ]),
    consent: { 'mc1@example.com': 'subscribed', 'mc2@example.com': 'unsubscribed', 'mc3@example.com': 'cleaned' },
    // OPTIN_TIME and CONFIRM_TIME differ: a confirmed double opt-in (Mailchimp's GDPR FAQ).
    explicitOptIn: ['mc1@example.com'],
  },
  {
    format: 'klaviyo',
    file: 'profiles.csv',
    body: 'Email,Klaviyo ID,First Name,Last Name,Phone Number,Country,Email Marketing Consent,Last Open\nk1@example.com,01A,Kim,Ng,+1 415 555 0100,United States,Subscribed,2026-11-01 10:00:00\nk2@example.com,01B,,,,,Unsubscribed,\nk3@example.com,01C,,,,,Never Subscribed,\n',
    consent: { 'k1@example.com': 'subscribed', 'k2@example.com': 'unsubscribed', 'k3@example.com': 'never_subscribed' },
  },
  {
    format: 'klaviyo',
    file: 'legacy-profiles.csv',
    body: "Email,Klaviyo ID,First Name,Last Name,Consent\nkl1@example.com,01A,Kim,Ng,\"['email','web']\"\nkl2@example.com,01B,,,\"['sms']\"\n",
    consent: { 'kl1@example.com': 'subscribed', 'kl2@example.com': 'never_subscribed' },
  },
  {
    format: 'hubspot',
    file: 'hubspot-crm-exports-all-contacts-2026-11-20.csv',
    body: 'Record ID,First Name,Last Name,Email,Phone Number,Marketing contact status,Unsubscribed from all email,Create Date\n101,Hal,Ho,h1@example.com,+44 20 7946 0958,Marketing contact,false,2024-01-01\n102,,,h2@example.com,,Marketing contact,true,2024-01-01\n',
    consent: { 'h1@example.com': 'subscribed', 'h2@example.com': 'unsubscribed' },
  },
  {
    format: 'brevo',
    file: 'brevo.csv',
    body: iconv.encode(
      'EMAIL;NACHNAME;VORNAME;SMS;EMAIL_BLACKLISTED;DOUBLE_OPT-IN\r\nb1@example.com;Müller;Jörg;+4915112345678;No;Yes\r\nb2@example.com;;;;Yes;No\r\n',
      'win1252',
    ),
    consent: { 'b1@example.com': 'subscribed', 'b2@example.com': 'unsubscribed' },
    explicitOptIn: ['b1@example.com'],
  },
  {
    format: 'activecampaign',
    file: 'contacts.csv',
    body: 'id,email,first name,last name,phone,status,tags\n1,ac1@example.com,A,B,,1,"vip, news"\n2,ac2@example.com,,,,2,\n3,ac3@example.com,,,,3,\n',
    consent: { 'ac1@example.com': 'subscribed', 'ac2@example.com': 'unsubscribed', 'ac3@example.com': 'cleaned' },
  },
  {
    format: 'kit',
    file: 'subscribers.csv',
    body: 'first_name,email_address,state,created_at,tags\nKay,kit1@example.com,active,2024-01-01,\nLou,kit2@example.com,cancelled,2024-01-01,\nMo,kit3@example.com,bounced,2024-01-01,\n',
    consent: { 'kit1@example.com': 'subscribed', 'kit2@example.com': 'unsubscribed', 'kit3@example.com': 'cleaned' },
  },
  {
    format: 'substack',
    file: 'email_list.csv',
    body: 'email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at\nss1@example.com,true,,yearly,false,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z\nss2@example.com,false,,other,true,2024-01-01T00:00:00.000Z,\ngone@deletion-request.substack.com,false,,other,false,2024-01-01T00:00:00.000Z,\n',
    consent: { 'ss1@example.com': 'subscribed', 'ss2@example.com': 'unsubscribed' },
  },
  {
    format: 'beehiiv',
    file: 'members.csv',
    body: 'email,First Name,Last Name,status,tier,created_at,Gold Tier,unsubscribed_at\nbh1@example.com, Bea ,,active,premium,2023-03-24 10:23:10 UTC,Yes,\nbh2@example.com,,,inactive,free,2023-03-24 10:23:10 UTC,No,2024-01-01 10:00:00 UTC\n',
    consent: { 'bh1@example.com': 'subscribed', 'bh2@example.com': 'unsubscribed' },
  },
  {
    format: 'mailerlite',
    file: 'subscribers.csv',
    body: 'Subscriber,Name,Last name,Subscribed,Groups\nml1@example.com,Mia,Lu,2024-01-01 10:00:00,News;VIP\n',
    consent: { 'ml1@example.com': 'subscribed' },
  },
  {
    format: 'campaign_monitor',
    file: 'cm.csv',
    body: 'Email Address,Name,Date,State,ConsentToTrack\ncm1@example.com,Cam Mo,2020-01-01,Active,Yes\ncm2@example.com,,2020-01-01,Unsubscribed,No\ncm3@example.com,,2020-01-01,Bounced,No\n',
    consent: { 'cm1@example.com': 'subscribed', 'cm2@example.com': 'unsubscribed', 'cm3@example.com': 'cleaned' },
  },
  {
    format: 'constant_contact',
    file: 'contact_export_1134551190518_021826_133957.csv',
    body: 'Email address,First name,Last name,Phone - home,Email status,Email permission status,Tags,Email Lists,Country - Home\ncc1@example.com,Cy,Co,,Active,Explicit,"a, b",Main,Canada\ncc2@example.com,,,,Unsubscribed,Implicit,,,\n',
    consent: { 'cc1@example.com': 'subscribed', 'cc2@example.com': 'unsubscribed' },
    explicitOptIn: ['cc1@example.com'],
  },
  {
    format: 'shopify',
    file: 'customers_export.csv',
    body: "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags\n'7210448301122,Sam,Shaw,sh1@example.com,yes,Boston,MA,US,'02108,'+1 617 555 0101,no,265.00,3,,no,\"vip, newsletter\"\n'7210448301123,,,sh2@example.com,no,,,,,,no,0.00,0,,no,\n",
    consent: { 'sh1@example.com': 'subscribed', 'sh2@example.com': 'never_subscribed' },
    keys: ['EMAIL', 'EXTERN_ID'],
  },
  {
    format: 'meta_template',
    file: 'customer-list.csv',
    body: 'email,email,email,phone,phone,phone,madid,fn,ln,zip,ct,st,country,dob,doby,gen,age,uid,value\r\nmt1@example.com,mt1b@example.com,,1-(650)-561-5622,,,,Elizabeth,Olsen,94046,Menlo Park,CA,US,10/21/68,1968,F,48,1234567890,20.1\r\n',
    consent: { 'mt1@example.com': 'subscribed' },
    keys: [
      'EMAIL',
      'PHONE',
      'FN',
      'LN',
      'FI',
      'GEN',
      'DOBY',
      'DOBM',
      'DOBD',
      'CT',
      'ST',
      'ZIP',
      'COUNTRY',
      'EXTERN_ID',
    ],
  },
  {
    format: 'generic',
    file: 'leads.csv',
    body: 'E-Mail-Adresse;Vorname;Nachname;Land;PLZ\ng1@example.com;Gö;Ra;Deutschland;10115\n',
    consent: { 'g1@example.com': 'subscribed' },
    keys: ['EMAIL', 'FN', 'LN', 'FI', 'COUNTRY', 'ZIP'],
  },
];

let p: Pipeline;
beforeAll(async () => {
  // Keys are computed for the platforms the config sends to: one Meta destination.
  p = await startPipeline('version: 1\ndestinations:\n  meta-main: { platform: meta }\n');
});
afterAll(async () => {
  await p.close();
});

describe('every format round-trips through the ingest handler', () => {
  it.each(CASES.map((c, i) => [c.format, c.file, i] as const))('%s (%s)', async (_format, _file, i) => {
    const c = CASES[i]!;
    const list = `l${i}`;
    const { outcomes, response } = await p.drop(`incoming/${list}/${c.file}`, c.body);
    expect(response.batchItemFailures).toEqual([]);
    const outcome = outcomes[0]!.outcome;
    expect(outcome.kind).toBe('ingested');
    const report = (outcome as { report: { format: string; rows: number; accepted: number; rejected: number } }).report;
    expect(report.format).toBe(c.format);
    expect(report.rows).toBe(report.accepted + report.rejected);

    const stored = new Map<string, { consent: string; keys: Record<string, string>; explicitOptIn?: boolean }>();
    for await (const r of p.rt.store.contacts(list))
      stored.set(r.keys.meta?.EMAIL ?? '', {
        consent: r.consent,
        keys: r.keys.meta ?? {},
        explicitOptIn: r.explicitOptIn,
      });
    expect(stored.size).toBe(Object.keys(c.consent).length);
    for (const [email, consent] of Object.entries(c.consent)) {
      const s = stored.get(sha(email));
      expect(s, email).toBeDefined();
      expect(s!.consent, email).toBe(consent);
      for (const k of c.keys ?? ['EMAIL']) expect(s!.keys[k], `${email} ${k}`).toBeTruthy();
      for (const [k, v] of Object.entries(s!.keys)) if (k !== 'EXTERN_ID') expect(v, k).toMatch(/^[0-9a-f]{64}$/);
      expect(s!.explicitOptIn === true, `${email} explicit opt-in`).toBe((c.explicitOptIn ?? []).includes(email));
    }
  });

  it('Meta template keys are normalized exactly per platforms.md before hashing', async () => {
    const idx = CASES.findIndex((c) => c.format === 'meta_template');
    const [r] = await (async () => {
      const out = [];
      for await (const x of p.rt.store.contacts(`l${idx}`)) out.push(x);
      return out;
    })();
    expect(r!.keys.meta).toMatchObject({
      EMAIL: sha('mt1@example.com'),
      PHONE: sha('16505615622'),
      FN: sha('elizabeth'),
      LN: sha('olsen'),
      FI: sha('e'),
      GEN: sha('f'),
      DOBY: sha('1968'),
      DOBM: sha('10'),
      DOBD: sha('21'),
      CT: sha('menlopark'),
      ST: sha('ca'),
      ZIP: sha('94046'),
      COUNTRY: sha('us'),
      EXTERN_ID: '1234567890',
    });
  });
});
