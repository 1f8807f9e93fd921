import { describe, expect, it } from 'vitest';
import {
  createRowMapper,
  detectFormat,
  type FormatId,
  isRejection,
  mailchimpStatusFromEntryName,
  type RowContext,
  type RowResult,
  sniffDayFirst,
} from '../../../functions/core/formats';
import { mappingFor } from '../../../functions/core/formats/detect';
import { ageBand, countryCode, funnelStage, normalizeRating } from '../../../functions/core/formats/map-row';
import type { ConsentState, MappedRow } from '../../../functions/core/model';
import { NOW, readSample, table } from './helpers';

type Pairs = readonly (readonly [string, string])[];

/** Detect from the header alone, then map the one row. */
function mapOne(pairs: Pairs, context: Partial<RowContext> = {}, format?: FormatId): RowResult {
  const { header, cells } = table(pairs);
  const detection = format ? detectFormat(header, [cells], { format }) : detectFormat(header, []);
  return createRowMapper(detection, { now: NOW, ...context })(cells);
}

function mapped(result: RowResult): MappedRow {
  if (isRejection(result)) throw new Error(`rejected: ${result.reject} ${result.column ?? ''}`);
  return result;
}

interface Case {
  format: FormatId;
  pairs: Pairs;
  context?: Partial<RowContext>;
  sample?: boolean;
  expected: Partial<MappedRow>;
}

