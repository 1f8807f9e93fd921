import { describe, expect, it } from 'vitest';
import {
  cleanCell,
  isExcelScientific,
  parseBoolean,
  parseCount,
  parseNumber,
  splitList,
  stripFormulaGuard,
} from '../../../functions/core/formats/cells';

describe('cleanCell', () => {
  it.each([
    ['  Ana  ', 'Ana'],
    ["'+56 9 1234 5678", '+56 9 1234 5678'], // Shopify phone guard
    ["'-0.5834730", '-0.5834730'], // Mailchimp LATITUDE guard
    ["'7210448301122", '7210448301122'], // Shopify Customer ID
    ["'02492", '02492'], // Shopify zip with a leading zero
    ["  'kim@example.com ", 'kim@example.com'],
    ["''x", "'x"], // only ONE guard is removed
    ['\ufeffEmail', 'Email'],
    ['\u200bbob@example.com\u200b', 'bob@example.com'],
    ['', ''],
    [undefined, ''],
  ])('%j → %j', (input, expected) => {
    expect(cleanCell(input)).toBe(expected);
  });

  it('keeps a name apostrophe in formula mode', () => {
    expect(stripFormulaGuard("'t Hooft", 'formula')).toBe("'t Hooft");
    expect(stripFormulaGuard("'-1", 'formula')).toBe('-1');
    expect(stripFormulaGuard("'t Hooft")).toBe('t Hooft');
  });
});

describe('isExcelScientific', () => {
  it.each([
    ['7.02255E+12', true],
    ['9.19961E+11', true],
    ["'7.02255E+12", true],
    ['7,02255E+12', true], // French-locale Excel
    ['1E+12', true],
    ['7210448301122', false],
    ['+56 9 1234 5678', false],
    ['E+12', false],
    ['', false],
  ])('%j → %s', (input, expected) => {
    expect(isExcelScientific(input)).toBe(expected);
  });
});

describe('parseNumber', () => {
  it.each([
    ['265000.00', 265000], // Shopify Total Spent
    ['$50.00', 50], // Substack Revenue
    ['1.234,56 €', 1234.56],
    ['EUR 1.234,56', 1234.56],
    ['€1,234.56', 1234.56],
    ['44,8423', 44.8423], // decimal comma (French Excel)
    ["'-0.58", -0.58],
    ['1 234,56', 1234.56],
    ['1\u00a0234,56', 1234.56],
    ["1'234.50", 1234.5],
    ['1,234', 1234],
    ['0,125', 0.125],
    ['12,5', 12.5],
    ['1.234.567', 1234567],
    ['(12.50)', -12.5],
    ['-3', -3],
    ['.5', 0.5],
    ['0', 0],
    ['', undefined],
    ['-', undefined],
    ['€', undefined],
    ['12abc', undefined],
    ['1.2.3', undefined],
    ['1,2,3', undefined],
    ['7.02255E+12', undefined],
    ['n/a', undefined],
  ])('%j → %s', (input, expected) => {
    expect(parseNumber(input)).toBe(expected);
  });

  it('follows a decimal hint', () => {
    expect(parseNumber('1,234', { decimal: ',' })).toBe(1.234);
    expect(parseNumber('1.234', { decimal: ',' })).toBe(1234);
  });

  it.each([
    ['3', 3],
    ['1,234', 1234],
    ['2.0', 2],
    ['2.5', undefined],
    ['-1', undefined],
    ['', undefined],
  ])('parseCount %j → %s', (input, expected) => {
    expect(parseCount(input)).toBe(expected);
  });
});

describe('parseBoolean', () => {
  it.each([
    ['yes', true],
    ['Yes', true],
    ['TRUE', true],
    ['true', true],
    ['1', true],
    ['y', true],
    ['ja', true],
    ['oui', true],
    ['sí', true],
    ['si', true],
    ['no', false],
    ['No', false],
    ['FALSE', false],
    ['0', false],
    ['nein', false],
    ['non', false],
    ['n', false],
    [' no ', false],
    ['maybe', undefined],
    ['', undefined],
    ['2024-03-13 11:33:53 UTC', undefined],
  ])('%j → %s', (input, expected) => {
    expect(parseBoolean(input)).toBe(expected);
  });
});

describe('splitList', () => {
  it.each([
    ['"tag1","tag2"', ['tag1', 'tag2']], // Mailchimp TAGS after CSV decoding
    ['"Lorem Editors"', ['Lorem Editors']],
    ['Editors', ['Editors']], // unquoted Mailchimp tag
    ['"a, b","c"', ['a, b', 'c']],
    ['"say ""hi""","x"', ['say "hi"', 'x']],
    ['Level 1, newsletter', ['Level 1', 'newsletter']], // Shopify
    ['vip,webinar', ['vip', 'webinar']],
    ['Newsletter; Customers;VIP', ['Newsletter', 'Customers', 'VIP']], // MailerLite Groups
    ["['email','web']", ['email', 'web']], // Klaviyo legacy Consent
    ['["sms", "email"]', ['sms', 'email']],
    ['[]', []],
    ['x, x, y', ['x', 'y']],
    ['', []],
    [' , ; ', []],
    ['"unterminated', ['unterminated']],
  ])('%j → %j', (input, expected) => {
    expect(splitList(input)).toEqual(expected);
  });
});

describe('trimCell edge whitespace', () => {
  it.each(['\u1680', '\u00a0', '\u3000', '\u2028', '\ufeff', '\u200b'])('a cell of only %j is empty', async (c) => {
    const { trimCell } = await import('../../../functions/core/formats/cells');
    expect(trimCell(c)).toBe('');
    expect(trimCell(`${c}a@example.com${c}`)).toBe('a@example.com');
  });
});
