/**
 * Generated phone numbers of every country libphonenumber supports, in every shape an export carries them: E.164,
 * with a trunk prefix after the calling code, national with and without trunk prefix, with an international call
 * prefix (IDD), with the calling code but no `+`, formatted with spaces/dashes/dots/parentheses, and random digit
 * strings. Valid ones come from libphonenumber's own example numbers, partly re-randomized; deterministic per seed.
 * Shared by the phone property tests (a few thousand cases) and `npm run prove:phones` (a million).
 */
import {
  type CountryCode,
  getCountries,
  getCountryCallingCode,
  getExampleNumber,
  parsePhoneNumberFromString,
} from 'libphonenumber-js';
import { Metadata, type MetadataJson } from 'libphonenumber-js/core';
import examples from 'libphonenumber-js/examples.mobile.json';
import metadataJson from 'libphonenumber-js/min/metadata';

export type PhoneShape =
  | 'e164'
  | 'e164-trunk'
  | 'national'
  | 'national-trunk'
  | 'idd'
  | 'cc-no-plus'
  | 'formatted'
  | 'random';

export interface PhoneCase {
  /** What a cell holds. */
  text: string;
  /** The row's country (ISO-2). */
  country: CountryCode;
  shape: PhoneShape;
}

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CountryFacts {
  country: CountryCode;
  cc: string;
  trunk: string;
  idd: string;
  example: string;
}

let facts: CountryFacts[] | undefined;
function countryFacts(): CountryFacts[] {
  if (facts) return facts;
  const md = new Metadata(metadataJson as unknown as MetadataJson);
  facts = getCountries().map((country) => {
    md.selectNumberingPlan(country);
    const plan = md.numberingPlan as unknown as {
      nationalPrefix(): string | undefined;
      IDDPrefix(): string | undefined;
      defaultIDDPrefix(): string | undefined;
    };
    const iddPattern = plan.IDDPrefix() ?? '00';
    const idd = plan.defaultIDDPrefix() ?? (/^\d+$/.test(iddPattern) ? iddPattern : '00');
    return {
      country,
      cc: getCountryCallingCode(country),
      trunk: plan.nationalPrefix() ?? '0',
      idd,
      example: getExampleNumber(country, examples)?.nationalNumber ?? '',
    };
  });
  return facts;
}

/** `count` cases from `seed`. */
export function* phoneCases(count: number, seed = 1): Generator<PhoneCase> {
  const r = prng(seed);
  const all = countryFacts();
  const digit = () => String(Math.floor(r() * 10));
  const digits = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += digit();
    return s;
  };
  for (let i = 0; i < count; i++) {
    const f = all[Math.floor(r() * all.length)] as CountryFacts;
    // The national significant number: an example (valid), an example with a re-randomized tail (often valid, as
    // the leading digits carry the type), or random digits.
    let nsn: string;
    const kind = r();
    if (f.example && kind < 0.35) nsn = f.example;
    else if (f.example && kind < 0.75) {
      const keep = Math.floor(r() * (f.example.length + 1));
      const delta = r() < 0.15 ? (r() < 0.5 ? -1 : 1) : 0;
      nsn = f.example.slice(0, keep) + digits(Math.max(0, f.example.length - keep + delta));
    } else nsn = String(1 + Math.floor(r() * 9)) + digits(3 + Math.floor(r() * 10));
    const s = r();
    let c: PhoneCase;
    if (s < 0.3) c = { text: `+${f.cc}${nsn}`, country: f.country, shape: 'e164' };
    else if (s < 0.35) c = { text: `+${f.cc}${f.trunk}${nsn}`, country: f.country, shape: 'e164-trunk' };
    else if (s < 0.5) c = { text: nsn, country: f.country, shape: 'national' };
    else if (s < 0.68) c = { text: `${f.trunk}${nsn}`, country: f.country, shape: 'national-trunk' };
    else if (s < 0.73) c = { text: `${f.idd}${f.cc}${nsn}`, country: f.country, shape: 'idd' };
    else if (s < 0.83) c = { text: `${f.cc}${nsn}`, country: f.country, shape: 'cc-no-plus' };
    else if (s < 0.93) {
      const body = r() < 0.5 ? `+${f.cc} ${nsn}` : `${f.trunk}${nsn}`;
      const sep = [' ', '-', '.', ' ', '/'][Math.floor(r() * 5)] as string;
      let out = '';
      for (let k = 0; k < body.length; k++) out += body[k] + (k > 1 && r() < 0.25 ? sep : '');
      if (r() < 0.2)
        out = out.replace(/^(\+\d+ )?(\d{2,3})/, (_m, p: string | undefined, a: string) => `${p ?? ''}(${a}) `);
      c = { text: r() < 0.1 ? `'${out}` : out, country: f.country, shape: 'formatted' };
    } else {
      const t = digits(1 + Math.floor(r() * 18));
      c = { text: r() < 0.5 ? `+${t}` : t, country: f.country, shape: 'random' };
    }
    yield c;
  }
}

/** libphonenumber's verdict on a clean digit string, as the product asks it (E.164 digits, or null for invalid). */
export function libraryVerdict(text: string, country?: CountryCode): string | null {
  const p = parsePhoneNumberFromString(text, { defaultCountry: country, extract: false });
  return p?.isValid() ? p.number.slice(1) : null;
}
