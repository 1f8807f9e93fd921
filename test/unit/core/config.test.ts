import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseAudienceConfig as parseConfig } from '../../../functions/adapters/config-file';
import {
  type AudienceConfig,
  ConfigError,
  consentPolicyOf,
  DEFAULT_CONSENT_POLICY,
  minSizeFor,
} from '../../../functions/core/config';
import { matches, type Person } from '../../../functions/core/segments';
import { PLATFORMS } from '../../../functions/platforms/registry';

const EXAMPLE = fileURLToPath(new URL('../../../config/audiences.example.yaml', import.meta.url));

/** The ConfigError parseConfig throws; fails the test when the config is accepted. */
function errorOf(input: unknown): ConfigError {
  try {
    parseConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected parseConfig to reject the config, but it was accepted');
}

const destinations = {
  'meta-main': { platform: 'meta' },
  'google-ads': { platform: 'google' },
};
const withSegments = (...segments: unknown[]) => ({ version: 1, destinations, segments });

describe('parseConfig errors name the segment, the field and the fix', () => {
  it.each<{ name: string; config: unknown; mentions: string[] }>([
    {
      name: 'unknown rule key',
      config: withSegments({ id: 'vip', where: { tags: 'vip' } }),
      mentions: ['segment "vip"', 'where', 'unknown rule {tags}', 'a rule starts with one of', 'tag, allTags'],
    },
    {
      name: 'unknown rule key deep inside all/any',
      config: withSegments({ id: 'vip', where: { all: [{ tag: 'vip' }, { any: [{ countries: 'DE' }] }] } }),
      mentions: ['segment "vip"', 'where.all[1].any[0]', 'unknown rule {countries}', 'a rule starts with one of'],
    },
    {
      name: 'bad duration',
      config: withSegments({ id: 'engaged', where: { date: 'lastOpenAt', within: '30 days' } }),
      mentions: ['segment "engaged"', 'where.within', 'write a duration like 30d'],
    },
    {
      name: 'bad date',
      config: withSegments({ id: 'old-timers', where: { date: 'signupAt', before: 'last year' } }),
      mentions: ['segment "old-timers"', 'where.before', 'write a date as YYYY-MM-DD'],
    },
    {
      name: 'number rule without comparator',
      config: withSegments({ id: 'repeat', where: { number: 'orders' } }),
      mentions: ['segment "repeat"', 'where', 'a number rule needs one of gte, gt, lte, lt or eq'],
    },
    {
      name: 'date rule without condition',
      config: withSegments({ id: 'engaged', where: { date: 'lastOpenAt' } }),
      mentions: ['segment "engaged"', 'where', 'a date rule needs one of within, olderThan, after, before or missing'],
    },
    {
      name: 'unknown destination (lists the defined ones)',
      config: withSegments({ id: 'engaged', destinations: [{ destination: 'meta-mian', audienceName: 'Engaged' }] }),
      mentions: [
        'segment "engaged"',
        'destination "meta-mian" is not defined',
        'add it under destinations',
        'defined: meta-main, google-ads',
      ],
    },
    {
      name: 'duplicate segment id',
      config: withSegments({ id: 'engaged' }, { id: 'engaged' }),
      mentions: ['segment "engaged"', 'id is used twice', 'give each segment its own id'],
    },
    {
      name: 'exclude naming a missing segment',
      config: withSegments({ id: 'prospects', exclude: ['customer'] }, { id: 'customers' }),
      mentions: ['segment "prospects"', 'exclude names "customer"', 'not a segment id'],
    },
    {
      name: 'self-exclusion',
      config: withSegments({ id: 'loop', exclude: ['loop'] }),
      mentions: ['segment "loop"', 'a segment cannot exclude itself'],
    },
    {
      name: 'exclusion cycle (shows the path)',
      config: withSegments({ id: 'a', exclude: ['b'] }, { id: 'b', exclude: ['c'] }, { id: 'c', exclude: ['a'] }),
      mentions: ['exclude each other in a cycle', 'a → b → c → a', 'break the cycle'],
    },
    {
      name: 'same audience fed by two segments',
      config: withSegments(
        { id: 'buyers', destinations: [{ destination: 'meta-main', audienceName: 'AS · Buyers' }] },
        { id: 'customers', destinations: [{ destination: 'meta-main', audienceName: 'AS · Buyers' }] },
      ),
      mentions: [
        'segment "customers"',
        'audience "AS · Buyers" on meta-main',
        'also fed by segment "buyers"',
        'use one audience per segment',
      ],
    },
    {
      name: 'lookalike on a non-Meta destination',
      config: withSegments({
        id: 'seed',
        destinations: [{ destination: 'google-ads', audienceName: 'Seed', lookalike: { country: 'US', ratio: 0.01 } }],
      }),
      mentions: ['segment "seed"', 'lookalike is not offered by google', 'destination "google-ads"'],
    },
    {
      name: 'lookalike ratio above 0.20',
      config: withSegments({
        id: 'seed',
        destinations: [{ destination: 'meta-main', audienceName: 'Seed', lookalike: { country: 'US', ratio: 0.25 } }],
      }),
      mentions: ['segment "seed"', 'destinations[0].lookalike.ratio', 'between 0.01 and 0.20'],
    },
    {
      name: 'lookalike ratio below 0.01',
      config: withSegments({
        id: 'seed',
        destinations: [{ destination: 'meta-main', audienceName: 'Seed', lookalike: { country: 'US', ratio: 0.005 } }],
      }),
      mentions: ['segment "seed"', 'destinations[0].lookalike.ratio', '0.01'],
    },
    {
      name: 'bad ad account id format',
      config: { version: 1, destinations: { 'meta-main': { platform: 'meta', adAccountId: '1234567890' } } },
      mentions: ['destinations.meta-main.adAccountId', 'write the ad account as act_<digits>'],
    },
    {
      name: 'bad list id in a segment’s lists',
      config: withSegments({ id: 'shoppers', lists: ['Shop List'] }),
      mentions: ['segment "shoppers"', 'lists[0]', 'use lowercase letters, digits, - and _'],
    },
    {
      name: 'bad list id in a list rule',
      config: withSegments({ id: 'shoppers', where: { list: 'Shop List' } }),
      mentions: ['segment "shoppers"', 'where.list', 'use lowercase letters, digits, - and _'],
    },
    {
      name: 'bad list id under lists',
      config: { version: 1, lists: { 'Shop List': { description: 'Shopify' } } },
      mentions: ['lists.Shop List', 'use lowercase letters, digits, - and _'],
    },
    {
      name: 'wrong version',
      config: { version: 2 },
      mentions: ['version', 'expected 1'],
    },
  ])('$name', ({ config, mentions }) => {
    const e = errorOf(config);
    expect(e.name).toBe('ConfigError');
    expect(e.message).toMatch(/^config is not valid:\n {2}- /);
    for (const m of mentions) expect(e.message).toContain(m);
  });

  // The date pattern only checks a YYYY-MM-DD prefix. A bound that Date.parse cannot read makes `t <= NaN` false in
  // matchDate, so the bound is silently ignored and the rule matches everyone who has that date.
  it.each(['2024-13-01', '2024-12-32', '2024-00-10', '2024-01-01oops'])(
    'bad date that only looks like YYYY-MM-DD (%s) is rejected',
    (before) => {
      const e = errorOf(withSegments({ id: 'old-timers', where: { date: 'signupAt', before } }));
      expect(e.message).toContain('segment "old-timers": where.before');
    },
  );

  it('reports every problem at once, and names the source', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig(
        withSegments(
          { id: 'a', exclude: ['ghost'], destinations: [{ destination: 'nowhere', audienceName: 'A' }] },
          { id: 'a' },
        ),
        'audiences.yaml',
      );
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.problems).toHaveLength(3);
    expect(error?.message.startsWith('audiences.yaml is not valid:')).toBe(true);
  });

  it('accepts a full ISO timestamp as a date bound', () => {
    expect(() =>
      parseConfig(withSegments({ id: 'old-timers', where: { date: 'signupAt', before: '2024-01-01T10:00:00Z' } })),
    ).not.toThrow();
  });
});

