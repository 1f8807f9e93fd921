/**
 * A local HTTP server that speaks the slice of Google's Data Manager API (REST, v1) that audience-sync uses:
 * `audienceMembers:ingest`, `:remove`, `:removeAll`, Customer Match user lists (get, list, create), and an OAuth 2.0
 * token endpoint for the service-account JWT-bearer flow, so google-auth-library's real signing code runs in tests.
 *
 * Verified facts it follows (sources in the adapter's header): request and response JSON shapes and field names,
 * enums as strings or numbers (proto3 JSON), `google.rpc.Status` errors (`error.code` = HTTP status, `error.status`
 * canonical, `details[]` with `@type`), Data Manager `ErrorReason` names, the per-request limits (10,000 members,
 * 10 destinations, 10 identifiers a member), fast-fail (one invalid member fails the whole request), 429
 * `RESOURCE_EXHAUSTED` with the quota's name in `ErrorInfo.metadata.quota_limit`, `validateOnly` (validated, nothing
 * changes), removeAll with `removeAsOfTime` (only members last added before it; not in the future).
 *
 * Behaviour that is this fake's choice, not a verified fact, is marked "(fake)". Notable choices:
 * - Member identity (fake): a stored member is the set of its identifiers; a removal removes every stored member that
 *   shares an identifier with a removed one. `members()` names each by its first identifier: `email:<hash>`, else
 *   `phone:<hash>`, else `address:<given>|<family>|<region>|<postal>`.
 * - Consent (fake): with `requireConsent` (default on) a member's effective consent (its own, else the request's) must
 *   grant both adUserData and adPersonalization on ingest; otherwise the request fails with a field violation.
 * - Quota (fake): fixed one-minute and one-day windows over every authorized IngestionService mutate call
 *   (validateOnly and refused requests included).
 *   The 429 body carries `RetryInfo` (unverified for this API) and `ErrorInfo` reason `RESOURCE_EXHAUSTED`.
 * - Field violation paths (fake format): snake_case proto paths like `audience_members[3].user_data.user_identifiers[0].email_address`.
 * - Unknown JSON fields are refused with INVALID_ARGUMENT, as Google's JSON transcoding does; the wording is (fake).
 * - Injected faults pre-empt everything else (auth, quota) and are not counted as usage.
 */
import { createPublicKey, createVerify, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export const DATAMANAGER_SCOPE = 'https://www.googleapis.com/auth/datamanager';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface ServiceAccountRegistration {
  clientEmail: string;
  /** PEM public key of the service account's key pair. */
  publicKeyPem: string;
}

export interface AccountSetup {
  /** Login accounts (manager accounts) allowed to act on this operating account, besides itself. */
  loginAccounts?: readonly string[];
}

export interface GoogleDataManagerServerOptions {
  /** Access tokens accepted as is, without the token endpoint. Default `['test-access-token']`. */
  validTokens?: readonly string[];
  /** Service accounts the token endpoint signs in (JWT-bearer grant). */
  serviceAccounts?: readonly ServiceAccountRegistration[];
  /** Operating accounts (digits) the credentials can write, with their manager accounts. Default: `1234567890`. */
  accounts?: Readonly<Record<string, AccountSetup>>;
  /** Mutate calls per minute. Default 300 (Google's documented per-project limit). */
  quotaPerMinute?: number;
  /** Mutate calls per day. Default 100,000. */
  quotaPerDay?: number;
  /** (fake) Reject ingests whose members lack granted consent. Default true. */
  requireConsent?: boolean;
  /** Lifetime of issued access tokens. Default 3,600 s. */
  tokenLifetimeSeconds?: number;
  now?: () => number;
}

export type FaultAction =
  /** A `google.rpc.Status` error; `httpStatus` defaults from the canonical status. */
  | {
      kind: 'status';
      status: CanonicalStatus;
      message?: string;
      reason?: string;
      httpStatus?: number;
      retryDelaySeconds?: number;
      quotaLimit?: string;
      violations?: { field: string; reason?: string; description?: string }[];
    }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'html'; status?: number; body?: string };

export type Fault = FaultAction & {
  method?: string;
  /** Path such as `/v1/audienceMembers:ingest`: a RegExp, or a string for an exact match. */
  path?: RegExp | string;
  times?: number;
};

export type CanonicalStatus =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** `Bearer [REDACTED]` when a token was sent; the token itself never. */
  authorization?: string;
  /** Parsed JSON (or form, with `assertion` redacted), else the raw text. */
  body: unknown;
  status: number;
  /** `error.status` of an error response. */
  errorStatus?: string;
  /** First ErrorInfo reason of an error response. */
  errorReason?: string;
  fault?: FaultAction['kind'];
  at: number;
}

export interface UserListSnapshot {
  id: string;
  accountId: string;
  displayName: string;
  description?: string;
  membershipDurationSeconds?: number;
  size: number;
}

export interface FakeDataManager {
  readonly baseUrl: string;
  /** The token endpoint, for a service-account key's `token_uri`. */
  readonly tokenUrl: string;
  readonly requests: readonly RecordedRequest[];
  /** Accepted access tokens (mutable: delete one to make it expire). */
  readonly tokens: Set<string>;
  close(): Promise<void>;
  inject(fault: Fault): void;
  pendingFaults(): number;
  /** Create a Customer Match list directly (no request, no quota). Returns its id. */
  seedUserList(input: { accountId: string; displayName: string; members?: readonly Record<string, unknown>[] }): string;
  userLists(): UserListSnapshot[];
  /** Member names (see header) of a list; empty for an unknown list. */
  members(userListId: string): Set<string>;
  /** Accepted (non-validateOnly) ingest / remove / removeAll calls for a list. */
  calls(userListId: string): { op: 'ingest' | 'remove' | 'removeAll'; members: number; at: number }[];
  /** Zero the quota windows. */
  resetQuota(): void;
  reset(): void;
}

