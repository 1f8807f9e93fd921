import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeFirstInitial, normalizeName, splitFullName } from '../../../functions/core/normalize';
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
