import { isAscii, trimAll } from './text';

const LOCAL_MAX = 64; // RFC 5321 limits; longer values are export garbage, not addresses
const ADDRESS_MAX = 254;
const LABEL_MAX = 63;

/** Non-ASCII domain labels (IDN in Unicode form): letters, marks, digits and hyphens. */
const UNICODE_LABEL = /^[\p{L}\p{M}\p{N}-]+$/u;
/** A top-level domain: at least two letters, or an IDN in punycode form. */
const UNICODE_TLD = /^\p{L}[\p{L}\p{M}]+$/u;

/** Characters never valid unquoted in an address; quoted local parts are too rare in exports to be worth keeping. */
function isForbiddenInLocal(c: number): boolean {
  return (
    c <= 0x20 ||
    (c >= 0x7f && c <= 0xa0) ||
    c === 0x22 || // "
    c === 0x28 || // (
    c === 0x29 || // )
    c === 0x2c || // ,
    c === 0x3a || // :
    c === 0x3b || // ;
    c === 0x3c || // <
    c === 0x3e || // >
    c === 0x40 || // @
    c === 0x5b || // [
    c === 0x5c || // \
    c === 0x5d || // ]
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200f) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x2060 ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** True when every UTF-16 surrogate in `s` is part of a pair (a lone surrogate cannot be encoded as UTF-8). */
function hasOnlyPairedSurrogates(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

function isAsciiLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isPlausibleLabel(label: string): boolean {
  if (label.length === 0 || label.length > LABEL_MAX) return false;
  if (label.charCodeAt(0) === 45 || label.charCodeAt(label.length - 1) === 45) return false; // no leading/trailing -
  if (isAscii(label)) {
    for (let i = 0; i < label.length; i++) if (!isAsciiLabelChar(label.charCodeAt(i))) return false;
    return true;
  }
  return UNICODE_LABEL.test(label);
}

function isPlausibleTld(tld: string): boolean {
  if (tld.length < 2) return false;
  if (tld.startsWith('xn--')) return tld.length > 4; // punycode IDN TLD, e.g. xn--p1ai (.рф)
  if (isAscii(tld)) {
    for (let i = 0; i < tld.length; i++) if (!isAsciiLetter(tld.charCodeAt(i))) return false;
    return true;
  }
  return UNICODE_TLD.test(tld);
}

/**
 * Pragmatic address check, not RFC 5322: one `@`, a non-empty local part without spaces or specials
 * (non-ASCII allowed, e.g. `ömil@gmail.com`), a domain of dotted labels ending in a TLD of at least two letters.
 * The value is checked as given (not trimmed).
 */
export function isPlausibleEmail(s: string): boolean {
  return isAscii(s) ? isPlausibleAscii(s) : plausibleShape(s) && generalAddressAfterAt(s, s.indexOf('@'));
}

/** {@link isPlausibleEmail} for a value known to be ASCII. */
function isPlausibleAscii(s: string): boolean {
  return plausibleShape(s) && asciiAddressAfterAt(s, s.indexOf('@'));
}

/** The length limits and exactly one `@`, with a local part before it. */
function plausibleShape(s: string): boolean {
  if (s.length < 6 || s.length > ADDRESS_MAX) return false; // a@b.cd is the shortest plausible address
  const at = s.indexOf('@');
  return at > 0 && at <= LOCAL_MAX && s.indexOf('@', at + 1) === -1;
}

/**
 * The rest of {@link isPlausibleEmail} for an ASCII address: the same rules, each label checked in place (no slice
 * per label). Proven equal to the general path by a property test (test/unit/normalize/email-fast.test.ts).
 */
function asciiAddressAfterAt(s: string, at: number): boolean {
  for (let i = 0; i < at; i++) if (isForbiddenInLocal(s.charCodeAt(i))) return false;
  const n = s.length;
  let from = at + 1;
  let dot = s.indexOf('.', from);
  if (dot === -1) return false;
  for (; dot !== -1; from = dot + 1, dot = s.indexOf('.', from)) if (!asciiLabel(s, from, dot)) return false;
  if (!asciiLabel(s, from, n) || n - from < 2) return false;
  // xn--p1ai (.рф): punycode IDN TLD; otherwise letters only.
  if (s.startsWith('xn--', from)) return n - from > 4;
  for (let i = from; i < n; i++) if (!isAsciiLetter(s.charCodeAt(i))) return false;
  return true;
}

function asciiLabel(s: string, from: number, to: number): boolean {
  const len = to - from;
  if (len === 0 || len > LABEL_MAX) return false;
  if (s.charCodeAt(from) === 45 || s.charCodeAt(to - 1) === 45) return false; // no leading/trailing -
  for (let i = from; i < to; i++) if (!isAsciiLabelChar(s.charCodeAt(i))) return false;
  return true;
}

/** The rest of {@link isPlausibleEmail} for any address (non-ASCII local parts and IDN domains). */
export function generalAddressAfterAt(s: string, at: number): boolean {
  for (let i = 0; i < at; i++) if (isForbiddenInLocal(s.charCodeAt(i))) return false;
  if (!hasOnlyPairedSurrogates(s)) return false;
  // The domain's dotted labels, walked in place (no array of them per address).
  let from = at + 1;
  let dot = s.indexOf('.', from);
  if (dot === -1) return false;
  for (; dot !== -1; from = dot + 1, dot = s.indexOf('.', from))
    if (!isPlausibleLabel(s.slice(from, dot))) return false;
  const tld = s.slice(from);
  return isPlausibleLabel(tld) && isPlausibleTld(tld);
}

/**
 * Meta/Google email rule: trim (incl. \t \r \n \0 \v, BOM), lowercase; non-ASCII NFC-composed.
 * `undefined` when the result is not a plausible address.
 */
export function normalizeEmail(value: string): string | undefined {
  // A row's address is normalized for its identity and again for each platform's key: the last answer is kept.
  if (value === lastEmailIn) return lastEmailOut;
  const out = normalizeEmailOnce(value);
  lastEmailIn = value;
  lastEmailOut = out;
  return out;
}

let lastEmailIn: string | undefined;
let lastEmailOut: string | undefined;

function normalizeEmailOnce(value: string): string | undefined {
  const t = trimAll(value);
  if (t.length === 0) return undefined;
  // ASCII (most addresses) is checked and told apart in one walk (see asciiVerdict); anything else by the general rules.
  const v = asciiVerdict(t);
  if (v === NOT_ASCII) {
    const e = t.toLowerCase().normalize('NFC');
    return isPlausibleEmail(e) ? e : undefined;
  }
  if (v === IMPLAUSIBLE) return undefined;
  return v === PLAUSIBLE_UPPER ? t.toLowerCase() : t;
}

/** Character classes of ASCII for {@link asciiVerdict}, one byte per code. */
const LOCAL_OK = 1; // may stand unquoted in a local part
const LABEL_OK = 2; // letter, digit or hyphen: may stand in a domain label
const LETTER = 4;
const UPPER = 8;
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  let k = 0;
  if (!isForbiddenInLocal(c)) k |= LOCAL_OK;
  if (isAsciiLabelChar(c)) k |= LABEL_OK;
  if (isAsciiLetter(c)) k |= LETTER;
  if (c >= 65 && c <= 90) k |= UPPER;
  ASCII_CLASS[c] = k;
}

/** A label of characters already known to be letters, digits and hyphens: not empty, not too long, no hyphen at an end. */
function labelEnds(s: string, from: number, to: number): boolean {
  const len = to - from;
  return len > 0 && len <= LABEL_MAX && s.charCodeAt(from) !== 45 && s.charCodeAt(to - 1) !== 45;
}

/** `xn--` at `at`, in either case. */
function isPunycodePrefix(s: string, at: number): boolean {
  return (
    (s.charCodeAt(at) | 32) === 120 &&
    (s.charCodeAt(at + 1) | 32) === 110 &&
    s.charCodeAt(at + 2) === 45 &&
    s.charCodeAt(at + 3) === 45
  );
}

const NOT_ASCII = 0;
const IMPLAUSIBLE = 1;
const PLAUSIBLE = 2;
const PLAUSIBLE_UPPER = 3;

/**
 * {@link isPlausibleAscii} and "has it capitals" in one walk over the characters, by a class table: NOT_ASCII as
 * soon as a character is not ASCII, else whether the address is plausible (and needs lowercasing). Lowercasing ASCII
 * changes no character's class, so the verdict holds for the lowercased address. Proven equal to the general path by
 * a property test (test/unit/normalize/email-fast.test.ts).
 */
function asciiVerdict(s: string): number {
  const n = s.length;
  let upper = 0;
  let bad = false;
  let at = -1;
  // The current domain label: where it starts, and whether it holds only letters (for the last one, the TLD).
  let from = 0;
  let letters = true;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return NOT_ASCII;
    const k = ASCII_CLASS[c] as number;
    upper |= k & UPPER;
    if (bad) continue;
    if (at < 0) {
      if (c === 64) {
        at = i;
        from = i + 1;
      } else if ((k & LOCAL_OK) === 0) bad = true;
    } else if (c === 46) {
      // a label ends: not empty, not too long, no hyphen at either end
      if (!labelEnds(s, from, i)) bad = true;
      dots++;
      from = i + 1;
      letters = true;
    } else if ((k & LABEL_OK) === 0) bad = true;
    else if ((k & LETTER) === 0) letters = false;
  }
  if (bad || !plausibleShape(s) || dots === 0 || !labelEnds(s, from, n) || n - from < 2) return IMPLAUSIBLE;
  // xn--p1ai (.рф): punycode IDN TLD (in either case: the address is lowercased after); otherwise letters only.
  const tldOk = isPunycodePrefix(s, from) ? n - from > 4 : letters;
  if (!tldOk) return IMPLAUSIBLE;
  return upper === 0 ? PLAUSIBLE : PLAUSIBLE_UPPER;
}

const GMAIL_DOMAINS: ReadonlySet<string> = new Set(['gmail.com', 'googlemail.com']);

/**
 * Google's extra email rule: for gmail.com / googlemail.com only, dots and any `+suffix` are removed from the local part.
 * Input must already be a normalized email (see normalizeEmail).
 */
export function canonicalGmail(normalizedEmail: string): string | undefined {
  const at = normalizedEmail.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = normalizedEmail.slice(at + 1);
  if (!GMAIL_DOMAINS.has(domain)) return normalizedEmail;
  let local = normalizedEmail.slice(0, at);
  const plus = local.indexOf('+');
  if (plus >= 0) local = local.slice(0, plus);
  if (local.includes('.')) local = local.replaceAll('.', '');
  return local.length > 0 ? `${local}@${domain}` : undefined;
}
