import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizeCity,
  normalizeExternalId,
  normalizeState,
  normalizeZip,
  usStateCode,
} from '../../../functions/core/normalize';
import { normalizeZipGeneral } from '../../../functions/core/normalize/location';
import { anyString, nameLike } from './arbitraries';

const COUNTRIES = [undefined, 'us', 'US', 'gb', 'je', 'de', 'ca', 'fr'] as const;
const someCountry = fc.constantFrom(...COUNTRIES);

describe('normalizeCity (Meta CT)', () => {
  it.each([
    ['St. Louis', 'stlouis'],
    ['New York', 'newyork'],
    ['  SAN FRANCISCO\t', 'sanfrancisco'],
    ['Winston-Salem', 'winstonsalem'],
    ['München', 'münchen'],
    ['Mu\u0308nchen', 'münchen'],
    ['São Paulo', 'sãopaulo'],
    ['Zürich 8001', 'zürich'],
    ['Łódź', 'łódź'],
    ['東京', '東京'],
    ['', undefined],
    ['12345', undefined],
    ['.', undefined],
  ])('%j → %j', (input, expected) => {
    expect(normalizeCity(input)).toBe(expected);
  });

  test.prop([fc.oneof(anyString, nameLike)])('never throws; lowercase letters only; idempotent', (s) => {
    const c = normalizeCity(s);
    if (c === undefined) return;
    expect(c).toMatch(/^[\p{L}\p{M}]+$/u);
    expect(c).toBe(c.toLowerCase());
    expect(normalizeCity(c)).toBe(c);
  });
});

describe('normalizeState (Meta ST)', () => {
  it.each([
    ['California', 'us', 'ca'],
    ['CA', 'us', 'ca'],
    [' ca ', 'US', 'ca'],
    ['california', undefined, 'ca'], // a US state name maps even without a country
    ['New York', 'us', 'ny'],
    ['NEW HAMPSHIRE', 'us', 'nh'],
    ['Washington', 'us', 'wa'],
    ['Washington, D.C.', 'us', 'dc'],
    ['District of Columbia', 'us', 'dc'],
    ['Puerto Rico', 'us', 'pr'],
    ['Hawaiʻi', 'us', 'hi'],
    ['Bavaria', 'us', undefined], // not a US state: would never match
    ['C.A.', 'us', undefined],
    ['Bayern', 'de', 'bayern'],
    ['Nordrhein-Westfalen', 'de', 'nordrheinwestfalen'],
    ['Québec', 'ca', 'québec'],
    ['QC', 'ca', 'qc'],
    ['Île-de-France', 'fr', 'îledefrance'],
    ['75', 'fr', '75'], // département numbers are kept
    ['Bavaria', undefined, 'bavaria'],
    ['', 'us', undefined],
    ['--', 'de', undefined],
  ])('%j in %s → %j', (input, country, expected) => {
    expect(normalizeState(input, country)).toBe(expected);
  });

  it.each([
    ['California', 'CA'],
    ['ca', 'CA'],
    ['Texas', 'TX'],
    ['Ontario', undefined],
    ['', undefined],
  ])('usStateCode(%j) → %j', (input, expected) => {
    expect(usStateCode(input)).toBe(expected);
  });

  test.prop([fc.oneof(anyString, nameLike, fc.constantFrom('California', 'TX', 'Rhode Island')), someCountry])(
    'never throws; US two letters, elsewhere lowercase letters and digits; idempotent',
    (s, country) => {
      const st = normalizeState(s, country);
      if (st === undefined) return;
      if (country?.toLowerCase() === 'us') expect(st).toMatch(/^[a-z]{2}$/);
      expect(st).toMatch(/^[a-z0-9\p{L}\p{M}]+$/u);
      expect(st).toBe(st.toLowerCase());
      expect(normalizeState(st, country)).toBe(st);
    },
  );
});

