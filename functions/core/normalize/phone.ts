import {
  type CountryCode,
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import { countryIso2 } from './country';
import { internationalE164, nationalE164 } from './phone-plans';
import { isAscii, isTrimmable, trimAll } from './text';

export type PhoneResult =
  | { readonly ok: true; readonly e164: string }
  | { readonly ok: false; readonly reason: 'invalid_phone' | 'excel_damaged_phone' };

/** Shortest E.164 number we accept: country code + subscriber number, e.g. +290 XXXX (St Helena). */
const MIN_E164_DIGITS = 7;

const INVALID: PhoneResult = Object.freeze({ ok: false, reason: 'invalid_phone' });
const EXCEL_DAMAGED: PhoneResult = Object.freeze({ ok: false, reason: 'excel_damaged_phone' });

/** `9.19961E+11`, `9,19961E+11`, `7.02255e12`: a phone column Excel turned into a float, digits lost for good. */
const EXCEL_SCIENTIFIC = /^[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]{1,2}$/;

/** A parse that libphonenumber calls valid, as digits without `+`; anything else is invalid. */
function parseValid(text: string, country?: CountryCode, extract = false): PhoneResult {
  // extract: false for our own clean digit strings (faster, and nothing to search for); true for raw text.
  if (!extract) {
    // The library's decision from its compiled numbering plans (phone-plans.ts), when they cover the number.
    const fast =
      text.charCodeAt(0) === 43
        ? internationalE164(text)
        : country === undefined
          ? undefined
          : nationalE164(text, country);
    if (fast !== undefined) return fast === null || fast.length < MIN_E164_DIGITS ? INVALID : { ok: true, e164: fast };
  }
  const parsed = parsePhoneNumberFromString(text, { defaultCountry: country, extract });
  if (parsed === undefined || !parsed.isValid()) return INVALID;
  const e164 = parsed.number.slice(1);
  // libphonenumber accepts some 5–6 digit numbers (short Austrian/German lines); too short to identify a person,
  // and a bare-digit reading of them would not round-trip.
  return e164.length < MIN_E164_DIGITS ? INVALID : { ok: true, e164 };
}

function resolveCountry(hint?: string): CountryCode | undefined {
  if (hint === undefined) return undefined;
  const iso = countryIso2(hint);
  return iso !== undefined && isPlanCountry(iso) ? iso : undefined;
}

/**
 * What libphonenumber answers of a country, asked once per country: each of its calls goes through a wrapper that
 * copies its arguments, some 200 ns of a national number's reading. Bounded by the ISO codes countryIso2 gives.
 */
const supported = new Map<string, boolean>();
const callingCodes = new Map<CountryCode, string>();

function isPlanCountry(iso: string): iso is CountryCode {
  let yes = supported.get(iso);
  if (yes === undefined) {
    yes = isSupportedCountry(iso);
    supported.set(iso, yes);
  }
  return yes;
}

function callingCodeOf(country: CountryCode): string {
  let code = callingCodes.get(country);
  if (code === undefined) {
    code = getCountryCallingCode(country);
    callingCodes.set(country, code);
  }
  return code;
}

/**
 * Keeps digits and a leading `+`, dropping common separators. Returns undefined when the value holds anything else
 * (letters for `ext.`/`tel:`, non-ASCII digits), which then goes to libphonenumber as written.
 */
function canonicalDigits(t: string): string | undefined {
  // Runs of digits are sliced, not copied a character at a time (`+1 312-683-7531` is four slices).
  let out = '';
  let run = -1;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (run < 0) run = i;
      continue;
    }
    if (run >= 0) {
      out += t.slice(run, i);
      run = -1;
    }
    if (c === 43 /* + */ && out.length === 0) out = '+';
    else if (c === 45 || c === 46 || c === 40 || c === 41 || c === 47 || isTrimmable(c)) {
      // - . ( ) / and spaces
    } else return undefined;
  }
  return run < 0 ? out : run === 0 ? t : out + t.slice(run);
}

