/**
 * Dates as exports write them, to ISO-8601 UTC strings (timestamps) or PartialDates (birthdays).
 * Pure and total: every function returns a result, none throws.
 *
 * Forms read: `YYYY-MM-DD HH:MM:SS` (Mailchimp, MailerLite), ISO `…T…(.sss)Z` (Substack), `… UTC` (beehiiv),
 * `… +0000` / `… -0400` (Curated, Constant Contact), `M/D/YY H:MM` and `DD/MM/YY HH:MM` (Excel re-saves),
 * `DD-MM-YYYY HH:MM` (Brevo), `DD.MM.YYYY`, date-only forms, and Excel serial day numbers.
 * A value without a zone is taken as UTC: Mailchimp does not say which zone it writes, and Brevo writes the account's
 * zone, which the file does not carry. The error is at most a day, which no segment rule depends on.
 */
import type { PartialDate } from '../model';
import { cleanCell } from './cells';

export type DateFailure = 'empty' | 'invalid' | 'ambiguous';
/** A parse result; `ambiguous` (day/month order unknown) is kept apart so the caller can reject the row with `ambiguous_date`. */
export type DateParse<T> = { ok: true; value: T } | { ok: false; reason: DateFailure };

export interface DateOptions {
  /**
   * Order of day and month in slash dates (`07/05/19`) when both are ≤ 12, decided per file by `inferDayFirst`.
   * Undefined: such a date is `ambiguous`. A date with only one valid reading (`13/05/19`) never needs it.
   */
  dayFirst?: boolean;
}

export interface BirthdayOptions extends DateOptions {
  /** Current year: birthdays are never in the future, and two-digit birth years resolve against it. */
  referenceYear?: number;
}

const MIN_YEAR = 1900;
const MAX_YEAR = 2999;
// Excel serial day numbers: day 25569 is 1970-01-01 (serials count from 1899-12-30 once past Excel's fake 1900-02-29).
const EXCEL_UNIX_EPOCH = 25569;
const DAY_MS = 86_400_000;
/** Serials accepted in timestamp columns: 1970-01-01 … 2099-12-31. */
const EVENT_SERIAL_RANGE: readonly [number, number] = [25569, 73050];
/** Serials accepted in birthday columns: 1910-01-01 … 2099-12-31 (still capped by the reference year). */
const BIRTH_SERIAL_RANGE: readonly [number, number] = [3654, 73050];

const ZONE = String.raw`(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)`;
const TIME = String.raw`(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:\s*([ap])\.?m\.?)?`;
const YMD_RE = new RegExp(String.raw`^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:(?:T|\s+)${TIME})?\s*${ZONE}?$`, 'i');
const DMY_RE = new RegExp(
  String.raw`^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:(?:T|\s+|,\s*)${TIME})?\s*${ZONE}?$`,
  'i',
);
const SERIAL_RE = /^(\d{4,5})(?:[.,](\d+))?$/;

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Days in a month; without a year February has 29 (a birthday may be the 29th). */
function daysIn(month: number, year?: number): number {
  if (month === 2) return year === undefined || isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function validDay(month: number, day: number, year?: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year);
}

/**
 * Two-digit years in timestamps follow the POSIX `strptime %y` pivot: 69–99 → 1969–1999, 00–68 → 2000–2068.
 * Birthdays use `birthYear` instead.
 */
export function expandEventYear(yy: number): number {
  return yy >= 69 ? 1900 + yy : 2000 + yy;
}

/** Two-digit birth years: the latest year not after the reference year (`68` in 2025 → 1968, `05` → 2005); 19yy without one. */
export function expandBirthYear(yy: number, referenceYear?: number): number {
  if (referenceYear === undefined) return 1900 + yy;
  return 2000 + yy <= referenceYear ? 2000 + yy : 1900 + yy;
}

type DayMonth = { day: number; month: number } | DateFailure;

/**
 * Resolve `a?b` into day and month. One valid reading wins outright. Both valid: `/` follows the per-file hint (no hint:
 * ambiguous); `.` is always day-first (no locale writes M.D.Y); `-` with the year last is day-first (Brevo
 * `DD-MM-YYYY`) unless the hint says otherwise.
 */
function resolveDayMonth(a: number, b: number, sep: string, dayFirst: boolean | undefined, year?: number): DayMonth {
  const asDayFirst = validDay(b, a, year);
  const asMonthFirst = validDay(a, b, year);
  if (asDayFirst && (!asMonthFirst || a === b)) return { day: a, month: b };
  if (asMonthFirst && !asDayFirst) return { day: b, month: a };
  if (!asDayFirst && !asMonthFirst) return 'invalid';
  const preference = sep === '/' ? dayFirst : sep === '.' ? true : (dayFirst ?? true);
  if (preference === undefined) return 'ambiguous';
  return preference ? { day: a, month: b } : { day: b, month: a };
}

