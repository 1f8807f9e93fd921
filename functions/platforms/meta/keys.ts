/**
 * Meta's customer-list keys: key → normalizer → hashed, one row per key with Meta's rule beside it. The normalizers
 * themselves are shared (functions/core/normalize); the choice and order of keys is Meta's.
 */

import type { RawIdentity } from '../../core/model';
import { normalizeCountry } from '../../core/normalize/country';
import { normalizeEmail } from '../../core/normalize/email';
import { normalizeExternalId } from '../../core/normalize/external-id';
import { normalizeGender } from '../../core/normalize/gender';
import { isSha256Hex } from '../../core/normalize/hash';
import { normalizeCity, normalizeState, normalizeZip } from '../../core/normalize/location';
import { normalizeMadid } from '../../core/normalize/madid';
import { normalizeFirstInitial, normalizeName } from '../../core/normalize/name';
import {
  applyRules,
  type Cell,
  firstEmail,
  firstPhone,
  hashedCell,
  type KeyOptions,
  type KeyRule,
  type KeysResult,
  NO_CELL,
  type RowContext,
  rowContext,
} from '../../core/normalize/row';

/** Meta multi-key schema keys, in the order we send them. */
export const META_KEYS = [
  'EMAIL',
  'PHONE',
  'FN',
  'LN',
  'FI',
  'GEN',
  'DOBY',
  'DOBM',
  'DOBD',
  'CT',
  'ST',
  'ZIP',
  'COUNTRY',
  'MADID',
  'EXTERN_ID',
] as const;
export type MetaKey = (typeof META_KEYS)[number];
export const META_KEY_ORDER: readonly string[] = META_KEYS;

function firstInitial(row: RowContext): Cell {
  // FI is derived from the first name; a pre-hashed first name has no initial to derive.
  if (row.firstName === undefined || isSha256Hex(row.firstName)) return NO_CELL;
  const fi = normalizeFirstInitial(row.firstName);
  return fi === undefined ? NO_CELL : { value: fi }; // an unusable first name is already reported by FN
}

const email = (r: RowContext) => firstEmail(r.raw.emails, normalizeEmail);
const phone = (r: RowContext) => firstPhone(r, (e164Digits) => e164Digits);
const firstName = (r: RowContext) => hashedCell(r.firstName, normalizeName, 'invalid_name');
const lastName = (r: RowContext) => hashedCell(r.lastName, normalizeName, 'invalid_name');
const gender = (r: RowContext) => hashedCell(r.raw.gender, normalizeGender, 'unrecognized_gender');
const birthMonth = (r: RowContext) => optional(r.birthday.month);
const birthDay = (r: RowContext) => optional(r.birthday.day);
const city = (r: RowContext) => hashedCell(r.raw.city, normalizeCity, 'invalid_city');
const state = (r: RowContext) => hashedCell(r.raw.state, (v) => normalizeState(v, r.ruleCountry), 'invalid_state');
const zip = (r: RowContext) => hashedCell(r.raw.zip, (v) => normalizeZip(v, r.ruleCountry), 'invalid_zip');
const country = (r: RowContext) => hashedCell(r.raw.country, normalizeCountry, 'unknown_country');

/**
 * Meta customer-list keys, in META_KEYS order: key → normalizer → hashed. The comment on each row is Meta's rule.
 * lowCardinality marks keys with few distinct values and shared those whose values many people share (names,
 * cities): their hashes are memoized. memoBy names the one value a key depends on, when it depends on nothing else
 * (not ST or ZIP, whose rules follow the row's country): the key is then memoized by it, normalizer and all.
 */
export const META_RULES: readonly KeyRule<MetaKey>[] = [
  // trim, lowercase
  { key: 'EMAIL', field: 'email', hashed: true, cell: email },
  // digits only with country code, no `+`, no leading zeros (0044… → 44…)
  { key: 'PHONE', field: 'phone', hashed: true, cell: phone },
  // lowercase, no punctuation or spaces, non-ASCII letters kept in UTF-8 (O'Connor → oconnor)
  { key: 'FN', field: 'firstName', hashed: true, shared: true, cell: firstName, memoBy: (r) => r.firstName },
  // as FN
  { key: 'LN', field: 'lastName', hashed: true, shared: true, cell: lastName, memoBy: (r) => r.lastName },
  // first initial of the first name, lowercase
  { key: 'FI', field: 'firstName', hashed: true, lowCardinality: true, cell: firstInitial, memoBy: (r) => r.firstName },
  // m or f; anything else left empty, never guessed
  { key: 'GEN', field: 'gender', hashed: true, lowCardinality: true, cell: gender, memoBy: (r) => r.raw.gender },
  // YYYY
  { key: 'DOBY', field: 'birthday', hashed: true, lowCardinality: true, cell: birthYear },
  // 01–12
  { key: 'DOBM', field: 'birthday', hashed: true, lowCardinality: true, cell: birthMonth },
  // 01–31
  { key: 'DOBD', field: 'birthday', hashed: true, lowCardinality: true, cell: birthDay },
  // lowercase letters only, no spaces or punctuation (St. Louis → stlouis)
  { key: 'CT', field: 'city', hashed: true, shared: true, cell: city, memoBy: (r) => r.raw.city },
  // US: 2-letter code, lowercase (California → ca); elsewhere lowercase, no punctuation or spaces
  { key: 'ST', field: 'state', hashed: true, lowCardinality: true, cell: state },
  // lowercase, no spaces; US: first 5 digits; UK: area/district/sector
  { key: 'ZIP', field: 'zip', hashed: true, cell: zip },
  // ISO 3166-1 alpha-2, lowercase (Mailchimp's uk means gb)
  { key: 'COUNTRY', field: 'country', hashed: true, lowCardinality: true, cell: country, memoBy: (r) => r.raw.country },
  // lowercase, hyphens kept, not hashed (IDFA / AAID)
  { key: 'MADID', field: 'madid', hashed: false, cell: madid },
  // as is, not hashed
  { key: 'EXTERN_ID', field: 'externalId', hashed: false, cell: externalId },
];

function optional(value: string | undefined): Cell {
  return value === undefined ? NO_CELL : { value };
}

function birthYear(row: RowContext): Cell {
  const cell: Cell = row.birthday.year === undefined ? {} : { value: row.birthday.year };
  if (row.birthday.dropped) cell.problem = 'implausible_birthday'; // reported once, on DOBY, for any dropped part
  return cell;
}

function madid(row: RowContext): Cell {
  for (const m of row.raw.madids ?? []) {
    const v = normalizeMadid(m);
    if (v !== undefined) return { value: v };
  }
  return (row.raw.madids ?? []).some((m) => m.trim() !== '') ? { problem: 'invalid_madid' } : NO_CELL;
}

function externalId(row: RowContext): Cell {
  // EXTERN_ID is the advertiser's own id: a 64-hex id is a legitimate id here, not a hash to reject.
  const id = row.raw.externalId === undefined ? undefined : normalizeExternalId(row.raw.externalId);
  return id === undefined ? NO_CELL : { value: id };
}

/**
 * Meta match keys for one row: every value SHA-256 lowercase hex (values that already are pass through), except
 * EXTERN_ID which is sent as is. The first valid email and the first valid phone are used.
 */
export function metaKeys(raw: RawIdentity, opts: KeyOptions = {}): KeysResult<MetaKey> {
  return applyRules(META_RULES, rowContext(raw, opts));
}
