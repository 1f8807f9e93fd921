import { createHash } from 'node:crypto';
import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashOnce, isSha256Hex, sha256Hex } from '../../../functions/core/normalize';
import { anyString, HEX64 } from './arbitraries';

const TEST_EMAIL_SHA256 = '973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b';

describe('sha256Hex', () => {
  it.each([
    ['test@example.com', TEST_EMAIL_SHA256],
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ])('sha256(%j) is %s', (input, expected) => {
    expect(sha256Hex(input)).toBe(expected);
  });

  it('hashes the UTF-8 bytes of non-ASCII text, so NFC and NFD spellings differ', () => {
    const utf8 = createHash('sha256')
      .update(Buffer.from([0xc3, 0xb6]))
      .digest('hex'); // ö = C3 B6
    expect(sha256Hex('ö')).toBe(utf8);
    expect(sha256Hex('ö')).not.toBe(sha256Hex('o\u0308'));
  });

  test.prop([anyString])('is 64 lowercase hex for any string', (s) => {
    expect(sha256Hex(s)).toMatch(HEX64);
  });
});

describe('isSha256Hex', () => {
  it.each([
    [TEST_EMAIL_SHA256, true],
    [TEST_EMAIL_SHA256.toUpperCase(), true],
    [TEST_EMAIL_SHA256.slice(1), false],
    [`${TEST_EMAIL_SHA256}0`, false],
    [` ${TEST_EMAIL_SHA256.slice(1)}`, false],
    [`${TEST_EMAIL_SHA256.slice(1)}g`, false],
    ['', false],
  ])('isSha256Hex(%j) → %s', (input, expected) => {
    expect(isSha256Hex(input)).toBe(expected);
  });
});

describe('hashOnce', () => {
  it('hashes a plain normalized value', () => {
    expect(hashOnce('test@example.com')).toBe(TEST_EMAIL_SHA256);
  });

  it('passes an existing SHA-256 through, lowercased, instead of hashing twice', () => {
    expect(hashOnce(TEST_EMAIL_SHA256)).toBe(TEST_EMAIL_SHA256);
    expect(hashOnce(TEST_EMAIL_SHA256.toUpperCase())).toBe(TEST_EMAIL_SHA256);
  });

  test.prop([anyString])('is idempotent and always 64 lowercase hex', (s) => {
    const once = hashOnce(s);
    expect(once).toMatch(HEX64);
    expect(hashOnce(once)).toBe(once);
  });

  test.prop([fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 })])(
    'never re-hashes any 64-hex value',
    (hex) => {
      expect(hashOnce(hex)).toBe(hex.toLowerCase());
    },
  );
});
