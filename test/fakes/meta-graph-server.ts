/**
 * A local HTTP server that speaks the slice of Meta's Graph API (Marketing API v24) that audience-sync uses:
 * customer-list and lookalike custom audiences, member uploads (/users, /usersreplace), read-back and deletion.
 *
 * Point facebook-nodejs-business-sdk at it with
 *   Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => fake.baseUrl, configurable: true })
 *   FacebookAdsApi.init(token, 'en_US', false)
 * (keep and restore the original GRAPH descriptor afterwards).
 *
 * Behaviour that is a choice of this fake, not a verified fact about Meta, is marked "(fake)" or "(unverified)".
 * Notable choices:
 * - Member identity (fake): the first non-empty value among EMAIL, PHONE, EXTERN_ID, then MADID, as sent (no key
 *   prefix). A row with none of those is identified by its non-empty `KEY=value` pairs joined with `|`.
 * - Approximate counts (fake): the true size rounded down/up to two significant digits (so lower <= size <= upper),
 *   or -1 for both when the size is below `countThreshold`. Lookalikes report -1 (they have no membership here).
 * - Every Graph call with a valid token that concerns a known ad account counts against that account's
 *   `custom_audience` quota, including calls that are then refused; calls beyond the quota get code 80003.
 * - Injected faults pre-empt everything else (token check, usage accounting) and are not counted as usage.
 * Replace sessions follow Meta's replace-API guide: batch 1 opens a session, /users calls and other sessions are
 * refused while it is open (2650/1870145), the last batch swaps the membership, and a session still open 90 minutes
 * after its first batch is closed and applied with what it received so far (later batches: 2650/1870158).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export type CustomerFileSource = 'USER_PROVIDED_ONLY' | 'PARTNER_PROVIDED_ONLY' | 'BOTH_USER_AND_PARTNER_PROVIDED';
export type AudienceSubtype = 'CUSTOM' | 'LOOKALIKE';
export type LookalikeType = 'similarity' | 'reach' | 'custom_ratio';

export interface LookalikeSpec {
  country: string;
  ratio?: number;
  starting_ratio?: number;
  type?: LookalikeType;
}

export interface MetaGraphServerOptions {
  /** Access tokens the server accepts. Default `['test-token']`. Mutable later through `FakeMeta.tokens`. */
  validTokens?: readonly string[];
  /** error_subcode for a wrong or missing token: 463 (expired, default) or 460 (invalidated). */
  invalidTokenSubcode?: 460 | 463;
  /** Per ad account settings, keyed by `act_<id>` or `<id>`. */
  accounts?: Readonly<Record<string, { tosAccepted?: boolean }>>;
  /** ToS flag for ad accounts not listed in `accounts`. Default true. */
  defaultTosAccepted?: boolean;
  /**
   * Calls per ad account per usage window. A number, or a function of the account's active (not deleted) audiences.
   * Default: Meta's development tier, 5,000 + 40 × active audiences.
   */
  quotaPerWindow?: number | ((activeAudiences: number) => number);
  /** Length of the (fixed) usage window. Default one hour. */
  usageWindowMs?: number;
  /**
   * A removal that would leave fewer members than this fails with 200/1870047 "Audience Size too Low", as Meta
   * answers when a removal would push an audience below its minimum. Default 0 (off).
   */
  minRemovalSize?: number;
  /**
   * A replace session not finished this long after its first batch is closed by the platform and applied: the
   * audience becomes what the session received so far, and later batches of it are refused (2650/1870158).
   * Default 90 minutes, as Meta documents.
   */
  replaceSessionTimeoutMs?: number;
  /** Rows allowed per /users or /usersreplace call. Default 10,000 (Meta's documented limit). */
  maxRowsPerCall?: number;
  /** An audience this large (or larger) refuses replace sessions with 2650/1870144. Default 100,000,000. */
  replaceSizeLimit?: number;
  /** Below this membership size both approximate counts read -1. Default 0 (always reported). */
  countThreshold?: number;
  /** Below this membership size delivery_status is 300 "too small". Default 100. */
  minDeliverySize?: number;
  /** The ToS link carried by terms errors. Default `https://www.facebook.com/customaudiences/app/tos/?act=<id>`. */
  tosLink?: (adAccountId: string) => string;
  /**
   * How "terms not accepted" is answered: code 2655 (default), or code 200 with subcode 1870034 or 1870090 (Meta
   * uses all three; which one a given account gets is not documented).
   */
  tosError?: 2655 | 1870034 | 1870090;
  /** Clock for usage windows, replace timeouts and timestamps. Default `Date.now`. */
  now?: () => number;
}

export type FaultAction =
  /** Respond with a Graph error body. `status` defaults to 400, `message` to a generic one for the code. */
  | {
      kind: 'graphError';
      code: number;
      subcode?: number;
      message?: string;
      status?: number;
      userTitle?: string;
      userMsg?: string;
      isTransient?: boolean;
    }
  /** Wait `ms` before handling the request normally (the work still happens if the client gave up). */
  | { kind: 'delay'; ms: number }
  /** Destroy the socket without a response (the client sees a connection reset / socket hang up). */
  | { kind: 'reset' }
  /** Respond with an HTML error page, as Meta's edge does on outages. `status` defaults to 500. */
  | { kind: 'html'; status?: number; body?: string };

export type FaultKind = FaultAction['kind'];

export type Fault = FaultAction & {
  /** HTTP method to match (case-insensitive). Any when absent. */
  method?: string;
  /** Path without the version prefix, e.g. `/123/users`: a RegExp, or a string for an exact match. Any when absent. */
  path?: RegExp | string;
  /** How many matching requests this fault applies to. Default 1. */
  times?: number;
};

export interface RecordedRequest {
  method: string;
  /** Path without the version prefix, e.g. `/act_123/customaudiences`. */
  path: string;
  /** The `/vNN.N` prefix if any, e.g. `v24.0`. */
  version: string | undefined;
  /** Query parameters; `access_token` replaced by `[REDACTED]`. */
  query: Record<string, string>;
  /** Parsed body (JSON or form), `access_token` redacted; the raw text when it could not be parsed. */
  body: unknown;
  /** HTTP status sent; 0 while pending or when the socket was destroyed. */
  status: number;
  /** Graph error code sent, if any. */
  errorCode?: number;
  fault?: FaultKind;
  at: number;
}

export interface BatchRecord {
  rows: number;
  invalid: number;
  sessionId: string;
  batchSeq?: number;
  lastBatch?: boolean;
  at: number;
}

export interface AudienceSnapshot {
  id: string;
  adAccountId: string;
  name: string;
  description?: string;
  subtype: AudienceSubtype;
  customerFileSource?: CustomerFileSource;
  lookalikeSpec?: LookalikeSpec;
  originAudienceId?: string;
  size: number;
  deleted: boolean;
  replaceSessionOpen: boolean;
  createdAt: number;
}

export interface SeedAudience {
  adAccountId: string;
  name: string;
  customerFileSource?: CustomerFileSource;
  members?: Iterable<string>;
}

export interface BucEntry {
  type: 'custom_audience';
  call_count: number;
  total_cputime: number;
  total_time: number;
  estimated_time_to_regain_access: number;
}