// One realistic row per format (fake people at example.com), detected from its header.
const CASES: Record<string, Case> = {
  'Mailchimp subscribed file': {
    format: 'mailchimp',
    context: { entryName: 'audience/subscribed_members_export_ba473dc14f.csv' },
    pairs: [
      ['Email Address', ' Ana.Lopez@example.com '],
      ['First Name', ' Ana '],
      ['Last Name', 'López'],
      ['Phone Number', "'+34 612 345 678"],
      ['Birthday', '05/21'],
      ['ZIP Code', "'02492"],
      ['MEMBER_RATING', '4'],
      ['OPTIN_TIME', '2019-05-07 11:10:15'],
      ['OPTIN_IP', ''],
      ['CONFIRM_TIME', '2019-05-07 11:12:00'],
      ['CONFIRM_IP', ''],
      ['LATITUDE', "'-0.5834730"],
      ['LONGITUDE', ''],
      ['GMTOFF', "'-9"],
      ['DSTOFF', ''],
      ['TIMEZONE', '212/332/646/917'],
      ['CC', 'uk'],
      ['REGION', 'eng'],
      ['LAST_CHANGED', '2020-01-01 00:00:00'],
      ['LEID', '44877845'],
      ['EUID', 'c2cb0681af'],
      ['NOTES', ''],
      ['TAGS', '"Weekly","VIP"'],
    ],
    expected: {
      consent: 'subscribed',
      // OPTIN_TIME and CONFIRM_TIME differ: a confirmed double opt-in (Mailchimp's GDPR FAQ).
      explicitOptIn: true,
      raw: {
        emails: ['Ana.Lopez@example.com'],
        phones: ['+34 612 345 678'],
        firstName: 'Ana',
        lastName: 'López',
        birthday: { month: 5, day: 21 },
        zip: '02492',
        state: 'eng',
        country: 'uk',
      },
      attrs: {
        tags: ['Weekly', 'VIP'],
        rating: 4,
        signupAt: '2019-05-07T11:10:15.000Z',
        country: 'GB',
        region: 'ENG',
        funnel: 'opened',
      },
    },
  },
  'Klaviyo, new consent column': {
    format: 'klaviyo',
    pairs: [
      ['Email', 'ben.okafor@example.com'],
      ['Klaviyo ID', '01H8XYZABC'],
      ['First Name', 'Ben'],
      ['Last Name', 'Okafor'],
      ['Phone Number', '+1 415 555 0100'],
      ['City', 'San Francisco'],
      ['State / Region', 'CA'],
      ['Country', 'United States'],
      ['Zip Code', '94110'],
      ['Source', 'Signup form'],
      ['Email Marketing Consent', 'SUBSCRIBED'],
      ['Profile Created On', '2023-01-02 10:00:00'],
      ['Date Added', '2023-01-03 10:00:00'],
      ['Last Open', '2024-05-01 08:00:00'],
      ['Last Click', ''],
      ['Historic Customer Lifetime Value', '120.50'],
      ['Historic Number Of Orders', '3'],
    ],
    expected: {
      consent: 'subscribed',
      raw: {
        emails: ['ben.okafor@example.com'],
        phones: ['+1 415 555 0100'],
        firstName: 'Ben',
        lastName: 'Okafor',
        city: 'San Francisco',
        state: 'CA',
        zip: '94110',
        country: 'United States',
      },
      attrs: {
        signupAt: '2023-01-03T10:00:00.000Z',
        lastOpenAt: '2024-05-01T08:00:00.000Z',
        spend: 120.5,
        orders: 3,
        region: 'CA',
        funnel: 'customer',
      },
    },
  },
  'HubSpot contacts with company properties (Excel re-saved)': {
    format: 'hubspot',
    pairs: [
      ['Record ID - Contact', '51'],
      ['First Name', 'Carla'],
      ['Last Name', 'Diaz'],
      ['Client Grade', 'A'],
      ['Email', 'carla.diaz@example.com'],
      ['Phone Number', '+1 617 555 0101'],
      ['Contact owner', 'Sales Person'],
      ['Last Activity Date', '2/15/24 1:51'],
      ['Create Date', '2/15/24 1:51'],
      ['Company Name', 'Example Corp'],
      ['Contact type', 'Client'],
      ['Country/Region', 'Germany'],
      ['Job Title', 'Buyer'],
      ['Mobile Phone Number', '+49 151 2345678'],
      ['State/Region', 'Berlin'],
      ['Street Address', '1 Example Str.'],
      ['Website URL', ''],
      ['Last Engagement Date', ''],
      ['Postal Code', '10115'],
      ['Record ID - Company', '900'],
      ['Company name', 'Example Corp'],
      ['Create Date', '1/1/20 0:00'],
      ['Phone Number', '+1 617 555 0199'],
      ['Last Activity Date', ''],
      ['City', 'Boston'],
      ['Country/Region', 'United States'],
      ['Industry', 'Retail'],
    ],
    expected: {
      consent: 'subscribed',
      raw: {
        emails: ['carla.diaz@example.com'],
        phones: ['+1 617 555 0101', '+49 151 2345678'],
        firstName: 'Carla',
        lastName: 'Diaz',
        state: 'Berlin',
        zip: '10115',
        country: 'Germany',
      },
      attrs: { signupAt: '2024-02-15T01:51:00.000Z', funnel: 'subscribed' },
    },
  },
  'Brevo, ; export with double opt-in': {
    format: 'brevo',
    pairs: [
      ['EMAIL', 'chloe.martin@example.com'],
      ['LASTNAME', 'Martin'],
      ['FIRSTNAME', 'Chloé'],
      ['SMS', '33612345678'],
      ['EMAIL_BLACKLISTED', 'no'],
      ['SMS_BLACKLISTED', 'yes'],
      ['ADDED_TIME', '12-04-2022 09:30'],
      ['MODIFIED_TIME', '13-04-2022 10:00'],
      ['DOUBLE_OPT-IN', 'Yes'],
    ],
    expected: {
      consent: 'subscribed',
      explicitOptIn: true,
      raw: { emails: ['chloe.martin@example.com'], phones: ['33612345678'], firstName: 'Chloé', lastName: 'Martin' },
      attrs: { signupAt: '2022-04-12T09:30:00.000Z', funnel: 'subscribed' },
    },
  },
  'ActiveCampaign, numeric status': {
    format: 'activecampaign',
    sample: true,
    pairs: [
      ['id', '17'],
      ['email', 'dan.ng@example.com'],
      ['first name', 'Dan'],
      ['last name', 'Ng'],
      ['phone', '+44 20 7946 0000'],
      ['status', '3'],
      ['tags', 'vip, webinar'],
    ],
    expected: {
      consent: 'cleaned',
      raw: { emails: ['dan.ng@example.com'], phones: ['+44 20 7946 0000'], firstName: 'Dan', lastName: 'Ng' },
      attrs: { tags: ['vip', 'webinar'], funnel: 'subscribed' },
    },
  },
  'Kit subscribers': {
    format: 'kit',
    sample: true,
    pairs: [
      ['first_name', 'Eve'],
      ['email_address', 'eve@example.com'],
      ['state', 'complained'],
      ['created_at', '2024-02-03T04:05:06Z'],
      ['tags', 'Course, Launch 2024'],
    ],
    expected: {
      consent: 'unsubscribed',
      raw: { emails: ['eve@example.com'], phones: [], firstName: 'Eve' },
      attrs: { tags: ['Course', 'Launch 2024'], signupAt: '2024-02-03T04:05:06.000Z', funnel: 'subscribed' },
    },
  },
  'Substack email list (current)': {
    format: 'substack',
    pairs: [
      ['email', 'fay@example.com'],
      ['active_subscription', 'true'],
      ['expiry', '2026-01-01T00:00:00.000Z'],
      ['plan', 'yearly'],
      ['email_disabled', 'false'],
      ['created_at', '2023-01-01T10:00:00.000Z'],
      ['first_payment_at', '2023-01-01T10:00:00.000Z'],
    ],
    expected: {
      consent: 'subscribed',
      raw: { emails: ['fay@example.com'], phones: [] },
      attrs: { plan: 'yearly', paid: true, signupAt: '2023-01-01T10:00:00.000Z', funnel: 'customer' },
    },
  },
  'Substack dashboard export': {
    format: 'substack',
    pairs: [
      ['Email', 'gus@example.com'],
      ['Name', 'Gus Grant'],
      ['Subscription type', 'Free'],
      ['Activity', '4'],
      ['Subscription date', '2022-03-04T00:00:00.000Z'],
      ['Revenue', '$0.00'],
      ['Subscriber country', 'US'],
      ['Email opens (last 6 months)', '12'],
      ['Email last opened at', '2025-05-01T00:00:00.000Z'],
      ['Link clicks', '3'],
      ['Last clicked at', '2025-05-02T00:00:00.000Z'],
      ['Receiving emails for', 'Main'],
    ],
    expected: {
      consent: 'subscribed',
      raw: { emails: ['gus@example.com'], phones: [], fullName: 'Gus Grant', country: 'US' },
      attrs: {
        plan: 'Free',
        paid: false,
        rating: 4,
        spend: 0,
        opens: 12,
        clicks: 3,
        lastOpenAt: '2025-05-01T00:00:00.000Z',
        lastClickAt: '2025-05-02T00:00:00.000Z',
        signupAt: '2022-03-04T00:00:00.000Z',
        country: 'US',
        funnel: 'clicked',
      },
    },
  },
  'beehiiv, unsubscribed_at set on an active row': {
    format: 'beehiiv',
    pairs: [
      ['email', 'hal@example.com'],
      ['First Name', '  Hal  '],
      ['Last Name', ' Jones '],
      ['status', 'active'],
      ['tier', 'premium'],
      ['created_at', '2023-04-11 14:02:46 UTC'],
      ['stripe_customer_id', 'cus_1234'],
      ['Free Tier', 'No'],
      ['Bronze Tier', 'Yes'],
      ['Silver Tier', 'No'],
      ['Gold Tier', 'No'],
      ['unsubscribed_at', '2024-03-13 11:33:53 UTC'],
      ['Subscription Date (Substack)', ''],
    ],
    expected: {
      consent: 'unsubscribed',
      raw: { emails: ['hal@example.com'], phones: [], firstName: 'Hal', lastName: 'Jones' },
      attrs: {
        tags: ['tier:Bronze'],
        tier: 'premium',
        paid: true,
        signupAt: '2023-04-11T14:02:46.000Z',
        funnel: 'customer',
      },
    },
  },
  MailerLite: {
    format: 'mailerlite',
    pairs: [
      ['Subscriber', 'hana.sato@example.com'],
      ['Name', 'Hana'],
      ['Last name', 'Sato'],
      ['Subscribed', '2021-06-07 08:09:10'],
      ['Groups', 'Newsletter; Customers'],
      ['Country', 'Japan'],
    ],
    expected: {
      consent: 'subscribed',
      raw: { emails: ['hana.sato@example.com'], phones: [], firstName: 'Hana', lastName: 'Sato', country: 'Japan' },
      attrs: { tags: ['Newsletter', 'Customers'], signupAt: '2021-06-07T08:09:10.000Z', funnel: 'subscribed' },
    },
  },
  'Campaign Monitor': {
    format: 'campaign_monitor',
    sample: true,
    pairs: [
      ['Email Address', 'ivan@example.com'],
      ['Name', 'Ivan Petrov'],
      ['Date', '2020-02-03 04:05:06'],
      ['State', 'Unconfirmed'],
      ['ConsentToTrack', 'Yes'],
      ['City', 'Sofia'],
    ],
    expected: {
      consent: 'pending',
      raw: { emails: ['ivan@example.com'], phones: [], fullName: 'Ivan Petrov', city: 'Sofia' },
      attrs: { signupAt: '2020-02-03T04:05:06.000Z', funnel: 'subscribed' },
    },
  },
  'Constant Contact': {
    format: 'constant_contact',
    pairs: [
      ['Email address', 'jo.park@example.com'],
      ['First name', 'Jo'],
      ['Last name', 'Park'],
      ['Phone - home', '+1 212 555 0102'],
      ['Company', 'Example Inc'],
      ['Job title', 'CEO'],
      ['Email status', 'Active'],
      ['Email permission status', 'Explicit'],
      ['Tags', 'donor, 2024'],
      ['Email Lists', 'General Interest, Events'],
      ['Country - Home', 'us'],
      ['Birthday', '04/23'],
      ['Anniversary', ''],
      ['Created At', '2020-09-25 16:45:13 -0400'],
      ['Updated At', ''],
    ],
    expected: {
      consent: 'subscribed',
      explicitOptIn: true,
      raw: {
        emails: ['jo.park@example.com'],
        phones: ['+1 212 555 0102'],
        firstName: 'Jo',
        lastName: 'Park',
        birthday: { month: 4, day: 23 },
        country: 'us',
      },
      attrs: {
        tags: ['donor', '2024', 'list:General Interest', 'list:Events'],
        signupAt: '2020-09-25T20:45:13.000Z',
        country: 'US',
        funnel: 'subscribed',
      },
    },
  },
  'Shopify Gen 3 with apostrophe guards': {
    format: 'shopify',
    pairs: [
      ['Customer ID', "'7210448301122"],
      ['First Name', 'Kim'],
      ['Last Name', 'Lee'],
      ['Email', "'kim.lee@example.com"],
      ['Accepts Email Marketing', 'yes'],
      ['Default Address Company', ''],
      ['Default Address Address1', 'Av. Ejemplo 1'],
      ['Default Address Address2', ''],
      ['Default Address City', 'Santiago'],
      ['Default Address Province Code', 'RM'],
      ['Default Address Country Code', 'CL'],
      ['Default Address Zip', "'8320000"],
      ['Default Address Phone', "'+56 9 1234 5678"],
      ['Phone', "'+56 9 8765 4321"],
      ['Accepts SMS Marketing', 'no'],
      ['Total Spent', '265000.00'],
      ['Total Orders', '4'],
      ['Note', ''],
      ['Tax Exempt', 'no'],
      ['Tags', 'Level 1, newsletter'],
      ['Fecha de nacimiento (customer.metafields.facts.birth_date)', '1990-05-02'],
    ],
    expected: {
      consent: 'subscribed',
      raw: {
        emails: ['kim.lee@example.com'],
        phones: ['+56 9 1234 5678', '+56 9 8765 4321'],
        firstName: 'Kim',
        lastName: 'Lee',
        birthday: { year: 1990, month: 5, day: 2 },
        city: 'Santiago',
        state: 'RM',
        zip: '8320000',
        country: 'CL',
        externalId: '7210448301122',
      },
      attrs: {
        tags: ['Level 1', 'newsletter'],
        spend: 265000,
        orders: 4,
        country: 'CL',
        region: 'RM',
        ageBand: '35-44',
        funnel: 'customer',
      },
    },
  },
  'Meta customer-list template (Meta’s own sample row, fake addresses)': {
    format: 'meta_template',
    pairs: [
      ['email', 'liz@example.com'],
      ['email', 'olsen@example.com'],
      ['email', ''],
      ['phone', '1-(650)-561-5622'],
      ['phone', '1-(650)-782-5622'],
      ['phone', ''],
      ['madid', 'aece52e7-03ee-455a-b3c4-e57283966239'],
      ['fn', 'Elizabeth'],
      ['ln', 'Olsen'],
      ['zip', '94046'],
      ['ct', 'Menlo Park'],
      ['st', 'CA'],
      ['country', 'US'],
      ['dob', '10/21/68'],
      ['doby', '1968'],
      ['gen', 'F'],
      ['age', '48'],
      ['uid', '1234567890'],
      ['value', '20.1'],
    ],
    expected: {
      consent: 'subscribed',
      raw: {
        emails: ['liz@example.com', 'olsen@example.com'],
        phones: ['1-(650)-561-5622', '1-(650)-782-5622'],
        firstName: 'Elizabeth',
        lastName: 'Olsen',
        gender: 'F',
        birthday: { year: 1968, month: 10, day: 21 },
        city: 'Menlo Park',
        state: 'CA',
        zip: '94046',
        country: 'US',
        externalId: '1234567890',
        madids: ['aece52e7-03ee-455a-b3c4-e57283966239'],
      },
      attrs: { spend: 20.1, country: 'US', region: 'CA', ageBand: '55-64', funnel: 'customer' },
    },
  },
  'Generic German export': {
    format: 'generic',
    pairs: [
      ['E-Mail-Adresse', 'lena.schmidt@example.com'],
      ['Vorname', 'Lena'],
      ['Nachname', 'Schmidt'],
      ['Telefon', '+49 30 1234567'],
      ['Land', 'Deutschland'],
      ['PLZ', '10115'],
      ['Stadt', 'Berlin'],
      ['Geburtstag', '21.10.1990'],
      ['Status', 'abgemeldet'],
    ],
    expected: {
      consent: 'unsubscribed',
      raw: {
        emails: ['lena.schmidt@example.com'],
        phones: ['+49 30 1234567'],
        firstName: 'Lena',
        lastName: 'Schmidt',
        birthday: { year: 1990, month: 10, day: 21 },
        city: 'Berlin',
        zip: '10115',
        country: 'Deutschland',
      },
      attrs: { ageBand: '25-34', funnel: 'subscribed' },
    },
  },
};

