import type { RawIdentity } from '../model';
import { type BirthdayKeys, normalizeBirthday } from './birthday';
import { normalizeCountry } from './country';
import { hashOnce, isSha256Hex } from './hash';
import { splitFullName } from './name';
import { normalizePhone, type PhoneResult } from './phone';
import { trimAll } from './text';

/** The identity field a key problem concerns (`address`: Google's first name + last name + country + zip set). */
export type IdentityField =
  | 'email'
  | 'phone'
  | 'firstName'
  | 'lastName'
  | 'gender'
  | 'birthday'
  | 'city'
  | 'state'
  | 'zip'
  | 'country'
  | 'externalId'
  | 'madid'
  | 'address';

/** Why a value that was present did not become a key. Absent values are not problems. */
export type KeyProblemReason =
  | 'invalid_email'
  | 'invalid_phone'
  | 'excel_damaged_phone'
  | 'invalid_name'
  | 'unrecognized_gender'
  | 'implausible_birthday'
  | 'invalid_city'
  | 'invalid_state'
  | 'invalid_zip'
  | 'unknown_country'
  | 'invalid_external_id'
  | 'invalid_madid'
  | 'incomplete_address'
  | 'hashed_value_not_allowed';

export interface KeyProblem {
  field: IdentityField;
  reason: KeyProblemReason;
}

export interface KeysResult<K extends string> {
  keys: Partial<Record<K, string>>;
  problems: KeyProblem[];
  /**
   * The table's key names in its order, and which of them `keys` holds (bit i for `names[i]`): with these, a tally
   * counts the row's keys by one number instead of walking them. Both or neither; whoever changes `keys` after the
   * table made them clears the bits of what it removed.
   */
  names?: readonly string[];
  mask?: number;
}

export interface KeyOptions {
  /** Country (code or name) for national phone numbers and US/UK zip and state rules when the row has none. */
  defaultCountry?: string;
  /** Latest plausible birth year; defaults to the current UTC year. */
  currentYear?: number;
}

/** What a table row made of one field: a value to send (maybe already hashed), a problem, or both (birthday). */
export interface Cell {
  value?: string;
  problem?: KeyProblemReason;
}

/** Per-row facts several keys depend on, computed once. */
export interface RowContext {
  raw: RawIdentity;
  defaultCountry?: string;
  /** Lowercase ISO-2 of raw.country, when recognizable. */
  country?: string;
  /** The row's country, else the default: selects the US/UK zip and state rules. */
  ruleCountry?: string;
  firstName?: string;
  lastName?: string;
  birthday: BirthdayKeys;
  /** Every phone of the row parsed once (identity and each platform's phone rule share it). */
  phoneResults?: ReadonlyArray<{ text: string; result: PhoneResult | 'hashed' }>;
}

function present(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = trimAll(value);
  return t.length > 0 ? t : undefined;
}

/**
 * An external id that holds an email address or a phone number is that key, never an id sent in clear: it moves to
 * the emails or phones of the row (a generic `User ID` column of addresses, a CRM exporting phones as ids).
 */
function withExternalIdAsKey(raw: RawIdentity): RawIdentity {
  const id = raw.externalId === undefined ? undefined : trimAll(raw.externalId);
  if (id === undefined || id === '') return raw;
  if (isPlainId(id)) return raw;
  if (id.includes('@')) {
    const { externalId: _, ...rest } = raw;
    return { ...rest, emails: [...raw.emails, id] };
  }
  if (/^\+?[\d\s().\-/]{7,20}$/.test(id) && /^\+|^00|[\s().\-/]/.test(id)) {
    // Formatted like a phone (a `+`, `00` or separators); a bare digit run stays an id (customer numbers are digits).
    const { externalId: _, ...rest } = raw;
    return { ...rest, phones: [...raw.phones, id] };
  }
  return raw;
}

/** Letters and digits only, not starting `00`: an id as it is, never an address or a formatted phone (fast path). */
function isPlainId(id: string): boolean {
  if (id.charCodeAt(0) === 48 && id.charCodeAt(1) === 48) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}

