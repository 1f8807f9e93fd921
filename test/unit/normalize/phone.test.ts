import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePhone, normalizePhoneDigits } from '../../../functions/core/normalize';
import { anyString } from './arbitraries';

const ok = (e164: string) => ({ ok: true, e164 });
const invalid = { ok: false, reason: 'invalid_phone' };
const damaged = { ok: false, reason: 'excel_damaged_phone' };

describe('normalizePhone', () => {
  it.each([
    // [input, countryHint, defaultCountry, expected]
    ['+1 (616) 954-7888', undefined, undefined, ok('16169547888')],
    ['+16169547888', undefined, undefined, ok('16169547888')],
    ['  +49 151 12345678 ', undefined, undefined, ok('4915112345678')],
    ['+49 (0)151 12345678', undefined, undefined, ok('4915112345678')],
    ['0044 20 7946 0958', undefined, undefined, ok('442079460958')], // 00 prefix → country code
    ['00442079460958', 'DE', undefined, ok('442079460958')],
    ['011 44 20 7946 0958', 'US', undefined, ok('442079460958')], // US international prefix
    ['16169547888', undefined, undefined, ok('16169547888')], // Meta's own format: digits with country code
    ['4915112345678', 'DE', undefined, ok('4915112345678')], // not read as a national number + 49 again
    ['\t+44 7911 123456\r\n', undefined, undefined, ok('447911123456')],
    ['+44.7911.123456', undefined, undefined, ok('447911123456')],
    ['tel: +49 30 1234567', undefined, undefined, ok('49301234567')],
    ['+49 30 1234567 ext. 12', undefined, undefined, ok('49301234567')],
    ['＋４９ ３０ １２３４５６７', undefined, undefined, ok('49301234567')], // full-width digits
  ])('%j (row %s, default %s) → %j', (input, hint, def, expected) => {
    expect(normalizePhone(input, hint, def)).toEqual(expected);
  });

  it.each([
    // national numbers take the row's country first, the default country second
    ['07911 123456', 'GB', undefined, ok('447911123456')],
    ['07911 123456', 'uk', undefined, ok('447911123456')], // Mailchimp's uk
    ['07911 123456', 'United Kingdom', 'DE', ok('447911123456')], // row country wins over default
    ['07911 123456', undefined, 'GB', ok('447911123456')],
    ['07911 123456', 'Atlantis', 'GB', ok('447911123456')], // unrecognizable row country → default
    ['0151 12345678', 'Deutschland', undefined, ok('4915112345678')],
    ['0151 12345678', undefined, 'DE', ok('4915112345678')],
    ['(616) 954-7888', 'US', 'DE', ok('16169547888')],
    ['616-954-7888', undefined, 'US', ok('16169547888')],
    ['07911 123456', undefined, undefined, invalid], // national number, no country: not guessed
    ['0151 12345678', undefined, undefined, invalid],
  ])('national %j (row %s, default %s) → %j', (input, hint, def, expected) => {
    expect(normalizePhone(input, hint, def)).toEqual(expected);
  });

  it.each([['9.19961E+11'], ['9,19961E+11'], ['7.02255e+12'], ['1E+10'], [' 4.91511E+12 ']])(
    'detects Excel scientific-notation damage in %j',
    (input) => {
      expect(normalizePhone(input, 'DE')).toEqual(damaged);
    },
  );

  it.each([
    [''],
    ['   '],
    ['+'],
    ['abc'],
    ['+1 555 555 5555'], // 555 is not a valid NANP area code
    ['+0123456789'],
    ['123'],
    ['+49 151 1234567890123456'],
    ['n/a'],
  ])('%j is invalid', (input) => {
    expect(normalizePhone(input, 'DE')).toEqual(invalid);
  });

  it('returns the same answer from the cache', () => {
    const first = normalizePhone('0151 12345678', 'DE');
    expect(normalizePhone('0151 12345678', 'DE')).toEqual(first);
    expect(normalizePhone('0151 12345678', 'AT')).not.toEqual(first); // cache keyed by country too
  });

  it('keeps working past the cache size cap', () => {
    for (let i = 0; i < 45_000; i++) normalizePhone(`+4915112${String(100000 + i)}`);
    expect(normalizePhone('+16169547888')).toEqual(ok('16169547888'));
    expect(normalizePhone('+4915112100000')).toEqual(ok('4915112100000'));
  });

  test.prop([anyString, fc.option(fc.constantFrom('DE', 'US', 'gb', 'Atlantis', ''), { nil: undefined })])(
    'never throws, and a result is E.164 digits',
    (s, country) => {
      const r = normalizePhone(s, country, 'US');
      if (r.ok) expect(r.e164).toMatch(/^[1-9][0-9]{6,14}$/);
      else expect(['invalid_phone', 'excel_damaged_phone']).toContain(r.reason);
    },
  );

  const VALID = ['+16169547888', '+4915112345678', '+442079460958', '+447911123456', '+33612345678', '+819012345678'];
  const formatted = fc
    .tuple(
      fc.constantFrom(...VALID),
      fc.array(fc.constantFrom(' ', '-', '.', '(', ')', '/'), { minLength: 20, maxLength: 20 }),
      fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
      fc.constantFrom('+', '00'),
    )
    .map(([num, seps, where, prefix]) => {
      let out = prefix;
      const digits = num.slice(1);
      for (let i = 0; i < digits.length; i++) out += (i > 0 && where[i] ? (seps[i] ?? '') : '') + (digits[i] ?? '');
      return { num, text: out };
    });

  test.prop([formatted])('reads any separator formatting of a valid number', ({ num, text }) => {
    expect(normalizePhone(text)).toEqual(ok(num.slice(1)));
  });

  test.prop([
    fc.oneof(
      formatted.map((f) => f.text),
      anyString,
      fc.stringMatching(/^\+?[0-9]{6,15}$/),
    ),
  ])('is idempotent: its output, with or without +, reads back to itself', (s) => {
    const d = normalizePhoneDigits(s, 'DE');
    if (d === undefined) return;
    expect(normalizePhoneDigits(`+${d}`)).toBe(d);
    expect(normalizePhoneDigits(d)).toBe(d);
  });
});
