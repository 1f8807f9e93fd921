import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../../functions/adapters/config-file';
import { type ConsentRequirement, DEFAULT_CONSENT_POLICY, type Rule } from '../../../functions/core/config';
import type { Attributes, ConsentState, ContactRecord, FunnelStage, Zone } from '../../../functions/core/model';
import { FUNNEL_STAGES } from '../../../functions/core/model';
import type { BlockEntry } from '../../../functions/core/ports';
import {
  BlockIndex,
  consentBlock,
  describeExclusion,
  durationMs,
  evaluateSegments,
  matches,
  mergePeople,
  type Person,
} from '../../../functions/core/segments';

const DAY = 86_400_000;
const NOW = new Date('2025-06-15T12:00:00.000Z');
/** ISO time `days` days (plus `ms` milliseconds) before NOW. */
const ago = (days: number, ms = 0): string => new Date(NOW.getTime() - days * DAY - ms).toISOString();
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

function person(over: Partial<Omit<Person, 'attrs'>> = {}, attrs: Attributes = {}): Person {
  return {
    cid: 'cid-1',
    lists: ['newsletter'],
    ids: ['cid-1'],
    keys: { meta: { EMAIL: sha('ana@example.com') } },
    consent: 'subscribed',
    explicitOptIn: false,
    attrs,
    ...over,
  };
}

function record(over: Partial<ContactRecord> = {}): ContactRecord {
  return {
    cid: 'cid-1',
    list: 'newsletter',
    ids: [over.cid ?? 'cid-1'],
    keys: { meta: { EMAIL: sha('ana@example.com') } },
    consent: 'subscribed',
    attrs: {},
    seenAt: '2025-06-01T00:00:00.000Z',
    source: 'incoming/newsletter/export.csv#1',
    ...over,
  };
}

interface RuleRow {
  name: string;
  rule: Rule;
  p: Person;
  expected: boolean;
}

describe('durationMs', () => {
  it.each([
    ['1d', 1],
    ['30d', 30],
    ['8w', 56],
    ['6m', 180], // months are 30 days
    ['1y', 365], // years are 365 days
  ])('%s is %i days', (d, days) => {
    expect(durationMs(d)).toBe(days * DAY);
  });
});

