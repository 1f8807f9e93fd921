/**
 * Agreement with Google's own user-data formatter for the Data Manager API.
 *
 * The inputs and expected outputs below are the test vectors of googleads/data-manager-node
 * `util/test/formatter.test.ts` (main, last changed in d5e833e "Update formatter to handle plus signs in emails with
 * Google domains"), licensed Apache-2.0 by Google LLC. Only the values are taken, rewritten as this table; the
 * formatter's code is not used. Vectors for null/undefined inputs are left out (the types rule them out here), and
 * so are the Base64 ones: audience-sync sends `encoding: HEX`.
 *
 * `google` is what Google's formatter returns (null: it throws). `product` is set only where audience-sync
 * deliberately returns something else, with the reason in `why`.
 */
import { describe, expect, it } from 'vitest';
import {
  googleKeys,
  googleRegionCode,
  normalizeGoogleEmail,
  normalizeGoogleFamilyName,
  normalizeGoogleGivenName,
  normalizeGooglePhone,
  normalizeGooglePostalCode,
  sha256Hex,
} from '../../../functions/core/normalize';

type Field = 'email' | 'phone' | 'givenName' | 'familyName' | 'regionCode' | 'postalCode';

interface Vector {
  field: Field;
  input: string;
  google: string | null;
  product?: string | null;
  why?: string;
}

const normalizers: Record<Field, (v: string) => string | undefined> = {
  email: normalizeGoogleEmail,
  phone: (v) => normalizeGooglePhone(v),
  givenName: normalizeGoogleGivenName,
  familyName: normalizeGoogleFamilyName,
  regionCode: googleRegionCode,
  postalCode: (v) => normalizeGooglePostalCode(v),
};

const REGION_FROM_EXPORT =
  "a country column holds names and alpha-3 codes; they are converted to ISO-2 (Google's formatter expects the caller to have done so)";

/** formatX(input) vectors: 53. */
const FORMAT_VECTORS: Vector[] = [
  { field: 'email', input: 'QuinnY@example.com', google: 'quinny@example.com' },
  { field: 'email', input: 'QuinnY@EXAMPLE.com', google: 'quinny@example.com' },
  { field: 'email', input: 'user.name+NYC@Example.com', google: 'user.name+nyc@example.com' },
  { field: 'email', input: '@example.com', google: null },
  { field: 'email', input: 'quinn', google: null },
  { field: 'email', input: 'jefferson.Loves.hiking@gmail.com', google: 'jeffersonloveshiking@gmail.com' },
  { field: 'email', input: 'j.e.f..ferson.Loves.hiking@gmail.com', google: 'jeffersonloveshiking@gmail.com' },
  { field: 'email', input: 'jefferson.Loves.hiking@googlemail.com', google: 'jeffersonloveshiking@googlemail.com' },
  { field: 'email', input: 'Cloudy.SanFrancisco+shopping@gmail.com', google: 'cloudysanfrancisco@gmail.com' },
  { field: 'email', input: 'Cloudy.SanFrancisco+shopping@googlemail.com', google: 'cloudysanfrancisco@googlemail.com' },

  { field: 'phone', input: '1 800 555 0100', google: '+18005550100' },
  { field: 'phone', input: '18005550100', google: '+18005550100' },
  { field: 'phone', input: '+1 800-555-0100', google: '+18005550100' },
  { field: 'phone', input: '441134960987', google: '+441134960987' },
  { field: 'phone', input: '+441134960987', google: '+441134960987' },
  { field: 'phone', input: '+44-113-496-0987', google: '+441134960987' },
  { field: 'phone', input: '+abc-DEF', google: null },
  { field: 'phone', input: '++++', google: null },

  { field: 'givenName', input: ' Alex   ', google: 'alex' },
  { field: 'givenName', input: ' Mr. Alex   ', google: 'alex' },
  { field: 'givenName', input: ' Mrs. Alex   ', google: 'alex' },
  { field: 'givenName', input: ' Dr. Alex   ', google: 'alex' },
  { field: 'givenName', input: ' Alex Dr.', google: 'alex dr.' },
  { field: 'givenName', input: ' Mralex   ', google: 'mralex' },
  { field: 'givenName', input: ' ', google: null },
  { field: 'givenName', input: ' Mr. ', google: null },

  { field: 'familyName', input: ' Quinn   ', google: 'quinn' },
  { field: 'familyName', input: 'Quinn-Alex', google: 'quinn-alex' },
  { field: 'familyName', input: ' Quinn, Jr.   ', google: 'quinn' },
  { field: 'familyName', input: ' Quinn,Jr.   ', google: 'quinn' },
  { field: 'familyName', input: ' Quinn Sr.  ', google: 'quinn' },
  { field: 'familyName', input: 'quinn, jr. dds', google: 'quinn' },
  { field: 'familyName', input: 'quinn, jr., dds', google: 'quinn' },
  { field: 'familyName', input: 'Boardds', google: 'boardds' },
  { field: 'familyName', input: 'lacparm', google: 'lacparm' },
  { field: 'familyName', input: ' ', google: null },
  { field: 'familyName', input: ', Jr. ', google: null },
  { field: 'familyName', input: ',Jr.,DDS ', google: null },

  { field: 'regionCode', input: 'us', google: 'US' },
  { field: 'regionCode', input: 'us  ', google: 'US' },
  { field: 'regionCode', input: '  us  ', google: 'US' },
  { field: 'regionCode', input: '', google: null },
  { field: 'regionCode', input: '  ', google: null },
  { field: 'regionCode', input: 'u', google: null },
  { field: 'regionCode', input: ' usa ', google: null, product: 'US', why: REGION_FROM_EXPORT },
  { field: 'regionCode', input: ' u s ', google: null, product: 'US', why: `${REGION_FROM_EXPORT} (U.S.)` },
  { field: 'regionCode', input: ' u2 ', google: null },

  { field: 'postalCode', input: '94045', google: '94045' },
  { field: 'postalCode', input: ' 94045  ', google: '94045' },
  { field: 'postalCode', input: '1229-076', google: '1229-076' },
  { field: 'postalCode', input: '  1229-076  ', google: '1229-076' },
  { field: 'postalCode', input: '', google: null },
  { field: 'postalCode', input: '  ', google: null },
];

