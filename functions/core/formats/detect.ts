/**
 * Format detection: score every platform's header fingerprint, pick the clear winner or fall back to the generic
 * mapping, then map columns (operator overrides first, platform table, generic identity synonyms, email sniffing).
 * Failure is a DetectionError that names the headers seen — never a guess.
 */
import { cleanCell, looksLikeEmail, looksLikePhone } from './cells';
import { displayHeader, headerKey, makeMapping, resolveColumns } from './columns';
import { GENERIC_FIELDS, GENERIC_IDENTITY_FIELDS, generic } from './generic';
import { FORMAT_SPECS, isFormatId } from './registry';
import {
  type ColumnRef,
  type Detection,
  type DetectOptions,
  FIELD_NAMES,
  type FieldName,
  type FormatId,
  type FormatSpec,
  IDENTIFIER_FIELDS,
} from './types';

/** Below this fingerprint score a platform is not claimed. */
export const MIN_SCORE = 2;
/** Runner-up this close to the best score: a tie, so generic. */
export const TIE_MARGIN = 0.5;
/** Share of non-empty sample values that must look like emails for a column to be sniffed as the email column. */
export const EMAIL_SNIFF_RATIO = 0.5;

const EXPECTED_IDENTIFIER =
  'an email column (Email, Email Address, E-mail, E-Mail-Adresse, Subscriber, Courriel, Correo…) or a column whose ' +
  'values look like email addresses; or a phone column (Phone, Phone Number, Mobile, SMS, Telephone…); or an external-id ' +
  'column (External ID, Customer ID, uid)';

export type DetectionErrorCode = 'no_identifier_column' | 'unknown_format' | 'unknown_field' | 'unknown_column';

/** Detection failed. The message names the headers seen (header names are not PII; data-like ones are masked) and what was expected. */
export class DetectionError extends Error {
  override readonly name = 'DetectionError';
  readonly code: DetectionErrorCode;
  /** What the file would have needed. */
  readonly expected: string;
  constructor(
    message: string,
    /** Headers as shown in the message (data-like cells masked). */
    readonly headers: readonly string[] = [],
    details: { code?: DetectionErrorCode; expected?: string } = {},
  ) {
    super(message);
    this.code = details.code ?? 'no_identifier_column';
    this.expected = details.expected ?? EXPECTED_IDENTIFIER;
  }
}

/** Header names some format or the generic table knows (compared like headers): safe to show in any report. */
const KNOWN_HEADERS: ReadonlySet<string> = new Set(
  [
    ...Object.values(FORMAT_SPECS).flatMap((s) => [
      ...s.fields.flatMap((r) => r.headers ?? []),
      ...s.fingerprint.signals.flatMap(([m]) => (typeof m === 'string' ? [m] : [])),
    ]),
    ...GENERIC_FIELDS.flatMap((r) => r.headers ?? []),
  ].map(headerKey),
);

/** What a column's sample values look like, in words that say nothing of the values. */
function shapeOf(values: readonly string[]): string {
  const filled = values.map((v) => cleanCell(v)).filter((v) => v !== '');
  if (filled.length === 0) return 'empty';
  const share = (test: (v: string) => boolean) => filled.filter(test).length / filled.length;
  if (share(looksLikeEmail) >= 0.5) return 'looks like email addresses';
  if (share((v) => v.includes('@')) >= 0.5) return 'looks like email addresses without a domain';
  if (share(looksLikePhone) >= 0.5) return 'looks like phone numbers';
  if (share((v) => /^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}/.test(v)) >= 0.5) return 'looks like dates';
  if (share((v) => /^[-+]?[\d.,\s]+$/.test(v)) >= 0.5) return 'numbers';
  return 'text';
}

