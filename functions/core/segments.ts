/**
 * Segment evaluation at sync time, from stored attributes only: a changed rule needs no re-upload.
 *
 * A person is the union of their contact records across lists (same cid). Opt-outs travel across lists:
 * someone unsubscribed, cleaned or erased in any list is never uploaded, whatever another list says.
 */

import { CompactIndex } from './compact-index';
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
import type { BlockEntry } from './ports';

/** One pseudonymous person, merged across the lists they belong to. */
export interface Person {
  cid: string;
  lists: string[];
  /** Every identity hash any of their records carries (blocks match on these). */
  ids: string[];
  keys: MatchKeys;
  /** Consent after merging lists: an opt-out anywhere wins; else the most positive state. */
  consent: ConsentState;
  /** A recorded marketing opt-in in any list (false: only implied or refused ones; absent: none recorded). */
  optIn?: boolean;
  explicitOptIn: boolean;
  /** A dedicated ad-personalisation permission: refused anywhere wins, else given anywhere. */
  adsPermission?: boolean;
  /** The latest opt-in any list recorded (lifts a suppression or opt-out recorded before it). */
  optInAt?: string;
  attrs: Attributes;
}

/** Unsubscribed, bounced (cleaned) or asked to be deleted: never uploaded, whatever any zone allows. */
export const isOptedOut = (c: ConsentState) => c === 'unsubscribed' || c === 'cleaned' || c === 'deletion_requested';

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

/** Per platform, the keys of `a` win and `b` fills in what `a` lacks. */
function mergeKeys(a: MatchKeys, b: MatchKeys): MatchKeys {
  const out: MatchKeys = { ...b };
  for (const [platform, keys] of Object.entries(a)) out[platform] = { ...b[platform], ...keys };
  return out;
}

const union = (a: readonly string[], b: readonly string[]) =>
  b.every((x) => a.includes(x)) ? [...a] : [...new Set([...a, ...b])];

/** Within one snapshot the most restrictive consent wins: an opt-out, then unconfirmed, never subscribed, subscribed. */
const RESTRICTIVE: ConsentState[] = [
  'deletion_requested',
  'unsubscribed',
  'cleaned',
  'pending',
  'never_subscribed',
  'subscribed',
];

/** false wins over an unknown, which wins over true: evidence of consent must hold for every row of the person. */
const strictest = (a: boolean | undefined, b: boolean | undefined) =>
  a === false || b === false ? false : a === undefined || b === undefined ? undefined : true;

/**
 * Two rows of one person in the same file (a duplicate, or the subscribed and unsubscribed CSVs of one Mailchimp zip):
 * one record with the most restrictive consent and the weakest evidence, and every identity and key of both.
 */
export function mergeDuplicate<T extends Omit<ContactRecord, 'list' | 'seenAt' | 'source'>>(a: T, b: T): T {
  const winner = RESTRICTIVE.indexOf(b.consent) < RESTRICTIVE.indexOf(a.consent) ? b : a;
  const other = winner === a ? b : a;
  const out: T = {
    ...winner,
    ids: union(winner.ids, other.ids),
    keys: mergeKeys(winner.keys, other.keys),
    attrs: mergeAttrs(winner.attrs, other.attrs),
  };
  const emails = Math.max(winner.emails ?? 0, other.emails ?? 0);
  if (emails) out.emails = emails;
  const set = <K extends 'optIn' | 'explicitOptIn' | 'adsPermission'>(k: K) => {
    const v = strictest(a[k], b[k]);
    if (v === undefined) delete out[k];
    else out[k] = v as T[K];
  };
  set('optIn');
  set('explicitOptIn');
  set('adsPermission');
  const optInAt = minIso(a.optInAt, b.optInAt);
  if (optInAt) out.optInAt = optInAt;
  else delete out.optInAt;
  const optOutAt = maxIso(a.optOutAt, b.optOutAt);
  if (optOutAt) out.optOutAt = optOutAt;
  else delete out.optOutAt;
  return out;
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
    people.set(r.cid, personOf(r));
    return;
  }
  mergeRecord(p, r);
}