export interface FakeMeta {
  /** e.g. `http://127.0.0.1:41234`; the SDK appends `/v24.0/...`. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every request in arrival order (live array; cleared by `reset()`). */
  readonly requests: readonly RecordedRequest[];
  /** The accepted access tokens (mutable: delete one to simulate expiry). */
  readonly tokens: Set<string>;
  close(): Promise<void>;
  /** Queue a fault; the first queued fault matching a request is applied. */
  inject(fault: Fault): void;
  pendingFaults(): number;
  /** Identity keys of an audience's members (a copy). Empty for an unknown audience. */
  members(audienceId: string): Set<string>;
  audiences(): AudienceSnapshot[];
  /** Accepted /users adds (rejected calls are only in `requests`). */
  addCalls(audienceId: string): BatchRecord[];
  /** Accepted /users removals. */
  removeCalls(audienceId: string): BatchRecord[];
  /** Accepted /usersreplace batches. */
  replaceCalls(audienceId: string): BatchRecord[];
  /** Create a customer-list audience directly (no request, no usage). Returns its id. */
  seedAudience(input: SeedAudience): string;
  setTosAccepted(adAccountId: string, accepted: boolean): void;
  /** The usage entry the next response for this account would carry (without counting a call). */
  usage(adAccountId: string): BucEntry;
  /** Zero the usage of one account, or of all. */
  resetUsage(adAccountId?: string): void;
  /** Forget audiences, requests, faults, usage and ToS changes; restore the tokens given in the options. */
  reset(): void;
}

// ---------------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------------

const MAX_HEADER_BYTES = 64 * 1024 * 1024; // the SDK sends DELETE /users params in the URL
const REDACTED = '[REDACTED]';
const HASHED_KEYS = ['EMAIL', 'PHONE', 'FN', 'LN', 'FI', 'GEN', 'DOBY', 'DOBM', 'DOBD', 'CT', 'ST', 'ZIP', 'COUNTRY'];
const PLAIN_KEYS = ['EXTERN_ID', 'MADID'];
/** Single-key schema aliases Meta accepts (unverified beyond these three). */
const SCHEMA_ALIASES: Readonly<Record<string, string>> = {
  EMAIL_SHA256: 'EMAIL',
  PHONE_SHA256: 'PHONE',
  MOBILE_ADVERTISER_ID: 'MADID',
};
const IDENTITY_KEYS = ['EMAIL', 'PHONE', 'EXTERN_ID', 'MADID'];
const SHA256_HEX = /^[0-9a-f]{64}$/;
const ACCOUNT_NODE = /^act_(\d+)$/;
const AUDIENCE_NODE = /^\d+$/;
const VERSION_PREFIX = /^\/(v\d+\.\d+)(?=\/|$)/;
const CUSTOMER_FILE_SOURCES: readonly CustomerFileSource[] = [
  'USER_PROVIDED_ONLY',
  'PARTNER_PROVIDED_ONLY',
  'BOTH_USER_AND_PARTNER_PROVIDED',
];
const LOOKALIKE_TYPES: readonly LookalikeType[] = ['similarity', 'reach', 'custom_ratio'];
const AUDIENCE_FIELDS = [
  'id',
  'account_id',
  'name',
  'description',
  'subtype',
  'customer_file_source',
  'approximate_count_lower_bound',
  'approximate_count_upper_bound',
  'operation_status',
  'delivery_status',
  'lookalike_spec',
  'time_created',
  'time_updated',
] as const;
type AudienceField = (typeof AUDIENCE_FIELDS)[number];
const MAX_INVALID_SAMPLES = 10;
const DEFAULT_LIST_LIMIT = 25;
const MAX_LIST_LIMIT = 500;
const MINUTE_MS = 60_000;
const AUDIENCE_ID_BASE = 23_850_000_000_000_000n;
const GRAPH_DOCS = 'https://developers.facebook.com/docs/graph-api';

// ---------------------------------------------------------------------------------------------------------------
// Graph errors
// ---------------------------------------------------------------------------------------------------------------

interface GraphErrorBody {
  message: string;
  type: 'OAuthException';
  code: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  is_transient?: boolean;
}

class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: GraphErrorBody,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(error.message);
  }
}

function graphFailure(code: number, message: string, extra: Partial<GraphErrorBody> = {}, status = 400): GraphFailure {
  return new GraphFailure(status, { message, type: 'OAuthException', code, ...extra });
}

function paramError(message: string, subcode?: number): GraphFailure {
  return graphFailure(100, `(#100) ${message}`, subcode === undefined ? {} : { error_subcode: subcode });
}

function tokenError(subcode: 460 | 463): GraphFailure {
  const message =
    subcode === 463
      ? 'Error validating access token: Session has expired.'
      : 'Error validating access token: The session has been invalidated because the user changed their password ' +
        'or Facebook has changed the session for security reasons.';
  const failure = graphFailure(190, message, { error_subcode: subcode });
  return new GraphFailure(failure.status, failure.error, {
    'www-authenticate': `OAuth "Facebook Platform" "invalid_token" "${message}"`,
  });
}

function unsupportedRequest(method: string, node: string): GraphFailure {
  return paramError(
    `Unsupported ${method.toLowerCase()} request. Object with ID '${node}' does not exist, cannot be loaded due to ` +
      `missing permissions, or does not support this operation. Please read the Graph API documentation at ${GRAPH_DOCS}`,
    33,
  );
}

function unknownPath(path: string): GraphFailure {
  return graphFailure(2500, `Unknown path components: ${path}`);
}

function deletedAudienceError(id: string): GraphFailure {
  // Code/subcode as Meta documents them; the wording is Meta-like, not verified.
  return paramError(`Custom Audience has been deleted: audience ${id} was deleted and can no longer be used`, 1487366);
}

function tosError(accountId: string, link: string, as: 2655 | 1870034 | 1870090): GraphFailure {
  const extra = {
    error_user_title: 'Custom Audience Terms Not Accepted',
    error_user_msg: `Accept the Custom Audience terms for ad account ${accountId}: ${link}`,
  };
  // (unverified) wording; the codes are Meta's.
  if (as === 2655)
    return graphFailure(2655, `(#2655) Terms of service has not been accepted. To accept, go to ${link}`, extra);
  return graphFailure(200, `(#200) Terms of service has not been accepted. To accept, go to ${link}`, {
    ...extra,
    error_subcode: as,
  });
}

/**
 * Subcodes of 2650 "Failed to update the custom audience" for replace sessions (Meta's replace-API guide). The
 * codes are Meta's; the wording of each message is this fake's (unverified).
 */
export const REPLACE_SUBCODES = {
  /** Another update (a replace session) is in progress: /users and a second session are refused. */
  inProgress: 1870145,
  /** The session was closed 90 minutes after its first batch; later batches are refused. */
  timedOut: 1870158,
  /** A batch for a session whose batch 1 never arrived. */
  noFirstBatch: 1870147,
  /** A batch for a session that already finished. */
  alreadyFinished: 1870159,
  /** Something went wrong on Meta's side. */
  failed: 1870148,
  /** The audience has 100 million members or more. */
  tooLarge: 1870144,
} as const;

function audienceUpdateFailed(reason: string, subcode?: number): GraphFailure {
  return graphFailure(2650, `(#2650) Failed to update the custom audience: ${reason}`, {
    error_user_title: 'Failed to update the custom audience',
    error_user_msg: reason,
    ...(subcode === undefined ? {} : { error_subcode: subcode }),
  });
}