/** Each column as a known header name, or as `column N (shape)` from its values (the header cell included). */
function describeColumns(header: readonly string[], sample: readonly (readonly string[])[]): string[] {
  return header.map((h, i) => {
    if (KNOWN_HEADERS.has(headerKey(h)) && headerKey(h) !== '') return JSON.stringify(displayHeader(h));
    return `column ${i} (${shapeOf([h, ...sample.slice(0, 50).map((r) => r[i] ?? '')])})`;
  });
}

/** A header cell that looks like data (an email, phone or long number): the "header" is probably a person's row. */
export function looksLikeData(header: string): boolean {
  const shown = displayHeader(header);
  return looksLikeEmail(shown) || looksLikePhone(shown) || /\d{7,}/.test(shown);
}

/** A header cell that looks like data is masked: a file without a header row would leak a row. */
function safeHeader(header: string): string {
  if (looksLikeData(header)) return '<data-like value hidden>';
  const shown = displayHeader(header);
  return shown.length > 80 ? `${shown.slice(0, 79)}…` : shown;
}

function listHeaders(safe: readonly string[]): string {
  const shown = safe.slice(0, 60).map((h) => JSON.stringify(h));
  const more = safe.length > 60 ? ` … and ${safe.length - 60} more` : '';
  return `${shown.join(', ')}${more}`;
}

const round = (n: number) => Math.round(n * 100) / 100;

interface Scored {
  spec: FormatSpec;
  score: number;
  evidence: string[];
}

function fingerprintScore(
  spec: FormatSpec,
  header: readonly string[],
  sample: readonly (readonly string[])[],
  safe: readonly string[],
): Scored {
  const shown = header.map(displayHeader);
  const keys = header.map(headerKey);
  const fp = spec.fingerprint;
  for (const group of fp.required ?? []) {
    const wanted = group.map(headerKey);
    if (!keys.some((k) => wanted.includes(k))) return { spec, score: 0, evidence: [] };
  }
  let score = 0;
  const evidence: string[] = [];
  for (const [matcher, weight] of fp.signals) {
    const i = typeof matcher === 'string' ? keys.indexOf(headerKey(matcher)) : shown.findIndex((h) => matcher.test(h));
    if (i < 0) continue;
    score += weight;
    evidence.push(`header ${JSON.stringify(safe[i])} (+${weight})`);
  }
  if (fp.sniff) {
    const mapping = makeMapping(
      spec.id,
      header,
      resolveColumns(spec.fields, header, { end: spec.sectionEnd?.(header) }),
    );
    const sniffed = fp.sniff(mapping, sample);
    if (sniffed) {
      score += sniffed.score;
      evidence.push(`${sniffed.evidence} (+${sniffed.score})`);
    }
  }
  return { spec, score: round(score), evidence };
}

/** Column index for an override: an index, the exact trimmed header, or the header compared like synonyms. First occurrence. */
function overrideIndex(ref: string | number, header: readonly string[]): number | undefined {
  if (typeof ref === 'number') return Number.isInteger(ref) && ref >= 0 && ref < header.length ? ref : undefined;
  const shown = header.map(displayHeader);
  const exact = shown.indexOf(ref.trim());
  if (exact >= 0) return exact;
  const key = headerKey(ref);
  const loose = key === '' ? -1 : header.findIndex((h) => headerKey(h) === key);
  return loose >= 0 ? loose : undefined;
}

/** The column most of whose sample values look like emails, among columns not yet taken. */
function sniffEmailColumn(
  header: readonly string[],
  sample: readonly (readonly string[])[],
  taken: ReadonlySet<number>,
  end: number,
): { index: number; hits: number; of: number } | undefined {
  let best: { index: number; hits: number; of: number } | undefined;
  for (let i = 0; i < Math.min(header.length, end); i++) {
    if (taken.has(i)) continue;
    let of = 0;
    let hits = 0;
    for (const row of sample) {
      const v = cleanCell(row[i]);
      if (v === '') continue;
      of++;
      if (looksLikeEmail(v)) hits++;
    }
    if (of === 0 || hits / of < EMAIL_SNIFF_RATIO) continue;
    if (!best || hits / of > best.hits / best.of || (hits / of === best.hits / best.of && hits > best.hits)) {
      best = { index: i, hits, of };
    }
  }
  return best;
}

