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

/** Meta multi-key schema keys, in the order we send them. */
export const META_KEYS = [
  'EMAIL',
  'PHONE',
  'FN',
  'LN',
  'FI',
  'GEN',
  'DOBY',
  'DOBM',
  'DOBD',
  'CT',
  'ST',
  'ZIP',
  'COUNTRY',
  'EXTERN_ID',
] as const;
export type MetaKey = (typeof META_KEYS)[number];

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
}

/** Hashed match keys per platform variant. Values are lowercase 64-hex SHA-256 except EXTERN_ID / unhashed Google fields. */
export interface MatchKeys {
  meta: Partial<Record<MetaKey, string>>;
  google?: Partial<Record<GoogleKey, string>>;
}

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

/** What one row of an export says about a person, after mapping, before hashing. */
export interface MappedRow {
  raw: RawIdentity;
  consent: ConsentState;
  /** Whether the person explicitly opted in (double opt-in, `explicit` permission, GDPR checkbox). */
  explicitOptIn?: boolean;
  attrs: Attributes;
  /** Row must be skipped entirely (e.g. Substack deletion-request placeholder) with this reason. */
  skip?: string;
}

/** A pseudonymous contact as stored for one list. */
export interface ContactRecord {
  /** Stable pseudonymous id: SHA-256 of normalized email, else E.164 phone digits, else external id. */
  cid: string;
  list: string;
  keys: MatchKeys;
  consent: ConsentState;
  explicitOptIn?: boolean;
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
