/**
 * The audiences config: lists, destinations and segments, validated with zod.
 * Checked at `cdk synth` (a bad config fails the deploy, not the nightly run), by `audience-sync preview`,
 * and again at Lambda cold start.
 */
import { z } from 'zod';
import { AGE_BANDS, CONSENT_STATES, FUNNEL_STAGES, ZONES } from './model';

export const PLATFORMS = ['meta', 'google', 'tiktok', 'linkedin', 'snapchat', 'pinterest', 'x'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Below these sizes a platform will not serve an audience, so we do not upload (platforms.md). */
export const PLATFORM_MIN_SIZE: Record<Platform, number> = {
  meta: 100,
  google: 1000,
  tiktok: 1000,
  linkedin: 300,
  snapchat: 1000,
  pinterest: 100,
  x: 100,
};

/** What consent a zone requires before a contact may be uploaded. */
export const CONSENT_REQUIREMENTS = ['explicit_opt_in', 'subscribed', 'not_opted_out'] as const;
export type ConsentRequirement = (typeof CONSENT_REQUIREMENTS)[number];

const id = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-_]{0,62}$/,
    'use lowercase letters, digits, - and _ (max 63), starting with a letter or digit',
  );

const duration = z.string().regex(/^\d+[dwmy]$/, 'write a duration like 30d, 8w, 6m or 1y');
/** A real calendar date: `2024-02-30` or `2024-13-01` would make a rule silently match everyone. */
const isoDate = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'write a date as YYYY-MM-DD (or a full ISO timestamp)',
  )
  .refine((v) => {
    const day = v.slice(0, 10);
    const t = Date.parse(`${day}T00:00:00Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === day && !Number.isNaN(Date.parse(v));
  }, 'not a calendar date; write a real date as YYYY-MM-DD');

const DATE_FIELDS = ['lastOpenAt', 'lastClickAt', 'signupAt'] as const;
const NUMBER_FIELDS = ['rating', 'opens', 'clicks', 'spend', 'orders', 'ageAtSignup'] as const;
export type DateField = (typeof DATE_FIELDS)[number];
export type NumberField = (typeof NUMBER_FIELDS)[number];

const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

/** Leaf rules: each is an object with one deciding key. */
const leafRules = {
  list: z.strictObject({ list: oneOrMany(id) }),
  tag: z.strictObject({ tag: oneOrMany(z.string().min(1)) }),
  allTags: z.strictObject({ allTags: z.array(z.string().min(1)).min(1) }),
  consent: z.strictObject({ consent: oneOrMany(z.enum(CONSENT_STATES)) }),
  explicitOptIn: z.strictObject({ explicitOptIn: z.boolean() }),
  date: z
    .strictObject({
      date: z.enum(DATE_FIELDS),
      within: duration.optional(),
      olderThan: duration.optional(),
      after: isoDate.optional(),
      before: isoDate.optional(),
      missing: z.boolean().optional(),
    })
    .refine((r) => r.within || r.olderThan || r.after || r.before || r.missing !== undefined, {
      message: 'a date rule needs one of within, olderThan, after, before or missing',
    }),
  number: z
    .strictObject({
      number: z.enum(NUMBER_FIELDS),
      gte: z.number().optional(),
      gt: z.number().optional(),
      lte: z.number().optional(),
      lt: z.number().optional(),
      eq: z.number().optional(),
    })
    .refine((r) => [r.gte, r.gt, r.lte, r.lt, r.eq].some((v) => v !== undefined), {
      message: 'a number rule needs one of gte, gt, lte, lt or eq',
    }),
  funnel: z.strictObject({ funnel: oneOrMany(z.enum(FUNNEL_STAGES)) }),
  funnelAtLeast: z.strictObject({ funnelAtLeast: z.enum(FUNNEL_STAGES) }),
  country: z.strictObject({
    country: oneOrMany(z.string().regex(/^[A-Za-z]{2}$/, 'use ISO 3166-1 alpha-2 codes like DE')),
  }),
  zone: z.strictObject({ zone: oneOrMany(z.enum(ZONES)) }),
  region: z.strictObject({ region: oneOrMany(z.string().min(1)) }),
  ageBand: z.strictObject({ ageBand: oneOrMany(z.enum(AGE_BANDS)) }),
  plan: z.strictObject({ plan: oneOrMany(z.string().min(1)) }),
  tier: z.strictObject({ tier: oneOrMany(z.string().min(1)) }),
  paid: z.strictObject({ paid: z.boolean() }),
} as const;

export type LeafRule =
  | { list: string | string[] }
  | { tag: string | string[] }
  | { allTags: string[] }
  | { consent: string | string[] }
  | { explicitOptIn: boolean }
  | { date: DateField; within?: string; olderThan?: string; after?: string; before?: string; missing?: boolean }
  | { number: NumberField; gte?: number; gt?: number; lte?: number; lt?: number; eq?: number }
  | { funnel: string | string[] }
  | { funnelAtLeast: string }
  | { country: string | string[] }
  | { zone: string | string[] }
  | { region: string | string[] }
  | { ageBand: string | string[] }
  | { plan: string | string[] }
  | { tier: string | string[] }
  | { paid: boolean };
export type Rule = LeafRule | { all: Rule[] } | { any: Rule[] } | { not: Rule };

const RULE_KEYS = [...Object.keys(leafRules), 'all', 'any', 'not'];

/** A rule is parsed by its deciding key so an error names the rule, not a wall of union alternatives. */
const rule: z.ZodType<Rule> = z.lazy(() =>
  z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const keys = Object.keys(value);
    const decider = keys.find((k) => RULE_KEYS.includes(k));
    if (!decider) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown rule {${keys.join(', ')}}: a rule starts with one of ${RULE_KEYS.join(', ')}`,
      });
      return;
    }
    let schema: z.ZodType;
    if (decider === 'all' || decider === 'any') schema = z.strictObject({ [decider]: z.array(rule).min(1) });
    else if (decider === 'not') schema = z.strictObject({ not: rule });
    else schema = leafRules[decider as keyof typeof leafRules];
    const r = schema.safeParse(value);
    if (!r.success) {
      for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom', path: issue.path } as never);
    }
  }),
) as unknown as z.ZodType<Rule>;

