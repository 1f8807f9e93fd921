/**
 * Segment evaluation at sync time, from stored attributes only: a changed rule needs no re-upload.
 *
 * A person is the union of their contact records across lists (same cid). Opt-outs travel across lists:
 * someone unsubscribed, cleaned or erased in any list is never uploaded, whatever another list says.
 */
import {
  type AudienceConfig,
  type ConsentRequirement,
  consentPolicyOf,
  type DateField,
  type NumberField,
  type Rule,
  type SegmentConfig,
} from './config';
import {
  type Attributes,
  type ConsentState,
  type ContactRecord,
  FUNNEL_STAGES,
  type FunnelStage,
  type MatchKeys,
  type Zone,
} from './model';

/** One pseudonymous person, merged across the lists they belong to. */
export interface Person {
  cid: string;
  lists: string[];
  keys: MatchKeys;
  /** Consent after merging lists: an opt-out anywhere wins; else the most positive state. */
  consent: ConsentState;
  explicitOptIn: boolean;
  attrs: Attributes;
}

/** Negative states win across lists, strongest first; then positive states, most positive first. */
const CONSENT_PRECEDENCE: ConsentState[] = [
  'deletion_requested',
  'unsubscribed',
  'cleaned',
  'subscribed',
  'pending',
  'never_subscribed',
];

const maxIso = (a?: string, b?: string) => (!a ? b : !b ? a : a > b ? a : b);
const minIso = (a?: string, b?: string) => (!a ? b : !b ? a : a < b ? a : b);
const maxNum = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
const sumNum = (a?: number, b?: number) => (a === undefined ? b : b === undefined ? a : a + b);

/** Strictest first: a person seen in the EEA in any list is treated as in the EEA. UNKNOWN never wins over a known zone. */
const ZONE_STRICTNESS: Zone[] = ['EEA', 'UK', 'CH', 'US_PRIVACY', 'US', 'OTHER', 'UNKNOWN'];
const zoneRank = (z?: Zone) => ZONE_STRICTNESS.indexOf(z ?? 'UNKNOWN');

function mergeAttrs(a: Attributes, b: Attributes): Attributes {
  // Geography travels as one piece from the record with the strictest zone, so consent follows the strictest law.
  const geo = zoneRank(b.zone) < zoneRank(a.zone) ? b : a;
  const tags = a.tags || b.tags ? [...new Set([...(a.tags ?? []), ...(b.tags ?? [])])] : undefined;
  const funnel =
    a.funnel && b.funnel
      ? FUNNEL_STAGES[Math.max(FUNNEL_STAGES.indexOf(a.funnel), FUNNEL_STAGES.indexOf(b.funnel))]
      : (a.funnel ?? b.funnel);
  return {
    ...b,
    ...a,
    tags,
    rating: maxNum(a.rating, b.rating),
    lastOpenAt: maxIso(a.lastOpenAt, b.lastOpenAt),
    lastClickAt: maxIso(a.lastClickAt, b.lastClickAt),
    opens: sumNum(a.opens, b.opens),
    clicks: sumNum(a.clicks, b.clicks),
    signupAt: minIso(a.signupAt, b.signupAt),
    paid: a.paid || b.paid || undefined,
    spend: sumNum(a.spend, b.spend),
    orders: sumNum(a.orders, b.orders),
    funnel,
    country: geo.country,
    region: geo.region,
    zone: geo.zone,
  };
}

function mergeKeys(a: MatchKeys, b: MatchKeys): MatchKeys {
  return { meta: { ...b.meta, ...a.meta }, google: a.google || b.google ? { ...b.google, ...a.google } : undefined };
}

/** Merges contact records into people; records must be grouped by nothing in particular. */
export function mergePeople(records: Iterable<ContactRecord>): Map<string, Person> {
  const people = new Map<string, Person>();
  for (const r of records) mergeInto(people, r);
  return people;
}

/** Adds one contact record to the people it belongs to (records can stream in, list by list). */
export function mergeInto(people: Map<string, Person>, r: ContactRecord): void {
  const p = people.get(r.cid);
  if (!p) {
    people.set(r.cid, {
      cid: r.cid,
      lists: [r.list],
      keys: r.keys,
      consent: r.consent,
      explicitOptIn: r.explicitOptIn === true,
      attrs: r.attrs,
    });
    return;
  }
  p.lists.push(r.list);
  p.keys = mergeKeys(p.keys, r.keys);
  p.consent = CONSENT_PRECEDENCE.indexOf(r.consent) < CONSENT_PRECEDENCE.indexOf(p.consent) ? r.consent : p.consent;
  p.explicitOptIn = p.explicitOptIn || r.explicitOptIn === true;
  p.attrs = mergeAttrs(p.attrs, r.attrs);
}

