import type { Delimiter } from './types';

/** Delimiters tried by {@link sniffDelimiter}, in order of preference on a tie. */
export const DELIMITERS: readonly Delimiter[] = [',', ';', '\t', '|'];

const QUOTE = 0x22;

/**
 * Splits one logical line into raw field strings with the same quote rules as the parser
 * (csv-parse with `relax_quotes`): a quote opens only at the start of a field, `""` inside quotes is a
 * literal quote, and any other quote closes the field. Quotes are kept in the output; an unclosed quote runs
 * to the end of the line.
 */
export function splitFields(line: string, delimiter: string): string[] {
  const d = delimiter.charCodeAt(0);
  const fields: string[] = [];
  let start = 0;
  let atFieldStart = true;
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inQuotes) {
      if (c === QUOTE) {
        if (line.charCodeAt(i + 1) === QUOTE) i++;
        else inQuotes = false;
      }
      continue;
    }
    if (c === d) {
      fields.push(line.slice(start, i));
      start = i + 1;
      atFieldStart = true;
      continue;
    }
    if (c === QUOTE && atFieldStart) inQuotes = true;
    atFieldStart = false;
  }
  fields.push(line.slice(start));
  return fields;
}

/** Number of fields {@link splitFields} would return. */
export function countFields(line: string, delimiter: string): number {
  return splitFields(line, delimiter).length;
}

/** `sep=;` (Excel's delimiter hint line), returning the delimiter it names, if it is one we support. */
export function excelSeparatorHint(line: string | undefined): Delimiter | undefined {
  const m = /^\s*"?sep=(.)"?\s*$/i.exec(line ?? '');
  const d = m?.[1] === '\\t' ? '\t' : m?.[1];
  return DELIMITERS.find((x) => x === d);
}

/**
 * Picks the delimiter among `,` `;` tab `|` that splits the sample lines into the most consistent number of
 * fields (≥ 2), respecting quotes. Pure.
 *
 * For each candidate the modal field count over the non-blank lines is computed (ties → the larger count); a
 * candidate qualifies when that mode is ≥ 2, and the one whose mode covers the largest share of lines wins
 * (ties → larger mode, then the order above). An Excel `sep=X` first line decides outright. When nothing
 * qualifies the file has a single column and `,` is returned.
 */
export function sniffDelimiter(lines: readonly string[]): Delimiter {
  const nonBlank = lines.filter((l) => l.trim() !== '');
  const hint = excelSeparatorHint(nonBlank[0]);
  if (hint !== undefined) return hint;
  let best: { d: Delimiter; share: number; mode: number } | undefined;
  for (const d of DELIMITERS) {
    const counts = nonBlank.map((l) => countFields(l, d));
    const { mode, frequency } = modeOf(counts);
    if (mode < 2) continue;
    const share = frequency / counts.length;
    if (best === undefined || share > best.share || (share === best.share && mode > best.mode)) {
      best = { d, share, mode };
    }
  }
  return best?.d ?? ',';
}

/** Most frequent value (ties → the larger value) and how often it occurs. `mode` is 0 for an empty list. */
export function modeOf(values: readonly number[]): { mode: number; frequency: number } {
  const freq = new Map<number, number>();
  for (const v of values) freq.set(v, (freq.get(v) ?? 0) + 1);
  let mode = 0;
  let frequency = 0;
  for (const [v, f] of freq) {
    if (f > frequency || (f === frequency && v > mode)) {
      mode = v;
      frequency = f;
    }
  }
  return { mode, frequency };
}

/** A logical line of the sample: one or more physical lines joined while a quote was open. */
export interface SampleLine {
  /** 1-based physical line where it starts. */
  line: number;
  text: string;
}

/** Physical lines a quoted field may be joined across while sniffing. */
const MAX_JOINED_LINES = 20;

/**
 * Cuts decoded sample text (newlines already normalized to `\n`) into logical lines: physical lines are joined
 * while the count of `"` is odd (a quoted newline), up to 20 lines; a quote that does not balance by then is
 * treated as broken and its line stands alone. Drops the last line unless `isWholeFile` (it may be cut).
 */