describe('createRowMapper: one realistic row per format', () => {
  it.each(Object.entries(CASES))('%s', (_name, c) => {
    const { header, cells } = table(c.pairs);
    const detection = detectFormat(header, c.sample ? [cells] : []);
    expect(detection.format).toBe(c.format);
    const row = mapped(createRowMapper(detection, { now: NOW, ...c.context })(cells));
    expect(row.consent).toBe(c.expected.consent);
    expect(row.explicitOptIn).toBe(c.expected.explicitOptIn);
    expect(row.raw).toEqual(c.expected.raw);
    expect(row.attrs).toEqual(c.expected.attrs);
    expect(row.skip).toBeUndefined();
  });
});

describe('createRowMapper on the export fixtures', () => {
  const consents = (file: string, entryName?: string) => {
    const { header, rows } = readSample(file);
    const map = createRowMapper(detectFormat(header, rows), { now: NOW, entryName: entryName ?? file });
    return rows.map((r) => {
      const out = map(r);
      return isRejection(out) ? out.reject : out.consent;
    });
  };

  it('Mailchimp: status from the entry name', () => {
    expect(consents('mailchimp-tryghost-migrate-subscribed.csv', 'subscribed_members_export_ba473dc14f.csv')).toEqual(
      Array(5).fill('subscribed'),
    );
    expect(
      consents('mailchimp-tryghost-migrate-unsubscribed.csv', 'unsubscribed_members_export_ba473dc14f.csv'),
    ).toEqual(Array(5).fill('unsubscribed'));
    expect(consents('mailchimp-tryghost-migrate-cleaned.csv', 'cleaned_members_export_ba473dc14f.csv')).toEqual(
      Array(5).fill('cleaned'),
    );
  });

  it('Mailchimp: a lone CSV falls back to UNSUB_TIME / CLEAN_TIME', () => {
    expect(consents('mailchimp-tryghost-migrate-subscribed.csv', 'export.csv')).toEqual(Array(5).fill('subscribed'));
    expect(consents('mailchimp-tryghost-migrate-unsubscribed.csv', 'export.csv')).toEqual(
      Array(5).fill('unsubscribed'),
    );
    expect(consents('mailchimp-tryghost-migrate-cleaned.csv', 'export.csv')).toEqual(Array(5).fill('cleaned'));
  });

  it('Mailchimp TAGS: quoted and unquoted', () => {
    const { header, rows } = readSample('mailchimp-tryghost-migrate-cleaned.csv');
    const map = createRowMapper(detectFormat(header, rows), { now: NOW });
    expect(rows.map((r) => mapped(map(r)).attrs.tags)).toEqual([
      ['Editors'],
      ['Editors'],
      undefined,
      ['Editors'],
      ['Editors'],
    ]);
  });

  it('Substack signup list: email_disabled is inverted', () => {
    const out = consents('substack-tryghost-migrate-signup_emails.csv');
    expect(out[2]).toBe('unsubscribed'); // maguirec086…: email_disabled true
    expect(out[13]).toBe('unsubscribed'); // nottimferris…
    expect(out.filter((c) => c === 'unsubscribed')).toHaveLength(2);
  });

  it('beehiiv sample: statuses, tiers and names with stray spaces', () => {
    const { header, rows } = readSample('beehiiv-tryghost-migrate-members.csv');
    const map = createRowMapper(detectFormat(header, rows), { now: NOW });
    const out = rows.map((r) => mapped(map(r)));
    expect(out.map((r) => r.consent)).toEqual([
      'subscribed',
      'subscribed',
      'unsubscribed',
      'unsubscribed',
      'pending',
      'subscribed',
      'subscribed',
      'unsubscribed',
      'subscribed',
    ]);
    expect(out[0]?.raw.firstName).toBe('Lorem Name');
    expect(out[6]?.attrs.tags).toEqual(['tier:Gold']);
    expect(out[3]?.attrs.tags).toBeUndefined();
  });
});