const lookalike = z.strictObject({
  country: z.string().regex(/^[A-Z]{2}$/, 'use an uppercase ISO country code like DE'),
  ratio: z
    .number()
    .min(0.01, 'Meta lookalike ratio is between 0.01 and 0.20')
    .max(0.2, 'Meta lookalike ratio is between 0.01 and 0.20'),
  name: z.string().min(1).optional(),
  minSeedSize: z.number().int().positive().optional(),
});

const segmentDestination = z.strictObject({
  destination: id,
  audienceName: z.string().min(1).max(200),
  minSize: z.number().int().nonnegative().optional(),
  lookalike: lookalike.optional(),
});

const segment = z.strictObject({
  id,
  description: z.string().optional(),
  /** Source lists; all lists when omitted. */
  lists: z.array(id).min(1).optional(),
  where: rule.optional(),
  /** Ids of segments whose members are subtracted from this one (e.g. existing customers). */
  exclude: z.array(id).optional(),
  destinations: z.array(segmentDestination).default([]),
});

const metaDestination = z.strictObject({
  platform: z.literal('meta'),
  /** `act_<digits>`; may be left out locally and given as META_AD_ACCOUNT_ID. */
  adAccountId: z
    .string()
    .regex(/^act_\d+$/, 'write the ad account as act_<digits>')
    .optional(),
  customerFileSource: z
    .enum(['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'])
    .default('USER_PROVIDED_ONLY'),
  /** A full `usersreplace` every N days heals drift; 0 turns it off. */
  replaceEveryDays: z.number().int().nonnegative().default(30),
  /** Recreate an audience that was deleted in Ads Manager (else alert and skip). */
  recreateDeleted: z.boolean().default(true),
  /** Secrets Manager secret name holding the access token (cloud). */
  tokenSecretName: z.string().optional(),
});
const googleAdsId = z.string().regex(/^\d{3}-?\d{3}-?\d{4}$/, 'write a Google Ads customer id like 123-456-7890');
/** Google Customer Match through the Data Manager API (functions/adapters/google-destination.ts). */
const googleDestination = z.strictObject({
  platform: z.literal('google'),
  /** The Google Ads account that owns the lists; may be left out locally and given as GOOGLE_ADS_ACCOUNT_ID. */
  operatingAccountId: googleAdsId.optional(),
  /** The manager account the service account was added to, when it is not a user of the operating account. */
  loginAccountId: googleAdsId.optional(),
  linkedAccountId: googleAdsId.optional(),
  /** Lists created in Google Ads: audience name → user list id. Other audiences are found by name or created. */
  userListIds: z.record(z.string().min(1), z.string().regex(/^\d+$/, 'a user list id is digits')).optional(),
  createLists: z.boolean().default(true),
  /** How long Google keeps a member after its last upload (whole days, at most 540). */
  membershipDurationDays: z.number().int().min(1).max(540).default(540),
  /** A person accepted the Customer Match terms for this account in Google Ads. Nothing is added until then. */
  customerMatchTermsAccepted: z.boolean().default(false),
  /**
   * Everyone the consent policy admits granted ad_user_data and ad_personalization (sent as request-level consent).
   * Without it only members carrying their own consent are sent.
   */
  consentGranted: z.boolean().default(false),
  replaceEveryDays: z.number().int().nonnegative().default(30),
  recreateDeleted: z.boolean().default(true),
  /** Secrets Manager secret holding the service-account JSON key (cloud). */
  keySecretName: z.string().optional(),
});
/** Platforms after Meta and Google: accepted in config so segments can name them; their adapters come later. */
const otherDestination = z.strictObject({
  platform: z.enum(['tiktok', 'linkedin', 'snapchat', 'pinterest', 'x']),
  account: z.string().optional(),
});
const destination = z.discriminatedUnion('platform', [metaDestination, googleDestination, otherDestination]);

