import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GOOGLE_KEYS, type RawIdentity } from '../../../functions/core/model';
import {
  GOOGLE_RULES,
  googleKeys,
  normalizeGoogleFamilyName,
  normalizeGoogleGivenName,
  normalizeGooglePostalCode,
  sha256Hex,
} from '../../../functions/core/normalize';
import { anyString, HEX64, nameLike, rawIdentity } from './arbitraries';

const rawName = fc.oneof(anyString, nameLike);

const raw = (r: Partial<RawIdentity>): RawIdentity => ({ emails: [], phones: [], ...r });

describe('googleKeys', () => {
  it('has one table row per Google key; country and postal code unhashed', () => {
    expect(GOOGLE_RULES.map((r) => r.key)).toEqual([...GOOGLE_KEYS]);
    expect(GOOGLE_RULES.filter((r) => !r.hashed).map((r) => r.key)).toEqual(['countryCode', 'postalCode']);
  });

  it('normalizes a full row the Google way', () => {
    const { keys, problems } = googleKeys(
      raw({
        emails: [' J.Smith+News@GMAIL.com '],
        phones: ['(616) 954-7888'],
        firstName: 'Dr. John',
        lastName: 'Smith Jr.',
        country: 'United States of America',
        zip: '37221-3312',
      }),
    );
    expect(keys).toEqual({
      email: sha256Hex('jsmith@gmail.com'),
      phone: sha256Hex('+16169547888'),
      firstName: sha256Hex('john'),
      lastName: sha256Hex('smith'),
      countryCode: 'US',
      postalCode: '37221-3312', // ZIP+4 kept: Google takes the postal code as written
    });
    expect(problems).toEqual([]);
  });

  it('keeps dots and +suffix outside Gmail', () => {
    expect(googleKeys(raw({ emails: ['J.Smith+News@example.com'] })).keys.email).toBe(
      sha256Hex('j.smith+news@example.com'),
    );
  });

  it("keeps inner spaces and punctuation of names, as Google's formatter does", () => {
    const { keys } = googleKeys(raw({ firstName: 'Mary Ann', lastName: "O'Connor", country: 'IE', zip: 'D02 X285' }));
    expect(keys.firstName).toBe(sha256Hex('mary ann'));
    expect(keys.lastName).toBe(sha256Hex("o'connor"));
    expect(keys.postalCode).toBe('D02 X285');
  });

  it('keeps a UK postcode whole and as written', () => {
    const { keys } = googleKeys(raw({ firstName: 'A', lastName: 'B', country: 'uk', zip: ' SW1A  1AA ' }));
    expect(keys.countryCode).toBe('GB');
    expect(keys.postalCode).toBe('SW1A 1AA');
  });

  it('rejects a given name that is only a prefix, and a family name that is only a suffix', () => {
    const { keys, problems } = googleKeys(raw({ firstName: 'Mr.', lastName: ', Jr.', country: 'US', zip: '10001' }));
    expect(keys).toEqual({});
    expect(problems).toEqual([
      { field: 'firstName', reason: 'invalid_name' },
      { field: 'lastName', reason: 'invalid_name' },
      { field: 'address', reason: 'incomplete_address' },
    ]);
  });

  it('drops an incomplete address as a whole and says so', () => {
    const { keys, problems } = googleKeys(raw({ emails: ['a@example.com'], firstName: 'John', country: 'US' }));
    expect(keys).toEqual({ email: sha256Hex('a@example.com') });
    expect(problems).toEqual([{ field: 'address', reason: 'incomplete_address' }]);
  });

  it('passes hashed identifiers through but refuses a hash where a clear value is needed', () => {
    const h = sha256Hex('x');
    const { keys, problems } = googleKeys(raw({ emails: [h], firstName: h, lastName: h, country: h, zip: '10115' }));
    expect(keys).toEqual({ email: h });
    expect(problems).toEqual([
      { field: 'country', reason: 'hashed_value_not_allowed' },
      { field: 'address', reason: 'incomplete_address' },
    ]);
  });

  it('reads national phones with the default country', () => {
    expect(googleKeys(raw({ phones: ['0151 12345678'] }), { defaultCountry: 'DE' }).keys.phone).toBe(
      sha256Hex('+4915112345678'),
    );
  });

  test.prop([rawIdentity, fc.constantFrom(undefined, 'US', 'de')])(
    'never throws; hashed keys are 64 hex, clear keys are clean, address complete or absent',
    (r, defaultCountry) => {
      const { keys } = googleKeys(r, { defaultCountry });
      for (const k of ['email', 'phone', 'firstName', 'lastName'] as const)
        if (keys[k] !== undefined) expect(keys[k]).toMatch(HEX64);
      if (keys.countryCode !== undefined) expect(keys.countryCode).toMatch(/^[A-Z]{2}$/);
      if (keys.postalCode !== undefined) expect(keys.postalCode).toMatch(/^\S(?:.*\S)?$/u);
      const address = [keys.firstName, keys.lastName, keys.countryCode, keys.postalCode].filter((v) => v !== undefined);
      expect([0, 4]).toContain(address.length);
    },
  );
});