// ---------------------------------------------------------------------------------------------------------------
// google.rpc.Status
// ---------------------------------------------------------------------------------------------------------------

const HTTP_OF: Record<CanonicalStatus, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

const DOMAIN = 'datamanager.googleapis.com';

interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

class RpcFailure extends Error {
  constructor(
    readonly status: CanonicalStatus,
    message: string,
    readonly details: Record<string, unknown>[] = [],
    readonly httpStatus = HTTP_OF[status],
  ) {
    super(message);
  }
  get reason(): string | undefined {
    const info = this.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
    return info?.reason as string | undefined;
  }
}

const errorInfo = (reason: string, metadata: Record<string, string> = {}, domain = DOMAIN) => ({
  '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
  reason,
  domain,
  metadata,
});

function invalid(reason: string, violations: FieldViolation[], message = 'Request contains an invalid argument.') {
  return new RpcFailure('INVALID_ARGUMENT', message, [
    errorInfo(reason),
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations },
  ]);
}

const violation = (field: string, reason: string, description: string): FieldViolation => ({
  field,
  reason,
  description,
});

function unauthenticated(): RpcFailure {
  return new RpcFailure(
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    [errorInfo('ACCESS_TOKEN_EXPIRED', { service: DOMAIN }, 'googleapis.com')],
  );
}