describe('Mailchimp status from the entry file name', () => {
  it.each([
    ['subscribed_members_export_ba473dc14f.csv', 'subscribed'],
    ['unsubscribed_members_export_ba473dc14f.csv', 'unsubscribed'],
    ['cleaned_members_export_ba473dc14f.csv', 'cleaned'],
    ['nonsubscribed_members_export_ba473dc14f.csv', 'never_subscribed'],
    ['non_subscribed_members_export_ba473dc14f.csv', 'never_subscribed'],
    ['transactional_members_export_ba473dc14f.csv', 'never_subscribed'],
    ['members_export_ba473dc14f/Unsubscribed_Members_Export_x.CSV', 'unsubscribed'],
    ['folder\\cleaned_members_export_1.csv', 'cleaned'],
    ['subscribers.csv', undefined],
    ['export.csv', undefined],
    [undefined, undefined],
  ])('%s → %s', (name, expected) => {
    expect(mailchimpStatusFromEntryName(name)).toBe(expected);
  });
});

// [format, header, cells, expected consent, expected explicitOptIn]
const CONSENT: [FormatId, string[], string[], ConsentState, boolean?][] = [
  // Klaviyo
  ['klaviyo', ['Email', 'Email Marketing Consent'], ['a@example.com', 'Subscribed'], 'subscribed'],
  ['klaviyo', ['Email', 'Email Marketing Consent'], ['a@example.com', 'NEVER_SUBSCRIBED'], 'never_subscribed'],
  ['klaviyo', ['Email', 'Email Marketing Consent'], ['a@example.com', 'Never Subscribed'], 'never_subscribed'],
  ['klaviyo', ['Email', 'Email Marketing Consent'], ['a@example.com', 'unsubscribed'], 'unsubscribed'],
  ['klaviyo', ['Email', 'Email Marketing Consent'], ['a@example.com', 'Suppressed'], 'unsubscribed'],
  ['klaviyo', ['Email', 'Consent'], ['a@example.com', "['email','web']"], 'subscribed'],
  ['klaviyo', ['Email', 'Consent'], ['a@example.com', "['sms']"], 'never_subscribed'],
  ['klaviyo', ['Email', 'Consent'], ['a@example.com', ''], 'never_subscribed'],
  ['klaviyo', ['Email'], ['a@example.com'], 'subscribed'],
  // HubSpot
  ['hubspot', ['Email', 'Unsubscribed from all email'], ['a@example.com', 'true'], 'unsubscribed'],
  ['hubspot', ['Email', 'Unsubscribed from all email'], ['a@example.com', 'false'], 'subscribed'],
  ['hubspot', ['Email', 'Email Address Quarantined'], ['a@example.com', 'true'], 'cleaned'],
  ['hubspot', ['Email', 'Email hard bounce reason'], ['a@example.com', 'Mailbox does not exist'], 'cleaned'],
  ['hubspot', ['Email', 'Invalid email address'], ['a@example.com', 'true'], 'cleaned'],
  ['hubspot', ['Email', 'Marketing contact status'], ['a@example.com', 'Non-marketing contact'], 'never_subscribed'],
  ['hubspot', ['Email', 'Marketing contact status'], ['a@example.com', 'Marketing contact'], 'subscribed'],
  [
    'hubspot',
    ['Email', 'Opted out of email: Newsletter', 'Opted out of email: Customer Service Communication'],
    ['a@example.com', 'true', 'true'],
    'unsubscribed',
  ],
  // Brevo
  ['brevo', ['EMAIL', 'EMAIL_BLACKLISTED'], ['a@example.com', 'yes'], 'unsubscribed'],
  ['brevo', ['EMAIL', 'EMAIL_BLACKLISTED'], ['a@example.com', '1'], 'unsubscribed'],
  ['brevo', ['EMAIL', 'EMAIL_BLACKLISTED'], ['a@example.com', 'true'], 'unsubscribed'],
  ['brevo', ['EMAIL', 'EMAIL_BLACKLISTED'], ['a@example.com', 'no'], 'subscribed'],
  ['brevo', ['EMAIL', 'DOUBLE_OPT-IN'], ['a@example.com', '1'], 'subscribed', true],
  ['brevo', ['EMAIL', 'DOUBLE_OPT-IN'], ['a@example.com', 'No'], 'subscribed', false],
  // ActiveCampaign
  ['activecampaign', ['Email', 'Status'], ['a@example.com', 'active'], 'subscribed'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', '1'], 'subscribed'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', 'unsubscribed'], 'unsubscribed'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', '2'], 'unsubscribed'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', 'bounced'], 'cleaned'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', '3'], 'cleaned'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', 'unconfirmed'], 'pending'],
  ['activecampaign', ['Email', 'Status'], ['a@example.com', '0'], 'pending'],
  // Kit
  ['kit', ['email_address', 'state'], ['a@example.com', 'active'], 'subscribed'],
  ['kit', ['email_address', 'state'], ['a@example.com', 'inactive'], 'unsubscribed'],
  ['kit', ['email_address', 'state'], ['a@example.com', 'bounced'], 'cleaned'],
  ['kit', ['email_address', 'state'], ['a@example.com', 'complained'], 'unsubscribed'],
  ['kit', ['email_address', 'state'], ['a@example.com', 'cancelled'], 'unsubscribed'],
  // Substack
  ['substack', ['email', 'email_disabled'], ['a@example.com', 'true'], 'unsubscribed'],
  ['substack', ['email', 'email_disabled'], ['a@example.com', 'false'], 'subscribed'],
  ['substack', ['email', 'email_disabled'], ['a@example.com', ''], 'subscribed'],
  // beehiiv
  ['beehiiv', ['email', 'status'], ['a@example.com', 'active'], 'subscribed'],
  ['beehiiv', ['email', 'status'], ['a@example.com', 'inactive'], 'unsubscribed'],
  ['beehiiv', ['email', 'status'], ['a@example.com', 'pending'], 'pending'],
  ['beehiiv', ['email', 'status'], ['a@example.com', 'validating'], 'pending'],
  ['beehiiv', ['email', 'status'], ['a@example.com', 'needs_attention'], 'pending'],
  ['beehiiv', ['email', 'status'], ['a@example.com', 'invalid'], 'cleaned'],
  [
    'beehiiv',
    ['email', 'status', 'unsubscribed_at'],
    ['a@example.com', 'active', '2024-03-13 11:33:53 UTC'],
    'unsubscribed',
  ],
  // MailerLite
  ['mailerlite', ['Subscriber', 'Status'], ['a@example.com', 'Active'], 'subscribed'],
  ['mailerlite', ['Subscriber', 'Status'], ['a@example.com', 'Unsubscribed'], 'unsubscribed'],
  ['mailerlite', ['Subscriber', 'Status'], ['a@example.com', 'Unconfirmed'], 'pending'],
  ['mailerlite', ['Subscriber', 'Status'], ['a@example.com', 'Bounced'], 'cleaned'],
  ['mailerlite', ['Subscriber', 'Status'], ['a@example.com', 'Junk'], 'cleaned'],
  ['mailerlite', ['Subscriber'], ['a@example.com'], 'subscribed'],
  // Campaign Monitor
  ['campaign_monitor', ['Email Address', 'State'], ['a@example.com', 'Active'], 'subscribed'],
  ['campaign_monitor', ['Email Address', 'State'], ['a@example.com', 'Unconfirmed'], 'pending'],
  ['campaign_monitor', ['Email Address', 'State'], ['a@example.com', 'Unsubscribed'], 'unsubscribed'],
  ['campaign_monitor', ['Email Address', 'State'], ['a@example.com', 'Bounced'], 'cleaned'],
  ['campaign_monitor', ['Email Address', 'State'], ['a@example.com', 'Deleted'], 'unsubscribed'],
  // Constant Contact
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Active', 'Implicit'],
    'subscribed',
    false,
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Active', 'implied'],
    'subscribed',
    false,
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Active', 'Express'],
    'subscribed',
    true,
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Unsubscribed', 'Explicit'],
    'unsubscribed',
    true,
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Removed', 'Implicit'],
    'never_subscribed',
    false,
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Bounced', ''],
    'cleaned',
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Active', 'pending_confirmation'],
    'pending',
  ],
  [
    'constant_contact',
    ['Email address', 'Email status', 'Email permission status'],
    ['a@example.com', 'Active', 'not_set'],
    'never_subscribed',
  ],
  // Shopify
  ['shopify', ['Email', 'Accepts Email Marketing'], ['a@example.com', 'yes'], 'subscribed'],
  ['shopify', ['Email', 'Accepts Email Marketing'], ['a@example.com', 'no'], 'never_subscribed'],
  ['shopify', ['Email', 'Accepts Marketing'], ['a@example.com', 'yes'], 'subscribed'],
  ['shopify', ['Email', 'Accepts Marketing'], ['a@example.com', 'no'], 'never_subscribed'],
  // Meta template and generic: subscribed unless a column says otherwise
  ['meta_template', ['email', 'fn'], ['a@example.com', 'A'], 'subscribed'],
  ['meta_template', ['email', 'status'], ['a@example.com', 'unsubscribed'], 'unsubscribed'],
  ['generic', ['Email'], ['a@example.com'], 'subscribed'],
  ['generic', ['Email', 'Status'], ['a@example.com', 'Unsubscribed'], 'unsubscribed'],
  ['generic', ['Email', 'Status'], ['a@example.com', 'bounced'], 'cleaned'],
  ['generic', ['Email', 'Status'], ['a@example.com', 'Pending'], 'pending'],
  ['generic', ['Email', 'Status'], ['a@example.com', 'Lead'], 'subscribed'], // unknown word: a CRM status, ignored
  ['generic', ['Email', 'Unsubscribed'], ['a@example.com', 'yes'], 'unsubscribed'],
  ['generic', ['Email', 'Unsubscribed'], ['a@example.com', 'no'], 'subscribed'],
  ['generic', ['Email', 'Unsubscribed'], ['a@example.com', '2024-01-01'], 'unsubscribed'],
  ['generic', ['Email', 'Unsubscribed At'], ['a@example.com', '2024-01-01'], 'unsubscribed'],
  ['generic', ['Email', 'Newsletter'], ['a@example.com', 'nein'], 'never_subscribed'],
  ['generic', ['Email', 'Double Opt-In'], ['a@example.com', 'oui'], 'subscribed', true],
];