describe('matches: one row per rule kind and edge', () => {
  const rows: RuleRow[] = [
    // list
    {
      name: 'list: member of the list',
      rule: { list: 'shop' },
      p: person({ lists: ['newsletter', 'shop'] }),
      expected: true,
    },
    { name: 'list: any of several', rule: { list: ['crm', 'shop'] }, p: person({ lists: ['shop'] }), expected: true },
    { name: 'list: not a member', rule: { list: 'crm' }, p: person({ lists: ['newsletter'] }), expected: false },
    // tag (case-insensitive, any of)
    { name: 'tag: case-insensitive', rule: { tag: 'VIP' }, p: person({}, { tags: ['vip'] }), expected: true },
    { name: 'tag: stored upper, rule lower', rule: { tag: 'vip' }, p: person({}, { tags: ['VIP'] }), expected: true },
    { name: 'tag: any of several', rule: { tag: ['beta', 'gold'] }, p: person({}, { tags: ['Gold'] }), expected: true },
    { name: 'tag: absent tag', rule: { tag: 'vip' }, p: person({}, { tags: ['beta'] }), expected: false },
    { name: 'tag: no tags at all', rule: { tag: 'vip' }, p: person(), expected: false },
    // allTags
    {
      name: 'allTags: all present (any case)',
      rule: { allTags: ['vip', 'Beta'] },
      p: person({}, { tags: ['VIP', 'beta', 'x'] }),
      expected: true,
    },
    {
      name: 'allTags: one missing',
      rule: { allTags: ['vip', 'beta'] },
      p: person({}, { tags: ['vip'] }),
      expected: false,
    },
    { name: 'allTags: no tags at all', rule: { allTags: ['vip'] }, p: person(), expected: false },
    // consent
    { name: 'consent: equal', rule: { consent: 'subscribed' }, p: person(), expected: true },
    {
      name: 'consent: any of several',
      rule: { consent: ['pending', 'subscribed'] },
      p: person({ consent: 'pending' }),
      expected: true,
    },
    {
      name: 'consent: different',
      rule: { consent: 'subscribed' },
      p: person({ consent: 'unsubscribed' }),
      expected: false,
    },
    // explicitOptIn
    {
      name: 'explicitOptIn true: opted in',
      rule: { explicitOptIn: true },
      p: person({ explicitOptIn: true }),
      expected: true,
    },
    { name: 'explicitOptIn true: not opted in', rule: { explicitOptIn: true }, p: person(), expected: false },
    { name: 'explicitOptIn false: not opted in', rule: { explicitOptIn: false }, p: person(), expected: true },
    {
      name: 'explicitOptIn false: opted in',
      rule: { explicitOptIn: false },
      p: person({ explicitOptIn: true }),
      expected: false,
    },
    // date: within (inclusive boundary)
    {
      name: 'date within: inside',
      rule: { date: 'lastOpenAt', within: '30d' },
      p: person({}, { lastOpenAt: ago(3) }),
      expected: true,
    },
    {
      name: 'date within: exactly on the boundary',
      rule: { date: 'lastOpenAt', within: '30d' },
      p: person({}, { lastOpenAt: ago(30) }),
      expected: true,
    },
    {
      name: 'date within: 1 ms past the boundary',
      rule: { date: 'lastOpenAt', within: '30d' },
      p: person({}, { lastOpenAt: ago(30, 1) }),
      expected: false,
    },
    { name: 'date within: undefined', rule: { date: 'lastOpenAt', within: '30d' }, p: person(), expected: false },
    {
      name: 'date within: unparseable',
      rule: { date: 'lastOpenAt', within: '30d' },
      p: person({}, { lastOpenAt: 'not a date' }),
      expected: false,
    },
    {
      name: 'date within: weeks unit',
      rule: { date: 'lastClickAt', within: '2w' },
      p: person({}, { lastClickAt: ago(13) }),
      expected: true,
    },
    // date: olderThan (strict boundary)
    {
      name: 'date olderThan: older',
      rule: { date: 'signupAt', olderThan: '1y' },
      p: person({}, { signupAt: ago(400) }),
      expected: true,
    },
    {
      name: 'date olderThan: exactly on the boundary',
      rule: { date: 'signupAt', olderThan: '1y' },
      p: person({}, { signupAt: ago(365) }),
      expected: false,
    },
    {
      name: 'date olderThan: 1 ms past the boundary',
      rule: { date: 'signupAt', olderThan: '1y' },
      p: person({}, { signupAt: ago(365, 1) }),
      expected: true,
    },
    { name: 'date olderThan: undefined', rule: { date: 'signupAt', olderThan: '1y' }, p: person(), expected: false },
    {
      name: 'date olderThan: unparseable',
      rule: { date: 'signupAt', olderThan: '1y' },
      p: person({}, { signupAt: '31/02/2020' }),
      expected: false,
    },
    // date: after / before (strict)
    {
      name: 'date after: later',
      rule: { date: 'signupAt', after: '2024-01-01' },
      p: person({}, { signupAt: '2024-01-01T00:00:00.001Z' }),
      expected: true,
    },
    {
      name: 'date after: exactly the bound',
      rule: { date: 'signupAt', after: '2024-01-01' },
      p: person({}, { signupAt: '2024-01-01T00:00:00.000Z' }),
      expected: false,
    },
    { name: 'date after: undefined', rule: { date: 'signupAt', after: '2024-01-01' }, p: person(), expected: false },
    {
      name: 'date after: unparseable',
      rule: { date: 'signupAt', after: '2024-01-01' },
      p: person({}, { signupAt: 'soon' }),
      expected: false,
    },
    {
      name: 'date before: earlier',
      rule: { date: 'signupAt', before: '2024-01-01' },
      p: person({}, { signupAt: '2023-12-31T23:59:59.999Z' }),
      expected: true,
    },
    {
      name: 'date before: exactly the bound',
      rule: { date: 'signupAt', before: '2024-01-01' },
      p: person({}, { signupAt: '2024-01-01T00:00:00.000Z' }),
      expected: false,
    },
    { name: 'date before: undefined', rule: { date: 'signupAt', before: '2024-01-01' }, p: person(), expected: false },
    {
      name: 'date after+before: inside the range',
      rule: { date: 'signupAt', after: '2024-01-01', before: '2025-01-01' },
      p: person({}, { signupAt: '2024-06-01T00:00:00.000Z' }),
      expected: true,
    },
    {
      name: 'date after+before: outside the range',
      rule: { date: 'signupAt', after: '2024-01-01', before: '2025-01-01' },
      p: person({}, { signupAt: '2025-06-01T00:00:00.000Z' }),
      expected: false,
    },
    // date: missing
    { name: 'date missing true: undefined', rule: { date: 'lastClickAt', missing: true }, p: person(), expected: true },
    {
      name: 'date missing true: present',
      rule: { date: 'lastClickAt', missing: true },
      p: person({}, { lastClickAt: ago(1) }),
      expected: false,
    },
    {
      name: 'date missing false: undefined',
      rule: { date: 'lastClickAt', missing: false },
      p: person(),
      expected: false,
    },
    {
      name: 'date missing false: present',
      rule: { date: 'lastClickAt', missing: false },
      p: person({}, { lastClickAt: ago(1) }),
      expected: true,
    },
    {
      name: 'date missing false + within: present but too old',
      rule: { date: 'lastClickAt', missing: false, within: '30d' },
      p: person({}, { lastClickAt: ago(31) }),
      expected: false,
    },
    // number
    { name: 'number gte: equal', rule: { number: 'orders', gte: 2 }, p: person({}, { orders: 2 }), expected: true },
    { name: 'number gte: below', rule: { number: 'orders', gte: 2 }, p: person({}, { orders: 1 }), expected: false },
    { name: 'number gte: undefined', rule: { number: 'orders', gte: 0 }, p: person(), expected: false },
    { name: 'number gt: equal', rule: { number: 'spend', gt: 100 }, p: person({}, { spend: 100 }), expected: false },
    { name: 'number gt: above', rule: { number: 'spend', gt: 100 }, p: person({}, { spend: 100.5 }), expected: true },
    { name: 'number gt: undefined', rule: { number: 'spend', gt: -1 }, p: person(), expected: false },
    { name: 'number lte: equal', rule: { number: 'rating', lte: 2 }, p: person({}, { rating: 2 }), expected: true },
    { name: 'number lte: above', rule: { number: 'rating', lte: 2 }, p: person({}, { rating: 3 }), expected: false },
    { name: 'number lte: undefined', rule: { number: 'rating', lte: 5 }, p: person(), expected: false },
    {
      name: 'number lt: equal',
      rule: { number: 'ageAtSignup', lt: 37 },
      p: person({}, { ageAtSignup: 37 }),
      expected: false,
    },
    {
      name: 'number lt: below',
      rule: { number: 'ageAtSignup', lt: 37 },
      p: person({}, { ageAtSignup: 36 }),
      expected: true,
    },
    { name: 'number lt: undefined', rule: { number: 'ageAtSignup', lt: 37 }, p: person(), expected: false },
    { name: 'number eq: equal', rule: { number: 'opens', eq: 0 }, p: person({}, { opens: 0 }), expected: true },
    { name: 'number eq: different', rule: { number: 'opens', eq: 0 }, p: person({}, { opens: 1 }), expected: false },
    { name: 'number eq: undefined', rule: { number: 'clicks', eq: 0 }, p: person(), expected: false },
    {
      name: 'number range: gte+lt inside',
      rule: { number: 'orders', gte: 2, lt: 5 },
      p: person({}, { orders: 4 }),
      expected: true,
    },
    {
      name: 'number range: gte+lt upper bound',
      rule: { number: 'orders', gte: 2, lt: 5 },
      p: person({}, { orders: 5 }),
      expected: false,
    },
    // funnel
    { name: 'funnel: equal', rule: { funnel: 'opened' }, p: person({}, { funnel: 'opened' }), expected: true },
    {
      name: 'funnel: any of several',
      rule: { funnel: ['opened', 'clicked'] },
      p: person({}, { funnel: 'clicked' }),
      expected: true,
    },
    {
      name: 'funnel: exact, not at-least',
      rule: { funnel: 'opened' },
      p: person({}, { funnel: 'clicked' }),
      expected: false,
    },
    { name: 'funnel: undefined', rule: { funnel: 'subscribed' }, p: person(), expected: false },
    { name: 'funnelAtLeast: undefined', rule: { funnelAtLeast: 'subscribed' }, p: person(), expected: false },
    // country (case-insensitive on the rule side; stored uppercase)
    { name: 'country: lowercase rule', rule: { country: 'de' }, p: person({}, { country: 'DE' }), expected: true },
    {
      name: 'country: any of several',
      rule: { country: ['FR', 'De'] },
      p: person({}, { country: 'DE' }),
      expected: true,
    },
    { name: 'country: different', rule: { country: 'DE' }, p: person({}, { country: 'AT' }), expected: false },
    { name: 'country: undefined', rule: { country: 'DE' }, p: person(), expected: false },
    // zone (UNKNOWN when absent)
    { name: 'zone: equal', rule: { zone: 'EEA' }, p: person({}, { zone: 'EEA' }), expected: true },
    { name: 'zone: any of several', rule: { zone: ['UK', 'CH'] }, p: person({}, { zone: 'CH' }), expected: true },
    { name: 'zone: different', rule: { zone: 'EEA' }, p: person({}, { zone: 'US' }), expected: false },
    { name: 'zone: undefined is UNKNOWN', rule: { zone: 'UNKNOWN' }, p: person(), expected: true },
    { name: 'zone: undefined is not EEA', rule: { zone: 'EEA' }, p: person(), expected: false },
    // region
    { name: 'region: lowercase rule', rule: { region: 'ca' }, p: person({}, { region: 'CA' }), expected: true },
    { name: 'region: any of several', rule: { region: ['NY', 'TX'] }, p: person({}, { region: 'TX' }), expected: true },
    { name: 'region: different', rule: { region: 'CA' }, p: person({}, { region: 'OR' }), expected: false },
    { name: 'region: undefined', rule: { region: 'CA' }, p: person(), expected: false },
    // ageBand
    { name: 'ageBand: equal', rule: { ageBand: '25-34' }, p: person({}, { ageBand: '25-34' }), expected: true },
    {
      name: 'ageBand: not in list',
      rule: { ageBand: ['18-24', '25-34'] },
      p: person({}, { ageBand: '35-44' }),
      expected: false,
    },
    { name: 'ageBand: undefined', rule: { ageBand: '65+' }, p: person(), expected: false },
    // plan / tier (case-insensitive both ways)
    { name: 'plan: rule upper, stored mixed', rule: { plan: 'PRO' }, p: person({}, { plan: 'Pro' }), expected: true },
    { name: 'plan: any of several', rule: { plan: ['basic', 'pro'] }, p: person({}, { plan: 'PRO' }), expected: true },
    { name: 'plan: different', rule: { plan: 'pro' }, p: person({}, { plan: 'free' }), expected: false },
    { name: 'plan: undefined', rule: { plan: 'pro' }, p: person(), expected: false },
    { name: 'tier: case-insensitive', rule: { tier: 'gold' }, p: person({}, { tier: 'GOLD' }), expected: true },
    { name: 'tier: different', rule: { tier: 'gold' }, p: person({}, { tier: 'silver' }), expected: false },
    { name: 'tier: undefined', rule: { tier: 'gold' }, p: person(), expected: false },
    // paid
    { name: 'paid true: paid', rule: { paid: true }, p: person({}, { paid: true }), expected: true },
    { name: 'paid true: not paid', rule: { paid: true }, p: person({}, { paid: false }), expected: false },
    { name: 'paid true: undefined', rule: { paid: true }, p: person(), expected: false },
    { name: 'paid false: not paid', rule: { paid: false }, p: person({}, { paid: false }), expected: true },
    { name: 'paid false: undefined counts as not paid', rule: { paid: false }, p: person(), expected: true },
    { name: 'paid false: paid', rule: { paid: false }, p: person({}, { paid: true }), expected: false },
    // nested all / any / not
    {
      name: 'all: every part matches',
      rule: { all: [{ country: 'DE' }, { tag: 'vip' }] },
      p: person({}, { country: 'DE', tags: ['vip'] }),
      expected: true,
    },
    {
      name: 'all: one part fails',
      rule: { all: [{ country: 'DE' }, { tag: 'vip' }] },
      p: person({}, { country: 'DE' }),
      expected: false,
    },
    {
      name: 'any: one part matches',
      rule: { any: [{ country: 'FR' }, { tag: 'vip' }] },
      p: person({}, { country: 'DE', tags: ['vip'] }),
      expected: true,
    },
    { name: 'any: no part matches', rule: { any: [{ country: 'FR' }, { tag: 'vip' }] }, p: person(), expected: false },
    { name: 'not: negates a match', rule: { not: { paid: true } }, p: person({}, { paid: true }), expected: false },
    { name: 'not: undefined attribute', rule: { not: { country: 'DE' } }, p: person(), expected: true },
    {
      name: 'nested: all[any, not] matches',
      rule: { all: [{ any: [{ zone: 'EEA' }, { zone: 'UK' }] }, { not: { funnelAtLeast: 'clicked' } }] },
      p: person({}, { zone: 'UK', funnel: 'opened' }),
      expected: true,
    },
    {
      name: 'nested: all[any, not] fails on the not',
      rule: { all: [{ any: [{ zone: 'EEA' }, { zone: 'UK' }] }, { not: { funnelAtLeast: 'clicked' } }] },
      p: person({}, { zone: 'UK', funnel: 'customer' }),
      expected: false,
    },
    {
      name: 'nested: not(not(x)) is x',
      rule: { not: { not: { list: 'newsletter' } } },
      p: person(),
      expected: true,
    },
  ];

  it.each(rows)('$name', ({ rule, p, expected }) => {
    expect(matches(rule, p, NOW)).toBe(expected);
  });

  const funnelRows = FUNNEL_STAGES.flatMap((atLeast, ruleIdx) =>
    FUNNEL_STAGES.map((stage, personIdx) => ({ atLeast, stage, expected: personIdx >= ruleIdx })),
  );
  it('funnel order is subscribed < opened < clicked < customer', () => {
    expect([...FUNNEL_STAGES]).toEqual(['subscribed', 'opened', 'clicked', 'customer']);
  });
  it.each(funnelRows)('funnelAtLeast $atLeast with funnel $stage → $expected', ({ atLeast, stage, expected }) => {
    expect(matches({ funnelAtLeast: atLeast }, person({}, { funnel: stage as FunnelStage }), NOW)).toBe(expected);
  });
});

