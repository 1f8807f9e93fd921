/**
 * Data Manager request bodies, built from members and a destination's settings: pure, so the adapter sends them and
 * the local dry run writes them, byte for byte the same.
 */
import type { Zone } from '../../core/model';
import type { BatchMember } from '../../core/ports';
import { DestinationError } from '../../core/ports';
import type { GoogleDestinationConfig } from './spec';

export const DATAMANAGER_URL = 'https://datamanager.googleapis.com';
/** Google's per-request limit on audience members. */
export const MAX_MEMBERS_PER_REQUEST = 10_000;
/** Zones whose members must carry their own consent: a request-level assertion is not enough there. */
export const OPT_IN_ZONES: ReadonlySet<Zone> = new Set(['EEA', 'UK', 'CH']);
/** removeAsOfTime is set this far before the replace started, so a clock ahead of Google's never removes a re-sent member. */
export const REPLACE_SKEW_MARGIN_MS = 10 * 60_000;

export type ConsentStatus = 'CONSENT_GRANTED' | 'CONSENT_DENIED';
export interface GoogleConsent {
  adUserData: ConsentStatus;
  adPersonalization: ConsentStatus;
}

/**
 * What the adapter needs per member. `keys` are today's GOOGLE_KEYS (email/phone/firstName/lastName hashed as
 * 64-hex, countryCode/postalCode in clear). Proposed for core: `consent` (derived from the consent model) and `zone`.
 */
export interface GoogleBatchMember extends BatchMember {
  consent?: GoogleConsent;
  zone?: Zone;
}

export interface GoogleDestinationSettings {
  /** Google Ads customer id of the account that owns the lists (digits; dashes are removed). */
  operatingAccountId: string;
  /** Manager account the service account was added to, when it is not a user of the operating account itself. */
  loginAccountId?: string;
  /** An account linked to the login account (data-partner setups). */
  linkedAccountId?: string;
  /** Pre-created lists: audience name → user list id. Others are found by name or created. */
  userListIds?: Readonly<Record<string, string>>;
  /** Create a missing list through the API (default true). */
  createLists?: boolean;
  /** Membership duration of created lists, in days (Google: whole days, at most 540; default 540). */
  membershipDurationDays?: number;
  /** A person accepted the Customer Match terms for this account in Google Ads; sent as termsOfService ACCEPTED. */
  termsAccepted: boolean;
  /**
   * Request-level consent asserted by the config for everyone the consent policy admits. Members carrying their own
   * consent override it; members in opt-in zones (EEA, UK, CH) must carry their own. Without either, nobody is sent.
   */
  consent?: GoogleConsent;
}

// ---------------------------------------------------------------------------------------------------------------
// Request bodies (pure; also what the local dry-run destination writes)
// ---------------------------------------------------------------------------------------------------------------

interface ProductAccount {
  accountType: 'GOOGLE_ADS';
  accountId: string;
}
export interface DestinationJson {
  operatingAccount: ProductAccount;
  loginAccount?: ProductAccount;
  linkedAccount?: ProductAccount;
  productDestinationId: string;
}
export type UserIdentifierJson =
  | { emailAddress: string }
  | { phoneNumber: string }
  | { address: { givenName: string; familyName: string; regionCode: string; postalCode: string } };
export interface AudienceMemberJson {
  userData: { userIdentifiers: UserIdentifierJson[] };
  consent?: GoogleConsent;
}
export interface IngestBody {
  destinations: DestinationJson[];
  audienceMembers: AudienceMemberJson[];
  consent?: GoogleConsent;
  encoding: 'HEX';
  termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' };
  validateOnly?: true;
}
export interface RemoveBody {
  destinations: DestinationJson[];
  audienceMembers: AudienceMemberJson[];
  encoding: 'HEX';
  validateOnly?: true;
}
export interface RemoveAllBody {
  destinations: DestinationJson[];
  removeAsOfTime: string;
  validateOnly?: true;
}

