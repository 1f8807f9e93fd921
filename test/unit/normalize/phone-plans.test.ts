import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { getCountries } from 'libphonenumber-js';
import { describe, expect, it } from 'vitest';
import { normalizePhone } from '../../../functions/core/normalize';
import { internationalE164, nationalE164 } from '../../../functions/core/normalize/phone-plans';
import { normalizePhone as legacyNormalizePhone } from './legacy/phone';
import { libraryVerdict } from './phone-cases';
import { provePhones } from './phone-proof';

// A million cases take about a minute: `npm run prove:phones` (and the bench) run those; npm test runs this many.
const CASES = Number(process.env.PHONE_PROOF_CASES ?? 25_000);

describe('compiled numbering plans = libphonenumber-js', () => {
  it(`agree on ${CASES.toLocaleString('en-US')} generated numbers of every country and shape`, () => {
    const proof = provePhones(CASES, Number(process.env.FC_SEED ?? 7));
    expect(proof.planDisagreements).toEqual([]);
    expect(proof.normalizeDisagreements).toEqual([]);
    // The fast path must be worth having: it decides nearly every E.164 and national number by itself.
    const share = (shape: string) => {
      const [decided, clean] = proof.decidedByShape[shape] ?? [0, 1];
      return decided / clean;
    };
    expect(share('e164')).toBeGreaterThan(0.95);
    expect(share('national')).toBeGreaterThan(0.95);
    expect(share('national-trunk')).toBeGreaterThan(0.8);
  });

  const countries = getCountries();
  test.prop([fc.constantFrom(...countries), fc.stringMatching(/^\+?[0-9]{1,20}$/)], { numRuns: 2000 })(
    'never contradict the library on any digit string (shrinks to the smallest counterexample)',
    (country, text) => {
      const fast = text.startsWith('+') ? internationalE164(text) : nationalE164(text, country);
      if (fast !== undefined)
        expect(fast).toBe(text.startsWith('+') ? libraryVerdict(text) : libraryVerdict(text, country));
    },
  );

  test.prop(
    [
      fc.constantFrom(...countries, 'uk', 'Deutschland', 'Atlantis'),
      fc.option(fc.constantFrom('US', 'GB', 'DE'), { nil: undefined }),
      fc.stringMatching(/^['\s]?\+?[0-9 ()\-./]{1,22}(?: ?ext\.? ?[0-9]{1,3})?$/),
    ],
    { numRuns: 2000 },
  )('normalizePhone gives what it gave before the compiled plans', (hint, def, text) => {
    expect(normalizePhone(text, hint, def)).toEqual(legacyNormalizePhone(text, hint, def));
  });

  it('cover the shapes of real exports', () => {
    expect(internationalE164('+16169547888')).toBe('16169547888');
    expect(internationalE164('+4915112345678')).toBe('4915112345678');
    expect(internationalE164('+4402079460958')).toBeUndefined(); // trunk 0 after the calling code: the library decides
    expect(internationalE164('+80012345678')).toBeUndefined(); // non-geographic calling code
    expect(nationalE164('07911123456', 'GB')).toBe('447911123456');
    expect(nationalE164('07624369230', 'GB')).toBe('447624369230'); // Isle of Man, under +44
    expect(nationalE164('2682345678', 'US')).toBe('12682345678'); // Antigua, under +1
    expect(nationalE164('01144207946095', 'US')).toBeUndefined(); // IDD: the library decides
    expect(nationalE164('4915112345678', 'DE')).toBeUndefined(); // starts with the calling code
    expect(nationalE164('123', 'DE')).toBe(libraryVerdict('123', 'DE'));
  });
});
