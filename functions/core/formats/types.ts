/**
 * Vocabulary of the formats module: format ids, the fields we read from an export, the per-platform field tables
 * and the column mapping that detection produces and the row mapper consumes.
 */
import type { Attributes, ConsentState } from '../model';

export const FORMAT_IDS = [
  'mailchimp',
  'klaviyo',
  'hubspot',
  'brevo',
  'activecampaign',
  'kit',
  'substack',
  'beehiiv',
  'mailerlite',
  'campaign_monitor',
  'constant_contact',
  'shopify',
  'meta_template',
  'generic',
] as const;
export type FormatId = (typeof FORMAT_IDS)[number];

/** Every field a column can be mapped to. Identity fields end up in RawIdentity, the rest drive consent and attributes. */
export const FIELD_NAMES = [
  // identity (RawIdentity)
  'email',
  'phone',
  'firstName',
  'lastName',
  'fullName',
  'gender',
  'birthday',
  'birthYear',
  'age',
  'city',
  'state',
  'zip',
  'country',
  'countryCode',
  'externalId',
  'madid',
  // consent
  'status',
  'consentChannels',
  'unsubscribed',
  'unsubscribedAt',
  'cleanedAt',
  'emailDisabled',
  'marketingOptIn',
  'doubleOptIn',
  'permission',
  'quarantined',
  'bounceReason',
  'invalidEmail',
  'marketingStatus',
  'optOutTopic',
  'adsPermission',
  'legalBasis',
  'confirmedAt',
  'confirmationStatus',
  // attributes
  'region',
  'tags',
  'groups',
  'lists',
  'tierFlag',
  'rating',
  'opens',
  'clicks',
  'lastOpenAt',
  'lastClickAt',
  'signupAt',
  'plan',
  'tier',
  'paid',
  'activeSubscription',
  'expiresAt',
  'spend',
  'orders',
] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

/** Fields that carry an identifier on their own; a file needs at least one of them. */
export const IDENTIFIER_FIELDS = ['email', 'phone', 'externalId', 'madid'] as const satisfies readonly FieldName[];

/** One line of a platform's field table: which headers hold a field and how to read them. */
export interface FieldRule {
  field: FieldName;
  /** Header labels, compared case-, space- and punctuation-insensitively. The first listed label that exists wins. */
  headers?: readonly string[];
  /** Family of columns (`Opted out of email: <topic>`, `<name> Tier`), tested on the trimmed header; group 1 is the label. */
  pattern?: RegExp;
  /**
   * Several columns feed this field, in column order. `occurrences`: every column whose header matches (Meta's
   * `email,email,email`). `synonyms`: the first column of each listed label (HubSpot `Phone Number` + `Mobile Phone Number`,
   * leaving the associated company's second `Phone Number` alone). Pattern rules always take every match.
   */
  repeat?: 'occurrences' | 'synonyms';
  /** Top of the platform's rating scale (rating is normalized to 0–5). */
  scale?: number;
  /** Day/month order of this column's slash dates when the platform documents it (Meta `dob` is MM/DD/YY). */
  dayFirst?: boolean;
}

/** A column assigned to a field. */
export interface ColumnRef {
  index: number;
  header: string;
  /** Label captured by a pattern rule (the topic or tier name), else the header. */
  label: string;
  scale?: number;
  dayFirst?: boolean;
}

/** Which column holds which field, for one file. Duplicate header names are resolved by position. */
export interface ColumnMapping {
  format: FormatId;
  header: readonly string[];
  fields: Partial<Record<FieldName, readonly ColumnRef[]>>;
}

/**
 * What detection found: the column mapping itself (so it can go straight to createRowMapper), plus how sure and why.
 * `evidence` names headers only, never cell values.
 */
export interface Detection extends ColumnMapping {
  displayName: string;
  /** 0–1: how sure the header fingerprint is (1 when pinned by config). */
  confidence: number;
  evidence: string[];
  /** Fingerprint score of every platform that scored above zero, best first. */
  scores: { format: FormatId; score: number }[];
}

/** Operator override from config: pin the format and/or single columns, by header name or 0-based index. */
export interface DetectOptions {
  format?: FormatId;
  columns?: Partial<Record<FieldName, string | number>>;
}

/** Read access to one row's mapped cells, already cleaned (trimmed, one formula guard removed). */
export interface RowView {
  has(field: FieldName): boolean;
  /** First non-empty cell of the field, or undefined. */
  text(field: FieldName): string | undefined;
  bool(field: FieldName): boolean | undefined;
  list(field: FieldName): string[];
  /** Every column of the field with its label, empty cells included. */
  all(field: FieldName): { label: string; header: string; text: string }[];
}

export interface ConsentContext {
  /** File (zip entry) name the row comes from. */
  entryName?: string;
}

/**
 * A platform's reading of the consent columns of one row: the state, and the evidence behind it (see ConsentEvidence):
 * `optIn` true when the platform recorded an affirmative opt-in, false when it was only implied; `explicitOptIn` for a
 * confirmed double opt-in; `adsPermission` from a dedicated ad-personalisation permission; `optInAt` when the opt-in
 * was recorded (a raw cell, parsed by the row mapper).
 */
export interface ConsentVerdict {
  consent: ConsentState;
  optIn?: boolean;
  explicitOptIn?: boolean;
  adsPermission?: boolean;
  /** Cell holding the time of the opt-in (parsed by the row mapper); falls back to the signup time. */
  optInAtCell?: string;
  /** Extra tags the consent columns carry (HubSpot `optout:<topic>`). */
  tags?: string[];
}

export interface DeriveContext {
  /** ISO time of the run. */
  now: string;
  /** Parsed `expiresAt`, when the column exists and parses. */
  expiresAt?: string;
}

/** Weighted header signal of a platform fingerprint: a label (compared like headers) or a regex on the trimmed header. */
export type Signal = readonly [matcher: string | RegExp, weight: number];

export interface Fingerprint {
  /** Groups of labels; each group must be present or the platform scores zero. */
  required?: readonly (readonly string[])[];
  signals: readonly Signal[];
  /** Extra evidence from sample values (status vocabularies); header-level only in what it reports. */
  sniff?(
    mapping: ColumnMapping,
    sample: readonly (readonly string[])[],
  ): { score: number; evidence: string } | undefined;
}

/** One platform: its field table, its fingerprint and its consent rule. */
export interface FormatSpec {
  id: FormatId;
  displayName: string;
  fields: readonly FieldRule[];
  fingerprint: Fingerprint;
  /** Day/month order of the platform's exports when the file's own dates cannot tell (HubSpot writes US dates). */
  dayFirst?: boolean;
  /** Identity fields the table misses are looked up with the generic synonyms (user-labelled merge fields). */
  genericIdentity?: boolean;
  /** Columns at or after this index belong to another object (HubSpot's associated company) and are ignored. */
  sectionEnd?(header: readonly string[]): number;
  consent(row: RowView, ctx: ConsentContext): ConsentVerdict;
  /** Plan / tier / paid when the platform has its own rule for them. */
  derive?(row: RowView, ctx: DeriveContext): Pick<Attributes, 'plan' | 'tier' | 'paid'>;
}
