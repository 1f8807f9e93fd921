/**
 * Google Customer Match through the Data Manager API (REST v1, `https://datamanager.googleapis.com`): the Google Ads
 * API takes no new Customer Match users since April 2026.
 *
 * - Members: `POST /v1/audienceMembers:ingest` (with consent and the Customer Match terms of service) and
 *   `:remove`; up to 10,000 members and 10 identifiers a member; `encoding: HEX` for the SHA-256 values.
 * - Full replace: re-ingest everyone, then `:removeAll` with `removeAsOfTime` = the replace's start (less a clock-skew
 *   margin): Google removes only members last added before that time, so nobody re-sent is removed and the list
 *   never empties in between.
 * - Lists: `accountTypes/GOOGLE_ADS/accounts/{id}/userLists` (get, list by display name, create with
 *   `ingestedUserListInfo.uploadKeyTypes: [CONTACT_ID]`), or list ids from the config.
 * - Fast-fail: one invalid member fails a whole request, so every member is checked here first and dropped (and
 *   counted) when it would fail; should Google still name members in field violations, those are dropped and the
 *   rest is sent again.
 * - Plain `fetch` with a bearer token from google-auth-library: Google's JSON, enums as names, errors as
 *   `google.rpc.Status` (see google-errors.ts). Every message this adapter passes on has the key and token removed.
 */
import type {
  AudienceHealth,
  AudienceRef,
  BatchMember,
  BatchOutcome,
  Destination,
  ReplaceSession,
} from '../../core/ports';
import { DestinationError } from '../../core/ports';
import type { TokenSource } from './auth';
import { type ErrorContext, mapRpcError, parseRpcStatus, scrub, violatingMembers } from './errors';
import {
  accountDigits,
  DATAMANAGER_URL,
  destinationJson,
  type GoogleBatchMember,
  type GoogleDestinationSettings,
  ingestBody,
  MAX_MEMBERS_PER_REQUEST,
  prepareMembers,
  REPLACE_SKEW_MARGIN_MS,
  type RemoveAllBody,
  removeBody,
  termsNotConfirmed,
} from './requests';

export interface GoogleDestinationOptions extends GoogleDestinationSettings {
  tokens: TokenSource;
  /** Every request with `validateOnly: true`: checked by Google, nothing changes (sync --dry-run). */
  validateOnly?: boolean;
  maxBatchSize?: number;
  /** Base URL of the Data Manager API; a local server in tests. */
  baseUrl?: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** Waits on a per-minute 429 before trying again, at most this many times a call (default 2). */
  throttleRetries?: number;
  /** Longest wait on a per-minute 429 (default 65 s); a longer RetryInfo stops the destination instead. */
  maxThrottleWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

// ---------------------------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------------------------

const VALIDATE_ONLY_LIST = 'validate-only:';

interface UserListJson {
  id?: string;
  displayName?: string;
  membershipStatus?: string;
  sizeInfo?: Record<string, string | number>;
}

export class GoogleDestination implements Destination {
  readonly platform = 'google' as const;
  readonly maxBatchSize: number;
  private readonly base: string;
  private readonly sessionStarts = new Map<number, Date>();
  private lastUsage: { usagePercent?: number; regainAccessMinutes?: number } = {};
  private usageUntil = 0;

  /** Built for `sync --dry-run`: every request is checked by Google (`validateOnly`), nothing changes. */
  get validateOnly(): boolean {
    return this.opts.validateOnly === true;
  }

  constructor(private readonly opts: GoogleDestinationOptions) {
    if (!/^\d{10}$/.test(accountDigits(opts.operatingAccountId)))
      throw new DestinationError(
        'config',
        `Google Ads account must be 10 digits (like 123-456-7890), got "${opts.operatingAccountId}"`,
      );
    for (const [what, id] of [
      ['loginAccountId', opts.loginAccountId],
      ['linkedAccountId', opts.linkedAccountId],
    ] as const)
      if (id !== undefined && !/^\d{10}$/.test(accountDigits(id)))
        throw new DestinationError('config', `Google ${what} must be 10 digits (like 123-456-7890), got "${id}"`);
    const max = opts.maxBatchSize ?? MAX_MEMBERS_PER_REQUEST;
    if (!Number.isInteger(max) || max < 1 || max > MAX_MEMBERS_PER_REQUEST)
      throw new DestinationError('config', `Google batch size must be 1–10,000, got ${opts.maxBatchSize}`);
    this.maxBatchSize = max;
    this.base = (opts.baseUrl ?? DATAMANAGER_URL).replace(/\/$/, '');
  }