describe('consent encodings', () => {
  it.each(CONSENT)('%s %j %j → %s', (format, header, cells, consent, explicitOptIn) => {
    const row = mapped(createRowMapper(mappingFor(format, header), { now: NOW })(cells));
    expect(row.consent).toBe(consent);
    expect(row.explicitOptIn).toBe(explicitOptIn);
  });

  // A status word is evidence of an opt-in only when it states a subscription: a CRM's `Active` is not one.
  it.each([
    ['Subscribed', true],
    ['Opted in', true],
    ['Confirmed', true],
    ['Active', undefined],
    ['Member', undefined],
  ])('generic Status %j: subscribed, opt-in recorded %s', (word, optIn) => {
    const row = mapped(
      createRowMapper(mappingFor('generic', ['Email', 'Status']), { now: NOW })(['a@example.com', word]),
    );
    expect(row.consent).toBe('subscribed');
    expect(row.optIn).toBe(optIn);
  });

  it('HubSpot: opted-out topics become tags, one topic left keeps the contact subscribed', () => {
    const header = ['Email', 'Opted out of email: Newsletter', 'Opted out of email: Customer Service Communication'];
    const row = mapped(
      createRowMapper(mappingFor('hubspot', header), { now: NOW })(['a@example.com', 'true', 'false']),
    );
    expect(row.consent).toBe('subscribed');
    expect(row.attrs.tags).toEqual(['optout:Newsletter']);
  });
});