export const accountDigits = (id: string) => id.replace(/[\s-]/g, '');
const account = (id: string): ProductAccount => ({ accountType: 'GOOGLE_ADS', accountId: accountDigits(id) });

export function destinationJson(s: GoogleDestinationSettings, userListId: string): DestinationJson {
  return {
    operatingAccount: account(s.operatingAccountId),
    ...(s.loginAccountId ? { loginAccount: account(s.loginAccountId) } : {}),
    ...(s.linkedAccountId ? { linkedAccount: account(s.linkedAccountId) } : {}),
    productDestinationId: userListId,
  };
}

const HEX64 = /^[0-9a-f]{64}$/;
const REGION = /^[A-Z]{2}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

export type MemberProblem = 'email' | 'phone' | 'address' | 'no_identifier' | 'consent';

/** The identifiers of one member as Google takes them, and what had to be left out. Never throws. */
export function userIdentifiers(keys: Readonly<Record<string, string>>): {
  identifiers: UserIdentifierJson[];
  problems: MemberProblem[];
} {
  const identifiers: UserIdentifierJson[] = [];
  const problems: MemberProblem[] = [];
  const { email, phone, firstName, lastName, countryCode, postalCode } = keys;
  if (email !== undefined) {
    if (HEX64.test(email)) identifiers.push({ emailAddress: email });
    else problems.push('email');
  }
  if (phone !== undefined) {
    if (HEX64.test(phone)) identifiers.push({ phoneNumber: phone });
    else problems.push('phone');
  }
  const address = [firstName, lastName, countryCode, postalCode];
  if (address.some((v) => v !== undefined)) {
    const ok =
      firstName !== undefined &&
      HEX64.test(firstName) &&
      lastName !== undefined &&
      HEX64.test(lastName) &&
      countryCode !== undefined &&
      REGION.test(countryCode) &&
      postalCode !== undefined &&
      postalCode.length > 0 &&
      postalCode.length <= 32 &&
      postalCode === postalCode.trim() &&
      !CONTROL.test(postalCode);
    if (ok)
      identifiers.push({
        address: { givenName: firstName, familyName: lastName, regionCode: countryCode, postalCode },
      });
    else problems.push('address');
  }
  if (identifiers.length === 0 && problems.length === 0) problems.push('no_identifier');
  return { identifiers, problems };
}

const granted = (c: GoogleConsent | undefined) =>
  c !== undefined && c.adUserData === 'CONSENT_GRANTED' && c.adPersonalization === 'CONSENT_GRANTED';

export interface PreparedBatch {
  members: AudienceMemberJson[];
  /** Index in the input batch of each prepared member. */
  sources: number[];
  dropped: number;
  problems: MemberProblem[];
}

/**
 * Members as they will be sent; those that would fail the whole request (no valid identifier) or that may not be
 * sent (ingest: no granted consent) are dropped and counted. Invalid identifiers of an otherwise valid member are left
 * out and reported.
 */
export function prepareMembers(
  batch: readonly GoogleBatchMember[],
  op: 'ingest' | 'remove',
  requestConsent: GoogleConsent | undefined,
): PreparedBatch {
  const out: PreparedBatch = { members: [], sources: [], dropped: 0, problems: [] };
  const seen = new Set<MemberProblem>();
  const note = (p: MemberProblem) => {
    if (!seen.has(p)) {
      seen.add(p);
      out.problems.push(p);
    }
  };
  batch.forEach((m, i) => {
    const { identifiers, problems } = userIdentifiers(m.keys);
    for (const p of problems) note(p);
    if (identifiers.length === 0) {
      out.dropped++;
      return;
    }
    const member: AudienceMemberJson = { userData: { userIdentifiers: identifiers.slice(0, 10) } };
    if (op === 'ingest') {
      const own = m.consent;
      const needsOwn = m.zone !== undefined && OPT_IN_ZONES.has(m.zone);
      const effective = own ?? (needsOwn ? undefined : requestConsent);
      if (!granted(effective)) {
        note('consent');
        out.dropped++;
        return;
      }
      if (own) member.consent = own;
    }
    out.members.push(member);
    out.sources.push(i);
  });
  return out;
}