describe('mergePeople across lists', () => {
  const consentRows: Array<[ConsentState, ConsentState, ConsentState]> = [
    ['subscribed', 'unsubscribed', 'unsubscribed'],
    ['subscribed', 'cleaned', 'cleaned'],
    ['subscribed', 'deletion_requested', 'deletion_requested'],
    ['cleaned', 'unsubscribed', 'unsubscribed'],
    ['unsubscribed', 'deletion_requested', 'deletion_requested'],
    ['cleaned', 'deletion_requested', 'deletion_requested'],
    ['pending', 'unsubscribed', 'unsubscribed'],
    ['never_subscribed', 'cleaned', 'cleaned'],
    ['pending', 'subscribed', 'subscribed'],
    ['never_subscribed', 'subscribed', 'subscribed'],
    ['never_subscribed', 'pending', 'pending'],
    ['subscribed', 'subscribed', 'subscribed'],
  ];
  it.each(consentRows)('%s + %s → %s, in either order', (a, b, expected) => {
    const ra = record({ list: 'newsletter', consent: a });
    const rb = record({ list: 'shop', consent: b });
    expect(mergePeople([ra, rb]).get('cid-1')?.consent).toBe(expected);
    expect(mergePeople([rb, ra]).get('cid-1')?.consent).toBe(expected);
  });

  it('an opt-out in any of three lists wins over subscriptions elsewhere', () => {
    const people = mergePeople([
      record({ list: 'newsletter', consent: 'subscribed' }),
      record({ list: 'shop', consent: 'cleaned' }),
      record({ list: 'crm', consent: 'pending' }),
    ]);
    expect(people.get('cid-1')?.consent).toBe('cleaned');
  });

  it('merges attributes: tags union, dates max/min, counts summed, paid/opt-in any, funnel max', () => {
    const a = record({
      list: 'newsletter',
      explicitOptIn: undefined,
      attrs: {
        tags: ['vip', 'beta'],
        rating: 2,
        lastOpenAt: '2025-05-01T00:00:00.000Z',
        lastClickAt: undefined,
        signupAt: '2022-03-01T00:00:00.000Z',
        opens: 10,
        clicks: 1,
        orders: 1,
        spend: 20,
        funnel: 'clicked',
      },
    });
    const b = record({
      list: 'shop',
      explicitOptIn: true,
      keys: { meta: { PHONE: sha('+4915123456789') } },
      attrs: {
        tags: ['beta', 'buyer'],
        rating: 4,
        lastOpenAt: '2025-04-01T00:00:00.000Z',
        lastClickAt: '2025-03-01T00:00:00.000Z',
        signupAt: '2021-01-01T00:00:00.000Z',
        opens: 5,
        orders: 2,
        spend: 30.5,
        paid: true,
        funnel: 'customer',
      },
    });
    const c = record({ list: 'crm', attrs: { opens: 1, paid: false, funnel: 'subscribed' } });
    const p = mergePeople([a, b, c]).get('cid-1')!;
    expect(p.lists).toEqual(['newsletter', 'shop', 'crm']);
    expect(p.keys.meta).toEqual({ EMAIL: sha('ana@example.com'), PHONE: sha('+4915123456789') });
    expect(new Set(p.attrs.tags)).toEqual(new Set(['vip', 'beta', 'buyer']));
    expect(p.attrs.tags).toHaveLength(3);
    expect(p.attrs.rating).toBe(4);
    expect(p.attrs.lastOpenAt).toBe('2025-05-01T00:00:00.000Z');
    expect(p.attrs.lastClickAt).toBe('2025-03-01T00:00:00.000Z');
    expect(p.attrs.signupAt).toBe('2021-01-01T00:00:00.000Z');
    expect(p.attrs.opens).toBe(16);
    expect(p.attrs.clicks).toBe(1);
    expect(p.attrs.orders).toBe(3);
    expect(p.attrs.spend).toBeCloseTo(50.5);
    expect(p.attrs.paid).toBe(true);
    expect(p.attrs.funnel).toBe('customer');
    expect(p.explicitOptIn).toBe(true);
  });

  it('explicitOptIn is false when no list has it', () => {
    const p = mergePeople([record(), record({ list: 'shop', explicitOptIn: false })]).get('cid-1')!;
    expect(p.explicitOptIn).toBe(false);
  });

  it('keeps different cids apart and does not mutate the input records', () => {
    const a = record({ cid: 'a', attrs: { tags: ['x'], opens: 1 } });
    const a2 = record({ cid: 'a', list: 'shop', attrs: { tags: ['y'], opens: 2 } });
    const b = record({ cid: 'b' });
    const people = mergePeople([a, b, a2]);
    expect([...people.keys()]).toEqual(['a', 'b']);
    expect(people.get('a')?.attrs.opens).toBe(3);
    expect(a.attrs).toEqual({ tags: ['x'], opens: 1 });
    expect(a2.attrs).toEqual({ tags: ['y'], opens: 2 });
  });

  // Ingest always stores a zone (UNKNOWN when the row has no country). A person known to be in Germany on one list
  // must not become uploadable without an explicit opt-in because another list did not know their country.
  it('a known regulatory zone is not lost to UNKNOWN from another list, whatever the record order', () => {
    const noCountry = record({ list: 'newsletter', attrs: { zone: 'UNKNOWN' } });
    const german = record({ list: 'eu-newsletter', attrs: { country: 'DE', zone: 'EEA' } });
    for (const order of [
      [german, noCountry],
      [noCountry, german],
    ]) {
      const p = mergePeople(order).get('cid-1')!;
      expect({ order: order.map((r) => r.list), zone: p.attrs.zone }).toEqual({
        order: order.map((r) => r.list),
        zone: 'EEA',
      });
      expect(consentBlock(p, DEFAULT_CONSENT_POLICY, new BlockIndex())).toBe('no_opt_in_eea');
    }
  });
});