function isCleanInternational(t: string): boolean {
  if (t.length < 8 || t.length > 16 || t.charCodeAt(0) !== 43 || t.charCodeAt(1) === 48) return false;
  for (let i = 1; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function parseDigits(digits: string, country: CountryCode | undefined): PhoneResult {
  // Meta's file format is digits with country code and no `+`, so a bare digit string may be international.
  // When it starts with the row country's calling code and is valid that way, that reading wins: libphonenumber
  // would otherwise accept `4915112345678` as a (long) German national number and prefix 49 again.
  if (country !== undefined) {
    if (digits.startsWith(callingCodeOf(country))) {
      const intl = parseValid(`+${digits}`);
      if (intl.ok) return intl;
    }
    const national = parseValid(digits, country);
    if (national.ok) return national;
  }
  // No country, or not a valid national number: read it as international; validity guards against guessing.
  if (digits.length >= MIN_E164_DIGITS && digits.charCodeAt(0) !== 48) return parseValid(`+${digits}`);
  return INVALID;
}

/**
 * Meta PHONE rule: E.164 digits without `+` (`+1 (616) 954-7888` → `16169547888`, `0044…` → `44…`).
 * A national number takes its calling code from `countryHint` (the row's country, code or name) when recognizable,
 * else from `defaultCountry`. Excel scientific notation is reported as `excel_damaged_phone`, never repaired.
 */
export function normalizePhone(value: string, countryHint?: string, defaultCountry?: string): PhoneResult {
  // Exports repeat a row's number in a second column (Shopify's Phone and Default Address Phone): the last answer is
  // kept. Results are frozen or never mutated, so sharing one is safe.
  if (value === last.value && countryHint === last.hint && defaultCountry === last.defaultCountry) return last.result;
  const result = normalizePhoneOnce(value, countryHint, defaultCountry);
  last.value = value;
  last.hint = countryHint;
  last.defaultCountry = defaultCountry;
  last.result = result;
  return result;
}

const last: { value?: string; hint?: string; defaultCountry?: string; result: PhoneResult } = { result: INVALID };

function normalizePhoneOnce(value: string, countryHint?: string, defaultCountry?: string): PhoneResult {
  const t = trimAll(value);
  if (t.length === 0) return INVALID;
  // Fast path: already-clean `+<digits>` needs no country and no cleanup.
  if (isCleanInternational(t)) return parseValid(t);
  // NFKC folds full-width digits and `＋` (East Asian input methods) to ASCII; libphonenumber rejects `＋`.
  // (Excel's `9.19961E+11` has a letter, so it never has canonical digits: it is told apart below.)
  const canonical = canonicalDigits(t) ?? (isAscii(t) ? undefined : canonicalDigits(t.normalize('NFKC')));
  if (canonical === undefined) {
    if (EXCEL_SCIENTIFIC.test(t)) return EXCEL_DAMAGED;
    // Letters or exotic digits: let libphonenumber read it (`tel:`, `ext. 12`, full-width digits).
    return parseValid(t, rowCountry(countryHint, defaultCountry), true);
  }
  if (canonical.length < 2) return INVALID;
  // An international number needs no country.
  if (canonical.charCodeAt(0) === 43) return parseValid(canonical);
  if (canonical.startsWith('00')) {
    // `00` is the international call prefix almost everywhere: `0044…` → `+44…`.
    const intl = `+${canonical.slice(2)}`;
    return parseValid(intl);
  }
  return parseDigits(canonical, rowCountry(countryHint, defaultCountry));
}

/** The country a national number is read in: the row's, else the default (the last pair asked is remembered). */
function rowCountry(countryHint?: string, defaultCountry?: string): CountryCode | undefined {
  if (countryHint === lastCountry.hint && defaultCountry === lastCountry.defaultCountry) return lastCountry.country;
  const country = resolveCountry(countryHint) ?? resolveCountry(defaultCountry);
  lastCountry.hint = countryHint;
  lastCountry.defaultCountry = defaultCountry;
  lastCountry.country = country;
  return country;
}

const lastCountry: { hint?: string; defaultCountry?: string; country?: CountryCode } = {};

/** normalizePhone as a plain normalizer: E.164 digits without `+`, or undefined. */
export function normalizePhoneDigits(value: string, countryHint?: string, defaultCountry?: string): string | undefined {
  const r = normalizePhone(value, countryHint, defaultCountry);
  return r.ok ? r.e164 : undefined;
}