export function sampleLines(text: string, isWholeFile: boolean): SampleLine[] {
  const physical = text.split('\n');
  if (!isWholeFile) physical.pop();
  else if (physical.at(-1) === '') physical.pop();
  const out: SampleLine[] = [];
  let i = 0;
  while (i < physical.length) {
    const first = physical[i] ?? '';
    let joined = first;
    let j = i;
    let quotes = countQuotes(first);
    while (quotes % 2 === 1 && j + 1 < physical.length && j - i < MAX_JOINED_LINES) {
      j++;
      const next = physical[j] ?? '';
      joined += `\n${next}`;
      quotes += countQuotes(next);
    }
    if (quotes % 2 === 1) {
      out.push({ line: i + 1, text: first });
      i++;
    } else {
      out.push({ line: i + 1, text: joined });
      i = j + 1;
    }
  }
  return out;
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) n++;
  return n;
}

/** Where the table starts in a sample. */
export interface HeaderLocation {
  delimiter: Delimiter;
  /** 1-based physical line of the header; 0 when the file has no header (`synthesized`). */
  headerLine: number;
  /** True when the first line is already an e-mail address in a one-column file. */
  synthesized: boolean;
  /** Modal field count of the sample. */
  fieldCount: number;
}

const EMAIL_LIKE = /^"?[^\s@,;"]+@[^\s@,;"]+\.[^\s@,;"]+"?$/;

/** True if the text looks like a bare e-mail address (used to spot header-less one-column files). */
export function looksLikeEmail(text: string): boolean {
  return EMAIL_LIKE.test(text.trim());
}

/**
 * Finds delimiter and header in the sample. The header is the first logical line that fits the modal field
 * count `m` of the sample (at least `m` fields, or fewer when the following lines only add empty trailing
 * fields) and has at least half of its first `m` fields (and ≥ 2 when `m` ≥ 2) non-empty, so
 * title rows, `sep=` lines, LinkedIn's notes and Excel's blank `,,,,` rows before it are skipped as preamble.
 * When no line fits, the first line passing the non-empty test is taken. `undefined` when there is none.
 */
export function locateHeader(lines: readonly SampleLine[], maxLineChars: number): HeaderLocation | undefined {
  const usable = lines.filter((l) => l.text.trim() !== '' && l.text.length <= maxLineChars);
  if (usable.length === 0) return undefined;
  const delimiter = sniffDelimiter(usable.map((l) => l.text));
  const split = usable.map((l) => splitFields(l.text, delimiter));
  const { mode: m } = modeOf(split.map((f) => f.length));

  if (m === 1) {
    const first = usable[0] as SampleLine;
    if (looksLikeEmail(first.text)) return { delimiter, headerLine: 0, synthesized: true, fieldCount: 1 };
  }

  let fallback: number | undefined;
  for (let i = 0; i < split.length; i++) {
    const fields = split[i] as string[];
    const nonEmpty = fields.filter((f) => !isEmptyField(f)).length;
    if (nonEmpty < Math.max(Math.min(2, m, fields.length), Math.ceil(Math.min(fields.length, m) / 2))) continue;
    fallback ??= i;
    if (fitsMode(fields, m, split.slice(i + 1))) return found(i);
  }
  // No line fits the (possibly unreliable, e.g. two-line sample) mode: take the first header-like line.
  return fallback === undefined ? undefined : found(fallback);

  function found(i: number): HeaderLocation {
    return { delimiter, headerLine: (usable[i] as SampleLine).line, synthesized: false, fieldCount: m };
  }
}

function isEmptyField(f: string): boolean {
  const t = f.trim();
  return t === '' || t === '""';
}

function fitsMode(fields: string[], m: number, following: string[][]): boolean {
  // As wide as the rows, or wider (ragged rows that omit trailing fields are reported later, not taken as header).
  if (fields.length >= m) return true;
  if (fields.length < 2) return false;
  // Rows longer than the header only by empty trailing fields (a trailing delimiter on data rows).
  if (following.length === 0) return false;
  const ok = following.filter((f) => f.length >= fields.length && f.slice(fields.length).every(isEmptyField));
  return ok.length / following.length >= 0.9;
}
