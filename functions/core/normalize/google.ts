/**
 * Google Data Manager identifiers. The rules agree with Google's own formatter (googleads/data-manager-node,
 * `util/src/formatter.ts`, Apache-2.0) on its test vectors; where this file deliberately goes further, the comment says
 * why and test/unit/normalize/google-formatter.test.ts pins it.
 */
import type { GoogleKey, RawIdentity } from '../model';
import { countryIso2 } from './country';
import { canonicalGmail, normalizeEmail } from './email';
import { normalizePhone } from './phone';
import {
  applyRules,
  clearCell,
  firstEmail,
  firstPhone,
  hashedCell,
  type KeyOptions,
  type KeyRule,
  type KeysResult,
  type RowContext,
  rowContext,
} from './row';
import { isAscii, isTrimmable, trimAll } from './text';

/** Google email: the shared email rule, then Gmail's dot and +suffix folding (gmail.com / googlemail.com only). */
export function normalizeGoogleEmail(value: string): string | undefined {
  const e = normalizeEmail(value);
  return e === undefined ? undefined : canonicalGmail(e);
}

/**
 * Google phone: E.164 with `+`. Unlike Google's formatter (which only keeps the digits), the number must be valid for
 * libphonenumber, and a national number takes its country code from the row's country or the default country.
 */
export function normalizeGooglePhone(value: string, countryHint?: string, defaultCountry?: string): string | undefined {
  const r = normalizePhone(value, countryHint, defaultCountry);
  return r.ok ? `+${r.e164}` : undefined;
}

/** Honorifics Google removes from the start of a given name (Google writes them with a period: `Mr.`). */
const GIVEN_NAME_PREFIXES: ReadonlySet<string> = new Set(['mr', 'mrs', 'ms', 'dr']);
/** Generational and professional suffixes Google removes from the end of a family name. */
const FAMILY_NAME_SUFFIXES: ReadonlySet<string> = new Set([
  'jr',
  'jr.',
  'sr',
  'sr.',
  '2nd',
  '3rd',
  'ii',
  'iii',
  'iv',
  'v',
  'vi',
  'cpa',
  'dc',
  'dds',
  'vm',
  'jd',
  'md',
  'phd',
]);

const HAS_LETTER = /\p{L}/u;

/**
 * Lowercase, NFC, trimmed, every inner whitespace run as one space. Punctuation is kept: Google's formatter keeps
 * hyphens, apostrophes and periods (`Quinn-Alex` → `quinn-alex`). Collapsing inner runs goes beyond the formatter
 * (which keeps `mary  ann` as typed): a doubled space from an export never matches a Google account's name.
 */
function nameText(value: string): string {
  const lower = collapseSpaces(value).toLowerCase();
  return isAscii(lower) ? lower : lower.normalize('NFC');
}

/** Trimmed (whitespace, controls, zero-width), with every inner whitespace run as one space. */
function collapseSpaces(value: string): string {
  const t = trimAll(value);
  let out = '';
  let space = false;
  for (let i = 0; i < t.length; i++) {
    if (isTrimmable(t.charCodeAt(i))) space = true;
    else {
      if (space) out += ' ';
      space = false;
      out += t[i];
    }
  }
  return out;
}

/** A name that holds no letter (`-`, `.`, `42`) identifies nobody: rejected rather than hashed (the formatter hashes it). */
const named = (s: string): string | undefined => (s.length > 0 && HAS_LETTER.test(s) ? s : undefined);

/**
 * Google given name: lowercase, trimmed, a leading `Mr.`/`Mrs.`/`Ms.`/`Dr.` removed; a prefix alone is rejected
 * (` Mr. ` → nothing), as Google's formatter does. Beyond the formatter, the prefix is also removed without its period
 * when a name follows (`Dr Alex` → `alex`): exports write both forms. Suffixes are not touched (`Alex Dr.` → `alex dr.`).
 */
export function normalizeGoogleGivenName(value: string): string | undefined {
  const t = nameText(value);
  const space = t.indexOf(' ');
  const first = space < 0 ? t : t.slice(0, space);
  const rest = space < 0 ? '' : t.slice(space + 1);
  const dotted = first.endsWith('.') && GIVEN_NAME_PREFIXES.has(first.slice(0, -1));
  if (dotted) return named(rest);
  if (rest.length > 0 && GIVEN_NAME_PREFIXES.has(first)) return named(rest);
  return named(t);
}

/**
 * Google family name: lowercase, trimmed, trailing suffixes removed while one follows a comma or a space
 * (`Quinn, Jr.` → `quinn`, `quinn, jr., dds` → `quinn`); a suffix alone after a comma is rejected (`, Jr.`), a bare
 * one is a name (`Jr.` stays `jr.`), both as Google's formatter does. Prefixes are not touched.
 */
