import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ageAt,
  expandBirthYear,
  expandEventYear,
  inferDayFirst,
  parseBirthday,
  parseTimestamp,
} from '../../../functions/core/formats/dates';

const ok = (value: unknown) => ({ ok: true, value });
const fail = (reason: string) => ({ ok: false, reason });

describe('parseTimestamp', () => {
  it.each([
    // [cell, dayFirst hint, expected]
    ['2019-05-07 11:10:15', undefined, ok('2019-05-07T11:10:15.000Z')], // Mailchimp, no zone → UTC
    ['"2015-03-16 14:40:47"'.slice(1, -1), undefined, ok('2015-03-16T14:40:47.000Z')],
    ['2018-08-27T15:06:27.713Z', undefined, ok('2018-08-27T15:06:27.713Z')], // Substack
    ['2025-01-01', undefined, ok('2025-01-01T00:00:00.000Z')],
    ['2023-03-24 10:23:10 UTC', undefined, ok('2023-03-24T10:23:10.000Z')], // beehiiv
    ['2021-02-04 07:55:20 +0000', undefined, ok('2021-02-04T07:55:20.000Z')], // Curated
    ['2020-09-25 16:45:13 -0400', undefined, ok('2020-09-25T20:45:13.000Z')], // Constant Contact
    ['2021-02-04T07:55:20+05:30', undefined, ok('2021-02-04T02:25:20.000Z')],
    ['2024-01-02T03:04:05.123456Z', undefined, ok('2024-01-02T03:04:05.123Z')],
    ['2024-05-07 09:30', undefined, ok('2024-05-07T09:30:00.000Z')],
    ['2/5/24 1:51', false, ok('2024-02-05T01:51:00.000Z')], // HubSpot after an Excel re-save (US)
    ['2/5/24 1:51', true, ok('2024-05-02T01:51:00.000Z')],
    ['2/5/24 1:51', undefined, fail('ambiguous')],
    ['07/05/19 11:10', true, ok('2019-05-07T11:10:00.000Z')], // DeepNews, French Excel DD/MM/YY
    ['13/05/19 11:10', undefined, ok('2019-05-13T11:10:00.000Z')], // only one valid reading
    ['05/13/19', undefined, ok('2019-05-13T00:00:00.000Z')],
    ['13/05/19', false, ok('2019-05-13T00:00:00.000Z')], // the hint never forces an impossible reading
    ['05/05/19', undefined, ok('2019-05-05T00:00:00.000Z')], // same either way
    ['3/4/2024 2:05 PM', false, ok('2024-03-04T14:05:00.000Z')],
    ['3/4/2024 12:05 am', false, ok('2024-03-04T00:05:00.000Z')],
    ['12-04-2022 09:30', undefined, ok('2022-04-12T09:30:00.000Z')], // Brevo DD-MM-YYYY
    ['21.10.2023', undefined, ok('2023-10-21T00:00:00.000Z')],
    ['01.02.2023', undefined, ok('2023-02-01T00:00:00.000Z')], // dots are day-first
    ['43591', undefined, ok('2019-05-06T00:00:00.000Z')], // Excel serial
    ['43591.5', undefined, ok('2019-05-06T12:00:00.000Z')],
    ["'2019-05-07 11:10:15", undefined, ok('2019-05-07T11:10:15.000Z')],
    ['12345', undefined, fail('invalid')], // serial outside the plausible range
    ['2/30/24', false, fail('invalid')],
    ['2024-13-01', undefined, fail('invalid')],
    ['2024-02-30', undefined, fail('invalid')],
    ['2023-02-29', undefined, fail('invalid')],
    ['2024-02-29', undefined, ok('2024-02-29T00:00:00.000Z')],
    ['2024-01-01 25:00', undefined, fail('invalid')],
    ['2024-01-01 10:00 +9900', undefined, fail('invalid')],
    ['13:05 PM', undefined, fail('invalid')],
    ['soon', undefined, fail('invalid')],
    ['', undefined, fail('empty')],
    ['   ', undefined, fail('empty')],
  ])('%j (dayFirst %s)', (cell, dayFirst, expected) => {
    expect(parseTimestamp(cell, { dayFirst })).toEqual(expected);
  });

  it('pivots two-digit event years POSIX-style (69–99 → 19xx, 00–68 → 20xx)', () => {
    expect(expandEventYear(68)).toBe(2068);
    expect(expandEventYear(69)).toBe(1969);
    expect(expandEventYear(0)).toBe(2000);
    expect(parseTimestamp('1/2/99', { dayFirst: false })).toEqual(ok('1999-01-02T00:00:00.000Z'));
  });
});

