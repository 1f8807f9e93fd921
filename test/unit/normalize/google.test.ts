import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GOOGLE_KEYS, type RawIdentity } from '../../../functions/core/model';
import { GOOGLE_RULES, googleKeys, sha256Hex } from '../../../functions/core/normalize';
import { HEX64, rawIdentity } from './arbitraries';

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
      postalCode: '37221',
    });
    expect(problems).toEqual([]);
  });

  it('keeps dots and +suffix outside Gmail', () => {
    expect(googleKeys(raw({ emails: ['J.Smith+News@example.com'] })).keys.email).toBe(
      sha256Hex('j.smith+news@example.com'),
    );
  });

  it('keeps inner spaces of names (Google: no leading or trailing whitespace, no punctuation)', () => {
    const { keys } = googleKeys(raw({ firstName: 'Mary Ann', lastName: "O'Connor", country: 'IE', zip: 'D02 X285' }));
    expect(keys.firstName).toBe(sha256Hex('mary ann'));
    expect(keys.lastName).toBe(sha256Hex('oconnor'));
    expect(keys.postalCode).toBe('d02x285');
  });

  it('keeps a UK postcode whole', () => {
    const { keys } = googleKeys(raw({ firstName: 'A', lastName: 'B', country: 'uk', zip: 'SW1A 1AA' }));
    expect(keys.countryCode).toBe('GB');
    expect(keys.postalCode).toBe('sw1a1aa');
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
      if (keys.postalCode !== undefined) expect(keys.postalCode).not.toMatch(/\s/u);
      const address = [keys.firstName, keys.lastName, keys.countryCode, keys.postalCode].filter((v) => v !== undefined);
      expect([0, 4]).toContain(address.length);
    },
  );
});
