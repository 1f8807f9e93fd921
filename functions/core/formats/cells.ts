/**
 * Cell cleaning: what every export cell goes through before a field reads it. Pure, total functions: they never throw,
 * and return `undefined` (or `[]`) for what they cannot read.
 */

// Zero-width characters and BOMs that survive String#trim (U+FEFF is trimmed, U+200B–U+200D and U+2060 are not).
const EDGE_INVISIBLES = /^[\u200b-\u200d\u2060\ufeff]+|[\u200b-\u200d\u2060\ufeff]+$/g;

/** Whitespace or an invisible at this char code: worth a full trim. */
function isEdgeJunk(code: number): boolean {
  return (
    code <= 32 ||
    code === 0xa0 ||
    code === 0x1680 ||
    code === 0xfeff ||
    (code >= 0x2000 && code <= 0x2060) ||
    code === 0x3000
  );
}

/** Trim whitespace and zero-width characters from both ends. */
export function trimCell(cell: string | undefined | null): string {
  if (cell == null || cell === '') return '';
  // Fast path: most cells are already clean.
  if (!isEdgeJunk(cell.charCodeAt(0)) && !isEdgeJunk(cell.charCodeAt(cell.length - 1))) return cell;
  return cell.trim().replace(EDGE_INVISIBLES, '').trim();
}

/**
 * Remove ONE leading `'`: Excel's text marker and the formula-injection guard that Mailchimp (`'-0.58`) and Shopify
 * (`'+56 9…`, `'7210…`, `'02492`, once an email) put in front of cells.
 * `formula` mode strips it only before a character Excel would read as a formula or number, so a name such as
 * `'t Hooft` keeps its apostrophe.
 */
