import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRowMapper, DetectionError, detectFormat, FORMATS, isRejection } from '../../../functions/core/formats';
import {
  cleanCell,
  isExcelScientific,
  parseBoolean,
  parseCount,
  parseNumber,
  splitList,
} from '../../../functions/core/formats/cells';
import { inferDayFirst, parseBirthday, parseTimestamp } from '../../../functions/core/formats/dates';
import { mappingFor } from '../../../functions/core/formats/detect';
import { CONSENT_STATES, FUNNEL_STAGES, REJECTION_REASONS } from '../../../functions/core/model';
import { NOW } from './helpers';

// Cells that look like what exports hold, mixed with arbitrary unicode.
const cellArb = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom(
    '',
    ' ',
    "'",
    "'+56 9 1234 5678",
    '7.02255E+12',
    '2/5/24 1:51',
    '13/05/19',
    '2023-03-24 10:23:10 UTC',
    '2018-08-27T15:06:27.713Z',
    '43591.5',
    '$50.00',
    '1.234,56 €',
    'yes',
    'no',
    'true',
    '"tag1","tag2"',
    "['email','web']",
    'x@deletion-request.substack.com',
    'ann@example.com',
    // Names of Object's own members: a lookup table that is a plain object must not find them.
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
    '★★★',
    '--05-02',
    'Never Subscribed',
    '3',
  ),
  fc.stringMatching(/^[0-9/.:\- +ZTaApPmM]{0,25}$/),
);

const HEADERS: Record<string, string[]> = {
  mailchimp: [
    'Email Address',
    'First Name',
    'Birthday',
    'MEMBER_RATING',
    'OPTIN_TIME',
    'CC',
    'REGION',
    'UNSUB_TIME',
    'CLEAN_TIME',
    'TAGS',
  ],
  klaviyo: [
    'Email',
    'Phone Number',
    'Consent',
    'Email Marketing Consent',
    'Last Open',
    'Historic Customer Lifetime Value',
  ],
  hubspot: [
    'Email',
    'Phone Number',
    'Unsubscribed from all email',
    'Opted out of email: News',
    'Marketing contact status',
    'Create Date',
    'Record ID - Company',
    'Phone Number',
  ],
  brevo: ['EMAIL', 'SMS', 'EMAIL_BLACKLISTED', 'DOUBLE_OPT-IN', 'ADDED_TIME', '_listIds'],
  activecampaign: ['Email', 'Phone', 'Status', 'Tags'],
  kit: ['email_address', 'first_name', 'state', 'created_at', 'tags'],
  substack: ['email', 'active_subscription', 'expiry', 'plan', 'email_disabled', 'Activity', 'Revenue', 'Link clicks'],
  beehiiv: ['email', 'status', 'tier', 'unsubscribed_at', 'Gold Tier', 'last_opened_at'],
  mailerlite: ['Subscriber', 'Name', 'Groups', 'Status', 'Subscribed'],
  campaign_monitor: ['Email Address', 'Name', 'State', 'Date'],
  constant_contact: [
    'Email address',
    'Phone - home',
    'Email status',
    'Email permission status',
    'Email Lists',
    'Birthday',
  ],
  shopify: ['Customer ID', 'Email', 'Phone', 'Accepts Email Marketing', 'Total Spent', 'Total Orders', 'Tags'],
  meta_template: ['email', 'email', 'phone', 'fn', 'dob', 'doby', 'gen', 'age', 'uid', 'value', 'country', 'st'],
  generic: ['Email', 'Telefon', 'Status', 'Unsubscribed', 'Birthday', 'Signup Date', 'Country', 'Tags', 'Lists'],
};

