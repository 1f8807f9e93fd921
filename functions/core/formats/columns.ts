/**
 * Header matching: turns a platform's field table and a file's header into a ColumnMapping.
 * Duplicate header names are resolved by position, never through a map keyed on the name.
 */
import { foldCase } from './cells';
import type { ColumnMapping, ColumnRef, FieldName, FieldRule, FormatId } from './types';

/** Compare key of a header: diacritics, case, spaces and punctuation removed (`E-Mail-Adresse` → `emailadresse`). */
export function headerKey(header: string): string {
  return foldCase(header).replace(/[^\p{L}\p{N}]+/gu, '');
}

/** Header as shown in evidence and errors: trimmed, BOM removed. */
export function displayHeader(header: string): string {
  return header.replace(/^\ufeff/, '').trim();
}

interface Candidate {
  index: number;
  priority: number;
  label: string;
}

function candidates(rule: FieldRule, header: readonly string[], keys: readonly string[], free: (i: number) => boolean) {
  const found: Candidate[] = [];
  const labelKeys = (rule.headers ?? []).map(headerKey);
  for (let i = 0; i < header.length; i++) {
    if (!free(i)) continue;
    const shown = displayHeader(header[i] ?? '');
    if (rule.pattern) {
      const m = rule.pattern.exec(shown);
      if (m) found.push({ index: i, priority: 0, label: (m[1] ?? shown).trim() });
      continue;
    }
    const priority = labelKeys.indexOf(keys[i] ?? '');
    if (priority >= 0) found.push({ index: i, priority, label: shown });
  }
  return found;
}

/** Pick the columns of one rule among the candidates (see FieldRule.repeat). */
function pick(rule: FieldRule, found: Candidate[]): Candidate[] {
  if (found.length === 0) return [];
  if (rule.pattern || rule.repeat === 'occurrences') return found;
  if (rule.repeat === 'synonyms') {
    const seen = new Set<number>();
    return found.filter((c) => {
      if (seen.has(c.priority)) return false;
      seen.add(c.priority);
      return true;
    });
  }
  let best = found[0] as Candidate;
  for (const c of found) if (c.priority < best.priority) best = c;
  // A repeated identifier header (`Email,Email`): every column of it is read, or a person whose address sits only in
  // the second one would be lost. Other repeated headers keep their first column.
  if ((IDENTIFIERS as readonly string[]).includes(rule.field)) return found.filter((c) => c.priority === best.priority);
  return [best];
}

const IDENTIFIERS = ['email', 'phone', 'externalId', 'madid'] as const;

export interface ResolveOptions {
  /** Columns at or after this index are out of scope (another object's properties). */
  end?: number;
  /** Columns already taken (by an override or an earlier table). */
  taken?: Set<number>;
  /** Only these fields (generic identity fallback). */
  only?: ReadonlySet<FieldName>;
  /** Fields already mapped; their rules are skipped. */
  skip?: ReadonlySet<FieldName>;
}

/** Apply a field table to a header. Each column serves one field; rules are applied in table order. */
export function resolveColumns(
  rules: readonly FieldRule[],
  header: readonly string[],
  options: ResolveOptions = {},
): Partial<Record<FieldName, ColumnRef[]>> {
  const keys = header.map(headerKey);
  const end = options.end ?? header.length;
  const taken = options.taken ?? new Set<number>();
  const out: Partial<Record<FieldName, ColumnRef[]>> = {};
  for (const rule of rules) {
    if (options.only && !options.only.has(rule.field)) continue;
    if (options.skip?.has(rule.field)) continue;
    if (out[rule.field] && !rule.pattern) continue; // an earlier rule for the same field won
    const chosen = pick(
      rule,
      candidates(rule, header, keys, (i) => i < end && !taken.has(i)),
    ).sort((a, b) => a.index - b.index);
    if (chosen.length === 0) continue;
    const refs = out[rule.field] ?? [];
    out[rule.field] = refs;
    for (const c of chosen) {
      taken.add(c.index);
      const ref: ColumnRef = { index: c.index, header: displayHeader(header[c.index] ?? ''), label: c.label };
      if (rule.scale !== undefined) ref.scale = rule.scale;
      if (rule.dayFirst !== undefined) ref.dayFirst = rule.dayFirst;
      refs.push(ref);
    }
    refs.sort((a, b) => a.index - b.index);
  }
  return out;
}

/** Mapping with every field's columns in column order. */
export function makeMapping(
  format: FormatId,
  header: readonly string[],
  fields: Partial<Record<FieldName, ColumnRef[]>>,
): ColumnMapping {
  return { format, header: [...header], fields };
}
