import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RawIdentity } from '../../../functions/core/model';
import { normalizeExternalId, sha256Hex } from '../../../functions/core/normalize';
import { META_KEYS, META_RULES, type MetaKey, metaKeys } from '../../../functions/platforms/meta/keys';
import { HEX64, rawIdentity } from '../normalize/arbitraries';

const TEST_EMAIL_SHA256 = '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b';

const raw = (r: Partial<RawIdentity>): RawIdentity => ({ emails: [], phones: [], ...r });

describe('metaKeys', () => {
  it('known answer: sha256 of the normalized email', () => {
    expect(sha256Hex('test@example.com')).toBe(TEST_EMAIL_SHA256);
    const { keys, problems } = metaKeys(raw({ emails: ['  Test@Example.COM '] }));
    expect(keys).toEqual({ EMAIL: TEST_EMAIL_SHA256 });
    expect(problems).toEqual([]);
  });

  it('has one table row per Meta key, in META_KEYS order', () => {
    expect(META_RULES.map((r) => r.key)).toEqual([...META_KEYS]);
    expect(META_RULES.filter((r) => !r.hashed).map((r) => r.key)).toEqual(['MADID', 'EXTERN_ID']);
  });

  it('normalizes and hashes every field of a full row', () => {
    const { keys, problems } = metaKeys(
      raw({
        emails: ['  Jane.Doe@Example.COM '],
        phones: ['(616) 954-7888'],
        firstName: ' Jane ',
        lastName: "O'Connor",
        gender: 'Female',
        birthday: { year: 1984, month: 3, day: 7 },
        city: 'St. Louis',
        state: 'Missouri',
        zip: '63101-1234',
        country: 'USA',
        externalId: ' CRM-42 ',
      }),
    );
    const expected: Partial<Record<MetaKey, string>> = {
      EMAIL: sha256Hex('jane.doe@example.com'),
      PHONE: sha256Hex('16169547888'),
      FN: sha256Hex('jane'),
      LN: sha256Hex('oconnor'),
      FI: sha256Hex('j'),
      GEN: sha256Hex('f'),
      DOBY: sha256Hex('1984'),
      DOBM: sha256Hex('03'),
      DOBD: sha256Hex('07'),
      CT: sha256Hex('stlouis'),
      ST: sha256Hex('mo'),
      ZIP: sha256Hex('63101'),
      COUNTRY: sha256Hex('us'),
      EXTERN_ID: 'CRM-42',
    };
    expect(keys).toEqual(expected);
    expect(problems).toEqual([]);
  });

  it.each([
    [['not an email', 'jane@example.com', 'john@example.com'], sha256Hex('jane@example.com'), []],
    [['', '  ', 'JANE@example.com'], sha256Hex('jane@example.com'), []],
    [['not an email', 'also@not'], undefined, [{ field: 'email', reason: 'invalid_email' }]],
    [[], undefined, []],
  ])('uses the first valid email of %j', (emails, expected, problems) => {
    const r = metaKeys(raw({ emails }));
    expect(r.keys.EMAIL).toBe(expected);
    expect(r.problems).toEqual(problems);
  });

  it.each([
    [['garbage', '+44 7911 123456'], sha256Hex('447911123456'), []],
    [['9.19961E+11'], undefined, [{ field: 'phone', reason: 'excel_damaged_phone' }]],
    [['12'], undefined, [{ field: 'phone', reason: 'invalid_phone' }]],
  ])('uses the first valid phone of %j', (phones, expected, problems) => {
    const r = metaKeys(raw({ phones }));
    expect(r.keys.PHONE).toBe(expected);
    expect(r.problems).toEqual(problems);
  });

  it.each([
    ['UK', undefined, sha256Hex('447911123456')], // row country
    ['United Kingdom', 'DE', sha256Hex('447911123456')], // row country beats the default
    [undefined, 'GB', sha256Hex('447911123456')], // default country
    ['Atlantis', 'GB', sha256Hex('447911123456')], // unrecognizable row country → default
    [undefined, undefined, undefined], // national number, no country: not guessed
  ])('reads a national phone with row country %j and default %j', (country, defaultCountry, expected) => {
    const r = metaKeys(raw({ phones: ['07911 123456'], country }), { defaultCountry });
    expect(r.keys.PHONE).toBe(expected);
  });

  it('applies the US ZIP and state rules with the default country when the row has none', () => {
    const { keys } = metaKeys(raw({ zip: '2492', state: 'Massachusetts' }), { defaultCountry: 'US' });
    expect(keys.ZIP).toBe(sha256Hex('02492'));
    expect(keys.ST).toBe(sha256Hex('ma'));
    expect(keys.COUNTRY).toBeUndefined(); // the default country is never sent as the person's country
  });

  it('applies the UK postcode rule', () => {
    expect(metaKeys(raw({ zip: 'SW1A 1AA', country: 'uk' })).keys.ZIP).toBe(sha256Hex('sw1a1'));
  });

  it('passes already-hashed values through instead of hashing them twice', () => {
    const emailHash = sha256Hex('jane@example.com');
    const { keys } = metaKeys(
      raw({
        emails: [` ${emailHash.toUpperCase()} `],
        phones: [sha256Hex('16169547888')],
        firstName: sha256Hex('jane'),
        city: sha256Hex('stlouis'),
        country: sha256Hex('us'),
      }),
    );
    expect(keys).toEqual({
      EMAIL: emailHash,
      PHONE: sha256Hex('16169547888'),
      FN: sha256Hex('jane'),
      CT: sha256Hex('stlouis'),
      COUNTRY: sha256Hex('us'),
    }); // no FI: an initial cannot be derived from a hash
  });

  it('never guesses gender and reports what it left out', () => {
    for (const gender of ['x', 'divers', 'unknown', '']) {
      const r = metaKeys(raw({ emails: ['a@example.com'], gender }));
      expect(r.keys.GEN).toBeUndefined();
      if (gender !== '') expect(r.problems).toEqual([{ field: 'gender', reason: 'unrecognized_gender' }]);
    }
  });

  it('splits a full name when there are no first/last name columns', () => {
    const { keys } = metaKeys(raw({ fullName: 'Dr. Maria de la Cruz' }));
    expect(keys.FN).toBe(sha256Hex('maria'));
    expect(keys.LN).toBe(sha256Hex('delacruz'));
    expect(keys.FI).toBe(sha256Hex('m'));
  });

  it('prefers the first/last name columns over the full name', () => {
    const { keys } = metaKeys(raw({ firstName: 'Jo', fullName: 'Joanna Smith' }));
    expect(keys.FN).toBe(sha256Hex('jo'));
    expect(keys.LN).toBe(sha256Hex('smith'));
  });

  it('reports each unusable field', () => {
    const { keys, problems } = metaKeys(
      raw({
        emails: ['x'],
        firstName: '123',
        birthday: { year: 1850, month: 5 },
        city: '!!',
        state: 'Bavaria',
        zip: 'abc',
        country: 'Atlantis',
        externalId: '  ',
      }),
      { defaultCountry: 'US' },
    );
    expect(keys).toEqual({ DOBM: sha256Hex('05') });
    expect(problems).toEqual([
      { field: 'email', reason: 'invalid_email' },
      { field: 'firstName', reason: 'invalid_name' },
      { field: 'birthday', reason: 'implausible_birthday' },
      { field: 'city', reason: 'invalid_city' },
      { field: 'state', reason: 'invalid_state' },
      { field: 'zip', reason: 'invalid_zip' },
      { field: 'country', reason: 'unknown_country' },
    ]);
  });

  test.prop([rawIdentity, fc.constantFrom(undefined, 'US', 'de', 'United Kingdom')])(
    'never throws; every key but EXTERN_ID is 64 lowercase hex',
    (r, defaultCountry) => {
      const { keys } = metaKeys(r, { defaultCountry });
      for (const [k, v] of Object.entries(keys)) {
        if (k === 'EXTERN_ID') expect(v).toBe(normalizeExternalId(r.externalId ?? ''));
        else expect(v, k).toMatch(HEX64);
      }
    },
  );

  test.prop([rawIdentity])('hashing is idempotent: feeding the keys back in gives the same keys', (r) => {
    const { keys } = metaKeys(r);
    const again = metaKeys({
      emails: keys.EMAIL ? [keys.EMAIL] : [],
      phones: keys.PHONE ? [keys.PHONE] : [],
      firstName: keys.FN,
      lastName: keys.LN,
      gender: keys.GEN,
      city: keys.CT,
      state: keys.ST,
      zip: keys.ZIP,
      country: keys.COUNTRY,
      externalId: keys.EXTERN_ID,
    }).keys;
    const { FI: _fi, DOBY: _y, DOBM: _m, DOBD: _d, ...comparable } = keys;
    expect(again).toEqual(comparable);
  });
});
