import { foldKey, isAscii, isTrimmable, lowerLettersOnly, trimAll } from './text';

/** Meta CT rule: lowercase letters only, no spaces or punctuation, non-ASCII letters kept (`St. Louis` → `stlouis`). */
export function normalizeCity(value: string): string | undefined {
  const out = lowerLettersOnly(value);
  return out.length > 0 ? out : undefined;
}

/** USPS codes of the states, DC, the territories, the freely associated states and the armed forces, by name. */
const US_STATES: ReadonlyArray<readonly [code: string, ...names: string[]]> = [
  ['AL', 'Alabama'],
  ['AK', 'Alaska'],
  ['AZ', 'Arizona'],
  ['AR', 'Arkansas'],
  ['CA', 'California'],
  ['CO', 'Colorado'],
  ['CT', 'Connecticut'],
  ['DE', 'Delaware'],
  ['FL', 'Florida'],
  ['GA', 'Georgia'],
  ['HI', 'Hawaii', 'Hawaiʻi'],
  ['ID', 'Idaho'],
  ['IL', 'Illinois'],
  ['IN', 'Indiana'],
  ['IA', 'Iowa'],
  ['KS', 'Kansas'],
  ['KY', 'Kentucky'],
  ['LA', 'Louisiana'],
  ['ME', 'Maine'],
  ['MD', 'Maryland'],
  ['MA', 'Massachusetts'],
  ['MI', 'Michigan'],
  ['MN', 'Minnesota'],
  ['MS', 'Mississippi'],
  ['MO', 'Missouri'],
  ['MT', 'Montana'],
  ['NE', 'Nebraska'],
  ['NV', 'Nevada'],
  ['NH', 'New Hampshire'],
  ['NJ', 'New Jersey'],
  ['NM', 'New Mexico'],
  ['NY', 'New York', 'New York State'],
  ['NC', 'North Carolina'],
  ['ND', 'North Dakota'],
  ['OH', 'Ohio'],
  ['OK', 'Oklahoma'],
  ['OR', 'Oregon'],
  ['PA', 'Pennsylvania'],
  ['RI', 'Rhode Island'],
  ['SC', 'South Carolina'],
  ['SD', 'South Dakota'],
  ['TN', 'Tennessee'],
  ['TX', 'Texas'],
  ['UT', 'Utah'],
  ['VT', 'Vermont'],
  ['VA', 'Virginia'],
  ['WA', 'Washington', 'Washington State'],
  ['WV', 'West Virginia'],
  ['WI', 'Wisconsin'],
  ['WY', 'Wyoming'],
  ['DC', 'District of Columbia', 'Washington DC', 'Washington D.C.'],
  ['AS', 'American Samoa'],
  ['GU', 'Guam'],
  ['MP', 'Northern Mariana Islands'],
  ['PR', 'Puerto Rico'],
  ['VI', 'U.S. Virgin Islands', 'US Virgin Islands', 'Virgin Islands'],
  ['UM', 'United States Minor Outlying Islands', 'U.S. Minor Outlying Islands'],
  ['FM', 'Federated States of Micronesia', 'Micronesia'],
  ['MH', 'Marshall Islands'],
  ['PW', 'Palau'],
  ['AA', 'Armed Forces Americas'],
  ['AE', 'Armed Forces Europe', 'Armed Forces Africa', 'Armed Forces Canada', 'Armed Forces Middle East'],
  ['AP', 'Armed Forces Pacific'],
];

/** Lowercase USPS code by lowercase code and by folded name. */
const US_STATE_CODES = new Map<string, string>();
for (const [code, ...names] of US_STATES) {
  const lower = code.toLowerCase();
  US_STATE_CODES.set(lower, lower);
  for (const name of names) US_STATE_CODES.set(foldKey(name), lower);
}

function usStateLower(value: string): string | undefined {
  const t = trimAll(value);
  if (t.length === 2) {
    const hit = US_STATE_CODES.get(t.toLowerCase());
    if (hit !== undefined) return hit;
  }
  const key = foldKey(t);
  // two-letter keys are codes; only accept them when written as codes (`C.A.` is not a code)
  return key.length > 2 ? US_STATE_CODES.get(key) : undefined;
}

/** The USPS code (uppercase, `CA`) of a US state, territory or DC given by code or name; undefined otherwise. */
export function usStateCode(value: string): string | undefined {
  return usStateLower(value)?.toUpperCase();
}

const NOT_ALNUM = /[^a-z0-9\p{L}\p{M}]+/gu;
const LEADING_MARKS = /^\p{M}+/u;

/** Lowercase ASCII letters and digits, and non-ASCII letters (NFC): region codes outside the US. */
function lowerAlnum(value: string): string {
  if (isAscii(value)) {
    let out = '';
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += value[i];
      else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    }
    return out;
  }
  // compose after filtering: dropping a space can join a letter and a mark
  return value.normalize('NFC').toLowerCase().replace(NOT_ALNUM, '').normalize('NFC').replace(LEADING_MARKS, '');
}

