/**
 * isPlausibleEmail checks ASCII addresses in place (no slice per domain label): the fast path must give exactly what
 * the general path gives, on addresses, near-addresses and junk made of the characters that decide the rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generalAddressAfterAt, isPlausibleEmail, normalizeEmail } from '../../../functions/core/normalize/email';
import { trimAll } from '../../../functions/core/normalize/text';

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
/** The same pieces and their capitals (`XN--`, `Co.UK`): normalizeEmail lowercases, so case must not change a verdict. */
const anyCasePiece = fc.oneof(
  piece,
  piece.map((p) => p.toUpperCase()),
  fc.constantFrom('Xn--', 'xN--P1AI', 'Example', 'COM', ' \t', '\u00a0', '\u200b', 'é', 'É'),
);
const anyCaseWord = fc.array(anyCasePiece, { maxLength: 8 }).map((p) => p.join(''));
const anyCaseAddress = fc
  .tuple(anyCaseWord, fc.constantFrom('@', '@@', ''), anyCaseWord, fc.constantFrom('.', '', '.-', '.X'), anyCaseWord)
  .map((t) => t.join(''));

/** normalizeEmail by the general rules only: trimmed, lowercased, NFC, then the general check of the whole address. */
function normalizedByGeneralRules(s: string): string | undefined {
  const t = trimAll(s);
  if (t === '') return undefined;
  const e = t.toLowerCase().normalize('NFC');
  return general(e) ? e : undefined;
}
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

  it('normalizeEmail (one walk over an ASCII address) equals the general rules, in any case', () => {
    fc.assert(
      fc.property(anyCaseAddress, (s) => {
        expect(normalizeEmail(s)).toBe(normalizedByGeneralRules(s));
      }),
      { numRuns: 30_000 },
    );
    for (const [input, out] of [
      ['Ann@Example.COM', 'ann@example.com'],
      ['X@XN--P1AI.XN--P1AI', 'x@xn--p1ai.xn--p1ai'],
      ['ANN@X.C0M', undefined],
      ['ann@EXAMPLE.co.UK', 'ann@example.co.uk'],
      ['ann@-X.com', undefined],
    ] as const)
      expect(normalizeEmail(input), input).toBe(out);
  });

  it('keeps the examples', () => {
    for (const ok of ['ann@example.com', 'a@b.cd', 'x@xn--p1ai.xn--p1ai', 'first.last+tag@sub.example.co.uk'])
      expect(isPlausibleEmail(ok), ok).toBe(true);
    for (const bad of ['ann@example', 'ann@-x.com', 'ann@x-.com', 'ann@x..com', 'a"b@x.com', 'ann@x.c0m', 'ann@x.xn--'])
      expect(isPlausibleEmail(bad), bad).toBe(false);
  });
});
