/**
 * Meta custom audiences through facebook-nodejs-business-sdk.
 *
 * - Create, add (`POST /{id}/users`), replace (`POST /{id}/usersreplace`), lookalikes and health reads use the SDK.
 * - Removal is `DELETE /{id}/users` with the payload in a form body: the SDK would put a 10,000-row payload
 *   (and the token) into the query string of a DELETE, which is both huge and a token-in-URL leak.
 * - The token travels in the query string of SDK calls, so request URLs are never logged; SDK errors are
 *   converted to DestinationError without their URL.
 * - Graph error messages can repeat the token itself: every error this adapter throws has the token (and its
 *   URL-encoded forms) removed from its message and details first.
 */
import bizSdk from 'facebook-nodejs-business-sdk';
import { SecretRedactor } from '../../adapters/secret-redactor';
import type {
  AudienceHealth,
  AudienceRef,
  BatchMember,
  BatchOutcome,
  Destination,
  ReplaceSession,
} from '../../core/ports';
import { DestinationError } from '../../core/ports';
import { toSchemaRows } from '../../core/sync-plan';
import { type GraphErrorBody, mapGraphError, parseBucUsage, type Usage } from './errors';
import { META_KEYS } from './keys';

const { FacebookAdsApi, AdAccount, CustomAudience } = bizSdk as unknown as {
  FacebookAdsApi: {
    init(token: string, locale?: string, crashLog?: boolean): SdkApi;
    GRAPH: string;
    VERSION: string;
  };
  AdAccount: new (id: string, data?: object, parentId?: string, api?: SdkApi) => SdkObject;
  CustomAudience: new (id: string, data?: object, parentId?: string, api?: SdkApi) => SdkObject;
};
interface SdkApi {
  setShowHeader(flag: boolean): SdkApi;
}
interface SdkObject {
  _data?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface MetaDestinationOptions {
  /** Records per call, at most Meta's 10,000 (smaller values keep tests fast). */
  maxBatchSize?: number;
  accessToken: string;
  /** `act_<digits>` */
  adAccountId: string;
  /** Base URL of the Graph API; a local server in tests. Default https://graph.facebook.com */
  graphUrl?: string;
  customerFileSource?: 'USER_PROVIDED_ONLY' | 'PARTNER_PROVIDED_ONLY' | 'BOTH_USER_AND_PARTNER_PROVIDED';
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

let graphOverride: string | undefined;
/** The SDK's Graph host is a static getter; redirect it once per process when a local server is used. */
function pointSdkAt(graphUrl: string | undefined) {
  if (!graphUrl || graphOverride === graphUrl) return;
  graphOverride = graphUrl;
  Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => graphOverride, configurable: true });
}

export class MetaDestination implements Destination {
  readonly platform = 'meta' as const;
  /** Meta accepts at most 10,000 records per call. */
  readonly maxBatchSize: number;
  private readonly api: SdkApi;
  private readonly graphUrl: string;
  private lastUsage: Usage = {};
  /** Every error leaves this adapter through here: the token never reaches reports, logs or the console. */
  private readonly secrets: SecretRedactor;

  constructor(private readonly opts: MetaDestinationOptions) {
    this.secrets = new SecretRedactor([opts.accessToken]);
    if (!/^act_\d+$/.test(opts.adAccountId))
      throw new Error(`Meta ad account must look like act_<digits>, got "${opts.adAccountId}"`);
    if (opts.maxBatchSize !== undefined && (opts.maxBatchSize < 1 || opts.maxBatchSize > 10_000))
      throw new Error(`Meta batch size must be 1–10,000, got ${opts.maxBatchSize}`);
    this.maxBatchSize = opts.maxBatchSize ?? 10_000;
    pointSdkAt(opts.graphUrl);
    this.graphUrl = (opts.graphUrl ?? 'https://graph.facebook.com').replace(/\/$/, '');
    // crash_log=false: the SDK otherwise installs a process-wide handler that posts crash reports to Meta.
    this.api = FacebookAdsApi.init(opts.accessToken, 'en_US', false);
    this.api.setShowHeader(true);
  }

