import type { GoogleKey, RawIdentity } from '../model';
import { countryIso2 } from './country';
import { canonicalGmail, normalizeEmail } from './email';
import { normalizePostalCode } from './location';
import { nameWords } from './name';
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

/** Google email: the shared email rule, then Gmail's dot and +suffix folding. */
export function normalizeGoogleEmail(value: string): string | undefined {
  const e = normalizeEmail(value);
  return e === undefined ? undefined : canonicalGmail(e);
}

/**
 * Google given/family name: lowercase, no punctuation, no leading or trailing whitespace, honorifics (Mr, Mrs, Ms, Dr)
 * and suffixes (Jr, Sr, II, III, PhD) removed. Inner spaces are kept as single spaces (`Mary Ann` → `mary ann`),
 * which Google's rule allows and Meta's does not.
 */
export function normalizeGoogleName(value: string): string | undefined {
  const ws = nameWords(value);
  return ws.length > 0 ? ws.join(' ') : undefined;
}

const email = (r: RowContext) => firstEmail(r.raw.emails, normalizeGoogleEmail);
const phone = (r: RowContext) => firstPhone(r, (e164Digits) => `+${e164Digits}`);
const firstName = (r: RowContext) => hashedCell(r.firstName, normalizeGoogleName, 'invalid_name');
const lastName = (r: RowContext) => hashedCell(r.lastName, normalizeGoogleName, 'invalid_name');
const countryCode = (r: RowContext) => clearCell(r.raw.country, countryIso2, 'unknown_country');
const postalCode = (r: RowContext) => clearCell(r.raw.zip, (v) => normalizePostalCode(v, r.ruleCountry), 'invalid_zip');

/** Google Data Manager identifiers: key → normalizer → hashed. The comment on each row is Google's rule. */
export const GOOGLE_RULES: readonly KeyRule<GoogleKey>[] = [
  // trim, lowercase; gmail.com / googlemail.com only: dots and +suffix removed from the local part
  { key: 'email', field: 'email', hashed: true, cell: email },
  // E.164 with `+`
  { key: 'phone', field: 'phone', hashed: true, cell: phone },
  // lowercase, no punctuation, no leading/trailing whitespace, no prefix (Mr, Dr)
  { key: 'firstName', field: 'firstName', hashed: true, cell: firstName },
  // as firstName, no suffix (Jr, PhD)
  { key: 'lastName', field: 'lastName', hashed: true, cell: lastName },
  // ISO 3166-1 alpha-2, unhashed
  { key: 'countryCode', field: 'country', hashed: false, cell: countryCode },
  // postal code, unhashed
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
    for (const k of ADDRESS_KEYS) delete keys[k];
    result.problems.push({ field: 'address', reason: 'incomplete_address' });
  }
  return result;
}