/** Meta's answer to a removal that would leave the audience too small (recorded Graph responses). */
function lowAudienceSize(): GraphFailure {
  const msg = 'You cannot remove users from this audience because it will result in a low audience size';
  // (unverified) that `message` repeats the user message; code, subcode, type, title and user message are Meta's.
  return graphFailure(200, msg, {
    error_subcode: 1870047,
    error_user_title: 'Audience Size too Low',
    error_user_msg: msg,
  });
}

function quotaExhausted(): GraphFailure {
  return graphFailure(
    80003,
    '(#80003) There have been too many calls to this ad-account. Wait a bit and try again. For more info, ' +
      `please refer to ${GRAPH_DOCS}/overview/rate-limiting#custom-audience`,
    { is_transient: true },
  );
}

/** Default messages for injected error codes (Meta-like wording). */
function defaultFaultMessage(code: number): string {
  const known: Readonly<Record<number, string>> = {
    1: 'An unknown error occurred',
    2: 'An unexpected error has occurred. Please retry your request later.',
    4: '(#4) Application request limit reached',
    17: '(#17) User request limit reached',
    613: '(#613) Calls to this api have exceeded the rate limit.',
    2650: '(#2650) Failed to update the custom audience',
  };
  return known[code] ?? `(#${code}) Injected error`;
}

function traceId(): string {
  return randomBytes(9).toString('base64url');
}

// ---------------------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------------------

interface ResolvedOptions {
  invalidTokenSubcode: 460 | 463;
  /** Initial ToS flag of an ad account (digits only). */
  tosAcceptedByDefault: (accountKey: string) => boolean;
  quota: (activeAudiences: number) => number;
  usageWindowMs: number;
  minRemovalSize: number;
  replaceSessionTimeoutMs: number;
  maxRowsPerCall: number;
  countThreshold: number;
  minDeliverySize: number;
  tosLink: (adAccountId: string) => string;
  tosError: 2655 | 1870034 | 1870090;
  replaceSizeLimit: number;
  now: () => number;
}

interface AccountState {
  id: string;
  tosAccepted: boolean;
  windowStart: number;
  calls: number;
}

interface ReplaceSession {
  sessionId: string;
  startedAt: number;
  collected: Set<string>;
}

interface AudienceState {
  id: string;
  accountId: string;
  name: string;
  description?: string;
  subtype: AudienceSubtype;
  customerFileSource?: CustomerFileSource;
  lookalikeSpec?: LookalikeSpec;
  originAudienceId?: string;
  members: Set<string>;
  deleted: boolean;
  createdAt: number;
  updatedAt: number;
  rowsReceived: number;
  rowsInvalid: number;
  replace?: ReplaceSession;
  closedSessions: Map<string, 'finished' | 'expired'>;
  adds: BatchRecord[];
  removes: BatchRecord[];
  replaces: BatchRecord[];
}

interface QueuedFault {
  fault: Fault;
  remaining: number;
}

interface State {
  accounts: Map<string, AccountState>;
  audiences: Map<string, AudienceState>;
  nextAudience: bigint;
  tokens: Set<string>;
  faults: QueuedFault[];
  requests: RecordedRequest[];
}

function resolveOptions(options: MetaGraphServerOptions): ResolvedOptions {
  const quota = options.quotaPerWindow;
  return {
    invalidTokenSubcode: options.invalidTokenSubcode ?? 463,
    tosAcceptedByDefault: (key) =>
      (options.accounts?.[key] ?? options.accounts?.[`act_${key}`])?.tosAccepted ?? options.defaultTosAccepted ?? true,
    quota:
      typeof quota === 'function'
        ? quota
        : typeof quota === 'number'
          ? () => quota
          : (active) => Math.min(5_000 + 40 * active, 700_000),
    usageWindowMs: options.usageWindowMs ?? 60 * MINUTE_MS,
    minRemovalSize: options.minRemovalSize ?? 0,
    replaceSessionTimeoutMs: options.replaceSessionTimeoutMs ?? 90 * MINUTE_MS,
    maxRowsPerCall: options.maxRowsPerCall ?? 10_000,
    countThreshold: options.countThreshold ?? 0,
    minDeliverySize: options.minDeliverySize ?? 100,
    tosLink: options.tosLink ?? ((id) => `https://www.facebook.com/customaudiences/app/tos/?act=${id}`),
    tosError: options.tosError ?? 2655,
    replaceSizeLimit: options.replaceSizeLimit ?? 100_000_000,
    now: options.now ?? Date.now,
  };
}

function accountKey(adAccountId: string): string {
  return adAccountId.replace(/^act_/, '');
}

function newState(validTokens: readonly string[]): State {
  return {
    accounts: new Map(),
    audiences: new Map(),
    nextAudience: AUDIENCE_ID_BASE,
    tokens: new Set(validTokens),
    faults: [],
    requests: [],
  };
}

function accountState(state: State, opts: ResolvedOptions, id: string): AccountState {
  const key = accountKey(id);
  let account = state.accounts.get(key);
  if (!account) {
    account = {
      id: key,
      tosAccepted: opts.tosAcceptedByDefault(key),
      windowStart: opts.now(),
      calls: 0,
    };
    state.accounts.set(key, account);
  }
  return account;
}

function newAudienceId(state: State): string {
  state.nextAudience += 1n;
  return state.nextAudience.toString();
}

function insertAudience(
  state: State,
  now: number,
  fields: Pick<
    AudienceState,
    'accountId' | 'name' | 'description' | 'subtype' | 'customerFileSource' | 'lookalikeSpec' | 'originAudienceId'
  >,
): AudienceState {
  const audience: AudienceState = {
    ...fields,
    id: newAudienceId(state),
    members: new Set(),
    deleted: false,
    createdAt: now,
    updatedAt: now,
    rowsReceived: 0,
    rowsInvalid: 0,
    closedSessions: new Map(),
    adds: [],
    removes: [],
    replaces: [],
  };
  state.audiences.set(audience.id, audience);
  return audience;
}

function activeAudienceCount(state: State, accountId: string): number {
  let n = 0;
  for (const a of state.audiences.values()) if (a.accountId === accountId && !a.deleted) n += 1;
  return n;
}

/**
 * Close a replace session that outlived the timeout and apply it, as Meta does: the audience is replaced with what
 * the session received until then, so an abandoned replace shrinks the audience. Checked lazily whenever the
 * audience is touched or inspected, against the injected clock.
 */
function expireReplaceSession(audience: AudienceState, opts: ResolvedOptions, now: number): void {
  const session = audience.replace;
  if (session && now - session.startedAt > opts.replaceSessionTimeoutMs) {
    audience.members = session.collected;
    audience.updatedAt = session.startedAt + opts.replaceSessionTimeoutMs;
    audience.closedSessions.set(session.sessionId, 'expired');
    audience.replace = undefined;
  }
}

function expireAllReplaceSessions(state: State, opts: ResolvedOptions): void {
  const now = opts.now();
  for (const audience of state.audiences.values()) expireReplaceSession(audience, opts, now);
}