describe('Substack deletion placeholder', () => {
  it('skips the row with deletion_placeholder and keeps nothing of it', () => {
    const out = mapOne([
      ['email', 'a1b2c3@deletion-request.substack.com'],
      ['active_subscription', 'false'],
      ['email_disabled', 'false'],
      ['created_at', '2020-01-01T00:00:00.000Z'],
    ]);
    expect(out).toEqual({
      raw: { emails: [], phones: [] },
      consent: 'deletion_requested',
      attrs: {},
      skip: 'deletion_placeholder',
    });
  });

  it('also in an export that carried Substack readers over (beehiiv import)', () => {
    const out = mapOne([
      ['email', 'X9@Deletion-Request.Substack.com'],
      ['status', 'active'],
      ['stripe_customer_id', ''],
      ['unsubscribed_at', ''],
    ]);
    expect(mapped(out).skip).toBe('deletion_placeholder');
  });
});

describe('Excel damage', () => {
  const header = ['Customer ID', 'Email', 'Phone', 'Accepts Email Marketing', 'Total Spent'];
  const map = createRowMapper(mappingFor('shopify', header), { now: NOW });

  it.each([
    [['7.02255E+12', '', '', 'no', '0'], { reject: 'excel_damaged_id', column: 'Customer ID' }],
    [['', '', '9.19961E+11', 'no', '0'], { reject: 'excel_damaged_phone', column: 'Phone' }],
    [['', '', '', 'no', '0'], { reject: 'missing_identifier' }],
  ])('%j → %j', (cells, expected) => {
    expect(map(cells)).toEqual(expected);
  });

  it('drops a damaged id and keeps the row when another identifier is there', () => {
    const row = mapped(map(['7.02255E+12', 'kim@example.com', '9.19961E+11', 'yes', '10']));
    expect(row.raw).toEqual({ emails: ['kim@example.com'], phones: [] });
    expect(row.attrs.spend).toBe(10);
  });

  it('keeps a guarded, intact id', () => {
    expect(mapped(map(["'7210448301122", '', '', 'no', ''])).raw.externalId).toBe('7210448301122');
  });
});