describe('consentBlock', () => {
  const everywhere = (req: ConsentRequirement) =>
    Object.fromEntries(Object.keys(DEFAULT_CONSENT_POLICY).map((z) => [z, req])) as Record<Zone, ConsentRequirement>;
  const NONE = new BlockIndex();

  it.each<{
    name: string;
    policy: Record<Zone, ConsentRequirement>;
    zone: Zone | undefined;
    consent: ConsentState;
    evidence?: Partial<Pick<Person, 'optIn' | 'explicitOptIn' | 'adsPermission'>>;
    expected: string | undefined;
  }>([
    // marketing_opt_in (EEA/UK/CH by default)
    {
      name: 'EEA with a recorded opt-in',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'subscribed',
      evidence: { optIn: true },
      expected: undefined,
    },
    {
      name: 'EEA with a double opt-in',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'subscribed',
      evidence: { explicitOptIn: true },
      expected: undefined,
    },
    {
      name: 'EEA subscribed, nothing recorded',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'subscribed',
      expected: 'no_opt_in_eea',
    },
    {
      name: 'UK with implied consent only',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'UK',
      consent: 'subscribed',
      evidence: { optIn: false },
      expected: 'no_opt_in_uk',
    },
    {
      name: 'CH subscribed, nothing recorded',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'CH',
      consent: 'subscribed',
      expected: 'no_opt_in_ch',
    },
    {
      name: 'EEA opted in but pending',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'pending',
      evidence: { optIn: true },
      expected: 'pending_confirmation',
    },
    {
      name: 'EEA opted in but unsubscribed',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'unsubscribed',
      evidence: { optIn: true },
      expected: 'unsubscribed',
    },
    // explicit_opt_in (the old default, still accepted)
    {
      name: 'explicit_opt_in: an opt-in is not enough',
      policy: everywhere('explicit_opt_in'),
      zone: 'EEA',
      consent: 'subscribed',
      evidence: { optIn: true },
      expected: 'no_explicit_opt_in_eea',
    },
    {
      name: 'explicit_opt_in: a double opt-in is',
      policy: everywhere('explicit_opt_in'),
      zone: 'EEA',
      consent: 'subscribed',
      evidence: { explicitOptIn: true },
      expected: undefined,
    },
    {
      name: 'explicit_opt_in with no zone',
      policy: { ...DEFAULT_CONSENT_POLICY, UNKNOWN: 'explicit_opt_in' },
      zone: undefined,
      consent: 'subscribed',
      expected: 'no_explicit_opt_in_unknown',
    },
    // ads_permission: the source's own permission decides in every zone
    {
      name: 'ads permission refused, US',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'US',
      consent: 'subscribed',
      evidence: { adsPermission: false },
      expected: 'no_ads_permission',
    },
    {
      name: 'ads permission given, EEA without opt-in',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'EEA',
      consent: 'subscribed',
      evidence: { adsPermission: true },
      expected: undefined,
    },
    {
      name: 'ads permission given, never subscribed',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'US',
      consent: 'never_subscribed',
      evidence: { adsPermission: true },
      expected: undefined,
    },
    {
      name: 'ads permission given, unsubscribed',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'US',
      consent: 'unsubscribed',
      evidence: { adsPermission: true },
      expected: 'unsubscribed',
    },
    {
      name: 'ads_permission policy, no column',
      policy: everywhere('ads_permission'),
      zone: 'UK',
      consent: 'subscribed',
      evidence: { optIn: true },
      expected: 'no_ads_permission_uk',
    },
    // subscribed (US/OTHER/UNKNOWN by default)
    { name: 'US subscribed', policy: DEFAULT_CONSENT_POLICY, zone: 'US', consent: 'subscribed', expected: undefined },
    {
      name: 'no zone defaults to UNKNOWN → subscribed',
      policy: DEFAULT_CONSENT_POLICY,
      zone: undefined,
      consent: 'subscribed',
      expected: undefined,
    },
    {
      name: 'US pending',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'US',
      consent: 'pending',
      expected: 'pending_confirmation',
    },
    {
      name: 'OTHER never subscribed',
      policy: DEFAULT_CONSENT_POLICY,
      zone: 'OTHER',
      consent: 'never_subscribed',
      expected: 'never_subscribed',
    },
    {
      name: 'EEA under a subscribed policy',
      policy: everywhere('subscribed'),
      zone: 'EEA',
      consent: 'subscribed',
      expected: undefined,
    },
    { name: 'US cleaned', policy: DEFAULT_CONSENT_POLICY, zone: 'US', consent: 'cleaned', expected: 'cleaned' },
    // not_opted_out
    {
      name: 'not_opted_out admits never subscribed',
      policy: everywhere('not_opted_out'),
      zone: 'OTHER',
      consent: 'never_subscribed',
      expected: undefined,
    },
    {
      name: 'not_opted_out admits pending',
      policy: everywhere('not_opted_out'),
      zone: 'US',
      consent: 'pending',
      expected: undefined,
    },
    {
      name: 'not_opted_out admits EEA without opt-in',
      policy: everywhere('not_opted_out'),
      zone: 'EEA',
      consent: 'subscribed',
      expected: undefined,
    },
    {
      name: 'not_opted_out still blocks unsubscribed',
      policy: everywhere('not_opted_out'),
      zone: 'US',
      consent: 'unsubscribed',
      expected: 'unsubscribed',
    },
    {
      name: 'not_opted_out still blocks cleaned',
      policy: everywhere('not_opted_out'),
      zone: 'US',
      consent: 'cleaned',
      expected: 'cleaned',
    },
    {
      name: 'not_opted_out still blocks deletion requests',
      policy: everywhere('not_opted_out'),
      zone: 'US',
      consent: 'deletion_requested',
      evidence: { optIn: true },
      expected: 'deletion_requested',
    },
  ])('$name → $expected', ({ policy, zone, consent, evidence, expected }) => {
    const p = person({ consent, explicitOptIn: false, ...evidence }, zone ? { zone } : {});
    expect(consentBlock(p, policy, NONE)).toBe(expected);
  });

  const email = sha('erased@example.com');
  const phone = sha('4915100000000');
  const optedInEea = (over: Partial<Person> = {}): Person =>
    person(
      { cid: email, ids: [email, phone], keys: { meta: { EMAIL: email, PHONE: phone } }, optIn: true, ...over },
      { zone: 'EEA' },
    );
  const blocked = (...entries: Array<[string, BlockEntry['kind'], string]>) => {
    const idx = new BlockIndex();
    for (const [hash, kind, at] of entries) idx.add({ hash, kind, at });
    return idx;
  };

  it.each([
    ['its email', email],
    ['its phone', phone],
  ])('an erasure of %s blocks even a fully consenting person, whatever opt-in comes later', (_, hash) => {
    const p = optedInEea({ optInAt: '2030-01-01T00:00:00.000Z' });
    expect(consentBlock(p, DEFAULT_CONSENT_POLICY, blocked([hash, 'erasure', '2026-01-01T00:00:00Z']))).toBe('erased');
  });

  it('an erasure wins over every consent reason', () => {
    const p = optedInEea({ consent: 'unsubscribed' });
    expect(consentBlock(p, DEFAULT_CONSENT_POLICY, blocked([phone, 'erasure', '2026-01-01T00:00:00Z']))).toBe('erased');
  });

  it('a suppression holds until an opt-in recorded after it', () => {
    const idx = blocked([phone, 'suppress', '2026-06-01T00:00:00Z']);
    expect(consentBlock(optedInEea(), DEFAULT_CONSENT_POLICY, idx)).toBe('suppressed');
    expect(consentBlock(optedInEea({ optInAt: '2026-05-01T00:00:00.000Z' }), DEFAULT_CONSENT_POLICY, idx)).toBe(
      'suppressed',
    );
    expect(
      consentBlock(optedInEea({ optInAt: '2026-07-01T00:00:00.000Z' }), DEFAULT_CONSENT_POLICY, idx),
    ).toBeUndefined();
  });

  it('an opt-out recorded under another identity holds the same way', () => {
    const idx = blocked([email, 'optout', '2026-06-01T00:00:00Z']);
    expect(consentBlock(optedInEea(), DEFAULT_CONSENT_POLICY, idx)).toBe('opted_out_elsewhere');
    expect(
      consentBlock(optedInEea({ optInAt: '2026-07-01T00:00:00.000Z' }), DEFAULT_CONSENT_POLICY, idx),
    ).toBeUndefined();
  });

  it('unrelated blocks do not block', () => {
    const idx = blocked(
      [sha('other'), 'erasure', '2026-01-01T00:00:00Z'],
      [sha('x'), 'suppress', '2026-01-01T00:00:00Z'],
    );
    expect(consentBlock(optedInEea(), DEFAULT_CONSENT_POLICY, idx)).toBeUndefined();
  });

  it.each([
    ['no_opt_in_uk', 'no opt-in recorded (UK)'],
    ['no_explicit_opt_in_eea', 'no confirmed (double) opt-in (EEA)'],
    ['erased', 'erased (right to erasure)'],
    ['excluded_by_customers', 'in excluded segment "customers"'],
  ])('says %s in words: %s', (reason, words) => {
    expect(describeExclusion(reason)).toBe(words);
  });
});

