/** Small string helpers shared by the field normalizers. Hot path: no regex on pure ASCII input. */

/** Whitespace, control, zero-width and BOM characters that exports leave around cell values. */
export function isTrimmable(c: number): boolean {
  return (
    c <= 0x20 || // C0 controls (\0, \t, \n, \v, \f, \r, …) and space
    (c >= 0x7f && c <= 0xa0) || // DEL, C1 controls, NBSP
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200f) || // typographic spaces, zero-width chars, LRM/RLM
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x2060 ||
    c === 0x3000 ||
    c === 0xfeff // BOM
  );
}

/** Trims whitespace, control and zero-width characters (incl. \t \r \n \0 \v and BOM) from both ends. */
export function trimAll(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isTrimmable(s.charCodeAt(start))) start++;
  while (end > start && isTrimmable(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Only A–Z and a–z (most names and cities): lowercasing is then all there is to do. */
function isAsciiLetters(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 32;
    if (c < 97 || c > 122) return false;
  }
  return true;
}

const NOT_LETTER_OR_MARK = /[^\p{L}\p{M}]+/gu;
const HAS_LETTER = /\p{L}/u;
const LEADING_MARKS = /^\p{M}+/u;

/**
 * Lowercase letters only, everything else (spaces, punctuation, digits, controls) dropped; non-ASCII letters kept,
 * NFC-normalized so that the same name typed on two systems hashes the same. '' when no letter remains.
 */
export function lowerLettersOnly(s: string): string {
  if (isAscii(s)) {
    if (isAsciiLetters(s)) return s.toLowerCase();
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 97 && c <= 122) out += s[i];
      else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    }
    return out;
  }
  // NFC → lowercase → filter → NFC: removing a character can bring a base letter and a mark together, so compose last.
  // A mark left at the start belongs to no letter (its base was punctuation or a digit): drop it too.
  const out = s
    .normalize('NFC')
    .toLowerCase()
    .replace(NOT_LETTER_OR_MARK, '')
    .normalize('NFC')
    .replace(LEADING_MARKS, '');
  return HAS_LETTER.test(out) ? out : '';
}

const MARKS = /\p{M}+/gu;
const NOT_LETTER = /[^\p{L}]+/gu;

/**
 * Lookup key for tables of names (countries, states, genders): lowercase, diacritics removed, letters only,
 * `&` read as "and", a leading "the" dropped. `Côte d'Ivoire` → `cotedivoire`, `The Gambia` → `gambia`.
 */
export function foldKey(s: string): string {
  let t = s.toLowerCase();
  if (t.includes('&')) t = t.replaceAll('&', ' and ');
  t = trimAll(t);
  if (t.startsWith('the ')) t = t.slice(4);
  if (isAscii(t)) {
    let out = '';
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c >= 97 && c <= 122) out += t[i];
    }
    return out;
  }
  return t.normalize('NFD').replace(MARKS, '').replace(NOT_LETTER, '').normalize('NFC');
}
