/**
 * Row mapping: cells of one row → MappedRow (raw identity, consent, attributes) or a rejection with its reason.
 * Identity cells are cleaned (trimmed, one formula guard removed) but not normalized or hashed.
 */
import {
  type AgeBand,
  type Attributes,
  appended,
  type FunnelStage,
  type MappedRow,
  type PartialDate,
  type RawIdentity,
  type RejectionReason,
} from '../model';
import { countryIso2 } from '../normalize/country';
import { cleanCell, isExcelScientific, parseBoolean, parseCount, parseNumber, splitList } from './cells';
import { ageAt, type DateParse, DayFirstEvidence, inferDayFirst, parseBirthday, parseTimestamp } from './dates';
import { FORMAT_SPECS } from './registry';
import { SUBSTACK_DELETION_DOMAIN } from './substack';
import type { ColumnMapping, ColumnRef, FieldName, RowView } from './types';

export interface RowContext {
  /** Name of the file (zip entry) the rows come from: Mailchimp's status lives in it. */
  entryName?: string;
  /** ISO time of the run: age bands and paid-until checks are relative to it. */
  now: string;
  /**
   * Per-file day/month order of slash dates, from config or `sniffDayFirst`. Undefined: decided from `sample` when given,
   * else each column's documented order, else the date is ambiguous and the row rejected with `ambiguous_date`.
   */
  dayFirst?: boolean;
  /** First rows of the file, to derive `dayFirst` when it is not given. */
  sample?: readonly (readonly string[])[];
}

export interface RowRejection {
  reject: RejectionReason;
  /** Header of the column the rejection concerns, when there is one. */
  column?: string;
}

export type RowResult = MappedRow | RowRejection;

export function isRejection(result: RowResult): result is RowRejection {
  return 'reject' in result;
}

const DATE_FIELDS = [
  'signupAt',
  'lastOpenAt',
  'lastClickAt',
  'expiresAt',
  'birthday',
] as const satisfies readonly FieldName[];

/**
 * Decide a file's `dayFirst` hint from its rows: every mapped date column (signup, last open/click, expiry, birthday)
 * feeds `inferDayFirst`.
 */
export function sniffDayFirst(mapping: ColumnMapping, rows: Iterable<readonly string[]>): boolean | undefined {
  const refs = DATE_FIELDS.flatMap((f) => mapping.fields[f] ?? []);
  if (refs.length === 0) return undefined;
  function* values() {
    for (const row of rows) for (const ref of refs) yield row[ref.index] ?? '';
  }
  return inferDayFirst(values(), 10_000 * refs.length);
}

/**
 * Evidence of the day/month order from every mapped date column, row by row: ingest reads ahead with it until the
 * file shows its order (a date-sorted export may show a day over 12 only after thousands of rows).
 */
export function dayFirstEvidenceFor(mapping: ColumnMapping): ((row: readonly string[]) => void) & {
  evidence: DayFirstEvidence;
  hasDates: boolean;
} {
  const refs = DATE_FIELDS.flatMap((f) => mapping.fields[f] ?? []);
  const evidence = new DayFirstEvidence();
  const add = (row: readonly string[]) => {
    for (const ref of refs) evidence.add(row[ref.index] ?? '');
  };
  return Object.assign(add, { evidence, hasDates: refs.length > 0 });
}

const BANDS: readonly [number, AgeBand][] = [
  [65, '65+'],
  [55, '55-64'],
  [45, '45-54'],
  [35, '35-44'],
  [25, '25-34'],
  [18, '18-24'],
  [13, '13-17'],
];

/** Age band for an age in whole years; under 13 and implausible ages (> 120) have none. */
export function ageBand(age: number): AgeBand | undefined {
  if (age > 120) return undefined;
  return BANDS.find(([min]) => age >= min)?.[1];
}

/**
 * ISO alpha-2 from a two-letter cell, upper-cased; Mailchimp's `uk` is GB. Names are left to the normalizer. Two
 * letters that are no country (`EU`, `XX`, Eurostat's `EL`) are not one: taken as a code, they fell outside every
 * zone with a consent rule (OTHER); unread, they get the strictest zone and a warning.
 */
export function countryCode(cell: string | undefined): string | undefined {
  if (
    cell === undefined ||
    cell.length !== 2 ||
    !isAsciiLetter(cell.charCodeAt(0)) ||
    !isAsciiLetter(cell.charCodeAt(1))
  )
    return undefined;
  return countryIso2(cell);
}

