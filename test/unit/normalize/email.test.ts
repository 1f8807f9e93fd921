import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalGmail,
  isPlausibleEmail,
  normalizeEmail,
  normalizeGoogleEmail,
} from '../../../functions/core/normalize';
import { anyString, padding, randomCase } from './arbitraries';

describe('normalizeEmail', () => {
  it.each([
    ['test@example.com', 'test@example.com'],
    ['  Test@Example.COM ', 'test@example.com'],
    ['\tjane.doe@example.org\r\n', 'jane.doe@example.org'],
    ['\0\vjane@example.org\0', 'jane@example.org'],
    ['\ufeffjane@example.org\u00a0', 'jane@example.org'],
    ['JANE+news@Example.co.uk', 'jane+news@example.co.uk'],
    ['ömil@gmail.com', 'ömil@gmail.com'],
    ['ÖMIL@GMAIL.COM', 'ömil@gmail.com'],
    ['o\u0308mil@gmail.com', 'ömil@gmail.com'], // NFD → NFC
    ['用户@例子.广告', '用户@例子.广告'],
    ['user@xn--e1afmkfd.xn--p1ai', 'user@xn--e1afmkfd.xn--p1ai'],
    ["o'connor@example.ie", "o'connor@example.ie"],
    ['a@b.cd', 'a@b.cd'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeEmail(input)).toBe(expected);
  });

  it.each([
    [''],
    ['   '],
    ['test'],
    ['test@'],
    ['@example.com'],
    ['test@example'],
    ['test@example.c'],
    ['test@example.123'],
    ['te st@example.com'],
    ['test@exa mple.com'],
    ['a@b@example.com'],
    ['test@.example.com'],
    ['test@example..com'],
    ['test@example.com.'],
    ['test@-example.com'],
    ['<test@example.com>'],
    ['"Jane" <jane@example.com>'],
    ['test\0@example.com'],
    ['test\ud800@example.com'],
    [`${'a'.repeat(65)}@example.com`],
  ])('%j is not a usable address', (input) => {
    expect(normalizeEmail(input)).toBeUndefined();
  });

  test.prop([anyString])('never throws', (s) => {
    normalizeEmail(s);
  });

  test.prop([fc.emailAddress().chain((e) => fc.tuple(fc.constant(e), randomCase(e), padding, padding))])(
    'a valid address survives case changes and padding',
    ([email, cased, before, after]) => {
      const n = normalizeEmail(`${before}${cased}${after}`);
      if (isPlausibleEmail(email.toLowerCase())) expect(n).toBe(email.toLowerCase());
    },
  );

  test.prop([fc.oneof(anyString, fc.emailAddress())])('is idempotent, lowercase and without whitespace', (s) => {
    const n = normalizeEmail(s);
    if (n === undefined) return;
    expect(normalizeEmail(n)).toBe(n);
    expect(n).toBe(n.toLowerCase());
    expect(n).not.toMatch(/\s/u);
    expect(n.split('@')).toHaveLength(2);
  });
});

describe('isPlausibleEmail', () => {
  it.each([
    ['ömil@gmail.com', true],
    ['x@y.io', true],
    ['x@y.i', false],
    ['x@localhost', false],
    ['x y@example.com', false],
  ])('%j → %s', (input, expected) => {
    expect(isPlausibleEmail(input)).toBe(expected);
  });
});

describe('Google email (canonicalGmail)', () => {
  it.each([
    ['J.Smith+news@Gmail.com', 'jsmith@gmail.com'],
    ['j.s.m.i.t.h@googlemail.com', 'jsmith@googlemail.com'],
    ['jsmith@gmail.com', 'jsmith@gmail.com'],
    ['j.smith+news@example.com', 'j.smith+news@example.com'], // other domains untouched
    ['j.smith@gmail.com.au', 'j.smith@gmail.com.au'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeGoogleEmail(input)).toBe(expected);
  });

  it('rejects a Gmail address with nothing left of its local part', () => {
    expect(normalizeGoogleEmail('+news@gmail.com')).toBeUndefined();
    expect(canonicalGmail('...@gmail.com')).toBeUndefined();
  });

  test.prop([
    fc.oneof(
      anyString,
      fc.emailAddress(),
      fc.emailAddress().map((e) => e.replace(/@.*/, '@gmail.com')),
    ),
  ])('is idempotent', (s) => {
    const n = normalizeGoogleEmail(s);
    if (n !== undefined) expect(normalizeGoogleEmail(n)).toBe(n);
  });
});