/** processX(input, HEX) vectors, and hashString: 12 + 2, checked through googleKeys (what is actually sent). */
const EMAIL_HASH = '509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a';
const PHONE_HASH = 'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30';
const GIVEN_HASH = '128a07bfe2df877c52076e60d7774cf5baaa046c5a6c48daf30ff43ecca2f814';
const FAMILY_HASH = '77762c287e61ce065bee5c15464012c6fbe088398b8057627d5577249430d574';

const expected = (v: Vector) => (v.product !== undefined ? v.product : v.google);

describe("Google's formatter vectors", () => {
  it.each(FORMAT_VECTORS)('$field $input', (v) => {
    expect(normalizers[v.field](v.input) ?? null).toBe(expected(v));
  });

  it('agrees on all but the deliberate differences, each with a reason', () => {
    const agree = FORMAT_VECTORS.filter((v) => (normalizers[v.field](v.input) ?? null) === v.google);
    const differ = FORMAT_VECTORS.filter((v) => v.product !== undefined);
    expect(differ.every((v) => (v.why ?? '').length > 0)).toBe(true);
    expect({ agree: agree.length, differ: differ.length, total: FORMAT_VECTORS.length }).toEqual({
      agree: 51,
      differ: 2,
      total: 53,
    });
  });

  it.each(['alexz@example.com', '  alexz@example.com', '  ALEXZ@example.com   ', '  alexz@EXAMPLE.com   '])(
    'hex email hash of %j',
    (input) => {
      expect(googleKeys({ emails: [input], phones: [] }).keys.email).toBe(EMAIL_HASH);
    },
  );

  it.each(['+18005550100', '   +1-800-555-0100', '1-800-555-0100   '])('hex phone hash of %j', (input) => {
    expect(googleKeys({ emails: [], phones: [input] }).keys.phone).toBe(PHONE_HASH);
  });

  it.each(['Givenname', '  GivenName  '])('hex given-name hash of %j (with a complete address)', (input) => {
    const { keys } = googleKeys({
      emails: [],
      phones: [],
      firstName: input,
      lastName: 'Familyname',
      country: ' us',
      zip: ' 1229-076  ',
    });
    expect(keys.firstName).toBe(GIVEN_HASH);
    expect(keys.lastName).toBe(FAMILY_HASH);
    expect(keys.countryCode).toBe('US');
    expect(keys.postalCode).toBe('1229-076');
  });

  it('hashString: SHA-256 hex of the formatted values', () => {
    expect(sha256Hex('alexz@example.com')).toBe(EMAIL_HASH);
    expect(sha256Hex('+18005550100')).toBe(PHONE_HASH);
  });
});

describe('beyond the vectors (deliberate, no Google vector covers them)', () => {
  it.each([
    ['givenName', 'Dr Alex', 'alex', 'a prefix without its period is still a prefix when a name follows'],
    ['givenName', 'Mr', 'mr', 'a bare prefix without a period may be a name (the formatter keeps it too)'],
    ['givenName', 'Mary  Ann', 'mary ann', 'inner whitespace runs collapse'],
    ['givenName', '-', null, 'no letter, no person'],
    ['familyName', 'Jr.', 'jr.', 'a bare suffix is a name (the formatter keeps it too)'],
    ['familyName', "O'Connor", "o'connor", 'punctuation is kept, as the formatter keeps it'],
    ['phone', '0151 12345678', null, 'a national number needs a country (see normalizeGooglePhone)'],
  ] as const)('%s %j → %j (%s)', (field, input, out, _why) => {
    expect(normalizers[field](input) ?? null).toBe(out);
  });

  it('reads a national phone with the row country, which the formatter cannot', () => {
    expect(normalizeGooglePhone('0151 12345678', 'DE')).toBe('+4915112345678');
  });

  it('pads a US ZIP that lost its leading zero, keeps ZIP+4', () => {
    expect(normalizeGooglePostalCode('2492', 'us')).toBe('02492');
    expect(normalizeGooglePostalCode('37221-3312', 'us')).toBe('37221-3312');
  });
});
