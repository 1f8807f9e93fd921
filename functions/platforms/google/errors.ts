/**
 * Data Manager API errors (`google.rpc.Status` over REST) mapped to what sync should do. Messages are one line for the
 * operator and never carry tokens, keys or identifiers: Google's own message text is kept only after
 * {@link scrub} has removed anything that looks like an address, a hash or a phone number.
 *
 * Facts (developers.google.com/data-manager/api: "Understand API errors", "Limits and quotas", ErrorReason):
 * REST errors are `{error: {code: <HTTP status>, message, status: <canonical code>, details: [...]}}`; details carry
 * `google.rpc.ErrorInfo` (reason from the Data Manager `ErrorReason` enum, metadata), `google.rpc.BadRequest`
 * (`fieldViolations[{field, description, reason}]`) and others; quota errors are HTTP 429 `RESOURCE_EXHAUSTED` and
 * name the exceeded quota in `ErrorInfo.metadata.quota_limit` (…PerMinutePerProject / …PerDayPerProject).
 */
import { DestinationError } from '../../core/ports';

export interface FieldViolation {
  field?: string;
  description?: string;
  reason?: string;
}

export interface RpcStatus {
  httpStatus: number;
  status?: string;
  message?: string;
  reasons: string[];
  metadata: Record<string, string>;
  violations: FieldViolation[];
  retryDelaySeconds?: number;
}

const TYPE = 'type.googleapis.com/google.rpc.';

/** Reads a REST error body; an HTML page or an empty body yields only the HTTP status. */
export function parseRpcStatus(httpStatus: number, text: string): RpcStatus {
  const out: RpcStatus = { httpStatus, reasons: [], metadata: {}, violations: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return out;
  }
  const error = (json as { error?: Record<string, unknown> } | null)?.error;
  if (!error || typeof error !== 'object') return out;
  if (typeof error.status === 'string') out.status = error.status;
  if (typeof error.message === 'string') out.message = error.message;
  for (const d of Array.isArray(error.details) ? (error.details as Record<string, unknown>[]) : []) {
    const type = typeof d?.['@type'] === 'string' ? (d['@type'] as string) : '';
    if (type === `${TYPE}ErrorInfo`) {
      if (typeof d.reason === 'string') out.reasons.push(d.reason);
      if (d.metadata && typeof d.metadata === 'object')
        for (const [k, v] of Object.entries(d.metadata as Record<string, unknown>))
          if (typeof v === 'string') out.metadata[k] = v;
    } else if (type === `${TYPE}BadRequest` && Array.isArray(d.fieldViolations)) {
      for (const v of d.fieldViolations as FieldViolation[]) {
        out.violations.push(v);
        if (typeof v.reason === 'string') out.reasons.push(v.reason);
      }
    } else if (type === `${TYPE}RetryInfo` && typeof d.retryDelay === 'string') {
      const s = Number.parseFloat(d.retryDelay);
      if (Number.isFinite(s)) out.retryDelaySeconds = s;
    }
  }
  return out;
}

/** Indices of the audience members that field violations name (`audience_members[3]…`, either case style). */
export function violatingMembers(status: RpcStatus): number[] {
  const out = new Set<number>();
  for (const v of status.violations) {
    const m = /audience_?members\[(\d+)\]/i.exec(v.field ?? '');
    if (m) out.add(Number(m[1]));
  }
  return [...out].sort((a, b) => a - b);
}

const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[^\s@"'<>]+/g;
const HEX = /\b[0-9a-fA-F]{32,}\b/g;
const DIGITS = /\+?\d[\d\s().-]{6,}\d/g;
const TOKENISH = /\bya29\.[\w.-]+|\bBearer\s+\S+/g;

/** Removes what could identify a person or authorize a call from a platform message, and bounds its length. */
export function scrub(text: string, secrets: readonly string[] = []): string {
  let t = text;
  for (const s of secrets) if (s.length >= 8) t = t.split(s).join('[REDACTED]');
  t = t.replace(TOKENISH, '[REDACTED]').replace(EMAIL, '[email]').replace(HEX, '[hash]').replace(DIGITS, '[number]');
  t = t.replace(/\s+/g, ' ').trim();
  return t.length > 240 ? `${t.slice(0, 237)}...` : t;
}

/** Seconds until the next midnight in America/Los_Angeles, when Google's daily quotas reset (unverified for this API). */
export function secondsUntilPacificMidnight(now: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: 'America/Los_Angeles',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    hourCycle: 'h23',
  }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const elapsed = get('hour') * 3600 + get('minute') * 60 + get('second');
  return Math.max(60, 86_400 - elapsed);
}

export interface ErrorContext {
  operation: string;
  operatingAccountId: string;
  loginAccountId?: string;
  clientEmail?: string;
  userListId?: string;
  /** The list id came from the config (a wrong id is a config error) rather than from state (a vanished list). */
  listFromConfig?: boolean;
  secrets?: readonly string[];
  now?: Date;
}

const TERMS_HELP =
  'A person with admin access accepts them in Google Ads (Tools → Audience manager, on the first customer-list upload), then sets customerMatchTermsAccepted: true in the config';