const listConfig = z.strictObject({
  description: z.string().optional(),
  /** ISO country used to read national phone numbers when the row has no country. */
  defaultCountry: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
  /** Pin the export format when detection is wrong. */
  format: z.string().optional(),
  /** Pin columns: field → header name or 0-based index. */
  columns: z.record(z.string(), z.union([z.string(), z.number().int().nonnegative()])).optional(),
  /** Read `DD/MM/YY` dates (true) or `MM/DD/YY` (false) when the file itself cannot tell. */
  dayFirst: z.boolean().optional(),
});

const consentPolicy = z
  .strictObject(Object.fromEntries(ZONES.map((zn) => [zn, z.enum(CONSENT_REQUIREMENTS).optional()])))
  .default({});

export const configSchema = z.strictObject({
  version: z.literal(1),
  defaultCountry: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional(),
  /**
   * What each regulatory zone requires before upload. Defaults: EEA, UK and CH need an explicit opt-in;
   * everyone else must be subscribed. `not_opted_out` also admits never-subscribed customers.
   */
  consent: consentPolicy,
  lists: z.record(id, listConfig).default({}),
  destinations: z.record(id, destination).default({}),
  segments: z.array(segment).default([]),
  /** How long raw files stay in the bucket after a successful ingest (0 = deleted at once). */
  keepRawFilesDays: z.number().int().nonnegative().default(0),
});

export type AudienceConfig = z.output<typeof configSchema>;
export type SegmentConfig = AudienceConfig['segments'][number];
export type DestinationConfig = AudienceConfig['destinations'][string];
export type SegmentDestination = SegmentConfig['destinations'][number];

export const DEFAULT_CONSENT_POLICY: Record<(typeof ZONES)[number], ConsentRequirement> = {
  EEA: 'explicit_opt_in',
  UK: 'explicit_opt_in',
  CH: 'explicit_opt_in',
  US_PRIVACY: 'subscribed',
  US: 'subscribed',
  OTHER: 'subscribed',
  UNKNOWN: 'subscribed',
};