/** Zone suffix to minutes east of UTC, or undefined when malformed. */
function zoneOffset(zone: string | undefined): number | undefined {
  if (!zone || /^(z|utc|gmt)$/i.test(zone)) return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = Number(m[3] ?? '0');
  if (hours > 14 || minutes > 59) return undefined;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

interface Clock {
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

function readClock(
  h: string | undefined,
  mi: string | undefined,
  s: string | undefined,
  frac: string | undefined,
  ampm: string | undefined,
): Clock | undefined {
  if (h === undefined) return { hour: 0, minute: 0, second: 0, ms: 0 };
  let hour = Number(h);
  const minute = Number(mi);
  const second = Number(s ?? '0');
  const ms = Number((frac ?? '').slice(0, 3).padEnd(3, '0'));
  if (ampm) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (ampm.toLowerCase() === 'p' ? 12 : 0);
  }
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return { hour, minute, second, ms };
}

function toIso(year: number, month: number, day: number, clock: Clock, offsetMinutes: number): DateParse<string> {
  if (year < MIN_YEAR || year > MAX_YEAR || !validDay(month, day, year)) return { ok: false, reason: 'invalid' };
  const t = Date.UTC(year, month - 1, day, clock.hour, clock.minute, clock.second, clock.ms) - offsetMinutes * 60_000;
  return { ok: true, value: new Date(t).toISOString() };
}

function serialToIso(serial: number): string {
  return new Date(Math.round((serial - EXCEL_UNIX_EPOCH) * 86_400) * 1000).toISOString();
}

/**
 * Parse a timestamp or date cell to an ISO-8601 UTC string (`2019-05-07T11:10:15.000Z`).
 * Date-only values become midnight UTC.
 */
export function parseTimestamp(cell: string, options: DateOptions = {}): DateParse<string> {
  const s = cleanCell(cell);
  if (s === '') return { ok: false, reason: 'empty' };

  let m = YMD_RE.exec(s);
  if (m) {
    const clock = readClock(m[5], m[6], m[7], m[8], m[9]);
    const offset = zoneOffset(m[10]);
    if (!clock || offset === undefined) return { ok: false, reason: 'invalid' };
    return toIso(Number(m[1]), Number(m[3]), Number(m[4]), clock, offset);
  }

  m = DMY_RE.exec(s);
  if (m) {
    const yearText = m[4] ?? '';
    const year = yearText.length === 2 ? expandEventYear(Number(yearText)) : Number(yearText);
    const dm = resolveDayMonth(Number(m[1]), Number(m[3]), m[2] ?? '/', options.dayFirst, year);
    if (typeof dm === 'string') return { ok: false, reason: dm };
    const clock = readClock(m[5], m[6], m[7], m[8], m[9]);
    const offset = zoneOffset(m[10]);
    if (!clock || offset === undefined) return { ok: false, reason: 'invalid' };
    return toIso(year, dm.month, dm.day, clock, offset);
  }

  m = SERIAL_RE.exec(s);
  if (m) {
    const serial = Number(`${m[1]}.${m[2] ?? '0'}`);
    if (serial >= EVENT_SERIAL_RANGE[0] && serial < EVENT_SERIAL_RANGE[1] + 1)
      return { ok: true, value: serialToIso(serial) };
  }
  return { ok: false, reason: 'invalid' };
}

const NO_YEAR_RE = /^--(\d{1,2})-?(\d{1,2})$/;
const BIRTH_YMD_RE = /^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[T\s].*)?$/;
const BIRTH_YM_RE = /^(\d{4})[-/](\d{1,2})$/;
const BIRTH_DMY_RE = /^(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?\.?(?:[T\s,].*)?$/;

function birthResult(date: PartialDate, referenceYear: number | undefined): DateParse<PartialDate> {
  const { year, month, day } = date;
  if (year !== undefined && (year < MIN_YEAR || year > (referenceYear ?? MAX_YEAR)))
    return { ok: false, reason: 'invalid' };
  if (month !== undefined && (month < 1 || month > 12)) return { ok: false, reason: 'invalid' };
  if (month !== undefined && day !== undefined && !validDay(month, day, year)) return { ok: false, reason: 'invalid' };
  const value: PartialDate = {};
  if (year !== undefined) value.year = year;
  if (month !== undefined) value.month = month;
  if (day !== undefined) value.day = day;
  return { ok: true, value };
}

/**
 * Parse a birthday cell to a PartialDate: `MM/DD` (Mailchimp birthday merge field), `MM/DD/YYYY`, `MM/DD/YY` (Meta `dob`),
 * `DD.MM.YYYY`, `YYYY-MM-DD` (with or without a time), `YYYY-MM`, `YYYY`, `--MM-DD` (ISO 8601 / vCard, no year) and
 * Excel serials. Day/month order follows `dayFirst` exactly as `parseTimestamp` does.
 */
export function parseBirthday(cell: string, options: BirthdayOptions = {}): DateParse<PartialDate> {
  const s = cleanCell(cell);
  if (s === '') return { ok: false, reason: 'empty' };
  const ref = options.referenceYear;

  let m = NO_YEAR_RE.exec(s);
  if (m) return birthResult({ month: Number(m[1]), day: Number(m[2]) }, ref);

  m = BIRTH_YMD_RE.exec(s);
  if (m) return birthResult({ year: Number(m[1]), month: Number(m[3]), day: Number(m[4]) }, ref);

  m = BIRTH_YM_RE.exec(s);
  if (m) return birthResult({ year: Number(m[1]), month: Number(m[2]) }, ref);

  if (/^\d{4}$/.test(s) && Number(s) >= MIN_YEAR && Number(s) <= 2100) return birthResult({ year: Number(s) }, ref);

  m = BIRTH_DMY_RE.exec(s);
  if (m) {
    const yearText = m[4];
    const year =
      yearText === undefined
        ? undefined
        : yearText.length === 2
          ? expandBirthYear(Number(yearText), ref)
          : Number(yearText);
    const dm = resolveDayMonth(Number(m[1]), Number(m[3]), m[2] ?? '/', options.dayFirst, year);
    if (typeof dm === 'string') return { ok: false, reason: dm };
    return birthResult({ year, month: dm.month, day: dm.day }, ref);
  }

  m = SERIAL_RE.exec(s);
  if (m) {
    const serial = Number(`${m[1]}.${m[2] ?? '0'}`);
    if (serial >= BIRTH_SERIAL_RANGE[0] && serial < BIRTH_SERIAL_RANGE[1] + 1) {
      const d = new Date((Math.floor(serial) - EXCEL_UNIX_EPOCH) * DAY_MS);
      return birthResult({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }, ref);
    }
  }
  return { ok: false, reason: 'invalid' };
}

const SLASH_PARTS_RE = /^(\d{1,2})\/(\d{1,2})(?:\/\d{2,4})?(?![\d/])/;

/**
 * Decide a file's day/month order from a sample of a date column's values (slash dates only):
 * day-first if some first part is > 12, month-first if some second part is > 12, undefined when neither shows up or
 * both do (contradictory column: each unambiguous value still parses on its own, the rest are `ambiguous`).
 */
export function inferDayFirst(values: Iterable<string>, limit = 10_000): boolean | undefined {
  const evidence = new DayFirstEvidence();
  let seen = 0;
  for (const value of values) {
    if (seen++ >= limit) break;
    evidence.add(value);
  }
  return evidence.decision();
}

/** Evidence of a file's day/month order, gathered value by value (a whole file can feed it as it streams). */
export class DayFirstEvidence {
  private firstOver = false;
  private secondOver = false;
  /** Slash dates seen whose order is unclear (both parts ≤ 12 and different). */
  ambiguous = 0;

  add(value: string): void {
    const m = SLASH_PARTS_RE.exec(cleanCell(value));
    if (!m) return;
    const a = Number(m[1]);
    const b = Number(m[2]);
    if (a > 31 || b > 31) return;
    if (a > 12) this.firstOver = true;
    if (b > 12) this.secondOver = true;
    if (a <= 12 && b <= 12 && a !== b) this.ambiguous++;
  }

  /** Day-first, month-first, or undefined when nothing (or contradictory evidence) shows. */
  decision(): boolean | undefined {
    return this.firstOver === this.secondOver ? undefined : this.firstOver;
  }
}

/** The UTC day of an ISO instant, or undefined when it is none. */
interface UtcDay {
  year: number;
  month: number;
  day: number;
}

/**
 * Days of the last two instants asked (a row asks for its age now, the same instant for every row of a file, and at
 * its signup): parsing an ISO string per call was a third of a birthday row's date work.
 */
const dayCache: Array<{ iso: string; day: UtcDay | undefined }> = [
  { iso: '', day: undefined },
  { iso: '', day: undefined },
];
let dayCacheNext = 0;

function utcDayOf(iso: string): UtcDay | undefined {
  for (const c of dayCache) if (c.iso === iso && iso !== '') return c.day;
  const at = new Date(iso);
  const day = Number.isNaN(at.getTime())
    ? undefined
    : { year: at.getUTCFullYear(), month: at.getUTCMonth() + 1, day: at.getUTCDate() };
  const slot = dayCache[dayCacheNext] as { iso: string; day: UtcDay | undefined };
  slot.iso = iso;
  slot.day = day;
  dayCacheNext = 1 - dayCacheNext;
  return day;
}

/**
 * Whole years from a birthday to an ISO instant. A birthday without month or day counts as not yet reached that year,
 * so the age is never overstated (an 18-year-old is not taken for an adult by mistake). Undefined without a year.
 */
export function ageAt(birthday: PartialDate, atIso: string): number | undefined {
  if (birthday.year === undefined) return undefined;
  const at = utcDayOf(atIso);
  if (at === undefined) return undefined;
  let age = at.year - birthday.year;
  const { month, day } = at;
  const reached =
    birthday.month !== undefined &&
    (month > birthday.month ||
      (month === birthday.month && (birthday.day === undefined ? false : day >= birthday.day)));
  if (!reached) age -= 1;
  return age >= 0 ? age : undefined;
}