describe('Google names', () => {
  it.each([
    ['Mr. John', 'john'],
    ['Dr John', 'john'],
    ['MRS. Mary Ann', 'mary ann'],
    ['Ms Jane', 'jane'],
    ['  de la Cruz ', 'de la cruz'],
    ['Jean-Luc', 'jean-luc'],
    ['Dr', 'dr'], // a bare honorific without a period may be a real name
    ['Mr.', undefined],
  ])('given %j → %j', (input, expected) => {
    expect(normalizeGoogleGivenName(input)).toBe(expected);
  });

  it.each([
    ['Smith Jr.', 'smith'],
    ['Smith, Jr.', 'smith'],
    ['Smith III', 'smith'],
    ['Smith PhD', 'smith'],
    ['Smith-Jones, PhD', 'smith-jones'],
    ["O'Connor", "o'connor"],
    ['Jr', 'jr'],
    [', Jr.', undefined],
  ])('family %j → %j', (input, expected) => {
    expect(normalizeGoogleFamilyName(input)).toBe(expected);
  });

  test.prop([fc.oneof(rawName, fc.constantFrom('Mr John Jr', 'Dr Dr', 'Ms II III', 'mr jr', ' , jr', 'a , ,jr'))])(
    'never throws; lowercase, trimmed, single spaces, a letter somewhere; idempotent',
    (s) => {
      for (const f of [normalizeGoogleGivenName, normalizeGoogleFamilyName]) {
        const n = f(s);
        if (n === undefined) continue;
        expect(n).toBe(n.toLowerCase());
        expect(n).not.toMatch(/^\s|\s$|\s\s/u);
        expect(n).toMatch(/\p{L}/u);
      }
      const g = normalizeGoogleGivenName(s);
      if (g !== undefined && !/^(?:mr|mrs|ms|dr)\.? /.test(g)) expect(normalizeGoogleGivenName(g)).toBe(g);
      const f = normalizeGoogleFamilyName(s);
      if (f !== undefined) expect(normalizeGoogleFamilyName(f)).toBe(f);
    },
  );
});

describe('normalizeGooglePostalCode', () => {
  it.each([
    ['37221-3312', 'us', '37221-3312'],
    ['2492', 'us', '02492'],
    ['SW1A 1AA', 'gb', 'SW1A 1AA'],
    [' 10115 ', 'de', '10115'],
    ['\u00a0', 'de', undefined],
  ])('%j in %s → %j', (input, country, expected) => {
    expect(normalizeGooglePostalCode(input, country)).toBe(expected);
  });

  test.prop([anyString, fc.constantFrom(undefined, 'us', 'gb', 'de')])('never throws; idempotent', (s, country) => {
    const p = normalizeGooglePostalCode(s, country);
    if (p !== undefined) expect(normalizeGooglePostalCode(p, country)).toBe(p);
  });
});