export function ingestBody(
  s: GoogleDestinationSettings,
  userListId: string,
  members: AudienceMemberJson[],
  validateOnly = false,
): IngestBody {
  return {
    destinations: [destinationJson(s, userListId)],
    audienceMembers: members,
    ...(s.consent ? { consent: s.consent } : {}),
    encoding: 'HEX',
    termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' },
    ...(validateOnly ? { validateOnly: true as const } : {}),
  };
}

export function removeBody(
  s: GoogleDestinationSettings,
  userListId: string,
  members: AudienceMemberJson[],
  validateOnly = false,
): RemoveBody {
  return {
    destinations: [destinationJson(s, userListId)],
    audienceMembers: members,
    encoding: 'HEX',
    ...(validateOnly ? { validateOnly: true as const } : {}),
  };
}

/**
 * The request bodies a batch becomes, exactly as GoogleDestination sends them (the local dry-run destination writes
 * these). Members that would be dropped are left out; when none remains, no request is made.
 */
export function googleRequestBodies(
  s: GoogleDestinationSettings,
  userListId: string,
  op: 'add' | 'remove',
  batch: readonly GoogleBatchMember[],
  validateOnly = false,
): { endpoint: string; body: IngestBody | RemoveBody }[] {
  if (op === 'add' && !s.termsAccepted) return [];
  const prepared = prepareMembers(batch, op === 'add' ? 'ingest' : 'remove', s.consent);
  const out: { endpoint: string; body: IngestBody | RemoveBody }[] = [];
  for (let i = 0; i < prepared.members.length; i += MAX_MEMBERS_PER_REQUEST) {
    const chunk = prepared.members.slice(i, i + MAX_MEMBERS_PER_REQUEST);
    out.push(
      op === 'add'
        ? { endpoint: 'audienceMembers:ingest', body: ingestBody(s, userListId, chunk, validateOnly) }
        : { endpoint: 'audienceMembers:remove', body: removeBody(s, userListId, chunk, validateOnly) },
    );
  }
  return out;
}

/** Stands in for the operating account in dry-run bodies when the config names none. */
export const PLACEHOLDER_ACCOUNT = '0000000000';

/** Adapter settings from a `platform: google` destination of the config (account may come from the environment). */
export function googleSettings(
  dest: GoogleDestinationConfig,
  operatingAccountFallback?: string,
): GoogleDestinationSettings {
  return {
    operatingAccountId: dest.operatingAccountId ?? operatingAccountFallback ?? PLACEHOLDER_ACCOUNT,
    ...(dest.loginAccountId ? { loginAccountId: dest.loginAccountId } : {}),
    ...(dest.linkedAccountId ? { linkedAccountId: dest.linkedAccountId } : {}),
    ...(dest.userListIds ? { userListIds: dest.userListIds } : {}),
    createLists: dest.createLists,
    membershipDurationDays: dest.membershipDurationDays,
    termsAccepted: dest.customerMatchTermsAccepted,
    ...(dest.consentGranted
      ? { consent: { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' } }
      : {}),
  };
}

/** The error an add raises before sending when the config does not confirm the Customer Match terms. */
export function termsNotConfirmed(operatingAccountId: string): DestinationError {
  return new DestinationError(
    'terms',
    `Google add members refused before sending: the config does not confirm the Customer Match terms for account ${accountDigits(operatingAccountId)}. A person with admin access accepts them in Google Ads (Tools → Audience manager, on the first customer-list upload); then set customerMatchTermsAccepted: true`,
    { link: 'https://ads.google.com/aw/audiences/management' },
  );
}