export function rowContext(rawIn: RawIdentity, opts: KeyOptions): RowContext {
  const raw = withExternalIdAsKey(rawIn);
  const country = raw.country === undefined ? undefined : normalizeCountry(raw.country);
  const defaultCountry = opts.defaultCountry === undefined ? undefined : normalizeCountry(opts.defaultCountry);
  let firstName = present(raw.firstName);
  let lastName = present(raw.lastName);
  if ((firstName === undefined || lastName === undefined) && raw.fullName !== undefined) {
    const split = splitFullName(raw.fullName);
    firstName ??= split.first;
    lastName ??= split.last;
  }
  const ctx: RowContext = { raw, birthday: normalizeBirthday(raw.birthday, opts.currentYear) };
  if (defaultCountry !== undefined) ctx.defaultCountry = defaultCountry;
  if (country !== undefined) ctx.country = country;
  const ruleCountry = country ?? defaultCountry;
  if (ruleCountry !== undefined) ctx.ruleCountry = ruleCountry;
  if (firstName !== undefined) ctx.firstName = firstName;
  if (lastName !== undefined) ctx.lastName = lastName;
  return ctx;
}

export const NO_CELL: Cell = Object.freeze({});

/**
 * A field that is sent hashed: absent → nothing; already a 64-hex SHA-256 → passed through (hashOnce keeps it);
 * otherwise normalized, or the problem when the normalizer rejects it.
 */
export function hashedCell(
  value: string | undefined,
  normalize: (v: string) => string | undefined,
  reason: KeyProblemReason,
): Cell {
  const t = present(value);
  if (t === undefined) return NO_CELL;
  if (isSha256Hex(t)) return { value: t.toLowerCase() };
  const n = normalize(t);
  return n === undefined ? { problem: reason } : { value: n };
}

/** A field that is sent in clear: a 64-hex value cannot be un-hashed, so it is a problem, not a value. */
export function clearCell(
  value: string | undefined,
  normalize: (v: string) => string | undefined,
  reason: KeyProblemReason,
): Cell {
  const t = present(value);
  if (t === undefined) return NO_CELL;
  if (isSha256Hex(t)) return { problem: 'hashed_value_not_allowed' };
  const n = normalize(t);
  return n === undefined ? { problem: reason } : { value: n };
}

/** The first email that is valid (or already hashed); invalid_email only when none is. */
export function firstEmail(emails: readonly string[], normalize: (v: string) => string | undefined): Cell {
  let sawValue = false;
  for (const e of emails) {
    const cell = hashedCell(e, normalize, 'invalid_email');
    if (cell.value !== undefined) return cell;
    if (cell.problem !== undefined) sawValue = true;
  }
  return sawValue ? { problem: 'invalid_email' } : NO_CELL;
}

/** A table row: one platform key, the cell it is built from, and whether the platform wants it hashed. */
export interface KeyRule<K extends string> {
  key: K;
  field: IdentityField;
  cell: (row: RowContext) => Cell;
  hashed: boolean;
  /** Few distinct values (gender, birth month, country, …): their hashes are memoized. */
  lowCardinality?: boolean;
  /** Values many people share (first and last names, cities): their hashes are memoized too, in a larger memo. */
  shared?: boolean;
  /**
   * The one value of the row the cell depends on, when it depends on nothing else (a first name, a city): the
   * compiled table then memoizes the rule's whole outcome (its key, hashed, and its problem) by that value, so a
   * name seen before costs one lookup instead of its normalizer and a hash lookup. Leave it out of any rule whose
   * cell reads anything else of the row.
   */
  memoBy?: (row: RowContext) => string | undefined;
}

/**
 * Hashes of low-cardinality values (m, f, 01–31, years, country and state codes). About half the hashes of a full
 * row are of such values; none of them identifies anyone. Bounded: cleared when full.
 */
