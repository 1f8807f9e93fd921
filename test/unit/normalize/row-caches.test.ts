/**
 * The normalizers keep their last answers (a row asks for its email, phone and country once per key that needs
 * them): a cached answer must be the one a fresh call gives, whatever was asked before.
 */
import { createHash } from 'node:crypto';
import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import {
  countryIso2,
  normalizeCountry,
  normalizeEmail,
  normalizePhone,
  sha256Hex,
  zoneOf,
  zoneOfUncached,
} from '../../../functions/core/normalize';

const phones = fc.constantFrom('030 1234567', '+49 30 1234567', '07911 123456', '16169547888', '', '9.19961E+11');
const hints = fc.constantFrom(undefined, 'DE', 'GB', 'US', 'Deutschland', 'xx');
const words = fc.constantFrom('a', 'b', 'A@x.io', ' a@x.io ', 'de', 'DE', 'Germany', 'gb', '', 'm');

describe('normalizer caches', () => {
  test.prop([fc.array(fc.tuple(phones, hints, hints), { maxLength: 30 })])(
    'normalizePhone answers each call as the first call with those arguments did',
    (calls) => {
      const first = new Map<string, unknown>();
      for (const [v, hint, def] of calls) {
        const key = JSON.stringify([v, hint ?? null, def ?? null]);
        const r = normalizePhone(v, hint, def);
        if (!first.has(key)) first.set(key, r);
        expect(r).toEqual(first.get(key));
      }
    },
  );

  test.prop([
    fc.array(
      fc.tuple(
        fc.constantFrom(undefined, '', 'US', 'us', 'Us', 'DE', 'de', 'GB', 'CH', 'PR', 'BR', 'ZZ'),
        fc.constantFrom(undefined, '', 'CA', 'ca', 'California', 'TX', 'BY', 'VA', 'Virginia'),
      ),
      { maxLength: 30 },
    ),
  ])('zoneOf answers each pair as the first call with it did, and as the uncached rule does', (calls) => {
    const first = new Map<string, unknown>();
    for (const [country, region] of calls) {
      const key = JSON.stringify([country ?? null, region ?? null]);
      const z = zoneOf(country, region);
      expect(z).toBe(zoneOfUncached(country, region));
      if (!first.has(key)) first.set(key, z);
      expect(z).toBe(first.get(key));
    }
    expect([zoneOf('US', 'CA'), zoneOf('US', 'AL'), zoneOf('DE'), zoneOf(undefined)]).toEqual([
      'US_PRIVACY',
      'US',
      'EEA',
      'UNKNOWN',
    ]);
  });

  test.prop([fc.array(words, { maxLength: 40 })])(
    'email, country and digests answer as a fresh call would, in any order of values',
    (values) => {
      for (const v of values) {
        expect(sha256Hex(v)).toBe(createHash('sha256').update(v, 'utf8').digest('hex'));
        const e = normalizeEmail(v);
        expect(normalizeEmail(v)).toBe(e);
        const c = normalizeCountry(v);
        expect(countryIso2(v)).toBe(c?.toUpperCase());
      }
    },
  );
});
