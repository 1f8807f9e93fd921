/**
 * libphonenumber-js's own decision for a string of ASCII digits, without its per-call costs: the numbering plans of
 * its `min` metadata (the same object the library reads) compiled once into regular expressions, walked the way
 * `parsePhoneNumber(text, { defaultCountry, extract: false })` + `.isValid()` / `.number` walk them for the cases
 * below. Anything else returns `undefined` and the caller asks the library itself:
 *
 * - international (`+` + digits): the calling code is a geographic one, and the national prefix for parsing of its
 *   main country does not match the start of the rest (`+44 0 20…` goes to the library);
 * - national (digits + the row's country): the digits start neither with the country's international call prefix
 *   (IDD) nor with its calling code, and a national prefix that matches is not one with a transform rule.
 *
 * Equality with the library is a property, not a hope: test/unit/normalize/phone-plans.test.ts generates numbers of
 * every supported country in every shape (valid, invalid, with trunk prefix, IDD, calling code, random) and checks
 * `fastE164 ∈ { undefined, library }`; `npm run prove:phones` runs it on a million numbers.
 * Pure: no I/O.
 */
import { type CountryCode, Metadata, type MetadataJson } from 'libphonenumber-js/core';
import metadataJson from 'libphonenumber-js/min/metadata';

/** A number libphonenumber calls valid (E.164 digits, no `+`), `null` for one it does not, `undefined`: ask it. */
export type PlanVerdict = string | null | undefined;

interface TypeRule {
  re: RegExp;
  lengths: readonly number[];
}

interface Plan {
  id: string;
  callingCode: string;
  /** `^(?:nationalNumberPattern)$` */
  nnp: RegExp;
  /** Empty when the metadata has no number types for the country (validity is then `nnp` alone). */
  types: TypeRule[];
  hasTypes: boolean;
  possibleLengths: readonly number[] | undefined;
  /** `^(?:leadingDigits)` */
  leadingDigits: RegExp | undefined;
  /** `^(?:nationalPrefixForParsing)` */
  nationalPrefix: RegExp | undefined;
  hasTransform: boolean;
  /** `^(?:IDDPrefix)` */
  idd: RegExp | undefined;
}

interface CallingCode {
  code: string;
  /** In metadata order; the first is the main country. */
  plans: Plan[];
}

interface NumberingPlanApi {
  callingCode(): string;
  IDDPrefix(): string | undefined;
  nationalNumberPattern(): string;
  possibleLengths(): number[] | undefined;
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  leadingDigits(): string | undefined;
  hasTypes(): boolean;
  type(t: string): { pattern(): string; possibleLengths(): number[] | undefined } | undefined;
}

const TYPES = [
  'FIXED_LINE',
  'MOBILE',
  'TOLL_FREE',
  'PREMIUM_RATE',
  'PERSONAL_NUMBER',
  'VOICEMAIL',
  'UAN',
  'PAGER',
  'VOIP',
  'SHARED_COST',
] as const;

let tables: { byCode: Map<string, CallingCode>; byCountry: Map<string, Plan>; nonGeographic: Set<string> } | undefined;

function build(): NonNullable<typeof tables> {
  const json = metadataJson as unknown as MetadataJson & {
    country_calling_codes: Record<string, string[]>;
    nonGeographic?: Record<string, unknown>;
  };
  const md = new Metadata(json);
  const plan = (country: string): Plan => {
    md.selectNumberingPlan(country as CountryCode);
    const p = md.numberingPlan as unknown as NumberingPlanApi;
    const anchoredStart = (src: string | undefined) => (src ? new RegExp(`^(?:${src})`) : undefined);
    const hasTypes = p.hasTypes();
    const types: TypeRule[] = [];
    if (hasTypes) {
      for (const t of TYPES) {
        const def = p.type(t);
        const pattern = def?.pattern();
        if (!def || !pattern) continue;
        types.push({ re: new RegExp(`^(?:${pattern})$`), lengths: def.possibleLengths() ?? [] });
      }
    }
    return {
      id: country,
      callingCode: p.callingCode(),
      nnp: new RegExp(`^(?:${p.nationalNumberPattern()})$`),
      types,
      hasTypes,
      possibleLengths: p.possibleLengths(),
      leadingDigits: anchoredStart(p.leadingDigits()),
      nationalPrefix: anchoredStart(p.nationalPrefixForParsing()),
      hasTransform: !!p.nationalPrefixTransformRule(),
      idd: anchoredStart(p.IDDPrefix()),
    };
  };
  const byCode = new Map<string, CallingCode>();
  const byCountry = new Map<string, Plan>();
  for (const [code, countries] of Object.entries(json.country_calling_codes)) {
    const plans = countries.map((c) => {
      const p = byCountry.get(c) ?? plan(c);
      byCountry.set(c, p);
      return p;
    });
    byCode.set(code, { code, plans });
  }
  return { byCode, byCountry, nonGeographic: new Set(Object.keys(json.nonGeographic ?? {})) };
}