const HASH_MEMO_MAX = 4096;
const hashMemo = new Map<string, string>();
/**
 * Hashes of shared values (a digest costs ~300 ns, a lookup ~50). Bounded: cleared when full, so a file of
 * mostly distinct names costs a lookup and a clear now and then, never unbounded memory (~1.5 MB at most).
 */
const SHARED_MEMO_MAX = 16_384;
const sharedMemo = new Map<string, string>();

function memoHash(value: string, memo: Map<string, string>, max: number): string {
  let h = memo.get(value);
  if (h === undefined) {
    h = hashOnce(value);
    if (memo.size >= max) memo.clear();
    memo.set(value, h);
  }
  return h;
}

/**
 * The first phone that is valid (or already hashed), formatted from its E.164 digits; when none is, the problem of
 * the first unusable one (so an Excel-damaged column is reported as such).
 */
export function firstPhone(row: RowContext, format: (e164Digits: string) => string): Cell {
  let problem: KeyProblemReason | undefined;
  for (const { text, result } of parsedPhones(row)) {
    if (result === 'hashed') return { value: text.toLowerCase() };
    if (result.ok) return { value: format(result.e164) };
    problem ??= result.reason;
  }
  return problem === undefined ? NO_CELL : { problem };
}

/** The row's phones, each parsed once per row (cached on the context). */
export function parsedPhones(row: RowContext): NonNullable<RowContext['phoneResults']> {
  if (row.phoneResults) return row.phoneResults;
  const out: Array<{ text: string; result: PhoneResult | 'hashed' }> = [];
  for (const p of row.raw.phones) {
    const t = present(p);
    if (t === undefined) continue;
    out.push({ text: t, result: isSha256Hex(t) ? 'hashed' : normalizePhone(t, row.raw.country, row.defaultCountry) });
  }
  row.phoneResults = out;
  return out;
}

/** Runs a platform table over one row: hashed keys through hashOnce, clear keys as they are. */
export function applyRules<K extends string>(rules: readonly KeyRule<K>[], row: RowContext): KeysResult<K> {
  let run = compiledTables.get(rules);
  if (run === undefined) {
    run = compileRules(rules);
    compiledTables.set(rules, run);
  }
  return run(row) as KeysResult<K>;
}

type CompiledRules = (row: RowContext) => KeysResult<string>;
const compiledTables = new WeakMap<readonly KeyRule<string>[], CompiledRules>();

/**
 * A table as one function, made once per table: rule by rule, its cell, its problem and its key, each key stored
 * under its own name. What a loop over the table does (see {@link interpretRules}), without a call through one site
 * for every rule's cell and a store under a computed name per key: every row of every file runs this, and the
 * loop's own overhead was about 0.2 µs of a row's 7.5. The generated text holds only the table's own names and
 * indexes (no value of any row), and is the same for every run; `interpretRules` is the reference the tests compare
 * it with.
 */
