import fc from 'fast-check';

/** Characters that break naive normalizers: whitespace, controls, BOM, lone surrogates, combining marks, case traps. */
const NASTY_CHARS = [
  ' ',
  '\t',
  '\r',
  '\n',
  '\0',
  '\v',
  '\f',
  '\u00a0',
  '\u200b',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\u0301',
  '\u0308',
  'İ',
  'Σ',
  'ß',
  'ǅ',
  'Ö',
  'ö',
  'é',
  '日',
  '@',
  '.',
  '+',
  '-',
  "'",
  ',',
  '(',
  '0',
  '1',
  '4',
  '9',
  'e',
  'E',
  'a',
  'Z',
];

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Arbitrary strings biased towards the characters that matter, plus any code unit and any code point. */
export const anyString = fc.string({
  unit: fc.oneof(fc.constantFrom(...NASTY_CHARS), codeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 40,
});

/** Strings that look like the field they fill (letters, accents, spaces, punctuation). */
export const nameLike = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      'a',
      'B',
      'z',
      'é',
      'Ö',
      'ß',
      'İ',
      'Σ',
      'ς',
      '\u0301',
      ' ',
      "'",
      '-',
      '.',
      ',',
      'ǅ',
      'ﬁ',
      'Ω',
      'क',
      '्',
      '日',
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});

/** Surrounding junk an export leaves around a value. */
export const padding = fc.string({
  unit: fc.constantFrom(' ', '\t', '\r', '\n', '\0', '\v', '\u00a0', '\ufeff'),
  maxLength: 4,
});

/** Random upper/lower case flips of an ASCII string. */
export function randomCase(s: string): fc.Arbitrary<string> {
  return fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((flips) => [...s].map((ch, i) => (flips[i] ? ch.toUpperCase() : ch)).join(''));
}

export const HEX64 = /^[0-9a-f]{64}$/;

/** Valid numbers in several spellings. */
export const phoneLike = fc.constantFrom(
  '+1 (616) 954-7888',
  '+4915112345678',
  '0151 12345678',
  '07911 123456',
  '0044 20 7946 0958',
  '9.19961E+11',
  '616-954-7888',
);

/** A RawIdentity with every field drawn from nasty and field-like strings. */
export const rawIdentity = fc.record(
  {
    emails: fc.array(fc.oneof(anyString, fc.emailAddress()), { maxLength: 3 }),
    phones: fc.array(fc.oneof(anyString, phoneLike), { maxLength: 2 }),
    firstName: fc.oneof(anyString, nameLike),
    lastName: fc.oneof(anyString, nameLike),
    fullName: fc.oneof(anyString, nameLike),
    gender: fc.oneof(anyString, fc.constantFrom('m', 'Female', 'Weiblich', 'x')),
    birthday: fc.record(
      {
        year: fc.integer({ min: 1850, max: 2100 }),
        month: fc.integer({ min: 0, max: 13 }),
        day: fc.integer({ min: 0, max: 32 }),
      },
      { requiredKeys: [] },
    ),
    city: fc.oneof(anyString, nameLike),
    state: fc.oneof(anyString, fc.constantFrom('California', 'TX', 'Bayern')),
    zip: fc.oneof(anyString, fc.constantFrom('37221-3312', '2492', 'SW1A 1AA', '10115')),
    country: fc.oneof(anyString, fc.constantFrom('us', 'uk', 'Deutschland', 'USA', 'Atlantis')),
    externalId: anyString,
  },
  { requiredKeys: ['emails', 'phones'] },
);