function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Two or three ASCII letters: a state or region code (`CA`, `NSW`), not a name. */
function isRegionCode(s: string): boolean {
  if (s.length < 2 || s.length > 3) return false;
  for (let i = 0; i < s.length; i++) if (!isAsciiLetter(s.charCodeAt(i))) return false;
  return true;
}

/** Rating on a 0–`scale` scale (a number, or stars `★★★`) normalized to 0–5, two decimals. */
export function normalizeRating(cell: string, scale = 5): number | undefined {
  const stars = cell.match(/[★⭐]/gu)?.length;
  const n = stars ?? parseNumber(cell);
  if (n === undefined || n < 0 || n > scale || scale <= 0) return undefined;
  return Math.round((n / scale) * 5 * 100) / 100;
}

/** Funnel stage: customer (orders, spend or paid) › clicked › opened (opens, last open or rating ≥ 3) › subscribed. */
export function funnelStage(a: Attributes): FunnelStage {
  if ((a.orders ?? 0) > 0 || (a.spend ?? 0) > 0 || a.paid === true) return 'customer';
  if ((a.clicks ?? 0) > 0 || a.lastClickAt !== undefined) return 'clicked';
  // Mailchimp's MEMBER_RATING stars are computed from opens and clicks, so 3+ stars count as opened.
  if ((a.opens ?? 0) > 0 || a.lastOpenAt !== undefined || (a.rating ?? 0) >= 3) return 'opened';
  return 'subscribed';
}

const DELETION_DOMAIN_LENGTH = SUBSTACK_DELETION_DOMAIN.length;

/** Ends with the Substack deletion domain, in any case (compared without building a lowercased copy). */
function isDeletionPlaceholder(email: string): boolean {
  const n = email.length;
  if (n < DELETION_DOMAIN_LENGTH) return false;
  const from = n - DELETION_DOMAIN_LENGTH;
  for (let i = 0; i < DELETION_DOMAIN_LENGTH; i++) {
    const c = email.charCodeAt(from + i);
    const d = SUBSTACK_DELETION_DOMAIN.charCodeAt(i);
    if (c === d) continue;
    // ASCII letters only fold here; any other difference (or a non-ASCII letter) goes to the full rule.
    if (c >= 65 && c <= 90 && c + 32 === d) continue;
    if (c > 127) return email.toLowerCase().endsWith(SUBSTACK_DELETION_DOMAIN);
    return false;
  }
  return true;
}

const NO_REFS: readonly ColumnRef[] = [];

/** A RowView over whatever row `cells()` returns; built once per file, not per row. */
function makeView(fields: ColumnMapping['fields'], cells: () => readonly string[]): RowView {
  const refs = (field: FieldName): readonly ColumnRef[] => fields[field] ?? NO_REFS;
  const text = (field: FieldName): string | undefined => {
    const rs = refs(field);
    if (rs.length === 0) return undefined;
    const row = cells();
    for (const r of rs) {
      const v = cleanCell(row[r.index]);
      if (v !== '') return v;
    }
    return undefined;
  };
  return {
    has: (field) => refs(field).length > 0,
    text,
    bool: (field) => {
      const t = text(field);
      return t === undefined ? undefined : parseBoolean(t);
    },
    list: (field) => {
      const rs = refs(field);
      if (rs.length === 0) return [];
      const row = cells();
      if (rs.length === 1) return splitList(row[(rs[0] as ColumnRef).index] ?? '');
      return rs.flatMap((r) => splitList(row[r.index] ?? ''));
    },
    all: (field) => {
      const row = cells();
      return refs(field).map((r) => ({ label: r.label, header: r.header, text: cleanCell(row[r.index]) }));
    },
  };
}

/**
 * Build the row mapper for one file: the columns of every field are looked up once here, so a row costs only its
 * own cells. The mapper is total: every row gives a MappedRow (possibly with `skip`) or a rejection with a reason,
 * and never throws.
 */