describe('normalizeZip (Meta ZIP)', () => {
  it.each([
    ['37221-3312', 'us', '37221'], // ZIP+4 → first 5 digits
    ['372213312', 'us', '37221'],
    ['37221', 'us', '37221'],
    [' 37221 ', 'US', '37221'],
    ['02492', 'us', '02492'], // leading zero kept
    ['2492', 'us', '02492'], // stated rule: Excel lost the leading zero of a 4-digit US ZIP
    ['2492-1234', 'us', '02492'],
    ['492', 'us', undefined], // fewer digits are not guessed at
    ['3722', 'us', '03722'],
    ['ABCDE', 'us', undefined],
    ['37221-331', 'us', undefined],
    ['SW1A 1AA', 'gb', 'sw1a1'], // UK: outward code + sector
    ['sw1a1aa', 'gb', 'sw1a1'],
    ['M1 1AE', 'gb', 'm11'],
    ['B33 8TH', 'gb', 'b338'],
    ['CR2 6XH', 'gb', 'cr26'],
    ['DN55 1PT', 'gb', 'dn551'],
    ['EC1A 1BB', 'gb', 'ec1a1'],
    ['GIR 0AA', 'gb', 'gir0'],
    ['JE2 3AB', 'je', 'je23'],
    ['SW1A-1AA', 'gb', 'sw1a1'],
    ['sw1a1', 'gb', 'sw1a1'], // already reduced
    ['SW1A', 'gb', 'sw1a'], // outward code only
    ['not a postcode', 'gb', undefined],
    ['10115', 'de', '10115'],
    ['K1A 0B1', 'ca', 'k1a0b1'], // elsewhere: lowercase, no spaces
    ['1234-567', 'pt', '1234-567'],
    ['37221-3312', undefined, '37221'], // the US 5+4 shape is a US ZIP whatever the country says or lacks
    ['', 'us', undefined],
    ['\t \n', 'de', undefined],
  ])('%j in %s → %j', (input, country, expected) => {
    expect(normalizeZip(input, country)).toBe(expected);
  });

  test.prop([fc.oneof(anyString, fc.stringMatching(/^[A-Za-z0-9 -]{1,10}$/)), someCountry])(
    'never throws; no whitespace, lowercase; US five digits; idempotent',
    (s, country) => {
      const z = normalizeZip(s, country);
      if (z === undefined) return;
      expect(z).not.toMatch(/\s/u);
      expect(z).toBe(z.toLowerCase());
      if (country?.toLowerCase() === 'us') expect(z).toMatch(/^[0-9]{5}$/);
      if (country === 'gb') expect(z).toMatch(/^(?:[a-z]{1,2}[0-9][a-z0-9]?|gir)[0-9]?$/);
      expect(normalizeZip(z, country)).toBe(z);
    },
  );

  test.prop(
    [
      fc.oneof(
        fc.stringMatching(/^[0-9]{5}(?:-[0-9]{4})?$/),
        fc.string({ unit: fc.constantFrom(...'0123456789-  aA\t'.split('')), maxLength: 12 }),
      ),
      fc.constantFrom(undefined, 'us', 'US', 'gb', 'GB', 'je', 'de', 'pt', 'xx'),
    ],
    { numRuns: 20_000 },
  )('reads plain 5-digit codes and ZIP+4 as the rule itself does', (s, country) => {
    expect(normalizeZip(s, country)).toBe(normalizeZipGeneral(s, country));
  });
});

describe('normalizeExternalId (Meta EXTERN_ID)', () => {
  it.each([
    ['  CRM-00042 ', 'CRM-00042'], // case and leading zeros kept
    ['a b', 'a b'],
    ['\t\n', undefined],
    ['', undefined],
  ])('%j → %j', (input, expected) => {
    expect(normalizeExternalId(input)).toBe(expected);
  });

  test.prop([anyString])('never throws; idempotent', (s) => {
    const id = normalizeExternalId(s);
    if (id !== undefined) expect(normalizeExternalId(id)).toBe(id);
  });
});