  usage() {
    if (this.usageUntil > 0 && this.now().getTime() >= this.usageUntil) {
      this.lastUsage = {};
      this.usageUntil = 0;
    }
    return this.lastUsage;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private secrets(): string[] {
    return this.opts.tokens.secrets();
  }

  private ctx(operation: string, userListId?: string): ErrorContext {
    return {
      operation,
      operatingAccountId: accountDigits(this.opts.operatingAccountId),
      ...(this.opts.loginAccountId ? { loginAccountId: accountDigits(this.opts.loginAccountId) } : {}),
      ...(this.opts.tokens.clientEmail ? { clientEmail: this.opts.tokens.clientEmail } : {}),
      ...(userListId
        ? { userListId, listFromConfig: Object.values(this.opts.userListIds ?? {}).includes(userListId) }
        : {}),
      secrets: this.secrets(),
      now: this.now(),
    };
  }

  /** Any error leaving the adapter: a DestinationError whose message holds none of the secrets held here. */
  private redacted(e: unknown, operation: string): DestinationError {
    const secrets = this.secrets();
    if (e instanceof DestinationError) {
      const clean = scrubSecrets(e.message, secrets);
      return clean === e.message ? e : new DestinationError(e.kind, clean, e.details);
    }
    const name = (e as Error)?.name ?? 'Error';
    return new DestinationError(
      'transient',
      `Google ${operation} failed: ${scrub(`${name}: ${(e as Error)?.message ?? String(e)}`, secrets)}`,
    );
  }

  /** One HTTP call; throws a mapped DestinationError on any failure. Returns the parsed JSON body. */
  private async request(
    operation: string,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    userListId?: string,
  ): Promise<Record<string, unknown>> {
    const token = await this.opts.tokens.token();
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    if (path.includes('/userLists')) {
      if (this.opts.loginAccountId)
        headers['login-account'] = `accountTypes/GOOGLE_ADS/accounts/${accountDigits(this.opts.loginAccountId)}`;
      if (this.opts.linkedAccountId)
        headers['linked-account'] = `accountTypes/GOOGLE_ADS/accounts/${accountDigits(this.opts.linkedAccountId)}`;
    }
    const doFetch = this.opts.fetchImpl ?? fetch;
    let res: Response;
    try {
      res = await doFetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
      });
    } catch (e) {
      const name = (e as Error)?.name ?? 'Error';
      throw new DestinationError(
        'transient',
        name === 'TimeoutError' || name === 'AbortError'
          ? `Google ${operation} timed out after ${this.opts.timeoutMs ?? 60_000} ms; retrying`
          : `Google ${operation} could not reach the Data Manager API (${name}); retrying`,
      );
    }
    const text = await res.text();
    if (!res.ok)
      throw Object.assign(mapRpcError(parseRpcStatus(res.status, text), this.ctx(operation, userListId)), {
        rpc: parseRpcStatus(res.status, text),
      });
    try {
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw new DestinationError('transient', `Google ${operation} answered with a body that is not JSON; retrying`);
    }
  }