function getTables() {
  tables ??= build();
  return tables;
}

/** The national number matches one of the plan's number types (libphonenumber's `getNumberType() !== undefined`). */
function hasType(plan: Plan, nsn: string): boolean {
  if (!plan.nnp.test(nsn)) return false;
  const len = nsn.length;
  for (const t of plan.types) {
    const lengths = t.lengths.length > 0 ? t.lengths : (plan.possibleLengths ?? []);
    if (lengths.includes(len) && t.re.test(nsn)) return true;
  }
  return false;
}

function isValidFor(plan: Plan, nsn: string): boolean {
  return plan.hasTypes ? hasType(plan, nsn) : plan.nnp.test(nsn);
}

/** The exact country of a number among those sharing its calling code (libphonenumber's getCountryByCallingCode). */
function countryOf(cc: CallingCode, nsn: string): Plan | undefined {
  if (cc.plans.length === 1) return cc.plans[0];
  for (const p of cc.plans) {
    if (p.leadingDigits) {
      if (p.leadingDigits.test(nsn)) return p;
    } else if (hasType(p, nsn)) return p;
  }
  return undefined;
}

/** How libphonenumber's checkNumberLength classifies a length against a plan. */
function lengthVerdict(plan: Plan, len: number): 'possible' | 'too_short' | 'too_long' | 'invalid_length' {
  const lengths = plan.possibleLengths;
  if (!lengths || lengths.length === 0) return 'possible';
  const min = lengths[0] as number;
  if (min === len) return 'possible';
  if (min > len) return 'too_short';
  if ((lengths[lengths.length - 1] as number) < len) return 'too_long';
  return lengths.indexOf(len, 1) >= 0 ? 'possible' : 'invalid_length';
}

function verdict(cc: CallingCode, nsn: string, country: Plan | undefined): PlanVerdict {
  if (nsn.length < 2 || nsn.length > 17) return null;
  const exact = countryOf(cc, nsn) ?? country;
  const plan = exact ?? (cc.plans[0] as Plan);
  return isValidFor(plan, nsn) ? `${cc.code}${nsn}` : null;
}

function isDigits(s: string, from = 0): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length > from;
}

/**
 * `+<digits>` as libphonenumber reads it: the E.164 digits when it calls the number valid, `null` when it does
 * not, `undefined` when this fast path does not cover the number.
 */
export function internationalE164(text: string): PlanVerdict {
  if (text.charCodeAt(0) !== 43 || text.length < 4 || text.length > 24 || !isDigits(text, 1)) return undefined;
  if (text.charCodeAt(1) === 48) return undefined;
  const { byCode, nonGeographic } = getTables();
  for (let len = 1; len <= 3 && len < text.length - 1; len++) {
    const code = text.slice(1, 1 + len);
    const cc = byCode.get(code);
    if (cc === undefined) {
      if (nonGeographic.has(code)) return undefined;
      continue;
    }
    const rest = text.slice(1 + len);
    const main = cc.plans[0] as Plan;
    const m = main.nationalPrefix?.exec(rest);
    if (m && m[0].length > 0) return undefined;
    return verdict(cc, rest, undefined);
  }
  return undefined;
}

/**
 * National `<digits>` of `country` as libphonenumber reads them with that default country: the E.164 digits when it
 * calls the number valid, `null` when it does not, `undefined` when this fast path does not cover the number.
 */
export function nationalE164(digits: string, country: string): PlanVerdict {
  if (digits.length < 2 || digits.length > 24 || !isDigits(digits)) return undefined;
  const { byCode, byCountry } = getTables();
  const plan = byCountry.get(country);
  if (plan === undefined) return undefined;
  const idd = plan.idd?.exec(digits);
  if (idd && idd[0].length > 0) return undefined;
  if (digits.startsWith(plan.callingCode)) return undefined;
  const cc = byCode.get(plan.callingCode);
  if (cc === undefined) return undefined;

  let nsn = digits;
  const m = plan.nationalPrefix?.exec(digits);
  if (m && m[0].length > 0) {
    const last = m.length > 1 ? m[m.length - 1] : undefined;
    if (plan.hasTransform && last) return undefined;
    const stripped = digits.slice(m[0].length);
    // libphonenumber keeps the prefix when only the unstripped number fits the plan, or when the stripped one has
    // an impossible length for the country it would belong to.
    if (!(plan.nnp.test(digits) && !plan.nnp.test(stripped))) {
      const target = countryOf(cc, stripped) ?? plan;
      const v = lengthVerdict(target, stripped.length);
      if (v !== 'too_short' && v !== 'invalid_length') nsn = stripped;
    }
  }
  return verdict(cc, nsn, plan);
}
