/**
 * isPlausibleEmail checks ASCII addresses in place (no slice per domain label): the fast path must give exactly what
 * the general path gives, on addresses, near-addresses and junk made of the characters that decide the rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generalAddressAfterAt, isPlausibleEmail } from '../../../functions/core/normalize/email';

/** The general rule for the whole address (the pre-checks isPlausibleEmail runs before either path). */
function general(s: string): boolean {
  if (s.length < 6 || s.length > 254) return false;
  const at = s.indexOf('@');
  if (at <= 0 || at > 64 || s.indexOf('@', at + 1) !== -1) return false;
  return generalAddressAfterAt(s, at);
}

const piece = fc.constantFrom(
  'a',
  'Z',
  '0',
  '9',
  '-',
  '.',
  '..',
  '@',
  '_',
  '+',
  ' ',
  '"',
  ',',
  '(',
  '[',
  '\\',
  '\u007f',
  'xn--',
  'xn--p1ai',
  'com',
  'co.uk',
  'example',
  '-x',
  'x-',
  'a'.repeat(63),
  'a'.repeat(64),
);
const word = fc.array(piece, { maxLength: 8 }).map((p) => p.join(''));
const address = fc
  .tuple(word, fc.constantFrom('@', '@@', ''), word, fc.constantFrom('.', '', '.-'), word)
  .map((t) => t.join(''));

describe('isPlausibleEmail on ASCII', () => {
  it('equals the general path on generated addresses and near-misses', () => {
    fc.assert(
      fc.property(address, (s) => {
        expect(isPlausibleEmail(s)).toBe(general(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('equals the general path on any short ASCII string', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ab-.@x0Z_ "'.split('')), maxLength: 24 }), (s) => {
        expect(isPlausibleEmail(s)).toBe(general(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('keeps the examples', () => {
    for (const ok of ['ann@example.com', 'a@b.cd', 'x@xn--p1ai.xn--p1ai', 'first.last+tag@sub.example.co.uk'])
      expect(isPlausibleEmail(ok), ok).toBe(true);
    for (const bad of ['ann@example', 'ann@-x.com', 'ann@x-.com', 'ann@x..com', 'a"b@x.com', 'ann@x.c0m', 'ann@x.xn--'])
      expect(isPlausibleEmail(bad), bad).toBe(false);
  });
});