function snapshot(a: AudienceState): AudienceSnapshot {
  return {
    id: a.id,
    adAccountId: `act_${a.accountId}`,
    name: a.name,
    ...(a.description === undefined ? {} : { description: a.description }),
    subtype: a.subtype,
    ...(a.customerFileSource === undefined ? {} : { customerFileSource: a.customerFileSource }),
    ...(a.lookalikeSpec === undefined ? {} : { lookalikeSpec: { ...a.lookalikeSpec } }),
    ...(a.originAudienceId === undefined ? {} : { originAudienceId: a.originAudienceId }),
    size: a.members.size,
    deleted: a.deleted,
    replaceSessionOpen: a.replace !== undefined,
    createdAt: a.createdAt,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Usage (X-Business-Use-Case-Usage)
// ---------------------------------------------------------------------------------------------------------------

function rollWindow(account: AccountState, opts: ResolvedOptions, now: number): void {
  if (now - account.windowStart >= opts.usageWindowMs) {
    account.windowStart = now;
    account.calls = 0;
  }
}

function usageEntry(state: State, account: AccountState, opts: ResolvedOptions, now: number): BucEntry {
  rollWindow(account, opts, now);
  const quota = Math.max(1, opts.quota(activeAudienceCount(state, account.id)));
  const percent = Math.ceil((account.calls * 100) / quota);
  const regainMs = account.windowStart + opts.usageWindowMs - now;
  return {
    type: 'custom_audience',
    call_count: percent,
    // (fake) CPU and total time mirror the call count.
    total_cputime: percent,
    total_time: percent,
    estimated_time_to_regain_access: percent > 100 ? Math.max(1, Math.ceil(regainMs / MINUTE_MS)) : 0,
  };
}

function usageHeader(state: State, account: AccountState | undefined, opts: ResolvedOptions, now: number): string {
  if (!account) return '{}';
  return JSON.stringify({ [account.id]: [usageEntry(state, account, opts, now)] });
}

/** Count one call; refuse it with 80003 when the account is past its quota. */
function countCall(state: State, account: AccountState, opts: ResolvedOptions, now: number): void {
  rollWindow(account, opts, now);
  account.calls += 1;
  if (usageEntry(state, account, opts, now).call_count > 100) throw quotaExhausted();
}

// ---------------------------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------------------------

type Params = Record<string, unknown>;

interface ParsedPath {
  version: string | undefined;
  path: string;
  segments: string[];
}

function splitPath(pathname: string): ParsedPath {
  const match = VERSION_PREFIX.exec(pathname);
  const version = match?.[1];
  const rest = match ? pathname.slice(match[0].length) : pathname;
  const path = rest === '' ? '/' : rest;
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map(safeDecode);
  return { version, path, segments };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

type BodyParse = { ok: true; params: Params } | { ok: false; raw: string };

function parseBody(raw: string, contentType: string | undefined): BodyParse {
  if (raw.trim() === '') return { ok: true, params: {} };
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    return { ok: true, params: Object.fromEntries(new URLSearchParams(raw)) };
  }
  try {
    const parsed: unknown = JSON.parse(raw);
    if (isRecord(parsed)) return { ok: true, params: parsed };
  } catch {
    // fall through
  }
  if (type !== 'application/json' && raw.includes('=')) {
    return { ok: true, params: Object.fromEntries(new URLSearchParams(raw)) };
  }
  return { ok: false, raw };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function redactParams<T>(params: Record<string, T>): Record<string, T | string> {
  if (!('access_token' in params)) return params;
  return { ...params, access_token: REDACTED };
}

/** Redact a token inside a body that could not be parsed (form or JSON fragments). */
function redactRaw(raw: string): string {
  return raw.replace(/(access_token["']?\s*[:=]\s*["']?)[^"'&\s,}]+/g, `$1${REDACTED}`);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function tokenFrom(query: Params, body: Params, authorization: string | undefined): string | undefined {
  for (const candidate of [query.access_token, body.access_token]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
  }
  const header = /^(?:OAuth|Bearer)\s+(\S+)$/i.exec(authorization ?? '');
  return header?.[1];
}

// ---------------------------------------------------------------------------------------------------------------
// Parameter helpers
// ---------------------------------------------------------------------------------------------------------------

function optionalString(params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw paramError(`Param ${name} must be a string`);
}

function requiredString(params: Params, name: string): string {
  const value = optionalString(params, name);
  if (value === undefined) throw paramError(`The parameter ${name} is required`);
  return value;
}

/** A parameter that may arrive as an object (JSON body) or as a JSON-encoded string (query, form). */
function jsonParam(params: Params, name: string): unknown {
  const value = params[name];
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw paramError(`Param ${name} must be a valid JSON object`);
  }
}

function objectParam(params: Params, name: string): Record<string, unknown> | undefined {
  const value = jsonParam(params, name);
  if (value === undefined || value === null || value === '') return undefined;
  if (!isRecord(value)) throw paramError(`Param ${name} must be a JSON object`);
  return value;
}

function integerLike(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

function numberLike(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function booleanLike(value: unknown): boolean | undefined {
  if (value === true || value === 'true' || value === 1 || value === '1') return true;
  if (value === false || value === 'false' || value === 0 || value === '0') return false;
  return undefined;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  const found = allowed.find((candidate) => candidate === value);
  if (found === undefined) throw paramError(`Param ${name} must be one of {${allowed.join(', ')}}`);
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// Payload and session parsing, row validation
// ---------------------------------------------------------------------------------------------------------------

interface SessionParams {
  sessionId: string;
  /** What to echo back as session_id. */
  echo: number | string;
  batchSeq?: number;
  lastBatch?: boolean;
  estimatedTotal?: number;
}

function parseSession(params: Params): SessionParams | undefined {
  const session = objectParam(params, 'session');
  if (!session) return undefined;
  const id = integerLike(session.session_id);
  const raw = session.session_id;
  if (id === undefined && !(typeof raw === 'string' && /^\d+$/.test(raw))) {
    throw paramError('Param session[session_id] must be an integer');
  }
  const echo = typeof raw === 'number' || (id !== undefined && Number.isSafeInteger(id)) ? Number(raw) : String(raw);
  const batchSeq = integerLike(session.batch_seq);
  const lastBatch = booleanLike(session.last_batch_flag);
  const estimatedTotal = integerLike(session.estimated_num_total);
  if (batchSeq !== undefined && batchSeq < 1) throw paramError('Param session[batch_seq] must be at least 1');
  return {
    sessionId: String(raw),
    echo,
    ...(batchSeq === undefined ? {} : { batchSeq }),
    ...(lastBatch === undefined ? {} : { lastBatch }),
    ...(estimatedTotal === undefined ? {} : { estimatedTotal }),
  };
}

type ReplaceSessionParams = SessionParams & { batchSeq: number; lastBatch: boolean };

/** /usersreplace needs session_id, batch_seq and last_batch_flag (estimated_num_total is optional here). */
function parseReplaceSession(params: Params): ReplaceSessionParams {
  const session = parseSession(params);
  if (!session) throw paramError('The parameter session is required');
  const { batchSeq, lastBatch } = session;
  if (batchSeq === undefined) throw paramError('The parameter session[batch_seq] is required');
  if (lastBatch === undefined) throw paramError('The parameter session[last_batch_flag] is required');
  return { ...session, batchSeq, lastBatch };
}

function parseSchema(value: unknown): string[] {
  const keys = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k): k is string => typeof k === 'string')) {
    throw paramError('Param payload[schema] must be a key or a non-empty array of keys');
  }
  const schema = keys.map((key) => SCHEMA_ALIASES[key] ?? key);
  const unknown = schema.find((key) => !HASHED_KEYS.includes(key) && !PLAIN_KEYS.includes(key));
  if (unknown !== undefined) throw paramError(`Param payload[schema] contains an invalid key: ${unknown}`);
  if (new Set(schema).size !== schema.length) throw paramError('Param payload[schema] contains duplicate keys');
  return schema;
}

interface Payload {
  schema: string[];
  rows: unknown[];
}

function parsePayload(params: Params, maxRows: number): Payload {
  const payload = objectParam(params, 'payload');
  if (!payload) throw paramError('The parameter payload is required');
  const schema = parseSchema(payload.schema);
  const rows = payload.data;
  if (!Array.isArray(rows)) throw paramError('Param payload[data] must be an array');
  if (rows.length === 0) throw paramError('Param payload[data] must not be empty');
  if (rows.length > maxRows) {
    // Meta-like wording; the 10,000 limit is documented, the exact message is not verified.
    throw paramError(`Too many users in payload[data]: ${rows.length}. A request can carry at most ${maxRows} users`);
  }
  return { schema, rows };
}

type RowCheck = { valid: true; identity: string } | { valid: false; sample: string; reason: string };

function checkRow(schema: readonly string[], row: unknown, index: number): RowCheck {
  const values = schema.length === 1 && typeof row === 'string' ? [row] : row;
  if (!Array.isArray(values) || values.length !== schema.length || !values.every((v) => typeof v === 'string')) {
    return { valid: false, sample: `row ${index}`, reason: `row does not match the schema (${schema.length} values)` };
  }
  const byKey = new Map<string, string>();
  for (const [i, key] of schema.entries()) {
    const value = values[i] as string;
    if (value === '') continue;
    if (HASHED_KEYS.includes(key) && !SHA256_HEX.test(value)) {
      return { valid: false, sample: value, reason: `${key} is not a lowercase hex SHA-256` };
    }
    byKey.set(key, value);
  }
  if (byKey.size === 0) return { valid: false, sample: `row ${index}`, reason: 'all values are empty' };
  return { valid: true, identity: identityOf(schema, byKey) };
}

/** (fake) First non-empty EMAIL, PHONE, EXTERN_ID, MADID; else the row's non-empty KEY=value pairs. */
function identityOf(schema: readonly string[], byKey: ReadonlyMap<string, string>): string {
  for (const key of IDENTITY_KEYS) {
    const value = byKey.get(key);
    if (value !== undefined) return value;
  }
  return schema
    .filter((key) => byKey.has(key))
    .map((key) => `${key}=${byKey.get(key)}`)
    .join('|');
}

interface RowSummary {
  identities: string[];
  received: number;
  invalid: number;
  samples: Record<string, string>;
}

function summarizeRows(payload: Payload): RowSummary {
  const summary: RowSummary = { identities: [], received: payload.rows.length, invalid: 0, samples: {} };
  for (const [index, row] of payload.rows.entries()) {
    const check = checkRow(payload.schema, row, index);
    if (check.valid) {
      summary.identities.push(check.identity);
      continue;
    }
    summary.invalid += 1;
    if (Object.keys(summary.samples).length < MAX_INVALID_SAMPLES) summary.samples[check.sample] = check.reason;
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------------------------
// Audience views
// ---------------------------------------------------------------------------------------------------------------

function approximateBounds(size: number, threshold: number): [number, number] {
  if (size < threshold) return [-1, -1];
  if (size < 100) return [size, size];
  const unit = 10 ** (String(size).length - 2);
  return [Math.floor(size / unit) * unit, Math.ceil(size / unit) * unit];
}

interface StatusCode {
  code: number;
  description: string;
}

/** Codes follow Meta's documented lists as far as known; descriptions are approximations (unverified). */
function operationStatus(a: AudienceState): StatusCode {
  if (a.subtype === 'LOOKALIKE') return { code: 200, description: 'Normal' };
  if (a.rowsReceived === 0) return { code: 410, description: 'No upload: no customer data has been uploaded yet.' };
  if (a.rowsInvalid * 2 > a.rowsReceived) {
    return { code: 412, description: 'High invalid rate: many uploaded entries were invalid.' };
  }
  return { code: 200, description: 'Normal' };
}

function deliveryStatus(a: AudienceState, opts: ResolvedOptions): StatusCode {
  if (a.subtype === 'CUSTOM' && a.members.size < opts.minDeliverySize) {
    return { code: 300, description: 'This audience is too small to use.' };
  }
  return { code: 200, description: 'This audience is ready for use.' };
}

function fieldValue(a: AudienceState, field: AudienceField, opts: ResolvedOptions): unknown {
  const [lower, upper] = a.subtype === 'LOOKALIKE' ? [-1, -1] : approximateBounds(a.members.size, opts.countThreshold);
  switch (field) {
    case 'id':
      return a.id;
    case 'account_id':
      return a.accountId;
    case 'name':
      return a.name;
    case 'description':
      return a.description;
    case 'subtype':
      return a.subtype;
    case 'customer_file_source':
      return a.customerFileSource;
    case 'approximate_count_lower_bound':
      return lower;
    case 'approximate_count_upper_bound':
      return upper;
    case 'operation_status':
      return operationStatus(a);
    case 'delivery_status':
      return deliveryStatus(a, opts);
    case 'lookalike_spec':
      return a.lookalikeSpec && { ...a.lookalikeSpec, origin: [{ id: a.originAudienceId, type: 'custom_audience' }] };
    case 'time_created':
      return Math.floor(a.createdAt / 1000);
    case 'time_updated':
      return Math.floor(a.updatedAt / 1000);
  }
}

function parseFields(params: Params): AudienceField[] {
  const raw = optionalString(params, 'fields');
  if (raw === undefined) return ['id'];
  const names = raw
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  return names.map((name) => {
    const field = AUDIENCE_FIELDS.find((known) => known === name);
    if (field === undefined) {
      throw paramError(`Tried accessing nonexisting field (${name}) on node type (CustomAudience)`);
    }
    return field;
  });
}

function audienceView(a: AudienceState, fields: readonly AudienceField[], opts: ResolvedOptions): Params {
  const view: Params = {};
  for (const field of fields) {
    const value = fieldValue(a, field, opts);
    if (value !== undefined) view[field] = value;
  }
  if (!('id' in view)) view.id = a.id; // Graph always includes the id
  return view;
}

// ---------------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------------

interface Ctx {
  state: State;
  opts: ResolvedOptions;
  params: Params;
  now: number;
  token: string;
  version: string | undefined;
  baseUrl: string;
  account: AccountState | undefined;
}

interface Reply {
  status: number;
  body: unknown;
}

const ok = (body: unknown): Reply => ({ status: 200, body });

function requireTos(ctx: Ctx, account: AccountState): void {
  if (!account.tosAccepted) throw tosError(account.id, ctx.opts.tosLink(account.id), ctx.opts.tosError);
}

function liveAudience(ctx: Ctx, id: string, method: string): AudienceState {
  const audience = ctx.state.audiences.get(id);
  if (!audience) throw unsupportedRequest(method, id);
  if (audience.deleted) throw deletedAudienceError(id);
  expireReplaceSession(audience, ctx.opts, ctx.now);
  return audience;
}

function parseLookalikeSpec(params: Params): LookalikeSpec {
  const spec = objectParam(params, 'lookalike_spec');
  if (!spec) throw paramError('The parameter lookalike_spec is required');
  const country = spec.country;
  if (typeof country !== 'string' || !/^[A-Za-z]{2}$/.test(country)) {
    throw paramError('Param lookalike_spec[country] must be a two-letter country code');
  }
  const ratio = spec.ratio === undefined ? undefined : numberLike(spec.ratio);
  const startingRatio = spec.starting_ratio === undefined ? undefined : numberLike(spec.starting_ratio);
  const type = spec.type === undefined ? undefined : String(spec.type);
  if (spec.ratio !== undefined && (ratio === undefined || ratio < 0.01 || ratio > 0.2)) {
    throw paramError('Param lookalike_spec[ratio] must be between 0.01 and 0.20');
  }
  if (spec.starting_ratio !== undefined) {
    if (startingRatio === undefined || startingRatio < 0 || (ratio !== undefined && startingRatio >= ratio)) {
      throw paramError('Param lookalike_spec[starting_ratio] must be at least 0 and below lookalike_spec[ratio]');
    }
  }
  if (ratio === undefined && type === undefined) {
    throw paramError('Param lookalike_spec must contain ratio or type');
  }
  return {
    country: country.toUpperCase(),
    ...(ratio === undefined ? {} : { ratio }),
    ...(startingRatio === undefined ? {} : { starting_ratio: startingRatio }),
    ...(type === undefined ? {} : { type: oneOf(type, LOOKALIKE_TYPES, 'lookalike_spec[type]') }),
  };
}

function createAudience(ctx: Ctx, account: AccountState): Reply {
  requireTos(ctx, account);
  const name = requiredString(ctx.params, 'name');
  const description = optionalString(ctx.params, 'description');
  const subtype = oneOf(requiredString(ctx.params, 'subtype'), ['CUSTOM', 'LOOKALIKE'] as const, 'subtype');
  const common = { accountId: account.id, name, subtype, ...(description === undefined ? {} : { description }) };
  if (subtype === 'CUSTOM') {
    const source = requiredString(ctx.params, 'customer_file_source');
    const customerFileSource = oneOf(source, CUSTOMER_FILE_SOURCES, 'customer_file_source');
    return ok({ id: insertAudience(ctx.state, ctx.now, { ...common, customerFileSource }).id });
  }
  const originId = requiredString(ctx.params, 'origin_audience_id');
  const origin = ctx.state.audiences.get(originId);
  if (!origin || origin.accountId !== account.id) {
    throw paramError(`Param origin_audience_id: audience ${originId} does not exist in this ad account`);
  }
  if (origin.deleted) throw deletedAudienceError(originId);
  const lookalikeSpec = parseLookalikeSpec(ctx.params);
  return ok({ id: insertAudience(ctx.state, ctx.now, { ...common, lookalikeSpec, originAudienceId: originId }).id });
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

function listAudiences(ctx: Ctx, account: AccountState): Reply {
  const fields = parseFields(ctx.params);
  const limitParam = ctx.params.limit === undefined ? undefined : integerLike(ctx.params.limit);
  if (ctx.params.limit !== undefined && (limitParam === undefined || limitParam < 1)) {
    throw paramError('Param limit must be a positive integer');
  }
  const limit = Math.min(limitParam ?? DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
  expireAllReplaceSessions(ctx.state, ctx.opts);
  const all = [...ctx.state.audiences.values()].filter((a) => a.accountId === account.id && !a.deleted);
  const after = optionalString(ctx.params, 'after');
  const start = after === undefined ? 0 : all.findIndex((a) => a.id === decodeCursor(after)) + 1;
  const page = all.slice(start, start + limit);
  const data = page.map((a) => audienceView(a, fields, ctx.opts));
  const first = page[0];
  const last = page[page.length - 1];
  const paging: Params = {};
  if (first && last) paging.cursors = { before: encodeCursor(first.id), after: encodeCursor(last.id) };
  if (last && start + limit < all.length) paging.next = nextPageUrl(ctx, account, fields, limit, last.id);
  return ok({ data, paging });
}

/** Like Graph, the next-page URL carries the access token: the SDK's Cursor requests it verbatim. */
function nextPageUrl(ctx: Ctx, account: AccountState, fields: readonly string[], limit: number, lastId: string) {
  const query = new URLSearchParams({
    access_token: ctx.token,
    fields: fields.join(','),
    limit: String(limit),
    after: encodeCursor(lastId),
  });
  const prefix = ctx.version === undefined ? '' : `/${ctx.version}`;
  return `${ctx.baseUrl}${prefix}/act_${account.id}/customaudiences?${query}`;
}

function readAudience(ctx: Ctx, id: string): Reply {
  const audience = liveAudience(ctx, id, 'GET');
  return ok(audienceView(audience, parseFields(ctx.params), ctx.opts));
}

function deleteAudience(ctx: Ctx, id: string): Reply {
  const audience = liveAudience(ctx, id, 'DELETE');
  audience.deleted = true;
  audience.replace = undefined;
  audience.updatedAt = ctx.now;
  return ok({ success: true });
}

function batchRecord(ctx: Ctx, summary: RowSummary, session: SessionParams | undefined, id: string): BatchRecord {
  return {
    rows: summary.received,
    invalid: summary.invalid,
    sessionId: session?.sessionId ?? id,
    ...(session?.batchSeq === undefined ? {} : { batchSeq: session.batchSeq }),
    ...(session?.lastBatch === undefined ? {} : { lastBatch: session.lastBatch }),
    at: ctx.now,
  };
}

function usersReply(audience: AudienceState, sessionEcho: number | string, summary: RowSummary): Reply {
  return ok({
    audience_id: audience.id,
    session_id: sessionEcho,
    num_received: summary.received,
    num_invalid_entries: summary.invalid,
    invalid_entry_samples: summary.samples,
  });
}

function randomSessionId(): number {
  return Number(randomBytes(6).readUIntBE(0, 6));
}

function noteUpload(audience: AudienceState, summary: RowSummary, now: number): void {
  audience.rowsReceived += summary.received;
  audience.rowsInvalid += summary.invalid;
  audience.updatedAt = now;
}

function changeUsers(ctx: Ctx, id: string, op: 'add' | 'remove'): Reply {
  const audience = liveAudience(ctx, id, op === 'add' ? 'POST' : 'DELETE');
  const account = accountState(ctx.state, ctx.opts, audience.accountId);
  if (op === 'add') requireTos(ctx, account);
  if (audience.subtype !== 'CUSTOM') throw paramError('Users can only be changed on a customer list custom audience');
  if (audience.replace) {
    throw audienceUpdateFailed(
      `a replace operation (session ${audience.replace.sessionId}) is in progress for this audience; ` +
        'adds and removals are blocked until it finishes',
      REPLACE_SUBCODES.inProgress,
    );
  }
  const session = parseSession(ctx.params);
  const payload = parsePayload(ctx.params, ctx.opts.maxRowsPerCall);
  const summary = summarizeRows(payload);
  const sessionEcho = session?.echo ?? randomSessionId();
  const record = batchRecord(ctx, summary, session, String(sessionEcho));
  if (op === 'add') {
    for (const identity of summary.identities) audience.members.add(identity);
    audience.adds.push(record);
  } else {
    guardLowAudienceSize(ctx, audience, summary.identities);
    for (const identity of summary.identities) audience.members.delete(identity);
    audience.removes.push(record);
  }
  noteUpload(audience, summary, ctx.now);
  return usersReply(audience, sessionEcho, summary);
}

/** Refuses a removal that would leave fewer than `minRemovalSize` members: 200/1870047, as Meta does. */
function guardLowAudienceSize(ctx: Ctx, audience: AudienceState, identities: readonly string[]): void {
  const min = ctx.opts.minRemovalSize;
  if (min <= 0) return;
  const leaving = new Set(identities.filter((identity) => audience.members.has(identity))).size;
  if (leaving > 0 && audience.members.size - leaving < min) throw lowAudienceSize();
}

function replaceUsers(ctx: Ctx, id: string): Reply {
  const audience = liveAudience(ctx, id, 'POST');
  const account = accountState(ctx.state, ctx.opts, audience.accountId);
  requireTos(ctx, account);
  if (audience.subtype !== 'CUSTOM') throw paramError('Users can only be replaced on a customer list custom audience');
  const session = parseReplaceSession(ctx.params);
  const open = openReplaceSession(ctx, audience, session);
  const payload = parsePayload(ctx.params, ctx.opts.maxRowsPerCall);
  const summary = summarizeRows(payload);
  if (!audience.replace) audience.replace = open;
  for (const identity of summary.identities) open.collected.add(identity);
  if (session.lastBatch) {
    audience.members = open.collected;
    audience.replace = undefined;
    audience.closedSessions.set(open.sessionId, 'finished');
  }
  audience.replaces.push(batchRecord(ctx, summary, session, session.sessionId));
  noteUpload(audience, summary, ctx.now);
  return usersReply(audience, session.echo, summary);
}

/** The open session this batch belongs to, or a new one (not yet attached) when the batch starts one. */
function openReplaceSession(ctx: Ctx, audience: AudienceState, session: ReplaceSessionParams): ReplaceSession {
  const open = audience.replace;
  if (open && open.sessionId === session.sessionId) return open;
  if (open) {
    throw audienceUpdateFailed(
      `another replace session (${open.sessionId}) is in progress for this audience`,
      REPLACE_SUBCODES.inProgress,
    );
  }
  const closed = audience.closedSessions.get(session.sessionId);
  if (closed === 'expired') {
    throw audienceUpdateFailed(
      `replace session ${session.sessionId} timed out 90 minutes after its first batch and was applied with the ` +
        'batches received until then; start a new session',
      REPLACE_SUBCODES.timedOut,
    );
  }
  if (closed === 'finished') {
    throw audienceUpdateFailed(
      `replace session ${session.sessionId} has already finished`,
      REPLACE_SUBCODES.alreadyFinished,
    );
  }
  if (session.batchSeq !== 1) {
    throw audienceUpdateFailed(
      `replace session ${session.sessionId} has no batch 1: session[batch_seq] must start at 1 for a new session`,
      REPLACE_SUBCODES.noFirstBatch,
    );
  }
  if (audience.members.size >= ctx.opts.replaceSizeLimit) {
    throw audienceUpdateFailed(
      'audiences of 100 million members or more cannot be replaced',
      REPLACE_SUBCODES.tooLarge,
    );
  }
  return { sessionId: session.sessionId, startedAt: ctx.now, collected: new Set() };
}

// ---------------------------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------------------------

/** The ad account a request concerns, for usage accounting and the usage header. */
function accountIdFor(state: State, segments: readonly string[]): string | undefined {
  const node = segments[0];
  if (node === undefined) return undefined;
  const act = ACCOUNT_NODE.exec(node);
  if (act) return act[1];
  return state.audiences.get(node)?.accountId;
}

function dispatch(ctx: Ctx, method: string, parsed: ParsedPath): Reply {
  const [node, edge, ...rest] = parsed.segments;
  if (node === undefined || rest.length > 0) throw unknownPath(parsed.path);
  const act = ACCOUNT_NODE.exec(node);
  if (act && ctx.account) {
    if (edge !== 'customaudiences')
      throw edge === undefined ? unsupportedRequest(method, node) : unknownPath(`/${edge}`);
    if (method === 'GET') return listAudiences(ctx, ctx.account);
    if (method === 'POST') return createAudience(ctx, ctx.account);
    throw unsupportedRequest(method, node);
  }
  if (!AUDIENCE_NODE.test(node)) throw unsupportedRequest(method, node);
  if (edge === undefined) {
    if (method === 'GET') return readAudience(ctx, node);
    if (method === 'DELETE') return deleteAudience(ctx, node);
    throw unsupportedRequest(method, node);
  }
  if (edge === 'users' && method === 'POST') return changeUsers(ctx, node, 'add');
  if (edge === 'users' && method === 'DELETE') return changeUsers(ctx, node, 'remove');
  if (edge === 'usersreplace' && method === 'POST') return replaceUsers(ctx, node);
  if (edge === 'users' || edge === 'usersreplace') throw unsupportedRequest(method, node);
  throw unknownPath(`/${edge}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------------------------

function faultMatches(fault: Fault, method: string, path: string): boolean {
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  if (fault.path === undefined) return true;
  if (typeof fault.path === 'string') return fault.path === path;
  fault.path.lastIndex = 0;
  return fault.path.test(path);
}

function takeFault(queue: QueuedFault[], method: string, path: string): Fault | undefined {
  const index = queue.findIndex((queued) => faultMatches(queued.fault, method, path));
  const queued = queue[index];
  if (!queued) return undefined;
  queued.remaining -= 1;
  if (queued.remaining <= 0) queue.splice(index, 1);
  return queued.fault;
}

const DEFAULT_HTML =
  '<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>';

// ---------------------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------------------

function writeResponse(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Readonly<Record<string, string>>,
): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, {
    'content-type': contentType,
    'x-fb-trace-id': traceId(),
    ...headers,
  });
  res.end(body);
}

function errorBody(failure: GraphFailure): string {
  return JSON.stringify({ error: { ...failure.error, fbtrace_id: traceId() } });
}

function faultFailure(fault: Extract<FaultAction, { kind: 'graphError' }>): GraphFailure {
  return new GraphFailure(fault.status ?? 400, {
    message: fault.message ?? defaultFaultMessage(fault.code),
    type: 'OAuthException',
    code: fault.code,
    ...(fault.subcode === undefined ? {} : { error_subcode: fault.subcode }),
    ...(fault.userTitle === undefined ? {} : { error_user_title: fault.userTitle }),
    ...(fault.userMsg === undefined ? {} : { error_user_msg: fault.userMsg }),
    ...(fault.isTransient === undefined ? {} : { is_transient: fault.isTransient }),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------

interface Runtime {
  state: State;
  opts: ResolvedOptions;
  baseUrl: string;
  validTokens: readonly string[];
  timers: Set<NodeJS.Timeout>;
}

function sleep(runtime: Runtime, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      runtime.timers.delete(timer);
      resolve();
    }, ms);
    runtime.timers.add(timer);
  });
}

async function handleRequest(runtime: Runtime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { state, opts } = runtime;
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'http://fake.invalid');
  const parsed = splitPath(url.pathname);
  const query: Record<string, string> = Object.fromEntries(url.searchParams);
  const body = parseBody(await readBody(req), req.headers['content-type']);
  const record: RecordedRequest = {
    method,
    path: parsed.path,
    version: parsed.version,
    query: redactParams(query),
    body: body.ok ? redactParams(body.params) : redactRaw(body.raw),
    status: 0,
    at: opts.now(),
  };
  state.requests.push(record);

  const fault = takeFault(state.faults, method, parsed.path);
  if (fault) record.fault = fault.kind;
  if (fault?.kind === 'delay') await sleep(runtime, fault.ms);
  const accountId = accountIdFor(state, parsed.segments);
  const knownAccount = accountId === undefined ? undefined : accountState(state, opts, accountId);
  const headerFor = () => ({ 'x-business-use-case-usage': usageHeader(state, knownAccount, opts, opts.now()) });

  if (fault?.kind === 'reset') {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'html') {
    record.status = fault.status ?? 500;
    writeResponse(res, record.status, fault.body ?? DEFAULT_HTML, 'text/html; charset=utf-8', headerFor());
    return;
  }
  const authorization = req.headers.authorization;
  const reply =
    fault?.kind === 'graphError' ? faultFailure(fault) : serve(runtime, { method, parsed, query, body, authorization });
  const { status, payload, headers } =
    reply instanceof GraphFailure
      ? { status: reply.status, payload: errorBody(reply), headers: reply.headers }
      : { status: reply.status, payload: JSON.stringify(reply.body), headers: {} };
  record.status = status;
  if (reply instanceof GraphFailure) record.errorCode = reply.error.code;
  writeResponse(res, status, payload, 'application/json; charset=UTF-8', { ...headers, ...headerFor() });
}

interface Incoming {
  method: string;
  parsed: ParsedPath;
  query: Params;
  body: BodyParse;
  authorization: string | undefined;
}

/** Token check, usage accounting, routing. Returns the reply or the Graph failure to send. */
function serve(runtime: Runtime, incoming: Incoming): Reply | GraphFailure {
  try {
    if (!incoming.body.ok) throw paramError('The request body could not be parsed (send JSON or form-urlencoded)');
    const bodyParams = incoming.body.params;
    const token = tokenFrom(incoming.query, bodyParams, incoming.authorization);
    if (token === undefined || !runtime.state.tokens.has(token)) throw tokenError(runtime.opts.invalidTokenSubcode);
    return serveAuthorized(runtime, incoming, bodyParams, token);
  } catch (error) {
    if (error instanceof GraphFailure) return error;
    throw error;
  }
}

function serveAuthorized(runtime: Runtime, incoming: Incoming, bodyParams: Params, token: string): Reply {
  const { state, opts } = runtime;
  const now = opts.now();
  const accountId = accountIdFor(state, incoming.parsed.segments);
  const account = accountId === undefined ? undefined : accountState(state, opts, accountId);
  if (account) countCall(state, account, opts, now);
  const params: Params = { ...incoming.query, ...bodyParams };
  delete params.access_token;
  const ctx: Ctx = {
    state,
    opts,
    params,
    now,
    token,
    version: incoming.parsed.version,
    baseUrl: runtime.baseUrl,
    account,
  };
  return dispatch(ctx, incoming.method, incoming.parsed);
}

function internalError(error: unknown): GraphFailure {
  const detail = error instanceof Error ? error.message : String(error);
  return graphFailure(1, `An unknown error occurred (fake server bug: ${detail})`, {}, 500);
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

function closeServer(server: Server, runtime: Runtime): Promise<void> {
  for (const timer of runtime.timers) clearTimeout(timer);
  runtime.timers.clear();
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

function memberSet(state: State, opts: ResolvedOptions, audienceId: string): Set<string> {
  expireAllReplaceSessions(state, opts);
  return new Set(state.audiences.get(audienceId)?.members ?? []);
}

function batches(state: State, audienceId: string, kind: 'adds' | 'removes' | 'replaces'): BatchRecord[] {
  return (state.audiences.get(audienceId)?.[kind] ?? []).map((record) => ({ ...record }));
}

function seed(runtime: Runtime, input: SeedAudience): string {
  const { state, opts } = runtime;
  const account = accountState(state, opts, input.adAccountId);
  const audience = insertAudience(state, opts.now(), {
    accountId: account.id,
    name: input.name,
    subtype: 'CUSTOM',
    customerFileSource: input.customerFileSource ?? 'USER_PROVIDED_ONLY',
  });
  for (const member of input.members ?? []) audience.members.add(member);
  return audience.id;
}

function resetState(runtime: Runtime): void {
  const fresh = newState(runtime.validTokens);
  const { state } = runtime;
  state.accounts = fresh.accounts;
  state.audiences = fresh.audiences;
  state.nextAudience = fresh.nextAudience;
  state.faults.length = 0;
  state.requests.length = 0;
  state.tokens.clear();
  for (const token of fresh.tokens) state.tokens.add(token);
}

function fakeMeta(runtime: Runtime, server: Server, port: number): FakeMeta {
  const { state, opts } = runtime;
  return {
    baseUrl: runtime.baseUrl,
    port,
    requests: state.requests,
    tokens: state.tokens,
    close: () => closeServer(server, runtime),
    inject: (fault) => {
      state.faults.push({ fault, remaining: fault.times ?? 1 });
    },
    pendingFaults: () => state.faults.reduce((sum, queued) => sum + queued.remaining, 0),
    members: (audienceId) => memberSet(state, opts, audienceId),
    audiences: () => {
      expireAllReplaceSessions(state, opts);
      return [...state.audiences.values()].map(snapshot);
    },
    addCalls: (audienceId) => batches(state, audienceId, 'adds'),
    removeCalls: (audienceId) => batches(state, audienceId, 'removes'),
    replaceCalls: (audienceId) => batches(state, audienceId, 'replaces'),
    seedAudience: (input) => seed(runtime, input),
    setTosAccepted: (adAccountId, accepted) => {
      accountState(state, opts, adAccountId).tosAccepted = accepted;
    },
    usage: (adAccountId) => usageEntry(state, accountState(state, opts, adAccountId), opts, opts.now()),
    resetUsage: (adAccountId) => {
      const accounts =
        adAccountId === undefined ? [...state.accounts.values()] : [accountState(state, opts, adAccountId)];
      for (const account of accounts) {
        account.calls = 0;
        account.windowStart = opts.now();
      }
    },
    reset: () => resetState(runtime),
  };
}

/** Start the fake Graph API on 127.0.0.1 with a random port. */
export async function startMetaGraphServer(options: MetaGraphServerOptions = {}): Promise<FakeMeta> {
  const validTokens = options.validTokens ?? ['test-token'];
  const runtime: Runtime = {
    state: newState(validTokens),
    opts: resolveOptions(options),
    baseUrl: '',
    validTokens,
    timers: new Set(),
  };
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    handleRequest(runtime, req, res).catch((error: unknown) => {
      writeResponse(res, 500, errorBody(internalError(error)), 'application/json; charset=UTF-8', {});
    });
  });
  const port = await listen(server);
  runtime.baseUrl = `http://127.0.0.1:${port}`;
  return fakeMeta(runtime, server, port);
}