describe('parseBirthday', () => {
  it.each([
    ['05/21', {}, ok({ month: 5, day: 21 })], // Mailchimp birthday merge field MM/DD
    ['21/05', {}, ok({ month: 5, day: 21 })],
    ['05/07', {}, fail('ambiguous')],
    ['05/07', { dayFirst: false }, ok({ month: 5, day: 7 })],
    ['05/07', { dayFirst: true }, ok({ month: 7, day: 5 })],
    ['10/21/68', { referenceYear: 2025 }, ok({ year: 1968, month: 10, day: 21 })], // Meta dob MM/DD/YY
    ['01/02/05', { referenceYear: 2025, dayFirst: false }, ok({ year: 2005, month: 1, day: 2 })],
    ['01/02/30', { referenceYear: 2025, dayFirst: false }, ok({ year: 1930, month: 1, day: 2 })],
    ['10/21/1968', {}, ok({ year: 1968, month: 10, day: 21 })],
    ['10/21/1968 0:00', {}, ok({ year: 1968, month: 10, day: 21 })],
    ['1990-05-02', {}, ok({ year: 1990, month: 5, day: 2 })],
    ['1990-05-02T00:00:00.000Z', {}, ok({ year: 1990, month: 5, day: 2 })],
    ['1990-05', {}, ok({ year: 1990, month: 5 })],
    ['--05-02', {}, ok({ month: 5, day: 2 })], // ISO 8601 / vCard without year
    ['21.10.1990', {}, ok({ year: 1990, month: 10, day: 21 })],
    ['21.10.', {}, ok({ month: 10, day: 21 })],
    ['1968', {}, ok({ year: 1968 })],
    ['02/29', {}, ok({ month: 2, day: 29 })],
    ['32874', {}, ok({ year: 1990, month: 1, day: 1 })], // Excel serial
    ['02/29/2001', {}, fail('invalid')],
    ['2030-01-01', { referenceYear: 2025 }, fail('invalid')], // not born yet
    ['1850-01-01', {}, fail('invalid')],
    ['13/13', {}, fail('invalid')],
    ['unknown', {}, fail('invalid')],
    ['', {}, fail('empty')],
  ])('%j %j', (cell, options, expected) => {
    expect(parseBirthday(cell, options)).toEqual(expected);
  });

  it('expands two-digit birth years to the latest past year', () => {
    expect(expandBirthYear(68, 2025)).toBe(1968);
    expect(expandBirthYear(25, 2025)).toBe(2025);
    expect(expandBirthYear(26, 2025)).toBe(1926);
    expect(expandBirthYear(5)).toBe(1905);
  });
});

describe('inferDayFirst', () => {
  it.each([
    [['07/05/19 11:10', '13/05/19 09:00'], true],
    [['2/5/24 1:51', '2/15/24 3:00'], false],
    [['2/5/24 1:51', '3/4/24'], undefined],
    [['13/05/19', '05/13/19'], undefined], // contradictory column
    [['2019-05-07 11:10:15', ''], undefined],
    [["'13/05/19"], true],
    [[], undefined],
  ])('%j → %s', (values, expected) => {
    expect(inferDayFirst(values)).toBe(expected);
  });

  it('stops after the sample limit', () => {
    expect(inferDayFirst(['1/1/20', '13/1/20'], 1)).toBeUndefined();
  });
});

describe('ageAt', () => {
  it.each([
    [{ year: 1990, month: 6, day: 1 }, '2025-06-01T00:00:00Z', 35],
    [{ year: 1990, month: 6, day: 2 }, '2025-06-01T00:00:00Z', 34],
    [{ year: 1990 }, '2025-06-01T00:00:00Z', 34], // unknown month: not yet reached
    [{ month: 5, day: 1 }, '2025-06-01T00:00:00Z', undefined],
    [{ year: 2030 }, '2025-06-01T00:00:00Z', undefined],
  ])('%j at %s → %s', (birthday, at, expected) => {
    expect(ageAt(birthday, at)).toBe(expected);
  });

  it('answers alike however instants repeat or alternate (it remembers the last two)', () => {
    const instants = ['2025-06-01T00:00:00Z', '2025-12-31T23:59:59.999Z', '2024-02-29T12:00:00Z', 'not a date', ''];
    /** The rule with a fresh parse every time. */
    const reference = (b: { year?: number; month?: number; day?: number }, iso: string) => {
      const at = new Date(iso);
      if (b.year === undefined || Number.isNaN(at.getTime())) return undefined;
      const m = at.getUTCMonth() + 1;
      const reached =
        b.month !== undefined && (m > b.month || (m === b.month && b.day !== undefined && at.getUTCDate() >= b.day));
      const age = at.getUTCFullYear() - b.year - (reached ? 0 : 1);
      return age >= 0 ? age : undefined;
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.record(
              {
                year: fc.integer({ min: 1900, max: 2030 }),
                month: fc.integer({ min: 1, max: 12 }),
                day: fc.integer({ min: 1, max: 31 }),
              },
              { requiredKeys: [] },
            ),
            fc.constantFrom(...instants),
          ),
          { maxLength: 30 },
        ),
        (asks) => {
          for (const [b, iso] of asks) expect(ageAt(b, iso)).toBe(reference(b, iso));
        },
      ),
      { numRuns: 500 },
    );
  });
});