/** Maps an HTTP status and Status body to a DestinationError with one actionable line. */
export function mapRpcError(s: RpcStatus, ctx: ErrorContext): DestinationError {
  const reasons = new Set(s.reasons);
  const has = (...r: string[]) => r.some((x) => reasons.has(x));
  const code = s.status ?? `HTTP ${s.httpStatus}`;
  const why = [...reasons].slice(0, 3).join(', ');
  const fields = s.violations
    .map((v) => v.field)
    .filter((f): f is string => typeof f === 'string' && f !== '')
    .slice(0, 3)
    .join(', ');
  const said = s.message ? scrub(s.message, ctx.secrets) : '';
  const tag = `Google ${ctx.operation} failed (${code}${why ? ` ${why}` : ''})`;
  const details = { status: s.httpStatus };
  const who = ctx.clientEmail ? `service account ${ctx.clientEmail}` : 'the service account';
  const account = `Google Ads account ${ctx.operatingAccountId}`;

  if (s.httpStatus === 429 || s.status === 'RESOURCE_EXHAUSTED' || has('RESOURCE_EXHAUSTED')) {
    const daily = /PerDay/i.test(s.metadata.quota_limit ?? '');
    const retryAfterSeconds = daily
      ? secondsUntilPacificMidnight(ctx.now ?? new Date())
      : Math.max(1, Math.ceil(s.retryDelaySeconds ?? 60));
    return new DestinationError(
      'throttled',
      `${tag}: the Cloud project's ${daily ? 'daily request quota (100,000)' : 'per-minute request quota (300)'} is used up; sync resumes from the last confirmed batch in about ${Math.ceil(retryAfterSeconds / 60)} min.`,
      { ...details, retryAfterSeconds },
    );
  }
  if (s.httpStatus === 401 || s.status === 'UNAUTHENTICATED')
    return new DestinationError(
      'auth',
      `${tag}: Google refused the access token of ${who}. Check that the key in the Google secret is current (IAM → Service accounts → Keys) and the Data Manager API is enabled in its Cloud project; nothing was lost, the next run resumes.`,
      details,
    );
  if (has('ACCESS_TOKEN_SCOPE_INSUFFICIENT'))
    return new DestinationError(
      'auth',
      `${tag}: the token lacks the scope https://www.googleapis.com/auth/datamanager; this is a bug in the adapter's auth setup, please report it.`,
      details,
    );
  if (has('TERMS_AND_CONDITIONS_NOT_SIGNED', 'ADVERTISER_TOS_NOT_ACCEPTED'))
    return new DestinationError(
      'terms',
      `${tag}: the Customer Match terms of service are not accepted for ${account}. ${TERMS_HELP}.`,
      {
        ...details,
        link: 'https://ads.google.com/aw/audiences/management',
      },
    );
  if (s.httpStatus === 403 || s.status === 'PERMISSION_DENIED' || has('PERMISSION_DENIED'))
    return new DestinationError(
      'config',
      `${tag}: ${who} may not write to ${account}${ctx.loginAccountId ? ` through manager account ${ctx.loginAccountId}` : ''}. Add it as a user with Standard access (Google Ads → Admin → Access and security), or set loginAccountId to the manager account it was added to.`,
      details,
    );
  if (has('INVALID_USER_LIST_ID', 'INVALID_USER_LIST_TYPE') || (s.status === 'NOT_FOUND' && ctx.userListId)) {
    if (ctx.listFromConfig)
      return new DestinationError(
        'config',
        `${tag}: user list ${ctx.userListId ?? '?'} is not a Customer Match list of ${account}; check userListIds in the config (Google Ads → Tools → Audience manager shows each list's ID).`,
        details,
      );
    return new DestinationError(
      'deleted',
      `${tag}: user list ${ctx.userListId ?? '?'} no longer exists in ${account} (deleted or closed in Google Ads)`,
      details,
    );
  }
  if (has('INVALID_DESTINATION', 'OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH', 'DESTINATION_ACCOUNT_TYPE_MISMATCH'))
    return new DestinationError(
      'config',
      `${tag}: the destination is not valid (${fields || 'destinations'}); check operatingAccountId (10 digits, no dashes needed), loginAccountId and linkedAccountId in the config.`,
      details,
    );
  if (has('NOT_ALLOWLISTED', 'ADVERTISER_NOT_ALLOWLISTED_FOR_UPLOADED_DATA'))
    return new DestinationError(
      'config',
      `${tag}: ${account} is not allowed to use Customer Match yet (Google's eligibility: account history and policy compliance); ask Google Ads support.`,
      details,
    );
  if (s.httpStatus >= 500 || s.httpStatus === 408 || s.httpStatus === 0 || has('INTERNAL_ERROR', 'DEADLINE_EXCEEDED'))
    return new DestinationError(
      'transient',
      `${tag}: ${said || 'Google answered with a server error'}; retrying.`,
      details,
    );
  return new DestinationError(
    'permanent',
    `${tag}${fields ? ` at ${fields}` : ''}: ${said || 'request rejected'}`,
    details,
  );
}
