/**
 * A platform's key table runs compiled (one function per table): it must give, for any row, exactly the keys, the
 * key order and the problems the plain loop over the same table gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RawIdentity } from '../../../functions/core/model';
import { GOOGLE_RULES } from '../../../functions/core/normalize/google';
import {
  applyRules,
  compileRules,
  interpretRules,
  type KeyRule,
  rowContext,
} from '../../../functions/core/normalize/row';
import { META_RULES } from '../../../functions/platforms/meta/keys';
import { PLATFORMS } from '../../../functions/platforms/registry';
import { rawIdentity } from './arbitraries';

const tables: Array<[string, readonly KeyRule<string>[]]> = [
  ['meta', META_RULES],
  ['google', GOOGLE_RULES],
];

/** The keys a result's mask names, in table order: what a tally counts for the row. */
const keysOfMask = (names: readonly string[], mask: number) => names.filter((_, i) => (mask & (1 << i)) !== 0);

describe("the mask of a key table's result", () => {
  it("names exactly the keys the row has, in their order, after each platform's own changes", () => {
    // Google drops an incomplete address after its table ran: the mask must lose those bits too.
    const specs = [PLATFORMS.meta, PLATFORMS.google].filter((p) => p !== undefined);
    expect(specs).toHaveLength(2);
    fc.assert(
      fc.property(rawIdentity, fc.constantFrom(undefined, 'US', 'GB', 'DE'), (raw, defaultCountry) => {
        for (const spec of specs) {
          const r = spec.matchKeys(rowContext(raw, { defaultCountry, currentYear: 2026 }));
          expect(r.mask, spec.id).toBeTypeOf('number');
          expect(keysOfMask(r.names ?? [], r.mask ?? 0), spec.id).toEqual(Object.keys(r.keys));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe.each(tables)('the %s table compiled', (_name, rules) => {
  it('gives the keys (in order) and problems of the loop, for any row', () => {
    fc.assert(
      fc.property(rawIdentity, fc.constantFrom(undefined, 'US', 'GB', 'DE'), (raw, defaultCountry) => {
        const ctx = rowContext(raw, { defaultCountry, currentYear: 2026 });
        const compiled = applyRules(rules, ctx);
        const loop = interpretRules(rules, rowContext(raw, { defaultCountry, currentYear: 2026 }));
        expect(Object.keys(compiled.keys)).toEqual(Object.keys(loop.keys));
        expect(compiled).toEqual(loop);
      }),
      { numRuns: 3000 },
    );
  });

  it('answers a key memoized by its value (memoBy) as the loop does, whatever else the row holds', () => {
    // Few values, so most rows meet a name, city, country or gender an earlier row (of any other make-up) left in the
    // memo: valid, invalid (a problem is memoized too), pre-hashed, padded, and one too long to be memoized by.
    const pool = fc.constantFrom(
      undefined,
      'José',
      ' josé ',
      'JOSE',
      'O’Brien',
      '!!!',
      '',
      'a'.repeat(64),
      'A'.repeat(64),
      'Mr. Smith',
      'Köln',
      'St. Louis',
      'US',
      'uk',
      'Germany',
      'GER',
      'f',
      'Female',
      '?',
      'Salt Lake City Heights',
    );
    const row = fc.record(
      {
        emails: fc.constantFrom<string[]>([], ['a@example.com'], ['not-an-email']),
        phones: fc.constantFrom<string[]>([], ['+4915112345678']),
        firstName: pool,
        lastName: pool,
        fullName: pool,
        gender: pool,
        city: pool,
        state: pool,
        country: pool,
        zip: fc.constantFrom(undefined, '10115', '94105-1234'),
      },
      { requiredKeys: ['emails', 'phones'] },
    );
    fc.assert(
      fc.property(row, fc.constantFrom(undefined, 'US', 'DE'), (raw, defaultCountry) => {
        const clean = Object.fromEntries(
          Object.entries(raw).filter(([, v]) => v !== undefined),
        ) as unknown as RawIdentity;
        const compiled = applyRules(rules, rowContext(clean, { defaultCountry, currentYear: 2026 }));
        const loop = interpretRules(rules, rowContext(clean, { defaultCountry, currentYear: 2026 }));
        expect(Object.keys(compiled.keys)).toEqual(Object.keys(loop.keys));
        expect(compiled).toEqual(loop);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same answer on every call of a compiled table (it keeps no state of a row)', () => {
    const run = compileRules(rules);
    const a = rowContext({ emails: ['a@example.com'], phones: ['+4915112345678'], zip: '10115' }, {});
    const b = rowContext({ emails: ['b@example.com'], phones: [] }, {});
    const first = run(a);
    run(b);
    expect(run(a)).toEqual(first);
    expect(run(b)).toEqual(interpretRules(rules, b));
  });
});

it('a table with a key that is not an identifier, or a quote in its name, compiles to that key', () => {
  const rules: KeyRule<string>[] = [
    { key: 'a-b "c"', field: 'email', hashed: false, cell: () => ({ value: 'x' }) },
    { key: '0', field: 'phone', hashed: true, cell: () => ({ value: 'y', problem: 'invalid_phone' }) },
  ];
  const ctx = rowContext({ emails: [], phones: [] }, {});
  expect(applyRules(rules, ctx)).toEqual(interpretRules(rules, ctx));
  expect(applyRules(rules, ctx).keys['a-b "c"']).toBe('x');
});