describe('evaluateSegments', () => {
  const config = (segments: unknown[], extra: Record<string, unknown> = {}) =>
    parseAudienceConfig({ version: 1, destinations: { 'meta-main': { platform: 'meta' } }, segments, ...extra });

  const rec = (cid: string, over: Partial<ContactRecord> = {}, attrs: Attributes = {}): ContactRecord =>
    record({
      cid,
      ids: [sha(`${cid}@example.com`)],
      keys: { meta: { EMAIL: sha(`${cid}@example.com`) } },
      attrs: { zone: 'US', country: 'US', ...attrs },
      ...over,
    });

  const members = (r: { members: Person[] } | undefined) => (r?.members ?? []).map((p) => p.cid).sort();

  it('exclusion segments subtract their rule matches, counted as excluded_by_<id>', () => {
    const people = mergePeople([
      rec('buyer', {}, { orders: 2 }),
      rec('prospect-1'),
      rec('prospect-2'),
      // unsubscribed on one list: merged consent is unsubscribed, so `consent: subscribed` does not match
      rec('lapsed-buyer', { list: 'shop', consent: 'unsubscribed' }, { orders: 1 }),
      rec('lapsed-buyer', { list: 'newsletter' }),
    ]);
    const cfg = config([
      { id: 'prospects', exclude: ['customers'], where: { consent: 'subscribed' } },
      { id: 'customers', where: { number: 'orders', gte: 1 } },
    ]);
    const out = evaluateSegments(cfg, people, new BlockIndex(), NOW);
    const prospects = out.get('prospects');
    expect(members(prospects)).toEqual(['prospect-1', 'prospect-2']);
    expect(prospects?.matched).toBe(3);
    expect(prospects?.excluded).toEqual({ excluded_by_customers: 1 });
    expect(members(out.get('customers'))).toEqual(['buyer']);
    expect(out.get('customers')?.excluded).toEqual({ unsubscribed: 1 });
  });

  it('exclusion applies to consenting people matched by the excluding segment', () => {
    const people = mergePeople([rec('a', {}, { tags: ['vip'] }), rec('b', {}, { tags: ['vip', 'staff'] }), rec('c')]);
    const cfg = config([
      { id: 'vips', where: { tag: 'vip' }, exclude: ['staff', 'nobody'] },
      { id: 'staff', where: { tag: 'staff' } },
      { id: 'nobody', where: { tag: 'does-not-exist' } },
    ]);
    const vips = evaluateSegments(cfg, people, new BlockIndex(), NOW).get('vips');
    expect(members(vips)).toEqual(['a']);
    expect(vips?.excluded).toEqual({ excluded_by_staff: 1 });
  });

  it('counts consent exclusions by reason; matched counts rule matches before consent', () => {
    const suppressedEmail = sha('erased-by-email@example.com');
    const people = mergePeople([
      rec('ok'),
      rec('ok-eea', { optIn: true }, { zone: 'EEA', country: 'DE' }),
      rec('unsub', { consent: 'unsubscribed' }),
      rec('bounced', { consent: 'cleaned' }),
      rec('erase-me', { consent: 'deletion_requested' }),
      rec('pending', { consent: 'pending' }),
      rec('never', { consent: 'never_subscribed' }),
      rec('eea-no-optin', {}, { zone: 'EEA', country: 'DE' }),
      rec('uk-no-optin', {}, { zone: 'UK', country: 'GB' }),
      rec('suppressed-cid'),
      rec('suppressed-email', {
        ids: ['suppressed-email', suppressedEmail],
        keys: { meta: { EMAIL: suppressedEmail } },
      }),
    ]);
    const cfg = config([{ id: 'everyone' }]);
    const blocks = new BlockIndex();
    for (const hash of [sha('suppressed-cid@example.com'), suppressedEmail])
      blocks.add({ hash, kind: 'suppress', at: '2025-01-01T00:00:00Z' });
    const r = evaluateSegments(cfg, people, blocks, NOW).get('everyone');
    expect(r?.matched).toBe(11);
    expect(members(r)).toEqual(['ok', 'ok-eea']);
    expect(r?.excluded).toEqual({
      unsubscribed: 1,
      cleaned: 1,
      deletion_requested: 1,
      pending_confirmation: 1,
      never_subscribed: 1,
      no_opt_in_eea: 1,
      no_opt_in_uk: 1,
      suppressed: 2,
    });
  });

  it('the consent policy in the config changes the gate', () => {
    const people = mergePeople([
      rec('eea', {}, { zone: 'EEA', country: 'DE' }),
      rec('never', { consent: 'never_subscribed' }),
    ]);
    const cfg = config([{ id: 'everyone' }], { consent: { EEA: 'subscribed', US: 'not_opted_out' } });
    expect(members(evaluateSegments(cfg, people, new BlockIndex(), NOW).get('everyone'))).toEqual(['eea', 'never']);
  });

  it('a `lists` restriction keeps people who belong to any of the lists', () => {
    const people = mergePeople([
      rec('newsletter-only', { list: 'newsletter' }),
      rec('shop-only', { list: 'shop' }),
      rec('both', { list: 'newsletter' }),
      rec('both', { list: 'shop' }),
      rec('crm-only', { list: 'crm' }),
    ]);
    const cfg = config([
      { id: 'shoppers', lists: ['shop'] },
      { id: 'shop-or-crm', lists: ['shop', 'crm'] },
    ]);
    const out = evaluateSegments(cfg, people, new BlockIndex(), NOW);
    expect(members(out.get('shoppers'))).toEqual(['both', 'shop-only']);
    expect(out.get('shoppers')?.matched).toBe(2);
    expect(members(out.get('shop-or-crm'))).toEqual(['both', 'crm-only', 'shop-only']);
  });

  it('people without Meta keys are counted as no_match_keys', () => {
    const people = mergePeople([rec('keyed'), rec('keyless', { keys: { meta: {} } })]);
    const r = evaluateSegments(config([{ id: 'everyone' }]), people, new BlockIndex(), NOW).get('everyone');
    expect(members(r)).toEqual(['keyed']);
    expect(r?.excluded).toEqual({ no_match_keys: 1 });
  });

  describe('microtargeting examples', () => {
    const people = mergePeople([
      rec('anna', { explicitOptIn: true }, { country: 'DE', zone: 'EEA', lastOpenAt: ago(10), funnel: 'opened' }),
      rec('bert', { explicitOptIn: true }, { country: 'DE', zone: 'EEA', lastOpenAt: ago(45), funnel: 'opened' }),
      rec('carl', { explicitOptIn: true }, { country: 'FR', zone: 'EEA', lastOpenAt: ago(5), funnel: 'subscribed' }),
      rec('dora', {}, { lastOpenAt: ago(3), lastClickAt: ago(3), funnel: 'clicked' }),
      rec('emil', {}, { lastOpenAt: ago(20), funnel: 'opened', paid: true, plan: 'Pro' }),
      rec('emil', { list: 'shop' }, { paid: false }),
      rec('fay', { list: 'shop' }, { funnel: 'customer', orders: 2, ageAtSignup: 36 }),
      rec('fay', { list: 'crm' }, { orders: 1 }),
      rec('gus', { list: 'shop' }, { orders: 1, ageAtSignup: 37, paid: true }),
      rec('gus', { list: 'newsletter', consent: 'unsubscribed' }),
      rec('hana', {}, { country: 'DE', zone: 'EEA', lastOpenAt: ago(2), funnel: 'opened' }),
    ]);
    const cfg = config([
      { id: 'engaged-30d-de', where: { all: [{ date: 'lastOpenAt', within: '30d' }, { country: 'de' }] } },
      {
        id: 'opened-not-clicked',
        where: { all: [{ funnelAtLeast: 'opened' }, { not: { funnelAtLeast: 'clicked' } }] },
      },
      { id: 'paid-subscribers', where: { all: [{ paid: true }, { consent: 'subscribed' }] } },
      { id: 'signed-up-before-37', where: { number: 'ageAtSignup', lt: 37 } },
      { id: 'repeat-customers', where: { number: 'orders', gte: 2 } },
    ]);
    const out = evaluateSegments(cfg, people, new BlockIndex(), NOW);

    it.each([
      // hana matches but has no opt-in recorded in the EEA
      { id: 'engaged-30d-de', members: ['anna'], matched: 2, excluded: { no_opt_in_eea: 1 } },
      {
        id: 'opened-not-clicked',
        members: ['anna', 'bert', 'emil'],
        matched: 4,
        excluded: { no_opt_in_eea: 1 },
      },
      // gus paid but unsubscribed on one list: the merged consent is unsubscribed, so the rule itself fails
      { id: 'paid-subscribers', members: ['emil'], matched: 1, excluded: {} },
      { id: 'signed-up-before-37', members: ['fay'], matched: 1, excluded: {} },
      // fay has 2 + 1 orders across lists; gus has 1
      { id: 'repeat-customers', members: ['fay'], matched: 1, excluded: {} },
    ])('$id', ({ id, members: expected, matched, excluded }) => {
      const r = out.get(id);
      expect(members(r)).toEqual(expected);
      expect(r?.matched).toBe(matched);
      expect(r?.excluded).toEqual(excluded);
    });
  });
});