export function compileRules<K extends string>(rules: readonly KeyRule<K>[]): CompiledRules {
  const lines = ['const keys = {};', 'const problems = [];', 'let c;', 'let k;', 'let mask = 0;'];
  // A table of more rules than a 32-bit mask holds leaves its rows' keys to be walked by the tally.
  const masked = rules.length <= MASK_RULES_MAX;
  const names = Object.freeze(rules.map((r) => r.key as string));
  /** One memo per rule that has memoBy (created with the table, so tables never share one). */
  const outcomes = rules.map((rule) => (rule.memoBy ? new Map<string, Cell>() : undefined));
  rules.forEach((rule, i) => {
    const value = !rule.hashed
      ? 'c.value'
      : rule.lowCardinality
        ? 'memo(c.value, lowMemo, LOW_MAX)'
        : rule.shared
          ? 'memo(c.value, sharedMemo, SHARED_MAX)'
          : 'hash(c.value)';
    const field = JSON.stringify(rule.field);
    const key = JSON.stringify(rule.key);
    const bit = masked ? ` mask |= ${(1 << i) >>> 0};` : '';
    if (rule.memoBy) {
      // The outcome by the value it depends on; a miss runs the cell and hashes as the other rules do.
      lines.push(
        `k = rules[${i}].memoBy(row);`,
        `if (k !== undefined && k.length < OUTCOME_KEY_MAX) {`,
        `  c = outcomes[${i}].get(k);`,
        `  if (c === undefined) {`,
        `    c = rules[${i}].cell(row);`,
        `    c = c.value === undefined ? c : c.problem === undefined ? { value: ${value} } : { value: ${value}, problem: c.problem };`,
        `    remember(outcomes[${i}], k, c);`,
        `  }`,
        `  if (c.problem !== undefined) problems.push({ field: ${field}, reason: c.problem });`,
        `  if (c.value !== undefined) { keys[${key}] = c.value;${bit} }`,
        `} else {`,
      );
    }
    lines.push(
      `c = rules[${i}].cell(row);`,
      `if (c.problem !== undefined) problems.push({ field: ${field}, reason: c.problem });`,
      `if (c.value !== undefined) { keys[${key}] = ${value};${bit} }`,
    );
    if (rule.memoBy) lines.push('}');
  });
  lines.push(masked ? 'return { keys, problems, names, mask };' : 'return { keys, problems };');
  const make = new Function(
    'rules',
    'memo',
    'lowMemo',
    'LOW_MAX',
    'sharedMemo',
    'SHARED_MAX',
    'hash',
    'outcomes',
    'remember',
    'OUTCOME_KEY_MAX',
    'names',
    `return function applyTable(row) {\n${lines.join('\n')}\n};`,
  );
  return make(
    rules,
    memoHash,
    hashMemo,
    HASH_MEMO_MAX,
    sharedMemo,
    SHARED_MEMO_MAX,
    hashOnce,
    outcomes,
    rememberOutcome,
    OUTCOME_KEY_MAX,
    names,
  ) as CompiledRules;
}

/** Rules a table may have for its rows' keys to come with a mask (bits 0–30: a mask stays a small integer). */
const MASK_RULES_MAX = 31;

/**
 * Outcomes a memoBy memo holds at most (cleared when full, as the hash memos are): a short value, its outcome and
 * the digest it holds, ~1.5 MB a full memo; Meta's table has six such rules and Google's three.
 */
const OUTCOME_MEMO_MAX = 8_192;
/**
 * Only values shorter than this are memoized by: V8 copies a substring this short, while a longer one (a cell cut
 * from the file's text) may be a view that keeps the whole 64 KiB chunk it was cut from alive as long as the memo
 * holds it. Longer values take the plain path.
 */
const OUTCOME_KEY_MAX = 13;

function rememberOutcome(memo: Map<string, Cell>, k: string, c: Cell): void {
  if (memo.size >= OUTCOME_MEMO_MAX) memo.clear();
  memo.set(k, c);
}

/** {@link applyRules} as a plain loop over the table: the reference its compiled form is tested against. */
export function interpretRules<K extends string>(rules: readonly KeyRule<K>[], row: RowContext): KeysResult<K> {
  const keys: Partial<Record<K, string>> = {};
  const problems: KeyProblem[] = [];
  let mask = 0;
  rules.forEach((rule, i) => {
    const cell = rule.cell(row);
    if (cell.problem !== undefined) problems.push({ field: rule.field, reason: cell.problem });
    if (cell.value === undefined) return;
    keys[rule.key] = !rule.hashed
      ? cell.value
      : rule.lowCardinality
        ? memoHash(cell.value, hashMemo, HASH_MEMO_MAX)
        : rule.shared
          ? memoHash(cell.value, sharedMemo, SHARED_MEMO_MAX)
          : hashOnce(cell.value);
    mask |= 1 << i;
  });
  if (rules.length > MASK_RULES_MAX) return { keys, problems };
  return { keys, problems, names: rules.map((r) => r.key), mask };
}
