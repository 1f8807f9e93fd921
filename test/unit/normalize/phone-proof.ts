/**
 * The phone proof: for generated numbers (phone-cases.ts), the compiled numbering plans never disagree with
 * libphonenumber-js, and normalizePhone never disagrees with the implementation that asked libphonenumber every time
 * (legacy/phone.ts). Used by phone-plans.test.ts (small count) and scripts/prove-phones.ts (a million).
 */
import { normalizePhone } from '../../../functions/core/normalize';
import { internationalE164, nationalE164 } from '../../../functions/core/normalize/phone-plans';
import { normalizePhone as legacyNormalizePhone } from './legacy/phone';
import { libraryVerdict, type PhoneCase, type PhoneShape, phoneCases } from './phone-cases';

export interface PhoneProof {
  cases: number;
  /** Clean digit strings the compiled plans decided (the rest went to libphonenumber). */
  decided: number;
  clean: number;
  valid: number;
  decidedByShape: Record<string, [decided: number, clean: number]>;
  /** Compiled plans ≠ libphonenumber (must be empty). */
  planDisagreements: Array<PhoneCase & { fast: string | null; library: string | null }>;
  /** normalizePhone ≠ legacy normalizePhone (must be empty). */
  normalizeDisagreements: Array<PhoneCase & { now: unknown; before: unknown }>;
}

export function provePhones(count: number, seed = 1): PhoneProof {
  const proof: PhoneProof = {
    cases: 0,
    decided: 0,
    clean: 0,
    valid: 0,
    decidedByShape: {},
    planDisagreements: [],
    normalizeDisagreements: [],
  };
  const byShape = (shape: PhoneShape) => {
    proof.decidedByShape[shape] ??= [0, 0];
    return proof.decidedByShape[shape];
  };
  for (const c of phoneCases(count, seed)) {
    proof.cases++;
    if (/^\+?\d+$/.test(c.text)) {
      proof.clean++;
      const s = byShape(c.shape);
      s[1]++;
      const intl = c.text.startsWith('+');
      const fast = intl ? internationalE164(c.text) : nationalE164(c.text, c.country);
      if (fast !== undefined) {
        proof.decided++;
        s[0]++;
        const library = intl ? libraryVerdict(c.text) : libraryVerdict(c.text, c.country);
        if (fast !== library && proof.planDisagreements.length < 20)
          proof.planDisagreements.push({ ...c, fast, library });
      }
    }
    const now = normalizePhone(c.text, c.country);
    const before = legacyNormalizePhone(c.text, c.country);
    if (now.ok) proof.valid++;
    if (JSON.stringify(now) !== JSON.stringify(before) && proof.normalizeDisagreements.length < 20)
      proof.normalizeDisagreements.push({ ...c, now, before });
  }
  return proof;
}
