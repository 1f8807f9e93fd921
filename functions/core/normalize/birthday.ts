import type { PartialDate } from '../model';

/** Earliest birth year we believe. Older values are typos or placeholder dates (1900-01-01 stays, 1899 does not). */
export const MIN_BIRTH_YEAR = 1900;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Meta DOBY rule: `YYYY`, only for a whole year between 1900 and `currentYear`. Two-digit years are not expanded. */
export function normalizeBirthYear(
  year: number | undefined,
  currentYear = new Date().getUTCFullYear(),
): string | undefined {
  if (year === undefined || !Number.isInteger(year) || year < MIN_BIRTH_YEAR || year > currentYear) return undefined;
  return String(year);
}

/** Meta DOBM rule: `01`–`12`. */
export function normalizeBirthMonth(month: number | undefined): string | undefined {
  if (month === undefined || !Number.isInteger(month) || month < 1 || month > 12) return undefined;
  return pad2(month);
}

/** Meta DOBD rule: `01`–`31`, and no later than the month's last day when the month (and year, for 29 Feb) is known. */
export function normalizeBirthDay(day: number | undefined, month?: number, year?: number): string | undefined {
  if (day === undefined || !Number.isInteger(day) || day < 1 || day > 31) return undefined;
  if (month !== undefined && Number.isInteger(month) && month >= 1 && month <= 12) {
    let max: number = DAYS_IN_MONTH[month - 1]!;
    if (month === 2 && year !== undefined && Number.isInteger(year) && !isLeap(year)) max = 28;
    if (day > max) return undefined;
  }
  return pad2(day);
}

export interface BirthdayKeys {
  year?: string;
  month?: string;
  day?: string;
  /** True when a part was given but dropped as implausible. */
  dropped: boolean;
}

/** DOBY / DOBM / DOBD from a PartialDate; each part independently, implausible parts dropped and flagged. */
export function normalizeBirthday(date: PartialDate | undefined, currentYear?: number): BirthdayKeys {
  if (date === undefined) return { dropped: false };
  const year = normalizeBirthYear(date.year, currentYear);
  const month = normalizeBirthMonth(date.month);
  const day = normalizeBirthDay(date.day, date.month, year === undefined ? undefined : date.year);
  const out: BirthdayKeys = {
    dropped:
      (date.year !== undefined && year === undefined) ||
      (date.month !== undefined && month === undefined) ||
      (date.day !== undefined && day === undefined),
  };
  if (year !== undefined) out.year = year;
  if (month !== undefined) out.month = month;
  if (day !== undefined) out.day = day;
  return out;
}