function buildMapping(
  spec: FormatSpec,
  header: readonly string[],
  sample: readonly (readonly string[])[],
  overrides: DetectOptions['columns'],
  safe: readonly string[],
) {
  const fields: Partial<Record<FieldName, ColumnRef[]>> = {};
  const taken = new Set<number>();
  const evidence: string[] = [];
  for (const [field, ref] of Object.entries(overrides ?? {})) {
    if (ref === undefined) continue;
    if (!(FIELD_NAMES as readonly string[]).includes(field)) {
      const expected = `one of the fields ${FIELD_NAMES.join(', ')}`;
      throw new DetectionError(`Column override names unknown field "${field}"; expected ${expected}.`, safe, {
        code: 'unknown_field',
        expected,
      });
    }
    const index = overrideIndex(ref, header);
    if (index === undefined) {
      const expected = `a header name or a 0-based index below ${header.length}`;
      throw new DetectionError(
        `Column override ${field}: ${JSON.stringify(ref)} is not in the header. Headers seen (${header.length}): ${listHeaders(safe)}. Expected ${expected}.`,
        safe,
        { code: 'unknown_column', expected },
      );
    }
    const shown = displayHeader(header[index] ?? '');
    fields[field as FieldName] = [{ index, header: shown, label: shown }];
    taken.add(index);
    evidence.push(`${field} ← column ${index} ${JSON.stringify(safe[index])} (config override)`);
  }
  const end = spec.sectionEnd?.(header) ?? header.length;
  if (end < header.length)
    evidence.push(`columns from ${JSON.stringify(safe[end])} on belong to another object and are ignored`);
  Object.assign(
    fields,
    resolveColumns(spec.fields, header, { end, taken, skip: new Set(Object.keys(fields) as FieldName[]) }),
  );
  if (spec.genericIdentity) {
    const skip = new Set(Object.keys(fields) as FieldName[]);
    Object.assign(fields, resolveColumns(GENERIC_FIELDS, header, { end, taken, only: GENERIC_IDENTITY_FIELDS, skip }));
  }
  if (spec.id !== 'generic') {
    // Whatever format won, a column whose header names a known field is read (a generic `first_name` beside Meta's
    // template columns, a `Tags` column in a Brevo file): the generic synonyms fill every field still unmapped.
    const skip = new Set(Object.keys(fields) as FieldName[]);
    Object.assign(fields, resolveColumns(GENERIC_FIELDS, header, { end, taken, skip }));
  }
  let emailSniffed = false;
  if (!fields.email) {
    const found = sniffEmailColumn(header, sample, taken, end);
    if (found) {
      const shown = displayHeader(header[found.index] ?? '');
      fields.email = [{ index: found.index, header: shown, label: shown }];
      taken.add(found.index);
      emailSniffed = true;
      evidence.push(
        `email ← column ${found.index} ${JSON.stringify(safe[found.index])}: ${found.hits}/${found.of} sample values look like email addresses`,
      );
    }
  }
  for (const f of IDENTIFIER_FIELDS) {
    const refs = fields[f];
    if (refs && !evidence.some((e) => e.startsWith(`${f} ←`))) {
      evidence.push(`${f} ← ${refs.map((r) => `column ${r.index} ${JSON.stringify(safe[r.index])}`).join(', ')}`);
    }
  }
  return { mapping: makeMapping(spec.id, header, fields), evidence, emailSniffed };
}

const PLATFORMS: readonly FormatSpec[] = Object.values(FORMAT_SPECS).filter((s) => s.id !== 'generic');

