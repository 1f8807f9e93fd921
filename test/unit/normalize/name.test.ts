import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  nameWords,
  normalizeFirstInitial,
  normalizeGoogleName,
  normalizeName,
  splitFullName,
} from '../../../functions/core/normalize';
import { anyString, nameLike } from './arbitraries';

const LETTERS = /^[\p{L}\p{M}]+$/u;

describe('normalizeName (Meta FN/LN)', () => {
  it.each([
    ['John', 'john'],
    ['  JOHN\t', 'john'],
    ["O'Connor", 'oconnor'],
    ['O’Connor', 'oconnor'],
    ['Jean-Luc', 'jeanluc'],
    ['Mary Ann', 'maryann'],
    ['St. John', 'stjohn'],
    ['Ömür', 'ömür'],
    ['O\u0308mu\u0308r', 'ömür'], // NFD → NFC
    ['José', 'josé'],
    ['ÅSA', 'åsa'],
    ['Groß', 'groß'],
    ['Σοφία', 'σοφία'],
    ['Владимир', 'владимир'],
    ['山田', '山田'],
    ['देवी', 'देवी'], // Devanagari vowel signs are marks and stay
    ['Smith3', 'smith'],
    ['Christopher-Alexander', 'christopheralexander'], // never truncated
  ])('%j → %j', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });

  it.each([[''], ['   '], ['-'], ["'"], ['123'], ['\0\t']])('%j → undefined', (input) => {
    expect(normalizeName(input)).toBeUndefined();
  });

  test.prop([fc.oneof(anyString, nameLike)])('never throws; letters only, lowercase, idempotent', (s) => {
    const n = normalizeName(s);
    if (n === undefined) return;
    expect(n).toMatch(LETTERS);
    expect(n).toBe(n.toLowerCase());
    expect(normalizeName(n)).toBe(n);
  });
});

describe('normalizeFirstInitial (Meta FI)', () => {
  it.each([
    ['John', 'j'],
    ["  o'connor", 'o'],
    ['Ömür', 'ö'],
    ['𝒜lice', '𝒜'], // astral letter: one code point, not half a surrogate pair
    ['-Anne', 'a'],
    ['', undefined],
    ['42', undefined],
  ])('%j → %j', (input, expected) => {
    expect(normalizeFirstInitial(input)).toBe(expected);
  });

  test.prop([fc.oneof(anyString, nameLike)])('never throws; one letter, idempotent', (s) => {
    const fi = normalizeFirstInitial(s);
    if (fi === undefined) return;
    expect([...fi]).toHaveLength(1);
    expect(normalizeFirstInitial(fi)).toBe(fi);
  });
});

describe('Google names (nameWords)', () => {
  it.each([
    ['Mr. John', 'john'],
    ['Dr John', 'john'],
    ['MRS. Mary Ann', 'mary ann'],
    ['Ms Jane', 'jane'],
    ['Smith Jr.', 'smith'],
    ['Smith, Jr.', 'smith'],
    ['Smith III', 'smith'],
    ['Smith PhD', 'smith'],
    ['Dr. Jane Smith-Jones, PhD', 'jane smithjones'],
    ["O'Connor", 'oconnor'],
    ['  de la Cruz ', 'de la cruz'],
    ['Dr', 'dr'], // an honorific alone is kept: it may be a real name
    ['Jr', 'jr'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeGoogleName(input)).toBe(expected);
  });

  test.prop([fc.oneof(anyString, nameLike, fc.constantFrom('Mr John Jr', 'Dr Dr', 'Ms II III', 'mr jr'))])(
    'never throws; lowercase words separated by single spaces; idempotent',
    (s) => {
      const n = normalizeGoogleName(s);
      if (n === undefined) return;
      expect(n).toMatch(/^[\p{L}\p{M}]+(?: [\p{L}\p{M}]+)*$/u);
      expect(normalizeGoogleName(n)).toBe(n);
      expect(nameWords(n).join(' ')).toBe(n);
    },
  );
});

describe('splitFullName', () => {
  it.each([
    ['John Smith', { first: 'John', last: 'Smith' }],
    ['  John   Michael Smith ', { first: 'John', last: 'Smith' }],
    ['Maria de la Cruz', { first: 'Maria', last: 'de la Cruz' }],
    ['Ludwig van Beethoven', { first: 'Ludwig', last: 'van Beethoven' }],
    ['Smith, John', { first: 'John', last: 'Smith' }],
    ['de la Cruz, Maria Elena', { first: 'Maria', last: 'de la Cruz' }],
    ['Dr. John Smith Jr.', { first: 'John', last: 'Smith' }],
    ['John Smith, PhD', { first: 'John', last: 'Smith' }],
    ['Madonna', { first: 'Madonna' }],
    ['', {}],
    ['  ', {}],
  ])('%j → %j', (input, expected) => {
    expect(splitFullName(input)).toEqual(expected);
  });

  test.prop([fc.oneof(anyString, nameLike)])('never throws', (s) => {
    const { first, last } = splitFullName(s);
    if (last !== undefined) expect(first).toBeDefined();
  });
});