const DAY_MS = 86_400_000;
const UNIT_DAYS: Record<string, number> = { d: 1, w: 7, m: 30, y: 365 };

/** `30d` → milliseconds. Months are 30 days and years 365, as documented in the README. */
export function durationMs(d: string): number {
  const n = Number.parseInt(d, 10);
  return n * (UNIT_DAYS[d.slice(-1)] ?? 1) * DAY_MS;
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const lc = (s: string) => s.toLowerCase();

/** Evaluates one rule for one person at time `now`. Pure and total: unknown attributes never match. */
export function matches(rule: Rule, p: Person, now: Date): boolean {
  if ('all' in rule) return rule.all.every((r) => matches(r, p, now));
  if ('any' in rule) return rule.any.some((r) => matches(r, p, now));
  if ('not' in rule) return !matches(rule.not, p, now);
  if ('list' in rule) return asArray(rule.list).some((l) => p.lists.includes(l));
  if ('tag' in rule) {
    const tags = new Set((p.attrs.tags ?? []).map(lc));
    return asArray(rule.tag).some((t) => tags.has(lc(t)));
  }
  if ('allTags' in rule) {
    const tags = new Set((p.attrs.tags ?? []).map(lc));
    return rule.allTags.every((t) => tags.has(lc(t)));
  }
  if ('consent' in rule) return asArray(rule.consent).includes(p.consent);
  if ('explicitOptIn' in rule) return p.explicitOptIn === rule.explicitOptIn;
  if ('date' in rule) return matchDate(rule, p.attrs[rule.date as DateField], now);
  if ('number' in rule) return matchNumber(rule, p.attrs[rule.number as NumberField]);
  if ('funnel' in rule) return p.attrs.funnel !== undefined && asArray(rule.funnel).includes(p.attrs.funnel);
  if ('funnelAtLeast' in rule)
    return (
      p.attrs.funnel !== undefined &&
      FUNNEL_STAGES.indexOf(p.attrs.funnel) >= FUNNEL_STAGES.indexOf(rule.funnelAtLeast as FunnelStage)
    );
  if ('country' in rule)
    return p.attrs.country !== undefined && asArray(rule.country).some((c) => c.toUpperCase() === p.attrs.country);
  if ('zone' in rule) return asArray(rule.zone).includes(p.attrs.zone ?? 'UNKNOWN');
  if ('region' in rule)
    return p.attrs.region !== undefined && asArray(rule.region).some((r) => r.toUpperCase() === p.attrs.region);
  if ('ageBand' in rule) return p.attrs.ageBand !== undefined && asArray(rule.ageBand).includes(p.attrs.ageBand);
  if ('plan' in rule) return p.attrs.plan !== undefined && asArray(rule.plan).map(lc).includes(lc(p.attrs.plan));
  if ('tier' in rule) return p.attrs.tier !== undefined && asArray(rule.tier).map(lc).includes(lc(p.attrs.tier));
  if ('paid' in rule) return (p.attrs.paid === true) === rule.paid;
  return false;
}

function matchDate(
  rule: { within?: string; olderThan?: string; after?: string; before?: string; missing?: boolean },
  value: string | undefined,
  now: Date,
): boolean {
  if (rule.missing !== undefined) {
    if (rule.missing) return value === undefined;
    if (value === undefined) return false;
  }
  if (value === undefined) return false;
  const t = Date.parse(value);
  if (Number.isNaN(t)) return false;
  if (rule.within && t < now.getTime() - durationMs(rule.within)) return false;
  if (rule.olderThan && t >= now.getTime() - durationMs(rule.olderThan)) return false;
  if (rule.after && t <= Date.parse(rule.after)) return false;
  if (rule.before && t >= Date.parse(rule.before)) return false;
  return true;
}

function matchNumber(
  rule: { gte?: number; gt?: number; lte?: number; lt?: number; eq?: number },
  v: number | undefined,
): boolean {
  if (v === undefined) return false;
  if (rule.gte !== undefined && !(v >= rule.gte)) return false;
  if (rule.gt !== undefined && !(v > rule.gt)) return false;
  if (rule.lte !== undefined && !(v <= rule.lte)) return false;
  if (rule.lt !== undefined && !(v < rule.lt)) return false;
  if (rule.eq !== undefined && v !== rule.eq) return false;
  return true;
}

/** Why a person who matched a segment's rules still is not uploaded. */
export type ExclusionReason =
  | 'suppressed'
  | 'unsubscribed'
  | 'cleaned'
  | 'deletion_requested'
  | 'pending_confirmation'
  | 'never_subscribed'
  | `no_explicit_opt_in_${Lowercase<Zone>}`
  | `excluded_by_${string}`
  | 'opted_out_elsewhere'
  | 'no_match_keys';

/** Consent gate: may this person be uploaded at all, given the zone policy? Undefined = yes. */
export function consentBlock(
  p: Person,
  policy: Record<Zone, ConsentRequirement>,
  suppressed: ReadonlySet<string>,
  optedOutKeys: ReadonlySet<string> = new Set(),
): ExclusionReason | undefined {
  // Suppression holds cids and the email/phone hashes of erased people (erasure by phone finds email-keyed contacts).
  if (
    suppressed.has(p.cid) ||
    (p.keys.meta.EMAIL !== undefined && suppressed.has(p.keys.meta.EMAIL)) ||
    (p.keys.meta.PHONE !== undefined && suppressed.has(p.keys.meta.PHONE))
  )
    return 'suppressed';
  if (p.consent === 'deletion_requested') return 'deletion_requested';
  if (p.consent === 'unsubscribed') return 'unsubscribed';
  if (p.consent === 'cleaned') return 'cleaned';
  // The same email or phone opted out under another identity (e.g. a phone-only record in another list).
  if (
    (p.keys.meta.EMAIL !== undefined && optedOutKeys.has(p.keys.meta.EMAIL)) ||
    (p.keys.meta.PHONE !== undefined && optedOutKeys.has(p.keys.meta.PHONE))
  )
    return 'opted_out_elsewhere';
  const zone = p.attrs.zone ?? 'UNKNOWN';
  const need = policy[zone];
  if (need === 'not_opted_out') return undefined;
  if (p.consent === 'pending') return 'pending_confirmation';
  if (p.consent === 'never_subscribed') return 'never_subscribed';
  if (need === 'explicit_opt_in' && !p.explicitOptIn)
    return `no_explicit_opt_in_${zone.toLowerCase() as Lowercase<Zone>}`;
  return undefined;
}

/**
 * Key hashes that opted out, so the same person under another cid (a phone-only record in another list) stays out.
 * Unsubscribes and deletion requests block both email and phone; a bounced (cleaned) address blocks only the email.
 */
export function optedOutKeysOf(people: Map<string, Person>): Set<string> {
  const out = new Set<string>();
  for (const p of people.values()) {
    if (p.consent === 'unsubscribed' || p.consent === 'deletion_requested') {
      if (p.keys.meta.EMAIL) out.add(p.keys.meta.EMAIL);
      if (p.keys.meta.PHONE) out.add(p.keys.meta.PHONE);
    } else if (p.consent === 'cleaned' && p.keys.meta.EMAIL) out.add(p.keys.meta.EMAIL);
  }
  return out;
}

export interface SegmentResult {
  id: string;
  /** People who match the rules (before consent and exclusions). */
  matched: number;
  members: Person[];
  excluded: Record<string, number>;
}

/**
 * Evaluates every segment: rules, then the consent gate, then exclusion segments.
 * Exclusion segments subtract their rule matches (consent does not matter for who is an existing customer).
 */
export function evaluateSegments(
  config: AudienceConfig,
  people: Map<string, Person>,
  suppressed: ReadonlySet<string>,
  now: Date,
): Map<string, SegmentResult> {
  const policy = consentPolicyOf(config);
  const optedOutKeys = optedOutKeysOf(people);
  const ruleMatches = new Map<string, Set<string>>();
  const byId = new Map(config.segments.map((s) => [s.id, s]));
  const matchSet = (s: SegmentConfig): Set<string> => {
    const cached = ruleMatches.get(s.id);
    if (cached) return cached;
    const out = new Set<string>();
    for (const p of people.values()) {
      if (s.lists && !s.lists.some((l) => p.lists.includes(l))) continue;
      if (s.where && !matches(s.where, p, now)) continue;
      out.add(p.cid);
    }
    ruleMatches.set(s.id, out);
    return out;
  };
  const results = new Map<string, SegmentResult>();
  for (const s of config.segments) {
    const matched = matchSet(s);
    const excluded: Record<string, number> = {};
    const members: Person[] = [];
    const bump = (r: string) => {
      excluded[r] = (excluded[r] ?? 0) + 1;
    };
    for (const cid of matched) {
      const p = people.get(cid)!;
      const block = consentBlock(p, policy, suppressed, optedOutKeys);
      if (block) {
        bump(block);
        continue;
      }
      const ex = (s.exclude ?? []).find((e) => {
        const other = byId.get(e);
        return other ? matchSet(other).has(cid) : false;
      });
      if (ex) {
        bump(`excluded_by_${ex}`);
        continue;
      }
      if (Object.keys(p.keys.meta).length === 0) {
        bump('no_match_keys');
        continue;
      }
      members.push(p);
    }
    results.set(s.id, { id: s.id, matched: matched.size, members, excluded });
  }
  // Suppressed people who were never matched by rules still count nowhere: they are simply absent.
  return results;
}
