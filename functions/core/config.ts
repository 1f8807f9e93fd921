/**
 * The audiences config: lists, destinations and segments, validated with zod.
 * Checked at `cdk synth` (a bad config fails the deploy, not the nightly run), by `audience-sync preview`,
 * and again at Lambda cold start.
 */
import { z } from 'zod';
import { AGE_BANDS, CONSENT_STATES, FUNNEL_STAGES, ZONES } from './model';
import { type DestinationConfigBase, type PlatformRegistry, platformOf } from './platform';

/**
 * What a zone requires before a contact may be uploaded, strictest first. Opt-outs (unsubscribed, cleaned, erased,
 * suppressed) always exclude; a source's own ad-personalisation permission, where it has one, decides in every zone.
 * - `ads_permission`: only people whose source records a permission for ad personalisation.
 * - `explicit_opt_in`: only a confirmed (double) opt-in or an express permission.
 * - `marketing_opt_in`: an affirmative opt-in the source recorded (subscribed in Mailchimp, Klaviyo, Substack…, Shopify
 *   "yes", Brevo not blocklisted, Constant Contact express, a double opt-in anywhere); no consent data or implied
 *   consent is not enough.
 * - `subscribed`: subscribed in the source, whatever the evidence.
 * - `not_opted_out`: anyone not opted out (never-subscribed customers and unconfirmed sign-ups too).
 */
export const CONSENT_REQUIREMENTS = [
  'ads_permission',
  'explicit_opt_in',
  'marketing_opt_in',
  'subscribed',
  'not_opted_out',
] as const;
export type ConsentRequirement = (typeof CONSENT_REQUIREMENTS)[number];

/** What happens to an audience whose segment or destination left the config. */
export const ORPHAN_POLICIES = ['empty', 'delete', 'keep'] as const;
export type OrphanPolicy = (typeof ORPHAN_POLICIES)[number];

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
    .min(0.01, 'a lookalike ratio is between 0.01 and 0.20 (1–20 %)')
    .max(0.2, 'a lookalike ratio is between 0.01 and 0.20 (1–20 %)'),
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

/** A destination before its platform's own schema has checked it (parseConfig does, through the registry). */
const destination = z.looseObject({
  platform: z.string({ error: 'give the destination a platform, e.g. platform: meta' }),
});

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
   * What each regulatory zone requires before upload (see CONSENT_REQUIREMENTS). Defaults: EEA, UK and CH need a
   * recorded marketing opt-in; everyone else must be subscribed.
   */
  consent: consentPolicy,
  lists: z.record(id, listConfig).default({}),
  destinations: z.record(id, destination).default({}),
  segments: z.array(segment).default([]),
  /** How long raw files stay in the bucket after a successful ingest (0 = deleted at once). */
  keepRawFilesDays: z.number().int().nonnegative().default(0),
  /**
   * An audience whose segment or destination left the config: `empty` it (default: everyone is removed), `delete` it
   * on the platform (where the platform can), or `keep` it as it is (only opt-outs and erasures still leave it).
   */
  orphanedAudiences: z.enum(ORPHAN_POLICIES).default('empty'),
});

export type DestinationConfig = DestinationConfigBase & Record<string, unknown>;
export type AudienceConfig = Omit<z.output<typeof configSchema>, 'destinations'> & {
  destinations: Record<string, DestinationConfig>;
};
export type SegmentConfig = AudienceConfig['segments'][number];
export type SegmentDestination = SegmentConfig['destinations'][number];

export const DEFAULT_CONSENT_POLICY: Record<(typeof ZONES)[number], ConsentRequirement> = {
  EEA: 'marketing_opt_in',
  UK: 'marketing_opt_in',
  CH: 'marketing_opt_in',
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

const describeIssues = (issues: z.core.$ZodIssue[], input: unknown, prefix: PropertyKey[] = []) =>
  issues.map((i) => {
    // A bad record key (list or destination id): zod keeps the pattern's message in nested issues.
    const nested = (i as { issues?: Array<{ message: string }> }).issues?.map((n) => n.message) ?? [];
    const message = i.code === 'invalid_key' && nested.length ? `invalid id: ${nested.join('; ')}` : i.message;
    return `${describePath([...prefix, ...i.path], input)}: ${message}`;
  });

/**
 * Validates structure with zod, each destination with its platform's own schema, then the cross-references zod cannot
 * see. Throws ConfigError naming every problem.
 */
export function parseConfig(input: unknown, source: string, platforms: PlatformRegistry): AudienceConfig {
  const r = configSchema.safeParse(input);
  if (!r.success) throw new ConfigError(describeIssues(r.error.issues, input), source);
  const problems: string[] = [];
  const destinations: Record<string, DestinationConfig> = {};
  for (const [destId, raw] of Object.entries(r.data.destinations)) {
    const spec = platformOf(platforms, raw.platform);
    if (!spec) {
      problems.push(
        `destinations.${destId}.platform: "${raw.platform}" is not a platform audience-sync can send to yet (available: ${Object.keys(platforms).join(', ')})`,
      );
      continue;
    }
    const d = spec.schema.safeParse(raw);
    if (!d.success) problems.push(...describeIssues(d.error.issues, input, ['destinations', destId]));
    else {
      destinations[destId] = d.data as DestinationConfig;
      for (const p of spec.check?.(d.data, destId) ?? []) problems.push(`destinations.${destId}: ${p}`);
    }
  }
  if (problems.length) throw new ConfigError(problems, source);
  const config: AudienceConfig = { ...r.data, destinations };
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
      // Own entries only: a segment naming `constructor` or `toString` names no destination.
      const dest = Object.hasOwn(config.destinations, d.destination) ? config.destinations[d.destination] : undefined;
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
      if (d.lookalike && !platformOf(platforms, dest.platform)?.capabilities.lookalike)
        problems.push(
          `segment "${s.id}": lookalike is not offered by ${dest.platform} (destination "${d.destination}"); remove it or use a platform that builds lookalikes`,
        );
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
export function minSizeFor(config: AudienceConfig, d: SegmentDestination, platforms: PlatformRegistry): number {
  const dest = Object.hasOwn(config.destinations, d.destination) ? config.destinations[d.destination] : undefined;
  return d.minSize ?? (dest ? (platformOf(platforms, dest.platform)?.minAudienceSize ?? 0) : 0);
}