export function normalizeGoogleFamilyName(value: string): string | undefined {
  let t = nameText(value);
  for (;;) {
    const cut = Math.max(t.lastIndexOf(' '), t.lastIndexOf(','));
    if (cut < 0 || !FAMILY_NAME_SUFFIXES.has(t.slice(cut + 1))) break;
    // The separator before the suffix goes with it: `, ` or `,` or ` `.
    let start = cut;
    if (t[start] === ' ' && t[start - 1] === ',') start--;
    t = t.slice(0, start).trimEnd();
  }
  return named(t);
}

/**
 * Google region code: ISO 3166-1 alpha-2, uppercase. Google's formatter only accepts a value that already is two
 * letters; an export's country column also holds names and alpha-3 codes (`Germany`, `USA`, `uk` for GB), which are
 * converted here rather than dropped. Anything unrecognizable is rejected.
 */
export const googleRegionCode = (value: string): string | undefined => countryIso2(value);

/**
 * Google postal code: trimmed, as written (case, hyphens and ZIP+4 kept: `1229-076`, `37221-3312`), inner whitespace
 * runs collapsed to one space. One repair beyond the formatter: a US ZIP that lost its leading zero to Excel
 * (`2492`) is padded back to five digits, since the four-digit form matches nobody.
 */
export function normalizeGooglePostalCode(value: string, country?: string): string | undefined {
  let t = collapseSpaces(value);
  if (t.length === 0) return undefined;
  if (!isAscii(t)) t = t.normalize('NFC');
  if (country?.toLowerCase() === 'us' && /^\d{4}(?:-\d{4})?$/.test(t)) return `0${t}`;
  return t;
}

const email = (r: RowContext) => firstEmail(r.raw.emails, normalizeGoogleEmail);
const phone = (r: RowContext) => firstPhone(r, (e164Digits) => `+${e164Digits}`);
const firstName = (r: RowContext) => hashedCell(r.firstName, normalizeGoogleGivenName, 'invalid_name');
const lastName = (r: RowContext) => hashedCell(r.lastName, normalizeGoogleFamilyName, 'invalid_name');
const countryCode = (r: RowContext) => clearCell(r.raw.country, googleRegionCode, 'unknown_country');
const postalCode = (r: RowContext) =>
  clearCell(r.raw.zip, (v) => normalizeGooglePostalCode(v, r.ruleCountry), 'invalid_zip');

/** Google Data Manager identifiers: key → normalizer → hashed. The comment on each row is Google's rule. */
export const GOOGLE_RULES: readonly KeyRule<GoogleKey>[] = [
  // trim, lowercase; gmail.com / googlemail.com only: dots and +suffix removed from the local part
  { key: 'email', field: 'email', hashed: true, cell: email },
  // E.164 with `+`
  { key: 'phone', field: 'phone', hashed: true, cell: phone },
  // lowercase, trimmed, no prefix (Mr., Mrs., Ms., Dr.)
  { key: 'firstName', field: 'firstName', hashed: true, cell: firstName, memoBy: (r) => r.firstName },
  // lowercase, trimmed, no suffix (Jr., Sr., II, PhD, …)
  { key: 'lastName', field: 'lastName', hashed: true, cell: lastName, memoBy: (r) => r.lastName },
  // ISO 3166-1 alpha-2, uppercase, unhashed
  { key: 'countryCode', field: 'country', hashed: false, cell: countryCode, memoBy: (r) => r.raw.country },
  // trimmed, unhashed
  { key: 'postalCode', field: 'zip', hashed: false, cell: postalCode },
];

/** Google matches an address only as the full set: given name, family name, region code and postal code. */
const ADDRESS_KEYS = ['firstName', 'lastName', 'countryCode', 'postalCode'] as const;

/**
 * Google Data Manager identifiers for one row. Email, phone and names are SHA-256 hex (already-hashed values pass
 * through); countryCode (uppercase ISO-2) and postalCode are in clear. An incomplete address is dropped as a whole.
 */
export function googleKeys(raw: RawIdentity, opts: KeyOptions = {}): KeysResult<GoogleKey> {
  return googleKeysOf(rowContext(raw, opts));
}

/** googleKeys over a row context that other key tables share (phones parsed once per row). */
export function googleKeysOf(row: RowContext): KeysResult<GoogleKey> {
  const result = applyRules(GOOGLE_RULES, row);
  const { keys } = result;
  const have = ADDRESS_KEYS.filter((k) => keys[k] !== undefined).length;
  if (have > 0 && have < ADDRESS_KEYS.length) {
    for (const k of ADDRESS_KEYS) {
      delete keys[k];
      const bit = result.names?.indexOf(k) ?? -1;
      if (result.mask !== undefined && bit >= 0) result.mask &= ~(1 << bit);
    }
    result.problems.push({ field: 'address', reason: 'incomplete_address' });
  }
  return result;
}