  /** A mutate call with Google's per-minute quota waited out a bounded number of times. */
  private async mutate(operation: string, path: string, body: unknown, userListId: string) {
    const retries = this.opts.throttleRetries ?? 2;
    const maxWait = this.opts.maxThrottleWaitMs ?? 65_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request(operation, 'POST', path, body, userListId);
      } catch (e) {
        if (!(e instanceof DestinationError) || e.kind !== 'throttled') throw e;
        const waitMs = (e.details.retryAfterSeconds ?? 60) * 1000;
        if (attempt >= retries || waitMs > maxWait) {
          this.lastUsage = { usagePercent: 100, regainAccessMinutes: Math.ceil(waitMs / 60_000) };
          this.usageUntil = this.now().getTime() + waitMs;
          throw e;
        }
        await (this.opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))))(waitMs);
      }
    }
  }

  private listPath(id?: string): string {
    return `/v1/accountTypes/GOOGLE_ADS/accounts/${accountDigits(this.opts.operatingAccountId)}/userLists${id ? `/${id}` : ''}`;
  }

  async ensureAudience(spec: { name: string; description: string; knownId?: string }) {
    try {
      const configured = this.opts.userListIds?.[spec.name];
      const id = configured ?? spec.knownId;
      if (id && !id.startsWith(VALIDATE_ONLY_LIST)) {
        const list = (await this.request('read user list', 'GET', this.listPath(id), undefined, id)) as UserListJson;
        return { ref: { id, name: list.displayName ?? spec.name }, created: false };
      }
      const filter = encodeURIComponent(`display_name = "${spec.name.replace(/["\\]/g, '\\$&')}"`);
      const found = (await this.request('find user list', 'GET', `${this.listPath()}?filter=${filter}`)) as {
        userLists?: UserListJson[];
      };
      const match = found.userLists?.find((l) => l.displayName === spec.name && l.id);
      if (match?.id) return { ref: { id: match.id, name: spec.name }, created: false };
      if (this.opts.createLists === false)
        throw new DestinationError(
          'config',
          `Google has no user list named "${spec.name}" in account ${accountDigits(this.opts.operatingAccountId)} and list creation is off: create a Customer Match list in Google Ads (Tools → Audience manager → + → Customer list) and put its ID under userListIds`,
        );
      const days = this.opts.membershipDurationDays ?? 540;
      const userList = {
        displayName: spec.name,
        description: spec.description.slice(0, 500),
        membershipDuration: `${days * 86_400}s`,
        ingestedUserListInfo: {
          uploadKeyTypes: ['CONTACT_ID'],
          contactIdInfo: { dataSourceType: 'DATA_SOURCE_TYPE_FIRST_PARTY' },
        },
      };
      if (this.opts.validateOnly) {
        await this.request('create user list', 'POST', `${this.listPath()}?validateOnly=true`, userList);
        return { ref: { id: `${VALIDATE_ONLY_LIST}${spec.name}`, name: spec.name }, created: false };
      }
      const created = (await this.request('create user list', 'POST', this.listPath(), userList)) as UserListJson;
      if (!created.id) throw new DestinationError('transient', 'Google create user list returned no id; retrying');
      return { ref: { id: String(created.id), name: spec.name }, created: true };
    } catch (e) {
      throw this.redacted(e, 'ensure user list');
    }
  }

  /** Sends prepared members in chunks; members Google names in field violations are dropped and the rest re-sent. */
  private async send(
    op: 'ingest' | 'remove',
    audience: AudienceRef,
    batch: readonly GoogleBatchMember[],
  ): Promise<BatchOutcome> {
    const prepared = prepareMembers(batch, op, this.opts.consent);
    let invalid = prepared.dropped;
    const fields = new Set<string>(prepared.problems);
    let received = 0;
    if (audience.id.startsWith(VALIDATE_ONLY_LIST)) return outcome(prepared.members.length, invalid, fields);
    const validateOnly = this.opts.validateOnly === true;
    for (let i = 0; i < prepared.members.length; i += MAX_MEMBERS_PER_REQUEST) {
      let chunk = prepared.members.slice(i, i + MAX_MEMBERS_PER_REQUEST);
      for (let round = 0; chunk.length > 0; round++) {
        const body =
          op === 'ingest'
            ? ingestBody(this.opts, audience.id, chunk, validateOnly)
            : removeBody(this.opts, audience.id, chunk, validateOnly);
        try {
          await this.mutate(
            op === 'ingest' ? 'add members' : 'remove members',
            `/v1/audienceMembers:${op}`,
            body,
            audience.id,
          );
          received += chunk.length;
          break;
        } catch (e) {
          const rpc = (e as { rpc?: ReturnType<typeof parseRpcStatus> }).rpc;
          const bad = rpc && rpc.httpStatus === 400 ? violatingMembers(rpc).filter((n) => n < chunk.length) : [];
          if (bad.length === 0 || round >= 3) throw e;
          invalid += bad.length;
          for (const v of rpc?.violations ?? []) if (v.reason) fields.add(v.reason);
          const skip = new Set(bad);
          chunk = chunk.filter((_, n) => !skip.has(n));
        }
      }
    }
    return outcome(received, invalid, fields);
  }

  async add(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome> {
    try {
      if (!this.opts.termsAccepted) throw termsNotConfirmed(this.opts.operatingAccountId);
      return await this.send('ingest', audience, batch);
    } catch (e) {
      throw this.redacted(e, 'add members');
    }
  }

  async remove(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome> {
    try {
      return await this.send('remove', audience, batch);
    } catch (e) {
      throw this.redacted(e, 'remove members');
    }
  }

  /**
   * Full replace: every batch is an ingest; the last one is followed by removeAll as of the session's start (less
   * {@link REPLACE_SKEW_MARGIN_MS}). The start is `session.startedAt` when core passes it, else the time this process
   * saw batch 1; a last batch of a session begun in another process, without startedAt, skips removeAll (nobody is
   * wrongly removed; the diff of later runs removes who left).
   */
  async replace(
    audience: AudienceRef,
    batch: BatchMember[],
    session: ReplaceSession & { startedAt?: string },
  ): Promise<BatchOutcome> {
    try {
      if (session.batchSeq === 1 && !this.sessionStarts.has(session.sessionId))
        this.sessionStarts.set(session.sessionId, session.startedAt ? new Date(session.startedAt) : this.now());
      const result = await this.add(audience, batch);
      if (session.last) {
        const started = session.startedAt ? new Date(session.startedAt) : this.sessionStarts.get(session.sessionId);
        this.sessionStarts.delete(session.sessionId);
        if (started && !Number.isNaN(started.getTime()) && !audience.id.startsWith(VALIDATE_ONLY_LIST)) {
          const asOf = new Date(Math.min(started.getTime() - REPLACE_SKEW_MARGIN_MS, this.now().getTime()));
          const body: RemoveAllBody = {
            destinations: [destinationJson(this.opts, audience.id)],
            removeAsOfTime: asOf.toISOString(),
            ...(this.opts.validateOnly ? { validateOnly: true as const } : {}),
          };
          await this.mutate('remove members not re-sent', '/v1/audienceMembers:removeAll', body, audience.id);
        }
      }
      return result;
    } catch (e) {
      throw this.redacted(e, 'replace members');
    }
  }

  async health(audience: AudienceRef): Promise<AudienceHealth> {
    try {
      if (audience.id.startsWith(VALIDATE_ONLY_LIST)) return {};
      const list = (await this.request(
        'read user list',
        'GET',
        this.listPath(audience.id),
        undefined,
        audience.id,
      )) as UserListJson;
      const counts = Object.values(list.sizeInfo ?? {})
        .map(Number)
        .filter((n) => Number.isFinite(n));
      return {
        ...(counts.length > 0
          ? { approximateCountLowerBound: Math.min(...counts), approximateCountUpperBound: Math.max(...counts) }
          : {}),
        ...(list.membershipStatus ? { operationStatus: { description: list.membershipStatus } } : {}),
      };
    } catch (e) {
      throw this.redacted(e, 'read user list');
    }
  }
}

function outcome(received: number, invalid: number, fields: Set<string>): BatchOutcome {
  return { received, invalid, ...(fields.size > 0 ? { invalidFields: [...fields] } : {}) };
}

function scrubSecrets(text: string, secrets: readonly string[]): string {
  let t = text;
  for (const s of secrets) if (s.length >= 8) t = t.split(s).join('[REDACTED]');
  return t;
}