  usage(): Usage {
    return this.lastUsage;
  }

  private async sdk<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const timeoutMs = this.opts.timeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new DestinationError('transient', `Meta ${operation} timed out after ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      // Every Graph response carries the usage header (objects keep it in _data.headers, cursors in .headers).
      const r = result as
        | { _data?: { headers?: Record<string, string> }; headers?: Record<string, string> }
        | undefined;
      this.noteHeaders({ headers: r?._data?.headers ?? r?.headers });
      return result;
    } catch (e) {
      if (e instanceof DestinationError) throw this.secrets.error(e);
      const err = e as { status?: number; response?: GraphErrorBody; headers?: Record<string, string> };
      const usage = parseBucUsage(err.headers?.['x-business-use-case-usage']);
      if (usage.usagePercent !== undefined) this.lastUsage = usage;
      throw this.secrets.error(
        mapGraphError(err.status ?? undefined, err.response ?? undefined, {
          adAccountId: this.opts.adAccountId,
          usage,
          operation,
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private noteHeaders(data: Record<string, unknown> | undefined): Usage {
    const headers = data?.headers as Record<string, string> | undefined;
    const usage = parseBucUsage(headers?.['x-business-use-case-usage']);
    if (usage.usagePercent !== undefined) this.lastUsage = usage;
    return usage;
  }

  async ensureAudience(spec: { name: string; description: string; knownId?: string }) {
    if (spec.knownId) {
      // A deleted audience surfaces as DestinationError kind 'deleted'; sync decides whether to recreate it.
      const found = await this.sdk('read audience', () =>
        (
          new CustomAudience(spec.knownId!, {}, undefined, this.api) as unknown as {
            get(fields: string[]): Promise<SdkObject>;
          }
        ).get(['id', 'name']),
      );
      const data = found._data ?? found;
      return { ref: { id: String(data.id), name: String(data.name ?? spec.name) }, created: false };
    }
    const existing = await this.findByName(spec.name);
    if (existing) return { ref: existing, created: false };
    const created = await this.sdk('create audience', () =>
      (
        new AdAccount(this.opts.adAccountId, {}, undefined, this.api) as unknown as {
          createCustomAudience(fields: string[], params: object): Promise<SdkObject>;
        }
      ).createCustomAudience([], {
        name: spec.name,
        subtype: 'CUSTOM',
        description: spec.description,
        customer_file_source: this.opts.customerFileSource ?? 'USER_PROVIDED_ONLY',
      }),
    );
    const data = created._data ?? created;
    return { ref: { id: String(data.id), name: spec.name }, created: true };
  }

  private async findByName(name: string): Promise<AudienceRef | undefined> {
    const account = new AdAccount(this.opts.adAccountId, {}, undefined, this.api) as unknown as {
      getCustomAudiences(fields: string[], params: object): Promise<SdkCursor>;
    };
    let page: SdkCursor | undefined = await this.sdk('list audiences', () =>
      account.getCustomAudiences(['id', 'name'], { limit: 500 }),
    );
    while (page) {
      for (const a of page) {
        const data = a._data ?? a;
        if (data.name === name) return { id: String(data.id), name };
      }
      if (!page.hasNext?.()) break;
      const current: SdkCursor = page;
      page = await this.sdk('list audiences', () => current.next());
    }
    return undefined;
  }

  private outcome(data: Record<string, unknown>, usage: Usage): BatchOutcome {
    const samples = data.invalid_entry_samples as Record<string, unknown> | undefined;
    return {
      received: Number(data.num_received ?? 0),
      invalid: Number(data.num_invalid_entries ?? 0),
      // Sample values are hashes we sent; only which fields were invalid is kept.
      invalidFields: samples && typeof samples === 'object' ? Object.keys(samples).slice(0, 20) : undefined,
      usagePercent: usage.usagePercent,
      regainAccessMinutes: usage.regainAccessMinutes,
    };
  }

  async add(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome> {
    const payload = toSchemaRows(batch, META_KEYS);
    const res = await this.sdk('add users', () =>
      (
        new CustomAudience(audience.id, {}, undefined, this.api) as unknown as {
          createUser(fields: string[], params: object): Promise<SdkObject>;
        }
      ).createUser([], { payload }),
    );
    return this.outcome((res._data ?? res) as Record<string, unknown>, this.lastUsage);
  }

  async replace(audience: AudienceRef, batch: BatchMember[], session: ReplaceSession): Promise<BatchOutcome> {
    const payload = toSchemaRows(batch, META_KEYS);
    const res = await this.sdk('replace users', () =>
      (
        new CustomAudience(audience.id, {}, undefined, this.api) as unknown as {
          createUsersReplace(fields: string[], params: object): Promise<SdkObject>;
        }
      ).createUsersReplace([], {
        payload,
        session: {
          session_id: session.sessionId,
          batch_seq: session.batchSeq,
          last_batch_flag: session.last,
          estimated_num_total: session.estimatedTotal,
        },
      }),
    );
    return this.outcome((res._data ?? res) as Record<string, unknown>, this.lastUsage);
  }

  async remove(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome> {
    const payload = toSchemaRows(batch, META_KEYS);
    const url = `${this.graphUrl}/${FacebookAdsApi.VERSION}/${audience.id}/users`;
    const body = new URLSearchParams({ payload: JSON.stringify(payload), access_token: this.opts.accessToken });
    const doFetch = this.opts.fetchImpl ?? fetch;
    return this.sdk('remove users', async () => {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: 'DELETE',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000),
        });
      } catch (e) {
        // The reason (a timeout, ECONNRESET, a DNS failure) helps the operator; sdk() redacts it like any message.
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = err.cause?.code ?? err.cause?.message ?? err.message;
        throw new DestinationError('transient', `Meta remove users failed: ${err.name}${why ? ` (${why})` : ''}`);
      }
      const usage = parseBucUsage(res.headers.get('x-business-use-case-usage'));
      if (usage.usagePercent !== undefined) this.lastUsage = usage;
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // HTML error pages from proxies: status decides.
      }
      if (!res.ok)
        throw mapGraphError(res.status, json.error as GraphErrorBody | undefined, {
          adAccountId: this.opts.adAccountId,
          usage,
          operation: 'remove users',
        });
      return this.outcome(json, usage);
    });
  }

  async health(audience: AudienceRef): Promise<AudienceHealth> {
    const res = await this.sdk('read audience health', () =>
      (
        new CustomAudience(audience.id, {}, undefined, this.api) as unknown as {
          get(fields: string[]): Promise<SdkObject>;
        }
      ).get(['approximate_count_lower_bound', 'approximate_count_upper_bound', 'operation_status', 'delivery_status']),
    );
    const d = (res._data ?? res) as Record<string, unknown>;
    return {
      approximateCountLowerBound: d.approximate_count_lower_bound as number | undefined,
      approximateCountUpperBound: d.approximate_count_upper_bound as number | undefined,
      operationStatus: d.operation_status as AudienceHealth['operationStatus'],
      deliveryStatus: d.delivery_status as AudienceHealth['deliveryStatus'],
    };
  }

  async createLookalike(audience: AudienceRef, spec: { name: string; country: string; ratio: number }) {
    const res = await this.sdk('create lookalike', () =>
      (
        new AdAccount(this.opts.adAccountId, {}, undefined, this.api) as unknown as {
          createCustomAudience(fields: string[], params: object): Promise<SdkObject>;
        }
      ).createCustomAudience([], {
        name: spec.name,
        subtype: 'LOOKALIKE',
        origin_audience_id: audience.id,
        lookalike_spec: JSON.stringify({ ratio: spec.ratio, country: spec.country }),
      }),
    );
    const data = res._data ?? res;
    return { id: String(data.id) };
  }
}

type SdkCursor = Array<SdkObject> & { hasNext?: () => boolean; next: () => Promise<SdkCursor> };