function quotaExceeded(limit: string, retryDelaySeconds: number): RpcFailure {
  return new RpcFailure('RESOURCE_EXHAUSTED', `Quota exceeded for quota metric '${limit}'.`, [
    errorInfo('RESOURCE_EXHAUSTED', { quota_limit: limit, service: DOMAIN }),
    { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryDelaySeconds}s` },
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------------------

interface StoredMember {
  identifiers: Set<string>;
  name: string;
  lastAddedAt: number;
}

interface UserListState {
  id: string;
  accountId: string;
  displayName: string;
  description?: string;
  membershipDurationSeconds?: number;
  members: StoredMember[];
  calls: { op: 'ingest' | 'remove' | 'removeAll'; members: number; at: number }[];
  createdAt: number;
}

interface State {
  lists: Map<string, UserListState>;
  nextListId: number;
  requests: RecordedRequest[];
  tokens: Set<string>;
  tokenScopes: Map<string, string[]>;
  faults: { fault: Fault; remaining: number }[];
  minute: { start: number; count: number };
  day: { start: number; count: number };
}

interface Resolved {
  accounts: Readonly<Record<string, AccountSetup>>;
  serviceAccounts: Map<string, ServiceAccountRegistration>;
  quotaPerMinute: number;
  quotaPerDay: number;
  requireConsent: boolean;
  tokenLifetimeSeconds: number;
  now: () => number;
}

const MAX_MEMBERS = 10_000;
const MAX_DESTINATIONS = 10;
const MAX_IDENTIFIERS = 10;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;
const REGION = /^[A-Z]{2}$/;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

function newState(tokens: readonly string[]): State {
  return {
    lists: new Map(),
    nextListId: 9_100_000_001,
    requests: [],
    tokens: new Set(tokens),
    tokenScopes: new Map(tokens.map((t) => [t, [DATAMANAGER_SCOPE]])),
    faults: [],
    minute: { start: 0, count: 0 },
    day: { start: 0, count: 0 },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// JSON shape checks (proto3 JSON: enums as names or numbers; unknown fields refused)
// ---------------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyFields(value: Json, allowed: readonly string[], at: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalid('INVALID_ARGUMENT', [
        violation(
          at || key,
          'INVALID_ARGUMENT',
          `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`,
        ),
      ]);
    }
  }
}

/** An enum given as its name or its number (proto3 JSON), as the name; undefined when absent or unknown. */
function enumName(value: unknown, names: readonly string[]): string | undefined {
  if (typeof value === 'number') return names[value];
  if (typeof value === 'string' && names.includes(value)) return value;
  return undefined;
}

const CONSENT_STATUS = ['CONSENT_STATUS_UNSPECIFIED', 'CONSENT_GRANTED', 'CONSENT_DENIED'];
const ENCODING = ['ENCODING_UNSPECIFIED', 'HEX', 'BASE64'];
const TOS_STATUS = ['TERMS_OF_SERVICE_STATUS_UNSPECIFIED', 'ACCEPTED', 'REJECTED'];
const ACCOUNT_TYPE = [
  'ACCOUNT_TYPE_UNSPECIFIED',
  'GOOGLE_ADS',
  'DISPLAY_VIDEO_PARTNER',
  'DISPLAY_VIDEO_ADVERTISER',
  'DATA_PARTNER',
  'GOOGLE_ANALYTICS_PROPERTY',
  'GOOGLE_AD_MANAGER_AUDIENCE_LINK',
];

interface Consent {
  adUserData?: string;
  adPersonalization?: string;
}

function parseConsent(value: unknown, at: string): Consent | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value))
    throw invalid('INVALID_ARGUMENT', [violation(at, 'INVALID_ARGUMENT', 'consent must be an object')]);
  onlyFields(value, ['adUserData', 'adPersonalization'], at);
  const out: Consent = {};
  for (const k of ['adUserData', 'adPersonalization'] as const) {
    if (value[k] === undefined) continue;
    const name = enumName(value[k], CONSENT_STATUS);
    if (!name)
      throw invalid('INVALID_ENUM_VALUE', [
        violation(`${at}.${snake(k)}`, 'INVALID_ENUM_VALUE', 'unknown consent status'),
      ]);
    out[k] = name;
  }
  return out;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

interface ParsedDestination {
  accountId: string;
  loginAccountId?: string;
  linkedAccountId?: string;
  listId: string;
}

function parseAccount(value: unknown, at: string): { accountId: string; accountType?: string } {
  if (!isObject(value))
    throw invalid('REQUIRED_FIELD_MISSING', [violation(at, 'REQUIRED_FIELD_MISSING', `${at} is required`)]);
  onlyFields(value, ['accountId', 'accountType', 'product'], at);
  const accountId = value.accountId;
  if (typeof accountId !== 'string' || accountId === '')
    throw invalid('REQUIRED_FIELD_MISSING', [
      violation(`${at}.account_id`, 'REQUIRED_FIELD_MISSING', 'account_id is required'),
    ]);
  if (!/^\d+$/.test(accountId))
    throw invalid('INVALID_DESTINATION', [
      violation(`${at}.account_id`, 'INVALID_DESTINATION', 'account_id must be digits only, without dashes'),
    ]);
  const accountType = value.accountType === undefined ? undefined : enumName(value.accountType, ACCOUNT_TYPE);
  if (value.accountType !== undefined && accountType === undefined)
    throw invalid('INVALID_ENUM_VALUE', [
      violation(`${at}.account_type`, 'INVALID_ENUM_VALUE', 'unknown account type'),
    ]);
  return { accountId, accountType };
}

function parseDestinations(ctx: Ctx, value: unknown): ParsedDestination[] {
  if (!Array.isArray(value) || value.length === 0)
    throw invalid('REQUIRED_FIELD_MISSING', [
      violation('destinations', 'REQUIRED_FIELD_MISSING', 'at least one destination is required'),
    ]);
  if (value.length > MAX_DESTINATIONS)
    throw invalid('TOO_MANY_DESTINATIONS', [
      violation('destinations', 'TOO_MANY_DESTINATIONS', `at most ${MAX_DESTINATIONS} destinations a request`),
    ]);
  return value.map((d, i) => {
    const at = `destinations[${i}]`;
    if (!isObject(d))
      throw invalid('INVALID_DESTINATION', [violation(at, 'INVALID_DESTINATION', 'destination must be an object')]);
    onlyFields(d, ['reference', 'loginAccount', 'linkedAccount', 'operatingAccount', 'productDestinationId'], at);
    const operating = parseAccount(d.operatingAccount, `${at}.operating_account`);
    if (operating.accountType !== undefined && operating.accountType !== 'GOOGLE_ADS')
      throw invalid('INVALID_DESTINATION', [
        violation(`${at}.operating_account.account_type`, 'INVALID_DESTINATION', 'only GOOGLE_ADS in this fake'),
      ]);
    const login = d.loginAccount === undefined ? undefined : parseAccount(d.loginAccount, `${at}.login_account`);
    const linked = d.linkedAccount === undefined ? undefined : parseAccount(d.linkedAccount, `${at}.linked_account`);
    const listId = d.productDestinationId;
    if (typeof listId !== 'string' || listId === '')
      throw invalid('REQUIRED_FIELD_MISSING', [
        violation(`${at}.product_destination_id`, 'REQUIRED_FIELD_MISSING', 'product_destination_id is required'),
      ]);
    const setup = ctx.opts.accounts[operating.accountId];
    const actor = login?.accountId ?? operating.accountId;
    if (!setup || (actor !== operating.accountId && !(setup.loginAccounts ?? []).includes(actor)))
      throw new RpcFailure(
        'PERMISSION_DENIED',
        `The caller does not have permission to act on account ${operating.accountId}.`,
        [errorInfo('PERMISSION_DENIED')],
      );
    const list = ctx.state.lists.get(listId);
    if (!list || list.accountId !== operating.accountId)
      throw invalid('INVALID_USER_LIST_ID', [
        violation(
          `${at}.product_destination_id`,
          'INVALID_USER_LIST_ID',
          `user list ${listId} is not a Customer Match list of account ${operating.accountId}`,
        ),
      ]);
    return {
      accountId: operating.accountId,
      loginAccountId: login?.accountId,
      linkedAccountId: linked?.accountId,
      listId,
    };
  });
}

interface ParsedMember {
  identifiers: string[];
  consent?: Consent;
}

function hashed(value: unknown, encoding: string, field: string): FieldViolation | undefined {
  if (typeof value !== 'string' || value === '') return violation(field, 'REQUIRED_FIELD_MISSING', `${field} is empty`);
  if (encoding === 'HEX' && !HEX64.test(value))
    return violation(field, HEX64.test(value.trim()) ? 'INVALID_FORMAT' : 'INVALID_SHA256_FORMAT', 'not a hex SHA-256');
  if (encoding === 'BASE64' && !BASE64_SHA256.test(value))
    return violation(field, 'INVALID_SHA256_FORMAT', 'not a base64 SHA-256');
  return undefined;
}

/** One member, or the violation that fails the whole request (fast-fail). */
function parseMember(value: unknown, i: number, encoding: string): ParsedMember {
  const at = `audience_members[${i}]`;
  const fail = (v: FieldViolation) => invalid(v.reason ?? 'INVALID_AUDIENCE_MEMBER', [v]);
  if (!isObject(value)) throw fail(violation(at, 'INVALID_AUDIENCE_MEMBER', 'audience member must be an object'));
  onlyFields(value, ['destinationReferences', 'userData', 'consent'], at);
  const userData = value.userData;
  if (!isObject(userData)) throw fail(violation(`${at}.user_data`, 'NO_IDENTIFIERS_PROVIDED', 'user_data is required'));
  onlyFields(userData, ['userIdentifiers'], `${at}.user_data`);
  const ids = userData.userIdentifiers;
  if (!Array.isArray(ids) || ids.length === 0)
    throw fail(violation(`${at}.user_data.user_identifiers`, 'NO_IDENTIFIERS_PROVIDED', 'no user identifiers'));
  if (ids.length > MAX_IDENTIFIERS)
    throw fail(
      violation(
        `${at}.user_data.user_identifiers`,
        'TOO_MANY_USER_IDENTIFIERS',
        `at most ${MAX_IDENTIFIERS} identifiers a member`,
      ),
    );
  const identifiers: string[] = [];
  ids.forEach((id, j) => {
    const idAt = `${at}.user_data.user_identifiers[${j}]`;
    if (!isObject(id) || Object.keys(id).length !== 1)
      throw fail(
        violation(
          idAt,
          'INVALID_AUDIENCE_MEMBER',
          'a user identifier has exactly one of email_address, phone_number, address',
        ),
      );
    onlyFields(id, ['emailAddress', 'phoneNumber', 'address'], idAt);
    if (id.emailAddress !== undefined) {
      const v = hashed(id.emailAddress, encoding, `${idAt}.email_address`);
      if (v) throw fail(v);
      identifiers.push(`email:${String(id.emailAddress).toLowerCase()}`);
    } else if (id.phoneNumber !== undefined) {
      const v = hashed(id.phoneNumber, encoding, `${idAt}.phone_number`);
      if (v) throw fail(v);
      identifiers.push(`phone:${String(id.phoneNumber).toLowerCase()}`);
    } else {
      const a = id.address;
      if (!isObject(a))
        throw fail(violation(`${idAt}.address`, 'INVALID_AUDIENCE_MEMBER', 'address must be an object'));
      onlyFields(a, ['givenName', 'familyName', 'regionCode', 'postalCode'], `${idAt}.address`);
      for (const f of ['givenName', 'familyName'] as const) {
        const v = hashed(a[f], encoding, `${idAt}.address.${snake(f)}`);
        if (v) throw fail(v);
      }
      if (typeof a.regionCode !== 'string' || a.regionCode === '')
        throw fail(violation(`${idAt}.address.region_code`, 'REQUIRED_FIELD_MISSING', 'region_code is required'));
      if (!REGION.test(a.regionCode))
        throw fail(
          violation(`${idAt}.address.region_code`, 'INVALID_REGION_CODE', 'region_code must be ISO-3166-1 alpha-2'),
        );
      if (typeof a.postalCode !== 'string' || a.postalCode.trim() === '')
        throw fail(violation(`${idAt}.address.postal_code`, 'REQUIRED_FIELD_MISSING', 'postal_code is required'));
      if (a.postalCode !== a.postalCode.trim() || a.postalCode.length > 32)
        // (fake) limits
        throw fail(violation(`${idAt}.address.postal_code`, 'INVALID_POSTAL_CODE', 'postal code is not valid'));
      identifiers.push(
        `address:${String(a.givenName).toLowerCase()}|${String(a.familyName).toLowerCase()}|${a.regionCode}|${a.postalCode}`,
      );
    }
  });
  const consent = parseConsent(value.consent, `${at}.consent`);
  return { identifiers, consent };
}

// ---------------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------------

interface Ctx {
  state: State;
  opts: Resolved;
  now: number;
  body: Json;
  query: Record<string, string>;
}

interface Reply {
  status: number;
  body: unknown;
}

function countMutate(ctx: Ctx): void {
  const { state, opts, now } = ctx;
  if (now - state.day.start >= DAY_MS) state.day = { start: now, count: 0 };
  if (now - state.minute.start >= MINUTE_MS) state.minute = { start: now, count: 0 };
  if (state.day.count >= opts.quotaPerDay)
    throw quotaExceeded('IngestionMutateRequestsPerDayPerProject', Math.ceil((state.day.start + DAY_MS - now) / 1000));
  if (state.minute.count >= opts.quotaPerMinute)
    throw quotaExceeded(
      'IngestionMutateRequestsPerMinutePerProject',
      Math.max(1, Math.ceil((state.minute.start + MINUTE_MS - now) / 1000)),
    );
  state.day.count++;
  state.minute.count++;
}

function parseEncoding(ctx: Ctx): string {
  const encoding = enumName(ctx.body.encoding, ENCODING);
  if (ctx.body.encoding !== undefined && encoding === undefined)
    throw invalid('INVALID_ENUM_VALUE', [violation('encoding', 'INVALID_ENUM_VALUE', 'unknown encoding')]);
  if (encoding === undefined || encoding === 'ENCODING_UNSPECIFIED')
    throw invalid('REQUIRED_FIELD_MISSING', [
      violation('encoding', 'REQUIRED_FIELD_MISSING', 'encoding is required for UserData uploads'),
    ]);
  return encoding;
}

function parseMembers(ctx: Ctx, encoding: string): ParsedMember[] {
  const list = ctx.body.audienceMembers;
  if (!Array.isArray(list) || list.length === 0)
    throw invalid('REQUIRED_FIELD_MISSING', [
      violation('audience_members', 'REQUIRED_FIELD_MISSING', 'audience_members is required'),
    ]);
  if (list.length > MAX_MEMBERS)
    throw invalid('TOO_MANY_AUDIENCE_MEMBERS', [
      violation('audience_members', 'TOO_MANY_AUDIENCE_MEMBERS', `at most ${MAX_MEMBERS} audience members a request`),
    ]);
  return list.map((m, i) => parseMember(m, i, encoding));
}

const memberName = (identifiers: readonly string[]): string =>
  identifiers.find((x) => x.startsWith('email:')) ??
  identifiers.find((x) => x.startsWith('phone:')) ??
  identifiers[0] ??
  '';

function ingest(ctx: Ctx): Reply {
  const { body } = ctx;
  onlyFields(
    body,
    ['destinations', 'audienceMembers', 'consent', 'validateOnly', 'encoding', 'encryptionInfo', 'termsOfService'],
    '',
  );
  const destinations = parseDestinations(ctx, body.destinations);
  const encoding = parseEncoding(ctx);
  const requestConsent = parseConsent(body.consent, 'consent');
  const members = parseMembers(ctx, encoding);
  const tos = isObject(body.termsOfService)
    ? enumName(body.termsOfService.customerMatchTermsOfServiceStatus, TOS_STATUS)
    : undefined;
  if (tos !== 'ACCEPTED')
    throw new RpcFailure(
      'INVALID_ARGUMENT', // (fake) status; the reason is Google's
      'The Customer Match terms of service must be accepted: set terms_of_service.customer_match_terms_of_service_status to ACCEPTED.',
      [errorInfo('TERMS_AND_CONDITIONS_NOT_SIGNED')],
    );
  if (ctx.opts.requireConsent) {
    members.forEach((m, i) => {
      const c = { ...requestConsent, ...m.consent };
      if (c.adUserData !== 'CONSENT_GRANTED' || c.adPersonalization !== 'CONSENT_GRANTED')
        throw invalid('INVALID_AUDIENCE_MEMBER', [
          violation(
            `audience_members[${i}].consent`,
            'INVALID_AUDIENCE_MEMBER',
            '(fake) ad_user_data and ad_personalization must be CONSENT_GRANTED',
          ),
        ]);
    });
  }
  if (body.validateOnly !== true) {
    for (const d of destinations) {
      const list = ctx.state.lists.get(d.listId)!;
      for (const m of members) upsert(list, m.identifiers, ctx.now);
      list.calls.push({ op: 'ingest', members: members.length, at: ctx.now });
    }
  }
  return { status: 200, body: { requestId: randomUUID() } };
}

function upsert(list: UserListState, identifiers: readonly string[], now: number): void {
  const ids = new Set(identifiers);
  const same = list.members.filter((s) => [...ids].some((x) => s.identifiers.has(x)));
  list.members = list.members.filter((s) => !same.includes(s));
  for (const s of same) for (const x of s.identifiers) ids.add(x);
  list.members.push({ identifiers: ids, name: memberName([...identifiers, ...ids]), lastAddedAt: now });
}

function remove(ctx: Ctx): Reply {
  const { body } = ctx;
  onlyFields(body, ['destinations', 'audienceMembers', 'validateOnly', 'encoding', 'encryptionInfo'], '');
  const destinations = parseDestinations(ctx, body.destinations);
  const encoding = parseEncoding(ctx);
  const members = parseMembers(ctx, encoding);
  if (body.validateOnly !== true) {
    for (const d of destinations) {
      const list = ctx.state.lists.get(d.listId)!;
      const gone = new Set(members.flatMap((m) => m.identifiers));
      list.members = list.members.filter((s) => ![...s.identifiers].some((x) => gone.has(x)));
      list.calls.push({ op: 'remove', members: members.length, at: ctx.now });
    }
  }
  return { status: 200, body: { requestId: randomUUID() } };
}

function removeAll(ctx: Ctx): Reply {
  const { body } = ctx;
  onlyFields(body, ['destinations', 'removeAsOfTime', 'validateOnly'], '');
  const destinations = parseDestinations(ctx, body.destinations);
  let asOf = ctx.now;
  if (body.removeAsOfTime !== undefined) {
    const t = typeof body.removeAsOfTime === 'string' ? Date.parse(body.removeAsOfTime) : Number.NaN;
    if (Number.isNaN(t) || !/Z$|[+-]\d{2}:\d{2}$/.test(String(body.removeAsOfTime)))
      throw invalid('INVALID_FORMAT', [
        violation('remove_as_of_time', 'INVALID_FORMAT', 'remove_as_of_time must be an RFC 3339 timestamp'),
      ]);
    if (t > ctx.now)
      throw invalid('INVALID_ARGUMENT', [
        violation('remove_as_of_time', 'INVALID_ARGUMENT', 'remove_as_of_time must not be in the future'),
      ]);
    asOf = t;
  }
  if (body.validateOnly !== true) {
    for (const d of destinations) {
      const list = ctx.state.lists.get(d.listId)!;
      const before = list.members.length;
      list.members = list.members.filter((s) => s.lastAddedAt >= asOf);
      list.calls.push({ op: 'removeAll', members: before - list.members.length, at: ctx.now });
    }
  }
  return { status: 200, body: { requestId: randomUUID() } };
}

function userListJson(list: UserListState): Json {
  const size = list.members.length;
  return {
    name: `accountTypes/GOOGLE_ADS/accounts/${list.accountId}/userLists/${list.id}`,
    id: list.id,
    readOnly: false,
    displayName: list.displayName,
    ...(list.description === undefined ? {} : { description: list.description }),
    membershipStatus: 'OPEN',
    ...(list.membershipDurationSeconds === undefined
      ? {}
      : { membershipDuration: `${list.membershipDurationSeconds}s` }),
    accessReason: 'OWNED',
    // (fake) everyone uploaded matches, on every network
    sizeInfo: {
      displayNetworkMembersCount: String(size),
      searchNetworkMembersCount: String(size),
    },
    ingestedUserListInfo: {
      uploadKeyTypes: ['CONTACT_ID'],
      contactIdInfo: { dataSourceType: 'DATA_SOURCE_TYPE_FIRST_PARTY', matchRatePercentage: size > 0 ? 100 : 0 },
    },
  };
}

function accountOf(ctx: Ctx, accountType: string, accountId: string, loginHeader?: string): void {
  if (accountType !== 'GOOGLE_ADS')
    throw invalid('INVALID_RESOURCE_NAME', [
      violation('parent', 'INVALID_RESOURCE_NAME', 'only GOOGLE_ADS in this fake'),
    ]);
  const setup = ctx.opts.accounts[accountId];
  const login = loginHeader?.match(/^accountTypes\/[A-Z_]+\/accounts\/(\d+)$/)?.[1];
  if (!setup || (login !== undefined && login !== accountId && !(setup.loginAccounts ?? []).includes(login)))
    throw new RpcFailure('PERMISSION_DENIED', `The caller does not have permission to act on account ${accountId}.`, [
      errorInfo('PERMISSION_DENIED'),
    ]);
}

function getUserList(ctx: Ctx, accountId: string, listId: string): Reply {
  const list = ctx.state.lists.get(listId);
  if (!list || list.accountId !== accountId)
    throw new RpcFailure('NOT_FOUND', `User list ${listId} was not found.`, [errorInfo('NOT_FOUND')]);
  return { status: 200, body: userListJson(list) };
}

function listUserLists(ctx: Ctx, accountId: string): Reply {
  const filter = ctx.query.filter;
  let name: string | undefined;
  if (filter !== undefined) {
    // (fake) only `display_name = "…"` / `displayName = "…"` is understood
    const m = /^\s*(?:display_name|displayName)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(filter);
    if (!m) throw invalid('INVALID_FILTER', [violation('filter', 'INVALID_FILTER', 'unsupported filter')]);
    name = m[1]!.replace(/\\(.)/g, '$1');
  }
  const lists = [...ctx.state.lists.values()].filter(
    (l) => l.accountId === accountId && (name === undefined || l.displayName === name),
  );
  return { status: 200, body: lists.length > 0 ? { userLists: lists.map(userListJson) } : {} };
}

function createUserList(ctx: Ctx, accountId: string): Reply {
  const { body } = ctx;
  onlyFields(
    body,
    [
      'name',
      'displayName',
      'description',
      'membershipStatus',
      'integrationCode',
      'membershipDuration',
      'ingestedUserListInfo',
      'targetNetworkInfo',
      'accountAccessStatus',
    ],
    'user_list',
  );
  if (typeof body.displayName !== 'string' || body.displayName.trim() === '')
    throw invalid('REQUIRED_FIELD_MISSING', [
      violation('user_list.display_name', 'REQUIRED_FIELD_MISSING', 'display_name is required'),
    ]);
  const info = body.ingestedUserListInfo;
  const keyTypes = isObject(info) && Array.isArray(info.uploadKeyTypes) ? info.uploadKeyTypes : [];
  if (keyTypes.length !== 1 || (keyTypes[0] !== 'CONTACT_ID' && keyTypes[0] !== 1))
    throw invalid('UNSUPPORTED_USER_LIST_UPLOAD_KEY_TYPES', [
      violation(
        'user_list.ingested_user_list_info.upload_key_types',
        'UNSUPPORTED_USER_LIST_UPLOAD_KEY_TYPES',
        'exactly one upload key type, CONTACT_ID in this fake',
      ),
    ]);
  let durationSeconds: number | undefined;
  if (body.membershipDuration !== undefined) {
    const m = /^(\d+)s$/.exec(String(body.membershipDuration));
    if (!m || Number(m[1]) % 86_400 !== 0)
      throw invalid('INVALID_ARGUMENT', [
        violation('user_list.membership_duration', 'INVALID_ARGUMENT', 'membership duration must be whole days'),
      ]);
    durationSeconds = Number(m[1]);
    if (durationSeconds > 540 * 86_400)
      throw invalid('MEMBERSHIP_DURATION_TOO_LONG', [
        violation('user_list.membership_duration', 'MEMBERSHIP_DURATION_TOO_LONG', 'at most 540 days'),
      ]);
  }
  if ([...ctx.state.lists.values()].some((l) => l.accountId === accountId && l.displayName === body.displayName))
    throw invalid('DISPLAY_NAME_ALREADY_USED', [
      violation('user_list.display_name', 'DISPLAY_NAME_ALREADY_USED', 'a list with this name exists'),
    ]);
  if (ctx.query.validateOnly === 'true') {
    const draft: UserListState = {
      id: '0',
      accountId,
      displayName: body.displayName,
      members: [],
      calls: [],
      createdAt: ctx.now,
    };
    return { status: 200, body: userListJson(draft) };
  }
  const list = insertList(ctx.state, ctx.now, {
    accountId,
    displayName: body.displayName,
    description: typeof body.description === 'string' ? body.description : undefined,
    membershipDurationSeconds: durationSeconds,
  });
  return { status: 200, body: userListJson(list) };
}

function insertList(
  state: State,
  now: number,
  input: { accountId: string; displayName: string; description?: string; membershipDurationSeconds?: number },
): UserListState {
  const id = String(state.nextListId++);
  const list: UserListState = { id, ...input, members: [], calls: [], createdAt: now };
  state.lists.set(id, list);
  return list;
}

const USER_LIST = /^\/v1\/accountTypes\/([A-Z_]+)\/accounts\/(\d+)\/userLists(?:\/(\d+))?$/;

function route(ctx: Ctx, method: string, path: string, loginHeader?: string): Reply {
  if (method === 'POST' && path.startsWith('/v1/audienceMembers:')) countMutate(ctx);
  if (method === 'POST' && path === '/v1/audienceMembers:ingest') return ingest(ctx);
  if (method === 'POST' && path === '/v1/audienceMembers:remove') return remove(ctx);
  if (method === 'POST' && path === '/v1/audienceMembers:removeAll') return removeAll(ctx);
  const m = USER_LIST.exec(path);
  if (m) {
    const [, type, account, list] = m;
    accountOf(ctx, type!, account!, loginHeader);
    if (method === 'GET' && list) return getUserList(ctx, account!, list);
    if (method === 'GET' && !list) return listUserLists(ctx, account!);
    if (method === 'POST' && !list) return createUserList(ctx, account!);
  }
  throw new RpcFailure('NOT_FOUND', `The requested URL ${path} was not found on this server.`);
}

// ---------------------------------------------------------------------------------------------------------------
// OAuth token endpoint (JWT-bearer grant, RFC 7523; Google's service-account flow)
// ---------------------------------------------------------------------------------------------------------------

function tokenError(error: string, description: string): Reply {
  return { status: 400, body: { error, error_description: description } };
}

function b64urlJson(part: string | undefined): Json | undefined {
  try {
    const v = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function exchangeToken(runtime: Runtime, form: URLSearchParams): Reply {
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    return tokenError('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
  const assertion = form.get('assertion') ?? '';
  const [h, p, sig] = assertion.split('.');
  const header = b64urlJson(h);
  const claims = b64urlJson(p);
  if (!header || !claims || !sig) return tokenError('invalid_request', 'Invalid JWT: not a JWS.');
  if (header.alg !== 'RS256') return tokenError('invalid_grant', 'Invalid JWT: algorithm must be RS256.');
  const account = runtime.opts.serviceAccounts.get(String(claims.iss));
  if (!account) return tokenError('invalid_grant', 'Invalid grant: account not found');
  const ok = createVerify('RSA-SHA256')
    .update(`${h}.${p}`)
    .verify(createPublicKey(account.publicKeyPem), Buffer.from(sig, 'base64url'));
  if (!ok) return tokenError('invalid_grant', 'Invalid JWT Signature.');
  if (claims.aud !== GOOGLE_TOKEN_URL && claims.aud !== runtime.tokenUrl)
    return tokenError('invalid_grant', 'Invalid JWT: Failed audience check.');
  // JWT times come from the signer's real clock, not from the test clock that drives quotas.
  const seconds = Math.floor(Date.now() / 1000);
  if (
    typeof claims.exp !== 'number' ||
    claims.exp < seconds ||
    typeof claims.iat !== 'number' ||
    claims.iat > seconds + 300
  )
    return tokenError(
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
    );
  const scopes = String(claims.scope ?? '')
    .split(/\s+/)
    .filter(Boolean);
  if (scopes.length === 0) return tokenError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  const token = `ya29.fake-${randomBytes(18).toString('base64url')}`;
  runtime.state.tokens.add(token);
  runtime.state.tokenScopes.set(token, scopes);
  return {
    status: 200,
    body: { access_token: token, expires_in: runtime.opts.tokenLifetimeSeconds, token_type: 'Bearer' },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

interface Runtime {
  state: State;
  opts: Resolved;
  baseUrl: string;
  tokenUrl: string;
  validTokens: readonly string[];
  timers: Set<NodeJS.Timeout>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function faultMatches(fault: Fault, method: string, path: string): boolean {
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  if (fault.path === undefined) return true;
  if (typeof fault.path === 'string') return fault.path === path;
  fault.path.lastIndex = 0;
  return fault.path.test(path);
}

function takeFault(state: State, method: string, path: string): Fault | undefined {
  const i = state.faults.findIndex((q) => faultMatches(q.fault, method, path));
  const q = state.faults[i];
  if (!q) return undefined;
  q.remaining -= 1;
  if (q.remaining <= 0) state.faults.splice(i, 1);
  return q.fault;
}

function faultFailure(f: Extract<FaultAction, { kind: 'status' }>): RpcFailure {
  const details: Record<string, unknown>[] = [];
  if (f.reason !== undefined || f.quotaLimit !== undefined)
    details.push(errorInfo(f.reason ?? f.status, f.quotaLimit === undefined ? {} : { quota_limit: f.quotaLimit }));
  if (f.retryDelaySeconds !== undefined)
    details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${f.retryDelaySeconds}s` });
  if (f.violations !== undefined)
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: f.violations.map((v) => ({ description: 'injected', ...v })),
    });
  return new RpcFailure(f.status, f.message ?? `Injected ${f.status}.`, details, f.httpStatus ?? HTTP_OF[f.status]);
}

