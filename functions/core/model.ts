/**
 * The domain vocabulary shared by ingest, the contact store and sync.
 * Plain data only: no AWS, no HTTP, no process.env.
 */

/** One consent model for every platform's status encoding. */
export const CONSENT_STATES = [
  'subscribed',
  'unsubscribed',
  'cleaned', // bounced, quarantined, invalid address
  'pending', // double opt-in not confirmed yet
  'never_subscribed',
  'deletion_requested',
] as const;
export type ConsentState = (typeof CONSENT_STATES)[number];

/** Regulatory zone derived from country (and US state). */
export const ZONES = ['EEA', 'UK', 'CH', 'US_PRIVACY', 'US', 'OTHER', 'UNKNOWN'] as const;
export type Zone = (typeof ZONES)[number];

/** Google Data Manager identifiers (hashed email/phone/names; country and postal code travel unhashed). */
export const GOOGLE_KEYS = ['email', 'phone', 'firstName', 'lastName', 'countryCode', 'postalCode'] as const;
export type GoogleKey = (typeof GOOGLE_KEYS)[number];

/** A calendar date as read from an export; any part may be unknown. */
export interface PartialDate {
  year?: number;
  month?: number;
  day?: number;
}

/**
 * The identifying fields of one row, exactly as read (trimmed cells, formula guard removed) but not normalized.
 * Lives in memory only, for the time it takes to hash it. Never stored, logged or reported.
 */
export interface RawIdentity {
  /** Every email column of the row, in column order (Meta's template has up to three). */
  emails: string[];
  /** Every phone column of the row, in column order. */
  phones: string[];
  firstName?: string;
  lastName?: string;
  /** Full name when the export has a single name column (Campaign Monitor, Substack dashboard). */
  fullName?: string;
  gender?: string;
  birthday?: PartialDate;
  city?: string;
  state?: string;
  zip?: string;
  /** Country as written in the export: a code (`us`, `uk`) or a name (`Germany`). */
  country?: string;
  externalId?: string;
  /** Mobile advertiser ids (IDFA, AAID/GAID) as read. */
  madids?: string[];
}

/**
 * Hashed match keys per platform: platform id → key name → value, computed only for the platforms the config uses.
 * Values are lowercase 64-hex SHA-256 unless the platform sends a key in clear (Meta EXTERN_ID, MADID, Google country
 * and postal code).
 */
export type MatchKeys = Record<string, Record<string, string>>;

/** Funnel stage, from least to most engaged. */
export const FUNNEL_STAGES = ['subscribed', 'opened', 'clicked', 'customer'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];

export const AGE_BANDS = ['13-17', '18-24', '25-34', '35-44', '45-54', '55-64', '65+'] as const;
export type AgeBand = (typeof AGE_BANDS)[number];

/**
 * Non-identifying attributes that segments select on. Dates are ISO-8601 strings (UTC).
 * Nothing here may identify a person on its own.
 */
export interface Attributes {
  tags?: string[];
  /** Engagement rating normalized to 0–5 (Mailchimp MEMBER_RATING, Substack Activity stars). */
  rating?: number;
  lastOpenAt?: string;
  lastClickAt?: string;
  opens?: number;
  clicks?: number;
  signupAt?: string;
  plan?: string;
  tier?: string;
  paid?: boolean;
  spend?: number;
  orders?: number;
  /** ISO 3166-1 alpha-2, uppercase. */
  country?: string;
  /** Region / state code, uppercase (US: two letters). */
  region?: string;
  zone?: Zone;
  ageBand?: AgeBand;
  /** Whole years of age at signup, when both birthday and signup date are known. */
  ageAtSignup?: number;
  funnel?: FunnelStage;
}

/**
 * What the source says about consent beyond the status: the evidence the zone policies decide on.
 * - `optIn`: the platform recorded an affirmative opt-in to marketing (Mailchimp subscribed, Klaviyo Subscribed, Shopify
 *   "yes", a double opt-in…); false when it says the opt-in was only implied or refused; absent when it says nothing.
 * - `explicitOptIn`: a confirmed (double) opt-in or an express permission.
 * - `adsPermission`: a dedicated permission for ad personalisation (Mailchimp's "Customized Online Advertising", HubSpot's
 *   legal basis, an `ads_consent` column). Where the source has one, it decides for every zone.
 * - `optInAt` / `optOutAt`: when the source recorded the opt-in or the opt-out (ISO, never after the export time).
 */
export interface ConsentEvidence {
  optIn?: boolean;
  explicitOptIn?: boolean;
  adsPermission?: boolean;
  optInAt?: string;
  optOutAt?: string;
}

/** What one row of an export says about a person, after mapping, before hashing. */
export interface MappedRow extends ConsentEvidence {
  raw: RawIdentity;
  consent: ConsentState;
  attrs: Attributes;
  /** Row must be skipped entirely (e.g. Substack deletion-request placeholder) with this reason. */
  skip?: string;
  /** Attributes dropped because they could not be read for sure (the person is kept). */
  warnings?: Array<{ reason: 'ambiguous_date'; field: string }>;
}

/** A pseudonymous contact as stored for one list. */
export interface ContactRecord extends ConsentEvidence {
  /** Stable pseudonymous id: SHA-256 of normalized email, else E.164 phone digits, else external id. */
  cid: string;
  list: string;
  /**
   * Every identity hash of the person in this row (each valid email, each valid phone, the external id): what erasure,
   * suppression and opt-outs match on, whichever platform is configured.
   */
  ids: string[];
  /** How many of `ids` (from the start) are email hashes: a bounced address blocks the address only. */
  emails?: number;
  keys: MatchKeys;
  consent: ConsentState;
  attrs: Attributes;
  /** Export time (ISO) of the newest file that contained this contact. */
  seenAt: string;
  /** Snapshot (source object + version) that last wrote this contact. */
  source: string;
}

/** Why a row was rejected. Every rejection has one of these, plus the column it concerns when there is one. */
export const REJECTION_REASONS = [
  'missing_identifier', // no email, phone or external id
  'invalid_email',
  'invalid_phone',
  'excel_damaged_phone', // 7.02255E+12: digits irrecoverably lost
  'excel_damaged_id',
  'broken_quoting',
  'column_count_mismatch',
  'row_too_large',
  'control_characters',
  'deletion_placeholder', // Substack @deletion-request.substack.com
  'duplicate_in_file',
  'ambiguous_date',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/**
 * Rows that could not be read as rows (their person is unknown): a file with any of them was not read in full, so
 * nobody is taken to have left the list because they are absent from it.
 */
export const PARSE_FAILURES: ReadonlySet<string> = new Set([
  'broken_quoting',
  'column_count_mismatch',
  'row_too_large',
  'control_characters',
  'undecodable',
]);

/** People are kept in 16 shards by the first hex digit of their cid: lists and audiences are read shard by shard. */
export const SHARDS: readonly string[] = [...'0123456789abcdef'];
export const shardOf = (cid: string): string => cid.charAt(0);

/** The object key a drop's source (`<key>#<version or etag>`) names: every version of one file shares it. */
export function objectKeyOfSource(source: string): string {
  const at = source.lastIndexOf('#');
  return at < 0 ? source : source.slice(0, at);
}

/**
 * `list` with `item` appended, made on the first item: per-row warning lists, which most rows never need (an empty
 * array a row is garbage a million times over).
 */
export function appended<T>(list: T[] | undefined, item: T): T[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}