export function createRowMapper(mapping: ColumnMapping, context: RowContext): (cells: readonly string[]) => RowResult {
  const spec = FORMAT_SPECS[mapping.format];
  const fields = mapping.fields;
  const nowMs = Date.parse(context.now);
  const now = Number.isNaN(nowMs) ? undefined : new Date(nowMs).toISOString();
  const referenceYear = now === undefined ? undefined : new Date(nowMs).getUTCFullYear();
  // Config first, then what the file's own dates show, then the platform's known export locale (HubSpot: US).
  const fileDayFirst =
    context.dayFirst ?? (context.sample ? sniffDayFirst(mapping, context.sample) : undefined) ?? spec.dayFirst;
  const dayFirstOf = (ref: ColumnRef) => fileDayFirst ?? ref.dayFirst;
  const refsOf = (field: FieldName): readonly ColumnRef[] => fields[field] ?? NO_REFS;

  const EMAIL = refsOf('email');
  const PHONE = refsOf('phone');
  const EXTERNAL_ID = refsOf('externalId');
  const MADID = refsOf('madid');
  const TIMESTAMPS = (['signupAt', 'lastOpenAt', 'lastClickAt', 'expiresAt'] as const)
    .map((field) => ({ field, refs: refsOf(field) }))
    .filter((d) => d.refs.length > 0);
  const BIRTHDAY = refsOf('birthday');
  const BIRTH_YEAR = refsOf('birthYear');
  const FIRST_NAME = refsOf('firstName');
  const LAST_NAME = refsOf('lastName');
  const FULL_NAME = refsOf('fullName');
  const GENDER = refsOf('gender');
  const CITY = refsOf('city');
  const STATE = refsOf('state');
  const REGION = refsOf('region');
  const ZIP = refsOf('zip');
  const COUNTRY = refsOf('country');
  const COUNTRY_CODE = refsOf('countryCode');
  const TAGS = refsOf('tags');
  const GROUPS = refsOf('groups');
  const LISTS = refsOf('lists');
  const TIER_FLAG = refsOf('tierFlag');
  const RATING = refsOf('rating');
  const OPENS = refsOf('opens');
  const CLICKS = refsOf('clicks');
  const PLAN = refsOf('plan');
  const TIER = refsOf('tier');
  const PAID = refsOf('paid');
  const SPEND = refsOf('spend');
  const ORDERS = refsOf('orders');
  const AGE = refsOf('age');
  const UNSUBSCRIBED_AT = refsOf('unsubscribedAt');

  /** The column the last `first` call found its value in. */
  let found: ColumnRef = NO_REFS[0] as ColumnRef;
  /** First non-empty (cleaned) cell of a field's columns; `found` is then its column. */
  const first = (cells: readonly string[], refs: readonly ColumnRef[]): string | undefined => {
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i] as ColumnRef;
      const v = cleanCell(cells[ref.index]);
      if (v !== '') {
        found = ref;
        return v;
      }
    }
    return undefined;
  };
  // A name cell keeps a leading apostrophe unless it guards a formula (`'t Hooft`): the first present cell, cleaned so.
  const nameIn = (cells: readonly string[], refs: readonly ColumnRef[]) => {
    const c = first(cells, refs);
    return c === undefined ? undefined : cleanCell(cells[found.index], 'formula');
  };
  /** Items of a list field's cells, appended to `into`. */
  const listInto = (into: string[], cells: readonly string[], refs: readonly ColumnRef[], prefix = ''): void => {
    for (let i = 0; i < refs.length; i++)
      for (const item of splitList(cells[(refs[i] as ColumnRef).index] ?? '')) into.push(prefix + item);
  };

  let current: readonly string[] = [];
  const row = makeView(fields, () => current);
  const consentContext = context.entryName === undefined ? {} : { entryName: context.entryName };

  return (cells) => {
    current = cells;

    // Identifiers.
    const emails: string[] = [];
    let placeholder = false;
    for (let i = 0; i < EMAIL.length; i++) {
      const v = cleanCell(cells[(EMAIL[i] as ColumnRef).index]);
      if (v === '') continue;
      emails.push(v);
      if (isDeletionPlaceholder(v)) placeholder = true;
    }
    if (placeholder) {
      // Substack deletion request: the row is counted as rejected with this reason, and nothing of it is kept.
      return {
        raw: { emails: [], phones: [] },
        consent: 'deletion_requested',
        attrs: {},
        skip: 'deletion_placeholder',
      };
    }
    let damage: RowRejection | undefined;
    const phones: string[] = [];
    for (let i = 0; i < PHONE.length; i++) {
      const ref = PHONE[i] as ColumnRef;
      const v = cleanCell(cells[ref.index]);
      if (v === '') continue;
      if (isExcelScientific(v)) damage ??= { reject: 'excel_damaged_phone', column: ref.header };
      else phones.push(v);
    }
    let externalId: string | undefined;
    const idCell = first(cells, EXTERNAL_ID);
    if (idCell !== undefined) {
      if (isExcelScientific(idCell)) damage ??= { reject: 'excel_damaged_id', column: found.header };
      else externalId = idCell;
    }
    const madids: string[] = [];
    for (let i = 0; i < MADID.length; i++) {
      const v = cleanCell(cells[(MADID[i] as ColumnRef).index]);
      if (v !== '') madids.push(v);
    }
    if (emails.length === 0 && phones.length === 0 && externalId === undefined && madids.length === 0) {
      return damage ?? { reject: 'missing_identifier' };
    }

    // Dates. One whose day/month order the file cannot tell is dropped (counted as a warning with its column): a
    // person is never rejected for an attribute.
    let warnings: MappedRow['warnings'];
    let signupAt: string | undefined;
    let lastOpenAt: string | undefined;
    let lastClickAt: string | undefined;
    let expiresAt: string | undefined;
    for (let d = 0; d < TIMESTAMPS.length; d++) {
      const { field, refs } = TIMESTAMPS[d] as (typeof TIMESTAMPS)[number];
      const c = first(cells, refs);
      if (c === undefined) continue;
      const parsed: DateParse<string> = parseTimestamp(c, { dayFirst: dayFirstOf(found) });
      if (parsed.ok) {
        if (field === 'signupAt') signupAt = parsed.value;
        else if (field === 'lastOpenAt') lastOpenAt = parsed.value;
        else if (field === 'lastClickAt') lastClickAt = parsed.value;
        else expiresAt = parsed.value;
      } else if (parsed.reason === 'ambiguous') warnings = appended(warnings, { reason: 'ambiguous_date', field });
    }
    let birthday: PartialDate | undefined;
    const b = first(cells, BIRTHDAY);
    if (b !== undefined) {
      const parsed = parseBirthday(b, { dayFirst: dayFirstOf(found), referenceYear });
      if (parsed.ok) birthday = parsed.value;
      else if (parsed.reason === 'ambiguous')
        warnings = appended(warnings, { reason: 'ambiguous_date', field: 'birthday' });
    }
    const birthYearText = first(cells, BIRTH_YEAR);
    const birthYear = birthYearText === undefined ? undefined : parseCount(birthYearText);
    if (birthYear !== undefined && birthYear >= 1900 && birthYear <= (referenceYear ?? 2999)) {
      // Meta `doby` settles the century of a two-digit `dob`.
      if (!birthday) birthday = { year: birthYear };
      else if (birthday.year === undefined || birthday.year % 100 === birthYear % 100)
        birthday = { ...birthday, year: birthYear };
    }

    // Raw identity: cleaned, not normalized.
    const raw: RawIdentity = { emails, phones };
    const firstName = nameIn(cells, FIRST_NAME);
    const lastName = nameIn(cells, LAST_NAME);
    const fullName = nameIn(cells, FULL_NAME);
    if (firstName) raw.firstName = firstName;
    if (lastName) raw.lastName = lastName;
    if (fullName) raw.fullName = fullName;
    const gender = first(cells, GENDER);
    if (gender) raw.gender = gender;
    if (birthday) raw.birthday = birthday;
    const city = first(cells, CITY);
    if (city) raw.city = city;
    const stateCell = first(cells, STATE);
    const regionCell = first(cells, REGION);
    const state = stateCell ?? regionCell;
    if (state) raw.state = state;
    const zip = first(cells, ZIP);
    if (zip) raw.zip = zip;
    const countryCell = first(cells, COUNTRY);
    const codeCell = first(cells, COUNTRY_CODE);
    const country = countryCell ?? codeCell;
    if (country) raw.country = country;
    if (externalId !== undefined) raw.externalId = externalId;
    if (madids.length) raw.madids = madids;

    const verdict = spec.consent(row, consentContext);

    // Attributes: non-identifying only.
    const attrs: Attributes = {};
    const tags: string[] = [];
    listInto(tags, cells, TAGS);
    listInto(tags, cells, GROUPS);
    listInto(tags, cells, LISTS, 'list:');
    for (let i = 0; i < TIER_FLAG.length; i++) {
      const ref = TIER_FLAG[i] as ColumnRef;
      if (parseBoolean(cleanCell(cells[ref.index])) === true) tags.push(`tier:${ref.label}`);
    }
    if (verdict.tags) for (const t of verdict.tags) tags.push(t);
    if (tags.length === 1) attrs.tags = tags;
    else if (tags.length > 1) attrs.tags = [...new Set(tags)];
    const ratingCell = first(cells, RATING);
    const rating = ratingCell === undefined ? undefined : normalizeRating(ratingCell, found.scale);
    if (rating !== undefined) attrs.rating = rating;
    if (lastOpenAt) attrs.lastOpenAt = lastOpenAt;
    if (lastClickAt) attrs.lastClickAt = lastClickAt;
    const opens = first(cells, OPENS);
    const opensN = opens === undefined ? undefined : parseCount(opens);
    if (opensN !== undefined) attrs.opens = opensN;
    const clicks = first(cells, CLICKS);
    const clicksN = clicks === undefined ? undefined : parseCount(clicks);
    if (clicksN !== undefined) attrs.clicks = clicksN;
    if (signupAt) attrs.signupAt = signupAt;

    if (spec.derive) {
      const derived = spec.derive(row, expiresAt ? { now: now ?? '', expiresAt } : { now: now ?? '' });
      if (derived.plan !== undefined) attrs.plan = derived.plan;
      if (derived.tier !== undefined) attrs.tier = derived.tier;
      if (derived.paid !== undefined) attrs.paid = derived.paid;
    } else {
      const plan = first(cells, PLAN);
      if (plan !== undefined) attrs.plan = plan;
      const tier = first(cells, TIER);
      if (tier !== undefined) attrs.tier = tier;
      const paidText = first(cells, PAID);
      const paid = paidText === undefined ? undefined : parseBoolean(paidText);
      if (paid !== undefined) attrs.paid = paid;
    }
    const spend = first(cells, SPEND);
    const spendN = spend === undefined ? undefined : parseNumber(spend);
    if (spendN !== undefined) attrs.spend = spendN;
    const orders = first(cells, ORDERS);
    const ordersN = orders === undefined ? undefined : parseCount(orders);
    if (ordersN !== undefined) attrs.orders = ordersN;

    const iso2 = countryCode(codeCell) ?? countryCode(countryCell);
    if (iso2) attrs.country = iso2;
    const region = regionCell ?? (stateCell && isRegionCode(stateCell) ? stateCell : undefined);
    if (region) attrs.region = region.toUpperCase();

    const ageNow = birthday && now ? ageAt(birthday, now) : undefined;
    const ageText = first(cells, AGE);
    const ageCell = ageText === undefined ? undefined : parseCount(ageText);
    const band = ageNow !== undefined ? ageBand(ageNow) : ageCell !== undefined ? ageBand(ageCell) : undefined;
    if (band) attrs.ageBand = band;
    if (birthday && attrs.signupAt) {
      const atSignup = ageAt(birthday, attrs.signupAt);
      if (atSignup !== undefined && atSignup <= 120) attrs.ageAtSignup = atSignup;
    }
    attrs.funnel = funnelStage(attrs);

    const mapped: MappedRow = { raw, consent: verdict.consent, attrs };
    if (warnings) mapped.warnings = warnings;
    if (verdict.optIn !== undefined) mapped.optIn = verdict.optIn;
    if (verdict.explicitOptIn !== undefined) mapped.explicitOptIn = verdict.explicitOptIn;
    if (verdict.adsPermission !== undefined) mapped.adsPermission = verdict.adsPermission;
    // When the opt-in was recorded: the platform's own opt-in time, else the signup time of an opted-in person.
    const optInCell = verdict.optInAtCell !== undefined ? parseTimestamp(verdict.optInAtCell, {}) : undefined;
    const optInAt = optInCell?.ok ? optInCell.value : mapped.optIn ? attrs.signupAt : undefined;
    if (optInAt !== undefined) mapped.optInAt = optInAt;
    const unsubAt = first(cells, UNSUBSCRIBED_AT);
    const optOut = unsubAt === undefined ? undefined : parseTimestamp(unsubAt, { dayFirst: dayFirstOf(found) });
    if (optOut?.ok) mapped.optOutAt = optOut.value;
    return mapped;
  };
}