describe('the shipped example config', () => {
  const config = loadConfigFile(EXAMPLE);
  const byId = new Map(config.segments.map((s) => [s.id, s]));
  const now = new Date('2025-06-15T12:00:00.000Z');
  const someone = (attrs: Person['attrs'], over: Partial<Person> = {}): Person => ({
    cid: 'x',
    lists: ['newsletter'],
    ids: ['x'],
    keys: { meta: { EMAIL: 'a'.repeat(64) } },
    consent: 'subscribed',
    explicitOptIn: false,
    attrs,
    ...over,
  });
  const where = (id: string) => {
    const w = byId.get(id)?.where;
    if (!w) throw new Error(`segment ${id} has no where`);
    return w;
  };

  it('parses (yaml → parseConfig) with its Meta destination', () => {
    expect(config.version).toBe(1);
    expect(config.destinations['meta-main']?.platform).toBe('meta');
  });

  it.each(['all-subscribers', 'engaged-90d', 'opened-not-clicked', 'customers', 'eea-opt-in'])(
    'has segment %s going to a Meta destination',
    (id) => {
      const s = byId.get(id);
      expect(s?.destinations.map((d) => config.destinations[d.destination]?.platform)).toContain('meta');
    },
  );

  it('sends the same segment to Meta and Google', () => {
    const platforms = byId
      .get('all-subscribers')
      ?.destinations.map((d) => config.destinations[d.destination]?.platform);
    expect(platforms).toEqual(['meta', 'google']);
  });

  it('has a lookalike seed on Meta', () => {
    const seeds = config.segments.flatMap((s) => s.destinations.filter((d) => d.lookalike));
    expect(seeds.length).toBeGreaterThan(0);
    for (const d of seeds) expect(config.destinations[d.destination]?.platform).toBe('meta');
  });

  it('segments mean what their names say', () => {
    expect(matches(where('all-subscribers'), someone({}), now)).toBe(true);
    expect(matches(where('all-subscribers'), someone({}, { consent: 'unsubscribed' }), now)).toBe(false);
    expect(matches(where('engaged-90d'), someone({ lastOpenAt: '2025-06-01T00:00:00.000Z' }), now)).toBe(true);
    expect(matches(where('engaged-90d'), someone({ lastOpenAt: '2024-06-01T00:00:00.000Z' }), now)).toBe(false);
    const recentOpen = '2025-06-10T00:00:00.000Z';
    expect(matches(where('opened-not-clicked'), someone({ funnel: 'opened', lastOpenAt: recentOpen }), now)).toBe(true);
    expect(matches(where('opened-not-clicked'), someone({ funnel: 'clicked', lastOpenAt: recentOpen }), now)).toBe(
      false,
    );
    expect(matches(where('customers'), someone({ paid: true }), now)).toBe(true);
    expect(matches(where('customers'), someone({ orders: 1 }), now)).toBe(true);
    expect(matches(where('customers'), someone({ orders: 0 }), now)).toBe(false);
    expect(matches(where('eea-opt-in'), someone({ zone: 'EEA' }), now)).toBe(true);
    expect(matches(where('eea-opt-in'), someone({ zone: 'US' }), now)).toBe(false);
    expect(consentPolicyOf(config).EEA).toBe('marketing_opt_in');
  });

  it('minSizeFor: platform default (Meta 100) vs the segment override', () => {
    const dest = (id: string) => {
      const d = byId.get(id)?.destinations[0];
      if (!d) throw new Error(`segment ${id} has no destination`);
      return d;
    };
    expect(minSizeFor(config, dest('all-subscribers'), PLATFORMS)).toBe(100);
    expect(minSizeFor(config, dest('opened-not-clicked'), PLATFORMS)).toBe(50);
  });
});