/**
 * Detect the export format of a file from its header and a sample of its first rows, and map its columns.
 * `options.format` pins the format; `options.columns` pins single columns by header name or 0-based index.
 * @throws DetectionError when no email, phone or external-id column is found, or an override does not fit the header.
 */
export function detectFormat(
  header: readonly string[],
  sample: readonly (readonly string[])[] = [],
  options: DetectOptions = {},
): Detection {
  const safe = header.map(safeHeader);
  const evidence: string[] = [];
  let spec: FormatSpec = generic;
  let confidence: number | undefined;
  let scores: Detection['scores'] = [];

  if (options.format !== undefined) {
    if (!isFormatId(options.format)) {
      const expected = `one of ${Object.keys(FORMAT_SPECS).join(', ')}`;
      throw new DetectionError(`Unknown format override "${String(options.format)}"; expected ${expected}.`, safe, {
        code: 'unknown_format',
        expected,
      });
    }
    spec = FORMAT_SPECS[options.format];
    confidence = 1;
    evidence.push(`format pinned by config: ${spec.id}`);
  } else {
    const ranked = PLATFORMS.map((s) => fingerprintScore(s, header, sample, safe))
      .filter((r) => r.score > 0)
      .sort((a, b) => b.score - a.score);
    scores = ranked.map((r) => ({ format: r.spec.id, score: r.score }));
    const [best, second] = ranked;
    if (!best) {
      evidence.push('no platform-specific header found: generic mapping');
    } else if (best.score < MIN_SCORE) {
      evidence.push(
        `no platform fingerprint reached ${MIN_SCORE} (best: ${best.spec.id} ${best.score}): generic mapping`,
      );
    } else if (second && best.score - second.score < TIE_MARGIN) {
      evidence.push(
        `tie between ${best.spec.id} (${best.score}) and ${second.spec.id} (${second.score}): generic mapping`,
      );
    } else {
      spec = best.spec;
      const margin = best.score - (second?.score ?? 0);
      confidence = round(Math.min(0.99, (1 - 0.5 ** best.score) * Math.min(1, margin / 2)));
      evidence.push(`${spec.displayName}: fingerprint score ${best.score}`, ...best.evidence);
    }
  }

  const built = buildMapping(spec, header, sample, options.columns, safe);
  evidence.push(...built.evidence);
  const { mapping } = built;

  if (!IDENTIFIER_FIELDS.some((f) => (mapping.fields[f]?.length ?? 0) > 0)) {
    const as =
      spec.id === 'generic' ? 'this file' : `this ${spec.displayName} (${options.format ? 'pinned' : 'detected'})`;
    // The first line may be a person (a file without a header row): only header names we know are shown; every
    // other column is described by the shape of its values, never by a value.
    const shape = describeColumns(header, sample);
    throw new DetectionError(
      `No email, phone or external-id column found in ${as}. Columns (${header.length}): ${shape.join(', ')}.` +
        ` Expected ${EXPECTED_IDENTIFIER}. Pin one with the columns override by header or by 0-based position, e.g. columns: { email: 3 }.` +
        (shape.some((c) => c.startsWith('column ')) && !safe.some((h) => KNOWN_HEADERS.has(headerKey(h)))
          ? ' No header name is one we know: the file may have no header row.'
          : ''),
      header.map((h) => (KNOWN_HEADERS.has(headerKey(h)) ? displayHeader(h) : '<unknown>')),
      { code: 'no_identifier_column', expected: EXPECTED_IDENTIFIER },
    );
  }

  if (confidence === undefined) confidence = mapping.fields.email && !built.emailSniffed ? 0.5 : 0.3;
  return { ...mapping, displayName: spec.displayName, confidence, evidence, scores };
}

/** The detection-independent mapping of a known format (tests, tooling). */
export function mappingFor(format: FormatId, header: readonly string[], sample: readonly (readonly string[])[] = []) {
  return buildMapping(FORMAT_SPECS[format], header, sample, undefined, header.map(safeHeader)).mapping;
}