/** A person from their first record. */
export function personOf(r: ContactRecord): Person {
  const p: Person = {
    cid: r.cid,
    lists: [r.list],
    ids: r.ids ?? [r.cid],
    keys: r.keys,
    consent: r.consent,
    explicitOptIn: r.explicitOptIn === true,
    attrs: r.attrs,
  };
  if (r.optIn !== undefined) p.optIn = r.optIn;
  if (r.adsPermission !== undefined) p.adsPermission = r.adsPermission;
  if (r.optInAt !== undefined) p.optInAt = r.optInAt;
  return p;
}

/** Adds another list's record of the same person. */
export function mergeRecord(p: Person, r: ContactRecord): void {
  p.lists.push(r.list);
  p.ids = union(p.ids, r.ids ?? [r.cid]);
  p.keys = mergeKeys(p.keys, r.keys);
  p.consent = CONSENT_PRECEDENCE.indexOf(r.consent) < CONSENT_PRECEDENCE.indexOf(p.consent) ? r.consent : p.consent;
  if (r.optIn === true || p.optIn === true) p.optIn = true;
  else if (r.optIn === false) p.optIn = false;
  p.explicitOptIn = p.explicitOptIn || r.explicitOptIn === true;
  if (r.adsPermission === false || p.adsPermission === false) p.adsPermission = false;
  else if (r.adsPermission === true) p.adsPermission = true;
  const optInAt = maxIso(p.optInAt, r.optInAt);
  if (optInAt !== undefined) p.optInAt = optInAt;
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
  | 'erased'
  | 'suppressed'
  | 'unsubscribed'
  | 'cleaned'
  | 'deletion_requested'
  | 'opted_out_elsewhere'
  | 'no_ads_permission'
  | 'pending_confirmation'
  | 'never_subscribed'
  | `no_opt_in_${Lowercase<Zone>}`
  | `no_explicit_opt_in_${Lowercase<Zone>}`
  | `no_ads_permission_${Lowercase<Zone>}`
  | `excluded_by_${string}`
  | 'no_match_keys';

const ZONE_WORDS: Record<Zone, string> = {
  EEA: 'EEA',
  UK: 'UK',
  CH: 'Switzerland',
  US_PRIVACY: 'US state with a privacy law',
  US: 'US',
  OTHER: 'other countries',
  UNKNOWN: 'country unknown',
};

/** An exclusion reason in words a marketer reads ("no opt-in recorded (UK)"). */
export function describeExclusion(reason: string): string {
  const fixed: Record<string, string> = {
    erased: 'erased (right to erasure)',
    suppressed: 'suppressed by a suppress file',
    unsubscribed: 'unsubscribed',
    cleaned: 'address bounced or cleaned',
    deletion_requested: 'asked to be deleted',
    opted_out_elsewhere: 'opted out in another list or under another address',
    no_ads_permission: 'refused ad personalisation',
    pending_confirmation: 'sign-up not confirmed yet',
    never_subscribed: 'never subscribed',
    no_match_keys: 'no key this platform can match on',
  };
  if (fixed[reason]) return fixed[reason];
  const zoned = /^(no_opt_in|no_explicit_opt_in|no_ads_permission)_(.+)$/.exec(reason);
  if (zoned) {
    const zone = ZONE_WORDS[zoned[2]!.toUpperCase() as Zone] ?? zoned[2]!.toUpperCase();
    const what =
      zoned[1] === 'no_opt_in'
        ? 'no opt-in recorded'
        : zoned[1] === 'no_explicit_opt_in'
          ? 'no confirmed (double) opt-in'
          : 'no ad-personalisation permission';
    return `${what} (${zone})`;
  }
  const ex = /^excluded_by_(.+)$/.exec(reason);
  if (ex) return `in excluded segment "${ex[1]}"`;
  return reason.replace(/_/g, ' ');
}

/**
 * Blocks by identity hash, compactly (erasures, suppressions, opt-outs kept after a record left its list), each with
 * the time it was recorded so a later opt-in can lift a suppression or opt-out.
 */
export class BlockIndex {
  private readonly erasure = new CompactIndex(16);
  private readonly suppress = new CompactIndex(16);
  private readonly optout = new CompactIndex(16);

  add(b: Pick<BlockEntry, 'hash' | 'kind' | 'at'>): void {
    if (b.kind === 'erasure') {
      this.erasure.add(b.hash);
      return;
    }
    const idx = b.kind === 'suppress' ? this.suppress : this.optout;
    const minutes = toMinutes(b.at);
    const had = idx.get(b.hash);
    if (had === undefined || minutes > had) idx.add(b.hash, minutes);
  }

  /** Why these identities may not be uploaded, unless an opt-in recorded after the block (`optInAt`) lifts it. */
  check(
    ids: readonly string[],
    optInAt: string | undefined,
  ): 'erased' | 'suppressed' | 'opted_out_elsewhere' | undefined {
    if (ids.some((h) => this.erasure.has(h))) return 'erased';
    const lifted = (idx: CompactIndex) => {
      const latest = Math.max(...ids.map((h) => idx.get(h) ?? -1));
      return latest < 0 || (optInAt !== undefined && toMinutes(optInAt) > latest);
    };
    if (!lifted(this.suppress)) return 'suppressed';
    if (!lifted(this.optout)) return 'opted_out_elsewhere';
    return undefined;
  }

  static async load(entries: AsyncIterable<BlockEntry> | Iterable<BlockEntry>): Promise<BlockIndex> {
    const idx = new BlockIndex();
    for await (const b of entries) idx.add(b);
    return idx;
  }
}

const EPOCH_2000 = Date.UTC(2000, 0, 1);
const toMinutes = (iso: string) => Math.max(0, Math.floor((Date.parse(iso) - EPOCH_2000) / 60_000));

/** Consent gate: may this person be uploaded at all, given the zone policy and the blocks? Undefined = yes. */
export function consentBlock(
  p: Person,
  policy: Record<Zone, ConsentRequirement>,
  blocks: BlockIndex,
): ExclusionReason | undefined {
  // A fresh opt-in lifts a suppression or an opt-out recorded before it, never an erasure.
  const blocked = blocks.check(p.ids, p.optIn === true && p.consent === 'subscribed' ? p.optInAt : undefined);
  if (blocked === 'erased') return blocked;
  if (p.consent === 'deletion_requested') return 'deletion_requested';
  if (p.consent === 'unsubscribed') return 'unsubscribed';
  if (p.consent === 'cleaned') return 'cleaned';
  if (blocked) return blocked;
  // A source's own ad-personalisation permission decides in every zone.
  if (p.adsPermission === false) return 'no_ads_permission';
  if (p.adsPermission === true) return undefined;
  const zone = p.attrs.zone ?? 'UNKNOWN';
  const z = zone.toLowerCase() as Lowercase<Zone>;
  const need = policy[zone];
  if (need === 'not_opted_out') return undefined;
  if (p.consent === 'pending') return 'pending_confirmation';
  if (p.consent === 'never_subscribed') return 'never_subscribed';
  if (need === 'ads_permission') return `no_ads_permission_${z}`;
  if (need === 'explicit_opt_in' && !p.explicitOptIn) return `no_explicit_opt_in_${z}`;
  if (need === 'marketing_opt_in' && p.optIn !== true && !p.explicitOptIn) return `no_opt_in_${z}`;
  return undefined;
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
  blocks: BlockIndex,
  now: Date,
): Map<string, SegmentResult> {
  const policy = consentPolicyOf(config);
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
      const block = consentBlock(p, policy, blocks);
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
      if (Object.values(p.keys).every((k) => Object.keys(k).length === 0)) {
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
