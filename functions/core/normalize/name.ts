import { lowerLettersOnly, trimAll } from './text';

/**
 * Meta FN / LN rule: lowercase, punctuation and spaces removed, non-ASCII letters kept in UTF-8 (NFC).
 * `O'Connor` → `oconnor`, `Jean-Luc` → `jeanluc`, `Ömür` → `ömür`. Never truncated.
 */
export function normalizeName(value: string): string | undefined {
  const out = lowerLettersOnly(value);
  return out.length > 0 ? out : undefined;
}

/** Meta FI rule: the first letter of the normalized first name. */
export function normalizeFirstInitial(firstName: string): string | undefined {
  const name = normalizeName(firstName);
  if (name === undefined) return undefined;
  const first = name.codePointAt(0)!;
  return String.fromCodePoint(first);
}

/** Honorifics that precede a name. Compared after normalizeName, so `Dr.` and `DR` both match. */
const PREFIXES: ReadonlySet<string> = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof', 'sir', 'dame']);
/** Generational and academic suffixes that follow a name. */
const SUFFIXES: ReadonlySet<string> = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'phd', 'md', 'esq', 'dds', 'mba']);

/** Surname particles: in `Maria de la Cruz` the surname starts at `de`. */
const PARTICLES: ReadonlySet<string> = new Set([
  'al',
  'bin',
  'da',
  'das',
  'de',
  'del',
  'della',
  'den',
  'der',
  'di',
  'dos',
  'du',
  'el',
  'ibn',
  'la',
  'le',
  'mac',
  'san',
  'st',
  'ten',
  'ter',
  'van',
  'von',
]);

function isWordBreak(c: number): boolean {
  // whitespace and controls; other punctuation stays inside the word and is dropped by normalizeName
  return c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0x3000 || (c >= 0x2000 && c <= 0x200b) || c === 0x202f;
}

function words(value: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= value.length; i++) {
    const brk = i === value.length || isWordBreak(value.charCodeAt(i)) || value.charCodeAt(i) === 44; // ','
    if (brk) {
      if (start >= 0) out.push(value.slice(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  return out;
}

/**
 * Splits a single full-name column into first and last name (raw words, to be normalized by the caller).
 * `Last, First` is honoured; honorifics and suffixes are dropped; the surname starts at a particle
 * (`de`, `van`, `von`, …) after the first word, else it is the last word. One word gives a first name only.
 */
export function splitFullName(fullName: string): { first?: string; last?: string } {
  const t = trimAll(fullName);
  if (t.length === 0) return {};
  const comma = t.indexOf(',');
  if (comma > 0) {
    const before = words(t.slice(0, comma));
    const after = words(t.slice(comma + 1));
    const afterIsSuffix = after.length > 0 && after.every((w) => SUFFIXES.has(normalizeName(w) ?? ''));
    if (!afterIsSuffix) {
      // "Cruz, Maria Elena": everything before the comma is the surname, the first word after it the first name.
      const firstWords = stripAffixes(after);
      const lastWords = stripAffixes(before);
      if (firstWords.length > 0 && lastWords.length > 0) return { first: firstWords[0], last: lastWords.join(' ') };
    }
  }
  const ws = stripAffixes(words(t));
  if (ws.length === 0) return {};
  if (ws.length === 1) return { first: ws[0] };
  let lastStart = ws.length - 1;
  for (let i = 1; i < ws.length - 1; i++) {
    if (PARTICLES.has(normalizeName(ws[i]!) ?? '')) {
      lastStart = i;
      break;
    }
  }
  return { first: ws[0], last: ws.slice(lastStart).join(' ') };
}

/** Drops honorifics before and suffixes after, keeping the raw words (at least one). */
function stripAffixes(raw: string[]): string[] {
  const ws = raw.filter((w) => normalizeName(w) !== undefined);
  let start = 0;
  let end = ws.length;
  while (end - start > 1 && PREFIXES.has(normalizeName(ws[start]!)!)) start++;
  while (end - start > 1 && SUFFIXES.has(normalizeName(ws[end - 1]!)!)) end--;
  return ws.slice(start, end);
}