/**
 * Meta ST rule: in the US the two-letter code, lowercase (`California` → `ca`); elsewhere lowercase without
 * punctuation or spaces. `country` is lowercase or uppercase ISO-2; when unknown, a US state name still maps to its code.
 */
export function normalizeState(value: string, country?: string): string | undefined {
  const c = country?.toLowerCase();
  if (c === 'us' || c === undefined) {
    const us = usStateLower(value);
    if (us !== undefined) return us;
    if (c === 'us') return undefined; // not a US state: sending it would never match
  }
  const out = lowerAlnum(value);
  return out.length > 0 ? out : undefined;
}

/** Countries whose postcodes follow the UK format (Crown Dependencies included). */
const UK_POSTCODE_COUNTRIES: ReadonlySet<string> = new Set(['gb', 'gg', 'je', 'im']);
/** Full UK postcode without spaces: outward code (area + district), then sector digit and unit letters. */
const UK_FULL = /^([a-z]{1,2}[0-9][a-z0-9]?|gir)([0-9])[a-z]{2}$/;
const NOT_ASCII_ALNUM = /[^a-z0-9]+/g;
/** Already reduced (outward + sector) or outward code only. */
const UK_PARTIAL = /^(?:[a-z]{1,2}[0-9][a-z0-9]?|gir)[0-9]?$/;

/** Lowercase, every whitespace and control character removed; other characters (`-`) kept. */
function compactLower(value: string): string {
  const lower = value.toLowerCase();
  let out = '';
  for (let i = 0; i < lower.length; i++) if (!isTrimmable(lower.charCodeAt(i))) out += lower[i];
  return isAscii(out) ? out : out.normalize('NFC');
}

/** Digits of a US ZIP written as 12345, 12345-6789, 123456789, or with the leading zero lost (2492, 2492-1234). */
function usZip5(compact: string): string | undefined {
  let digits = '';
  let dash = -1;
  for (let i = 0; i < compact.length; i++) {
    const c = compact.charCodeAt(i);
    if (c >= 48 && c <= 57) digits += compact[i];
    else if (c === 45 && dash < 0) dash = digits.length;
    else return undefined;
  }
  const head = dash < 0 ? digits.length : dash;
  const tail = digits.length - head;
  if (dash >= 0 && tail !== 4) return undefined;
  if (dash < 0 && (head === 5 || head === 9)) return digits.slice(0, 5);
  if (dash >= 0 && head === 5) return digits.slice(0, 5);
  // Stated rule: Excel stores ZIPs as numbers and drops the leading zero of New England / NJ / PR ZIPs (02492 → 2492).
  // A 4-digit US ZIP (or 4+4) is always such a casualty, so the zero is restored; fewer digits are not guessed at.
  if (head === 4 && (dash >= 0 || digits.length === 4)) return `0${digits.slice(0, 4)}`;
  return undefined;
}

/**
 * Meta ZIP rule: lowercase, no spaces. US: the first 5 digits (`37221-3312` → `37221`, `2492` → `02492`);
 * UK: outward code + sector digit (`SW1A 1AA` → `sw1a1`); elsewhere as is.
 */
const US_ZIP_PLUS4 = /^\d{5}-\d{4}$/;

export function normalizeZip(value: string, country?: string): string | undefined {
  // Most cells are a clean 5-digit code or ZIP+4: their answer without building a compacted copy first.
  const plain = plainZip(value, country);
  if (plain !== undefined) return plain;
  return normalizeZipGeneral(value, country);
}

/**
 * {@link normalizeZip} of `12345` (any country: it is its own compact form, and a US ZIP's five digits) and of US
 * `12345-6789`; undefined for anything else, which the general rule reads. Proven equal to it by a property test.
 */
function plainZip(value: string, country: string | undefined): string | undefined {
  const n = value.length;
  if (n !== 5 && n !== 10) return undefined;
  for (let i = 0; i < 5; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  if (n === 5) return country === undefined || !UK_POSTCODE_COUNTRIES.has(country.toLowerCase()) ? value : undefined;
  if (value.charCodeAt(5) !== 45) return undefined;
  for (let i = 6; i < 10; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  // The 5+4 shape is a US ZIP whatever the country says (see normalizeZipGeneral).
  return value.slice(0, 5);
}

/** {@link normalizeZip} by the rule itself, for any cell (exported for the test that holds the fast path to it). */
export function normalizeZipGeneral(value: string, country?: string): string | undefined {
  const compact = compactLower(value);
  if (compact.length === 0) return undefined;
  const c = country?.toLowerCase();
  // The US 5+4 shape (94035-1234) is a US ZIP code whatever the country column says or lacks: the +4 never travels.
  if (c === 'us' || US_ZIP_PLUS4.test(value.trim())) return usZip5(compact);
  if (c !== undefined && UK_POSTCODE_COUNTRIES.has(c)) {
    const uk = compact.replace(NOT_ASCII_ALNUM, '');
    const full = UK_FULL.exec(uk);
    if (full) return `${full[1]}${full[2]}`;
    return UK_PARTIAL.test(uk) ? uk : undefined;
  }
  return compact;
}