export function consentPolicyOf(config: AudienceConfig): Record<(typeof ZONES)[number], ConsentRequirement> {
  const out = { ...DEFAULT_CONSENT_POLICY };
  for (const [zone, req] of Object.entries(config.consent)) if (req) out[zone as keyof typeof out] = req;
  return out;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    source = 'config',
  ) {
    super(`${source} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Path like `segments[2].where.all[0]` → `segment "engaged-30d": where.all[0]`. */
function describePath(path: PropertyKey[], input: unknown): string {
  const segs = (input as { segments?: Array<{ id?: unknown }> })?.segments;
  if (path[0] === 'segments' && typeof path[1] === 'number') {
    const sid = segs?.[path[1]]?.id;
    const rest = path
      .slice(2)
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    return `segment ${typeof sid === 'string' ? `"${sid}"` : `#${path[1] + 1}`}${rest ? `: ${rest}` : ''}`;
  }
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.') || '(top level)';
}

/** Validates structure with zod, then the cross-references zod cannot see. Throws ConfigError naming every problem. */
export function parseConfig(input: unknown, source = 'config'): AudienceConfig {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => {
        // A bad record key (list or destination id): zod keeps the pattern's message in nested issues.
        const nested = (i as { issues?: Array<{ message: string }> }).issues?.map((n) => n.message) ?? [];
        const message = i.code === 'invalid_key' && nested.length ? `invalid id: ${nested.join('; ')}` : i.message;
        return `${describePath(i.path, input)}: ${message}`;
      }),
      source,
    );
  }
  const config = r.data;
  const problems: string[] = [];
  const segIds = new Set<string>();
  for (const s of config.segments) {
    if (segIds.has(s.id)) problems.push(`segment "${s.id}": id is used twice; give each segment its own id`);
    segIds.add(s.id);
  }
  const names = new Map<string, string>();
  for (const s of config.segments) {
    for (const ex of s.exclude ?? []) {
      if (!segIds.has(ex)) problems.push(`segment "${s.id}": exclude names "${ex}", which is not a segment id`);
      if (ex === s.id) problems.push(`segment "${s.id}": a segment cannot exclude itself`);
    }
    for (const d of s.destinations) {
      const dest = config.destinations[d.destination];
      if (!dest) {
        problems.push(
          `segment "${s.id}": destination "${d.destination}" is not defined; add it under destinations (defined: ${Object.keys(config.destinations).join(', ') || 'none'})`,
        );
        continue;
      }
      const key = `${d.destination}/${d.audienceName}`;
      const other = names.get(key);
      if (other)
        problems.push(
          `segment "${s.id}": audience "${d.audienceName}" on ${d.destination} is also fed by segment "${other}"; use one audience per segment`,
        );
      names.set(key, s.id);
      if (d.lookalike && dest.platform !== 'meta')
        problems.push(`segment "${s.id}": lookalike is only supported on Meta destinations`);
    }
  }
  problems.push(...excludeCycles(config.segments));
  if (problems.length) throw new ConfigError(problems, source);
  return config;
}

function excludeCycles(segments: SegmentConfig[]): string[] {
  const graph = new Map(segments.map((s) => [s.id, s.exclude ?? []]));
  const problems: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (node: string, trail: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'visiting') {
      problems.push(`segments exclude each other in a cycle: ${[...trail, node].join(' → ')}; break the cycle`);
      return;
    }
    state.set(node, 'visiting');
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    state.set(node, 'done');
  };
  for (const s of segments) visit(s.id, []);
  return problems;
}

/** Minimum size for a segment on a destination: the segment's own, else the platform's default. */
export function minSizeFor(config: AudienceConfig, d: SegmentDestination): number {
  const dest = config.destinations[d.destination];
  return d.minSize ?? (dest ? PLATFORM_MIN_SIZE[dest.platform as Platform] : 0);
}