function errorBody(f: RpcFailure): string {
  return JSON.stringify({ error: { code: f.httpStatus, message: f.message, status: f.status, details: f.details } });
}

function redactBody(path: string, text: string): unknown {
  if (path === '/token') {
    const form = new URLSearchParams(text);
    if (form.has('assertion')) form.set('assertion', '[REDACTED]');
    return Object.fromEntries(form);
  }
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json; charset=UTF-8') {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}

async function handle(runtime: Runtime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { state, opts } = runtime;
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'http://fake.invalid');
  const path = decodeURIComponent(url.pathname);
  const text = await readBody(req);
  const auth = req.headers.authorization;
  const record: RecordedRequest = {
    method,
    path,
    query: Object.fromEntries(url.searchParams),
    ...(auth === undefined ? {} : { authorization: auth.startsWith('Bearer ') ? 'Bearer [REDACTED]' : '[REDACTED]' }),
    body: redactBody(path, text),
    status: 0,
    at: opts.now(),
  };
  state.requests.push(record);

  const fault = takeFault(state, method, path);
  if (fault) record.fault = fault.kind;
  if (fault?.kind === 'delay') {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        runtime.timers.delete(t);
        resolve();
      }, fault.ms);
      runtime.timers.add(t);
    });
  }
  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'html') {
    record.status = fault.status ?? 502;
    send(res, record.status, fault.body ?? '<html><body>502 Bad Gateway</body></html>', 'text/html');
    return;
  }

  let reply: Reply | RpcFailure;
  if (fault?.kind === 'status') reply = faultFailure(fault);
  else if (method === 'POST' && path === '/token') reply = exchangeToken(runtime, new URLSearchParams(text));
  else reply = serveApi(runtime, method, path, url, text, auth, req.headers['login-account']);

  if (reply instanceof RpcFailure) {
    record.status = reply.httpStatus;
    record.errorStatus = reply.status;
    const reason = reply.reason;
    if (reason !== undefined) record.errorReason = reason;
    send(res, reply.httpStatus, errorBody(reply));
  } else {
    record.status = reply.status;
    send(res, reply.status, JSON.stringify(reply.body));
  }
}