describe('ambiguous dates and the day-first hint', () => {
  const header = ['Email', 'Create Date', 'Record ID', 'Contact owner', 'Marketing contact status'];
  const mapping = mappingFor('hubspot', header);
  const cells = ['a@example.com', '2/5/24 1:51', '1', '', ''];

  it('reads a date the file cannot decide in the platform’s export locale (HubSpot writes US dates)', () => {
    const row = mapped(createRowMapper(mapping, { now: NOW })(cells));
    expect(row.attrs.signupAt).toBe('2024-02-05T01:51:00.000Z');
    expect(row.warnings).toBeUndefined();
  });

  it('follows the per-file hint', () => {
    expect(mapped(createRowMapper(mapping, { now: NOW, dayFirst: false })(cells)).attrs.signupAt).toBe(
      '2024-02-05T01:51:00.000Z',
    );
    expect(mapped(createRowMapper(mapping, { now: NOW, dayFirst: true })(cells)).attrs.signupAt).toBe(
      '2024-05-02T01:51:00.000Z',
    );
  });

  it('derives the hint from a sample given in the context', () => {
    const sample = [cells, ['b@example.com', '2/15/24 3:00', '2', '', '']];
    expect(sniffDayFirst(mapping, sample)).toBe(false);
    expect(mapped(createRowMapper(mapping, { now: NOW, sample })(cells)).attrs.signupAt).toBe(
      '2024-02-05T01:51:00.000Z',
    );
  });

  it('DeepNews-style mixed dates: native and DD/MM/YY in one column', () => {
    const mc = mappingFor('mailchimp', ['Email Address', 'OPTIN_TIME', 'MEMBER_RATING', 'LEID']);
    const rows = [
      ['a@example.com', '2019-05-07 11:10:15', '5', '1'],
      ['b@example.com', '07/05/19 11:10', '2', '2'],
      ['c@example.com', '23/05/19 09:00', '2', '3'],
    ];
    const dayFirst = sniffDayFirst(mc, rows);
    expect(dayFirst).toBe(true);
    const map = createRowMapper(mc, { now: NOW, dayFirst });
    expect(rows.map((r) => mapped(map(r)).attrs.signupAt)).toEqual([
      '2019-05-07T11:10:15.000Z',
      '2019-05-07T11:10:00.000Z',
      '2019-05-23T09:00:00.000Z',
    ]);
  });

  it('uses the column’s documented order when the file gives no hint (Meta dob is MM/DD/YY)', () => {
    const meta = mappingFor('meta_template', ['email', 'dob']);
    expect(mapped(createRowMapper(meta, { now: NOW })(['a@example.com', '01/02/90'])).raw.birthday).toEqual({
      year: 1990,
      month: 1,
      day: 2,
    });
  });

  it('keeps the person and drops only an ambiguous date that nothing can decide, with a warning', () => {
    const g = mappingFor('generic', ['Email', 'Birthday', 'Signup Date']);
    const row = mapped(createRowMapper(g, { now: NOW })(['a@example.com', '03/04/1990', '05/06/2024']));
    expect(row.raw.emails).toEqual(['a@example.com']);
    expect(row.raw.birthday).toBeUndefined();
    expect(row.attrs.signupAt).toBeUndefined();
    expect(row.warnings).toEqual([
      { reason: 'ambiguous_date', field: 'signupAt' },
      { reason: 'ambiguous_date', field: 'birthday' },
    ]);
  });

  it('ignores an unreadable date instead of rejecting the row', () => {
    const g = mappingFor('generic', ['Email', 'Signup Date']);
    const row = mapped(createRowMapper(g, { now: NOW })(['a@example.com', 'last spring']));
    expect(row.attrs.signupAt).toBeUndefined();
  });
});

