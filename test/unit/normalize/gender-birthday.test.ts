import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  normalizeBirthDay,
  normalizeBirthday,
  normalizeBirthMonth,
  normalizeBirthYear,
  normalizeGender,
} from '../../../functions/core/normalize';
import { anyString } from './arbitraries';

describe('normalizeGender (Meta GEN)', () => {
  it.each([
    ['m', 'm'],
    ['F', 'f'],
    [' Male ', 'm'],
    ['FEMALE', 'f'],
    ['Männlich', 'm'],
    ['maennlich', 'm'],
    ['Weiblich', 'f'],
    ['Homme', 'm'],
    ['Femme', 'f'],
    ['Hombre', 'm'],
    ['Mujer', 'f'],
    ['Masculino', 'm'],
    ['Féminin', 'f'],
    ['M.', 'm'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeGender(input)).toBe(expected);
  });

  it.each([
    ['x'],
    ['X'],
    ['divers'],
    ['d'],
    ['unknown'],
    ['other'],
    ['non-binary'],
    ['prefer not to say'],
    [''],
    ['  '],
    ['Mr'],
    ['Mrs'],
    ['w'],
    ['0'],
    ['1'],
    ['mf'],
  ])('never guesses: %j → undefined', (input) => {
    expect(normalizeGender(input)).toBeUndefined();
  });

  test.prop([anyString])('never throws; m or f; idempotent', (s) => {
    const g = normalizeGender(s);
    if (g === undefined) return;
    expect(['m', 'f']).toContain(g);
    expect(normalizeGender(g)).toBe(g);
  });
});

describe('birthday (Meta DOBY / DOBM / DOBD)', () => {
  it.each([
    [
      { year: 1990, month: 2, day: 3 },
      { year: '1990', month: '02', day: '03', dropped: false },
    ],
    [
      { year: 1900, month: 12, day: 31 },
      { year: '1900', month: '12', day: '31', dropped: false },
    ],
    [
      { month: 7, day: 4 },
      { month: '07', day: '04', dropped: false },
    ],
    [{ year: 1985 }, { year: '1985', dropped: false }],
    [
      { year: 2000, month: 2, day: 29 },
      { year: '2000', month: '02', day: '29', dropped: false },
    ],
    [
      { month: 2, day: 29 },
      { month: '02', day: '29', dropped: false },
    ], // year unknown: 29 Feb possible
    [
      { year: 1900, month: 2, day: 29 },
      { year: '1900', month: '02', dropped: true },
    ], // 1900 is not a leap year
    [
      { year: 1990, month: 2, day: 30 },
      { year: '1990', month: '02', dropped: true },
    ],
    [
      { year: 1990, month: 4, day: 31 },
      { year: '1990', month: '04', dropped: true },
    ],
    [
      { year: 1899, month: 1, day: 1 },
      { month: '01', day: '01', dropped: true },
    ],
    [
      { year: 90, month: 1, day: 1 },
      { month: '01', day: '01', dropped: true },
    ], // two-digit year not expanded
    [{ year: 2101 }, { dropped: true }],
    [
      { year: 1990, month: 13, day: 1 },
      { year: '1990', day: '01', dropped: true },
    ],
    [
      { year: 1990, month: 0, day: 0 },
      { year: '1990', dropped: true },
    ],
    [{ year: 1990.5 }, { dropped: true }],
    [{ year: Number.NaN, month: Number.POSITIVE_INFINITY }, { dropped: true }],
    [{}, { dropped: false }],
  ])('%j → %j', (input, expected) => {
    expect(normalizeBirthday(input, 2026)).toEqual(expected);
  });

  it('rejects birth years in the future', () => {
    expect(normalizeBirthYear(2027, 2026)).toBeUndefined();
    expect(normalizeBirthYear(2026, 2026)).toBe('2026');
  });

  test.prop([fc.double(), fc.double(), fc.double()])('never throws on any numbers', (y, m, d) => {
    normalizeBirthday({ year: y, month: m, day: d });
  });

  test.prop([
    fc.integer({ min: -5000, max: 5000 }),
    fc.integer({ min: -40, max: 40 }),
    fc.integer({ min: -40, max: 40 }),
  ])('parts have the right form and are idempotent', (y, m, d) => {
    const year = normalizeBirthYear(y, 2026);
    const month = normalizeBirthMonth(m);
    const day = normalizeBirthDay(d, m, y);
    if (year !== undefined) {
      expect(year).toMatch(/^(19|20)[0-9]{2}$/);
      expect(normalizeBirthYear(Number(year), 2026)).toBe(year);
    }
    if (month !== undefined) {
      expect(month).toMatch(/^(0[1-9]|1[0-2])$/);
      expect(normalizeBirthMonth(Number(month))).toBe(month);
    }
    if (day !== undefined) {
      expect(day).toMatch(/^(0[1-9]|[12][0-9]|3[01])$/);
      expect(normalizeBirthDay(Number(day), m, y)).toBe(day);
    }
  });
});