function serveApi(
  runtime: Runtime,
  method: string,
  path: string,
  url: URL,
  text: string,
  auth: string | undefined,
  loginHeader: string | string[] | undefined,
): Reply | RpcFailure {
  const { state, opts } = runtime;
  try {
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (token === undefined || !state.tokens.has(token)) throw unauthenticated();
    if (!(state.tokenScopes.get(token) ?? []).includes(DATAMANAGER_SCOPE))
      throw new RpcFailure('PERMISSION_DENIED', 'Request had insufficient authentication scopes.', [
        errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', { service: DOMAIN }, 'googleapis.com'),
      ]);
    let body: Json = {};
    if (text !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw invalid('INVALID_ARGUMENT', [violation('', 'INVALID_ARGUMENT', 'Invalid JSON payload received.')]);
      }
      if (!isObject(parsed))
        throw invalid('INVALID_ARGUMENT', [violation('', 'INVALID_ARGUMENT', 'Invalid JSON payload received.')]);
      body = parsed;
    }
    const ctx: Ctx = { state, opts, now: opts.now(), body, query: Object.fromEntries(url.searchParams) };
    return route(ctx, method, path, Array.isArray(loginHeader) ? loginHeader[0] : loginHeader);
  } catch (e) {
    if (e instanceof RpcFailure) return e;
    return new RpcFailure('INTERNAL', `Internal error encountered (fake server bug: ${(e as Error).message}).`);
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Start the fake Data Manager API on 127.0.0.1 with a random port. */
export async function startGoogleDataManagerServer(
  options: GoogleDataManagerServerOptions = {},
): Promise<FakeDataManager> {
  const validTokens = options.validTokens ?? ['test-access-token'];
  const runtime: Runtime = {
    state: newState(validTokens),
    opts: {
      accounts: options.accounts ?? { '1234567890': {} },
      serviceAccounts: new Map((options.serviceAccounts ?? []).map((s) => [s.clientEmail, s])),
      quotaPerMinute: options.quotaPerMinute ?? 300,
      quotaPerDay: options.quotaPerDay ?? 100_000,
      requireConsent: options.requireConsent ?? true,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
      now: options.now ?? Date.now,
    },
    baseUrl: '',
    tokenUrl: '',
    validTokens,
    timers: new Set(),
  };
  const server = createServer((req, res) => {
    handle(runtime, req, res).catch((e: unknown) => {
      send(res, 500, errorBody(new RpcFailure('INTERNAL', `fake server bug: ${(e as Error).message}`)));
    });
  });
  const port = await listen(server);
  runtime.baseUrl = `http://127.0.0.1:${port}`;
  runtime.tokenUrl = `${runtime.baseUrl}/token`;
  const { state } = runtime;
  return {
    baseUrl: runtime.baseUrl,
    tokenUrl: runtime.tokenUrl,
    requests: state.requests,
    tokens: state.tokens,
    close: () => {
      for (const t of runtime.timers) clearTimeout(t);
      runtime.timers.clear();
      return new Promise((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      });
    },
    inject: (fault) => {
      state.faults.push({ fault, remaining: fault.times ?? 1 });
    },
    pendingFaults: () => state.faults.reduce((n, q) => n + q.remaining, 0),
    seedUserList: ({ accountId, displayName, members }) => {
      const list = insertList(state, runtime.opts.now(), { accountId, displayName });
      members?.forEach((m, i) => {
        const parsed = parseMember(m, i, 'HEX');
        upsert(list, parsed.identifiers, runtime.opts.now());
      });
      return list.id;
    },
    userLists: () =>
      [...state.lists.values()].map((l) => ({
        id: l.id,
        accountId: l.accountId,
        displayName: l.displayName,
        ...(l.description === undefined ? {} : { description: l.description }),
        ...(l.membershipDurationSeconds === undefined
          ? {}
          : { membershipDurationSeconds: l.membershipDurationSeconds }),
        size: l.members.length,
      })),
    members: (id) => new Set((state.lists.get(id)?.members ?? []).map((m) => m.name)),
    calls: (id) => (state.lists.get(id)?.calls ?? []).map((c) => ({ ...c })),
    resetQuota: () => {
      state.minute = { start: 0, count: 0 };
      state.day = { start: 0, count: 0 };
    },
    reset: () => {
      const fresh = newState(validTokens);
      state.lists = fresh.lists;
      state.nextListId = fresh.nextListId;
      state.requests.length = 0;
      state.faults.length = 0;
      state.tokens.clear();
      for (const t of fresh.tokens) state.tokens.add(t);
      state.tokenScopes = fresh.tokenScopes;
      state.minute = fresh.minute;
      state.day = fresh.day;
    },
  };
}