export function stripFormulaGuard(text: string, mode: 'always' | 'formula' = 'always'): string {
  if (!text.startsWith("'")) return text;
  if (mode === 'formula' && !/^'[=+\-@\d\t\r]/.test(text)) return text;
  return text.slice(1);
}

/** Trim, strip one formula guard, trim again: the cleaning every identity and attribute cell gets. */
export function cleanCell(cell: string | undefined | null, guard: 'always' | 'formula' = 'always'): string {
  const trimmed = trimCell(cell);
  return trimmed.charCodeAt(0) === 39 ? trimCell(stripFormulaGuard(trimmed, guard)) : trimmed;
}

/**
 * Excel scientific-notation damage (`7.02255E+12`, `9,19961E+11`): a long id or phone number was turned into a float and
 * its trailing digits are gone for good. Only meaningful for id and phone columns.
 */
export function isExcelScientific(cell: string): boolean {
  // Most cells have no exponent at all: no regex for them.
  if (cell.indexOf('E') === -1 && cell.indexOf('e') === -1) return false;
  return /^[+-]?\d+(?:[.,]\d+)?[eE]\+?\d{1,3}$/.test(cleanCell(cell));
}

export interface NumberOptions {
  /** Force the decimal separator when the file's locale is known. */
  decimal?: '.' | ',';
}

/**
 * Parse a number written by a person or a spreadsheet: `265000.00`, `44,8423`, `"$50.00"`, `1.234,56 €`, `1 234,56`,
 * `(12.00)`, `'-0.58`. Currency symbols and upper-case ISO codes (`EUR`) at either end are dropped.
 * Separator rule without a hint: with both `.` and `,` the last one is the decimal separator; a separator that repeats
 * groups thousands; a single `.` is decimal; a single `,` is decimal unless exactly three digits follow a non-zero
 * integer part (`1,234` → 1234, `12,5` → 12.5, `0,125` → 0.125).
 */
export function parseNumber(cell: string, options: NumberOptions = {}): number | undefined {
  let s = cleanCell(cell);
  if (s === '') return undefined;
  // Fast path: plain `265000.00` / `4`.
  if (options.decimal !== ',') {
    const plain = plainDecimal(s);
    if (plain !== undefined) return plain;
  }
  let negative = false;
  if (s.startsWith('(') && s.endsWith(')')) {
    negative = true;
    s = s.slice(1, -1).trim();
  }
  s = s
    .replace(/^[A-Z]{3}(?=[\s\d\p{Sc}+-])/u, '')
    .replace(/(?<=[\d\s\p{Sc}])[A-Z]{3}$/u, '')
    .replace(/\p{Sc}/gu, '')
    .trim();
  if (s.startsWith('-') || s.startsWith('\u2212')) {
    negative = !negative;
    s = s.slice(1);
  } else if (s.startsWith('+')) {
    s = s.slice(1);
  }
  // Spaces, no-break spaces and the Swiss apostrophe group thousands.
  s = s.replace(/[\s\u00a0\u202f'’]/g, '');
  if (!/^[\d.,]*\d[\d.,]*$/.test(s)) return undefined;

  const dots = s.split('.').length - 1;
  const commas = s.split(',').length - 1;
  let decimal: '.' | ',' | undefined = options.decimal;
  if (!decimal) {
    if (dots > 0 && commas > 0) decimal = s.lastIndexOf('.') > s.lastIndexOf(',') ? '.' : ',';
    else if (dots === 1) decimal = '.';
    else if (commas === 1) {
      const [intPart = '', frac = ''] = s.split(',');
      decimal = frac.length === 3 && /^[1-9]\d{0,2}$/.test(intPart) ? undefined : ',';
    }
  }
  const group = decimal === '.' ? ',' : decimal === ',' ? '.' : commas > 0 ? ',' : '.';
  const parts = decimal ? s.split(decimal) : [s];
  if (parts.length > 2) return undefined;
  const [intRaw = '', frac = ''] = parts;
  if (frac.includes(group)) return undefined;
  let intDigits = intRaw;
  if (intRaw.includes(group)) {
    const groups = intRaw.split(group);
    if (!/^\d{1,3}$/.test(groups[0] ?? '') || groups.slice(1).some((g) => !/^\d{3}$/.test(g))) return undefined;
    intDigits = groups.join('');
  }
  if (!/^\d*$/.test(intDigits) || !/^\d*$/.test(frac) || intDigits + frac === '') return undefined;
  const value = Number(`${intDigits || '0'}.${frac || '0'}`);
  if (!Number.isFinite(value)) return undefined;
  return negative && value !== 0 ? -value : value;
}

/** Powers of ten a double holds exactly (10^0–10^15). */
const EXACT_TENS = Array.from({ length: 16 }, (_, k) => 10 ** k);

/**
 * The value of `265000.00` / `4` (digits, optionally a `.` and more digits, 15 digits at most), else undefined.
 * Fifteen digits make an integer below 2^53 and 10^k is exact, so the one division is correctly rounded: the same
 * double `Number(s)` gives.
 */
function plainDecimal(s: string): number | undefined {
  const n = s.length;
  if (n === 0 || n > 16) return undefined;
  let m = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    m = m * 10 + (c - 48);
  }
  if (i === 0) return undefined;
  if (i === n) return n <= 15 ? m : undefined;
  if (s.charCodeAt(i) !== 46 /* . */ || i === n - 1) return undefined;
  const from = i + 1;
  for (i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    m = m * 10 + (c - 48);
  }
  return m / (EXACT_TENS[n - from] as number);
}

/** A non-negative whole count (opens, clicks, orders); fractional or negative values are refused. */
export function parseCount(cell: string): number | undefined {
  const n = parseNumber(cell);
  return n !== undefined && n >= 0 && Number.isSafeInteger(n) ? n : undefined;
}

const TRUE_WORDS = new Set([
  'yes',
  'y',
  'true',
  't',
  '1',
  'on',
  'x',
  'ja',
  'j',
  'oui',
  'si',
  'vrai',
  'wahr',
  'verdadero',
  'sim',
]);
const FALSE_WORDS = new Set([
  'no',
  'n',
  'false',
  'f',
  '0',
  'off',
  'nein',
  'non',
  'faux',
  'falsch',
  'falso',
  'nao',
  'nee',
  'nej',
]);

/** Remove diacritics and lowercase: `Sí` → `si`, `Não` → `nao`. */
export function foldCase(text: string): string {
  // ASCII has no marks and is its own NFKD form: only the case folds.
  if (isAscii(text)) return text.toLowerCase();
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** yes/no, true/false, 1/0, on/off and their German, French, Spanish and Portuguese forms; anything else is undefined. */
export function parseBoolean(cell: string): boolean | undefined {
  const clean = cleanCell(cell);
  // The words are stored folded, and folding a folded word changes nothing: `yes`/`no` as most exports write them
  // are answered without a folded copy.
  if (TRUE_WORDS.has(clean)) return true;
  if (FALSE_WORDS.has(clean)) return false;
  const word = foldCase(clean);
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** Read one item of a quoted list starting at `i` (a quote char); doubled quotes are literal. */
function readQuoted(s: string, start: number, quote: string): [item: string, next: number] {
  let out = '';
  let i = start + 1;
  while (i < s.length) {
    const ch = s[i];
    if (ch === quote) {
      if (s[i + 1] === quote) {
        out += quote;
        i += 2;
        continue;
      }
      return [out, i + 1];
    }
    out += ch;
    i++;
  }
  return [out, i]; // unterminated: keep what we have
}

/** Split on separators, honouring `"…"` / `'…'` quoted items and doubled quotes. */
function splitQuoted(s: string, separators: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i <= s.length) {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
    let item = '';
    const ch = s[i];
    if (ch === '"' || ch === "'") {
      const [quoted, next] = readQuoted(s, i, ch);
      item = quoted;
      i = next;
      while (i < s.length && !separators.includes(s[i] ?? '')) i++; // garbage after the closing quote
    } else {
      while (i < s.length && !separators.includes(s[i] ?? '')) item += s[i++];
    }
    items.push(item);
    i++; // past the separator (or the end)
  }
  return items;
}

/**
 * Split a multi-value cell into trimmed, non-empty, de-duplicated items, in order:
 * Klaviyo legacy `['email','web']` (or JSON `["a","b"]`); Mailchimp TAGS `"tag1","tag2"` (after CSV decoding) or an
 * unquoted `Editors`; comma(+space) lists (Shopify, Kit, ActiveCampaign, Constant Contact); `;` lists (MailerLite Groups).
 * An unquoted cell is split on both `;` and `,` (MailerLite exports use either).
 */
export function splitList(cell: string): string[] {
  let s = cleanCell(cell);
  if (s === '') return [];
  let items: string[];
  if (s.startsWith('[') && s.endsWith(']')) {
    s = s.slice(1, -1);
    items = splitQuoted(s, ',');
  } else if (s.startsWith('"') || s.startsWith("'")) {
    items = splitQuoted(s, ',;');
  } else {
    // One item (most tag cells): the cleaned cell is the list.
    if (s.indexOf(',') === -1 && s.indexOf(';') === -1) return [s];
    items = s.split(/[;,]/);
  }
  // Repeats dropped: by a scan of the few items so far, by a set once a cell holds many (a hostile cell of 100k).
  const out: string[] = [];
  let seen: Set<string> | undefined;
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    if (seen === undefined) {
      if (out.includes(item)) continue;
      if (out.length === 16) seen = new Set(out);
    }
    if (seen !== undefined) {
      if (seen.has(item)) continue;
      seen.add(item);
    }
    out.push(item);
  }
  return out;
}

/** Loose shape check used to sniff an email column; the normalizer validates for real. */
export function looksLikeEmail(cell: string): boolean {
  return /^[^\s@,;<>]+@[^\s@,;<>]+\.[^\s@,;<>]+$/.test(cleanCell(cell));
}

/** Loose shape check for phone-like cells (7+ digits, phone punctuation only). */
export function looksLikePhone(cell: string): boolean {
  const s = cleanCell(cell);
  return /^\+?[\d\s().\-/]{7,}$/.test(s) && s.replace(/\D/g, '').length >= 7;
}