describe('fast paths read as the general rules do', () => {
  const digits = (min: number, max: number) =>
    fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''));

  it('a plain decimal (up to 31 digits) is the double Number() reads', () => {
    fc.assert(
      fc.property(digits(1, 16), fc.option(digits(0, 16), { nil: undefined }), (int, frac) => {
        const s = frac === undefined ? int : `${int}.${frac}`;
        const n = parseNumber(s);
        if (frac === '')
          expect(n).toBe(Number(int)); // `12.` is read by the general rules
        else expect(n).toBe(Number(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('splitList keeps the first of each repeated item, in order, for short and long lists', () => {
    const item = fc.constantFrom('vip', 'VIP', 'b2b', ' b2b ', 'returning', '', 'x', 'y', 'z', 'wholesale');
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.constantFrom(',', ';'), (items, sep) => {
        const cell = items.join(sep);
        const expected = [...new Set(cell.split(/[;,]/).map((x) => x.trim()))].filter((x) => x !== '');
        expect(splitList(cell)).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
    const many = Array.from({ length: 100 }, (_, i) => `t${i % 37}`).join(',');
    expect(splitList(many)).toEqual(Array.from({ length: 37 }, (_, i) => `t${i}`));
  });
});

describe('never throws on arbitrary cells', () => {
  it('cell helpers', () => {
    fc.assert(
      fc.property(cellArb, (cell) => {
        expect(typeof cleanCell(cell)).toBe('string');
        expect(typeof isExcelScientific(cell)).toBe('boolean');
        const n = parseNumber(cell);
        expect(n === undefined || Number.isFinite(n)).toBe(true);
        const c = parseCount(cell);
        expect(c === undefined || (Number.isSafeInteger(c) && c >= 0)).toBe(true);
        expect([true, false, undefined]).toContain(parseBoolean(cell));
        for (const item of splitList(cell)) {
          expect(item).toBe(item.trim());
          expect(item).not.toBe('');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('date helpers: ISO output or a reason', () => {
    fc.assert(
      fc.property(cellArb, fc.option(fc.boolean(), { nil: undefined }), (cell, dayFirst) => {
        const t = parseTimestamp(cell, { dayFirst });
        if (t.ok) expect(new Date(t.value).toISOString()).toBe(t.value);
        else expect(['empty', 'invalid', 'ambiguous']).toContain(t.reason);
        const b = parseBirthday(cell, { dayFirst, referenceYear: 2025 });
        if (b.ok) {
          const { year, month, day } = b.value;
          if (year !== undefined) expect(year).toBeLessThanOrEqual(2025);
          if (month !== undefined) expect(month >= 1 && month <= 12).toBe(true);
          if (day !== undefined) expect(day >= 1 && day <= 31).toBe(true);
        }
        expect([true, false, undefined]).toContain(inferDayFirst([cell, cell]));
      }),
      { numRuns: 2000 },
    );
  });

  it.each(FORMATS.map((f) => f.id))('createRowMapper (%s)', (format) => {
    const header = HEADERS[format] ?? [];
    const map = createRowMapper(mappingFor(format, header), { now: NOW, entryName: 'subscribed_members_export_1.csv' });
    fc.assert(
      fc.property(fc.array(cellArb, { maxLength: header.length + 2 }), (cells) => {
        const out = map(cells);
        if (isRejection(out)) {
          expect(REJECTION_REASONS).toContain(out.reject);
          return;
        }
        expect(CONSENT_STATES).toContain(out.consent);
        if (out.skip) {
          expect(out.skip).toBe('deletion_placeholder');
          return;
        }
        expect(out.raw.emails.length + out.raw.phones.length + (out.raw.externalId ? 1 : 0)).toBeGreaterThan(0);
        expect(FUNNEL_STAGES).toContain(out.attrs.funnel);
        if (out.attrs.rating !== undefined) expect(out.attrs.rating >= 0 && out.attrs.rating <= 5).toBe(true);
        if (out.attrs.country !== undefined) expect(out.attrs.country).toMatch(/^[A-Z]{2}$/);
        for (const v of [...out.raw.emails, ...out.raw.phones]) expect(v).toBe(v.trim());
      }),
      { numRuns: 500 },
    );
  });

  it('detectFormat: a Detection or a DetectionError, nothing else', () => {
    const headerArb = fc.array(
      fc.oneof(fc.string(), fc.constantFrom(...Object.values(HEADERS).flat(), 'email', 'Email', 'LEID', 'uid')),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(headerArb, fc.array(fc.array(cellArb, { maxLength: 12 }), { maxLength: 5 }), (header, sample) => {
        try {
          const d = detectFormat(header, sample);
          expect(d.confidence >= 0 && d.confidence <= 1).toBe(true);
          expect(createRowMapper(d, { now: NOW, sample })(sample[0] ?? [])).toBeTypeOf('object');
        } catch (e) {
          expect(e).toBeInstanceOf(DetectionError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