describe('defaults', () => {
  const minimal: AudienceConfig = parseConfig({
    version: 1,
    destinations: { 'meta-main': { platform: 'meta' }, 'google-ads': { platform: 'google' } },
    segments: [{ id: 'everyone' }],
  });

  it('applies Meta destination defaults', () => {
    expect(minimal.destinations['meta-main']).toEqual({
      platform: 'meta',
      customerFileSource: 'USER_PROVIDED_ONLY',
      replaceEveryDays: 30,
      recreateDeleted: true,
    });
  });

  it('applies top-level and segment defaults', () => {
    expect(minimal.lists).toEqual({});
    expect(minimal.consent).toEqual({});
    expect(minimal.keepRawFilesDays).toBe(0);
    expect(minimal.segments[0]?.destinations).toEqual([]);
    expect(parseConfig({ version: 1 }).segments).toEqual([]);
  });

  it('consent policy defaults: EEA/UK/CH need a recorded marketing opt-in, everyone else subscribed', () => {
    expect(consentPolicyOf(minimal)).toEqual({
      EEA: 'marketing_opt_in',
      UK: 'marketing_opt_in',
      CH: 'marketing_opt_in',
      US_PRIVACY: 'subscribed',
      US: 'subscribed',
      OTHER: 'subscribed',
      UNKNOWN: 'subscribed',
    });
  });

  it('a configured zone overrides only that zone', () => {
    const cfg = parseConfig({ version: 1, consent: { US: 'not_opted_out', UK: 'subscribed' } });
    expect(consentPolicyOf(cfg)).toEqual({ ...DEFAULT_CONSENT_POLICY, US: 'not_opted_out', UK: 'subscribed' });
    expect(DEFAULT_CONSENT_POLICY.UK).toBe('marketing_opt_in'); // the default is not mutated
  });

  it.each([
    { name: 'Meta default', d: { destination: 'meta-main', audienceName: 'A' }, expected: 100 },
    { name: 'Google default', d: { destination: 'google-ads', audienceName: 'A' }, expected: 1000 },
    { name: 'segment override', d: { destination: 'meta-main', audienceName: 'A', minSize: 20 }, expected: 20 },
    { name: 'override of 0 is kept', d: { destination: 'meta-main', audienceName: 'A', minSize: 0 }, expected: 0 },
  ])('minSizeFor: $name → $expected', ({ d, expected }) => {
    expect(minSizeFor(minimal, d, PLATFORMS)).toBe(expected);
  });
});

describe('names of Object members are no platform or destination', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    '`%s` as a platform is refused in one line naming the platforms there are',
    (word) => {
      expect(() => parseConfig({ version: 1, destinations: { main: { platform: word } } })).toThrow(
        new RegExp(`destinations\\.main\\.platform: "${word}" is not a platform audience-sync can send to yet`),
      );
    },
  );

  it('`constructor` (a valid id) as a segment destination is refused as not defined, naming what is', () => {
    expect(() =>
      parseConfig({
        version: 1,
        destinations: { main: { platform: 'meta' } },
        segments: [{ id: 'all', destinations: [{ destination: 'constructor', audienceName: 'All' }] }],
      }),
    ).toThrow(/destination "constructor" is not defined; add it under destinations \(defined: main\)/);
  });
});