describe('an opt-out under another identity', () => {
  it('keeps the same phone out when it unsubscribed under an email-keyed record in another list', async () => {
    const { evaluateSegments, mergePeople } = await import('../../../functions/core/segments');
    const { parseAudienceConfig: parseConfig } = await import('../../../functions/adapters/config-file');
    const rec = (
      cid: string,
      list: string,
      consent: 'subscribed' | 'unsubscribed' | 'cleaned',
      meta: Record<string, string>,
    ) => ({
      cid,
      list,
      ids: Object.values(meta),
      keys: { meta },
      consent,
      attrs: { zone: 'US' as const, country: 'US' },
      seenAt: '2026-01-01T00:00:00Z',
      source: 't',
    });
    // Identity hashes are SHA-256 hex, as ingest writes them.
    const [e1, p1, e2, p2] = ['e1', 'p1', 'e2', 'p2'].map((x) => createHash('sha256').update(x).digest('hex')) as [
      string,
      string,
      string,
      string,
    ];
    const people = mergePeople([
      rec(e1, 'a', 'unsubscribed', { EMAIL: e1, PHONE: p1 }),
      rec(p1, 'b', 'subscribed', { PHONE: p1 }),
      rec(e2, 'a', 'cleaned', { EMAIL: e2, PHONE: p2 }),
      rec(p2, 'b', 'subscribed', { PHONE: p2 }),
    ]);
    const config = parseConfig({
      version: 1,
      destinations: { m: { platform: 'meta' } },
      segments: [{ id: 's', destinations: [{ destination: 'm', audienceName: 'S', minSize: 1 }] }],
    });
    // Ingest leaves an opt-out behind as blocks: every identity of an unsubscribe, only the address of a bounce.
    const blocks = new BlockIndex();
    for (const hash of [e1, p1, e2]) blocks.add({ hash, kind: 'optout', at: '2026-01-01T00:00:00Z' });
    const r = evaluateSegments(config, people, blocks, new Date('2026-02-01T00:00:00Z')).get('s')!;
    // p1 unsubscribed as e1 elsewhere: out. p2's email bounced, which says nothing about the phone: in.
    expect(r.members.map((m) => m.cid)).toEqual([p2]);
    expect(r.excluded).toMatchObject({ opted_out_elsewhere: 1, unsubscribed: 1, cleaned: 1 });
  });
});