describe('attributes', () => {
  it.each([
    [{}, 'subscribed'],
    [{ rating: 2 }, 'subscribed'],
    [{ rating: 3 }, 'opened'],
    [{ opens: 1 }, 'opened'],
    [{ lastOpenAt: '2024-01-01T00:00:00.000Z' }, 'opened'],
    [{ clicks: 1, opens: 0 }, 'clicked'],
    [{ lastClickAt: '2024-01-01T00:00:00.000Z' }, 'clicked'],
    [{ orders: 1 }, 'customer'],
    [{ spend: 0.5, clicks: 3 }, 'customer'],
    [{ paid: true }, 'customer'],
    [{ paid: false, spend: 0, orders: 0 }, 'subscribed'],
  ])('funnel %j → %s', (attrs, expected) => {
    expect(funnelStage(attrs)).toBe(expected);
  });

  it.each([
    [12, undefined],
    [13, '13-17'],
    [17, '13-17'],
    [18, '18-24'],
    [34, '25-34'],
    [35, '35-44'],
    [64, '55-64'],
    [65, '65+'],
    [121, undefined],
  ])('age %s → band %s', (age, band) => {
    expect(ageBand(age)).toBe(band);
  });

  it.each([
    ['uk', 'GB'],
    ['us', 'US'],
    ['FR', 'FR'],
    ['Germany', undefined],
    ['USA', undefined],
    [undefined, undefined],
    // Two letters that are no ISO country: never a code (they would land in no zone with a consent rule).
    ['EU', undefined],
    ['XX', undefined],
    ['EL', undefined],
  ])('country code %j → %s', (cell, expected) => {
    expect(countryCode(cell)).toBe(expected);
  });

  it.each([
    ['4', 5, 4],
    ['★★★', 5, 3],
    ['50', 100, 2.5],
    ['6', 5, undefined],
    ['-1', 5, undefined],
    ['', 5, undefined],
  ])('rating %j on 0–%s → %s', (cell, scale, expected) => {
    expect(normalizeRating(cell, scale)).toBe(expected);
  });

  it('age band, age at signup and the Meta age column', () => {
    const g = mappingFor('generic', ['Email', 'Birthday', 'Signup Date']);
    const row = mapped(createRowMapper(g, { now: NOW })(['a@example.com', '2000-07-01', '2018-06-30']));
    expect(row.attrs.ageBand).toBe('18-24'); // 24 on 2025-06-01
    expect(row.attrs.ageAtSignup).toBe(17);
    const meta = mappingFor('meta_template', ['email', 'age']);
    expect(mapped(createRowMapper(meta, { now: NOW })(['a@example.com', '48'])).attrs.ageBand).toBe('45-54');
  });

  it('Substack: an expired paid subscription is not paid, comp/gift never are', () => {
    const s = mappingFor('substack', ['email', 'expiry', 'email_disabled', 'type']);
    const map = createRowMapper(s, { now: NOW });
    expect(mapped(map(['a@example.com', '2026-01-01T00:00:00.000Z', 'false', 'paid'])).attrs).toMatchObject({
      plan: 'paid',
      paid: true,
    });
    expect(mapped(map(['a@example.com', '2021-01-01T00:00:00.000Z', 'false', 'paid'])).attrs).toMatchObject({
      paid: false,
    });
    expect(mapped(map(['a@example.com', '', 'false', 'gift'])).attrs).toMatchObject({ plan: 'gift', paid: false });
  });

  it('rows shorter than the header read missing cells as empty', () => {
    const g = mappingFor('generic', ['Email', 'First Name', 'Tags']);
    expect(mapped(createRowMapper(g, { now: NOW })(['a@example.com'])).raw).toEqual({
      emails: ['a@example.com'],
      phones: [],
    });
  });
});
