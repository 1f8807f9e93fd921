/**
 * A sync run wired to its destinations and reports. Shared by the sync Lambda and the CLI.
 */
import { DryRunDestination } from '../adapters/dry-run-destination';
import { googleSettings } from '../adapters/google-destination';
import { MetaDestination } from '../adapters/meta-destination';
import { syncMetrics } from '../adapters/metrics';
import { readSecret } from '../adapters/secrets';
import type { AudienceConfig } from '../core/config';
import { type Destination, DestinationError } from '../core/ports';
import { runSync, type SyncOptions, type SyncReport } from '../core/sync';
import { renderSyncHtml } from './report-html';
import type { Runtime } from './runtime';

export interface DestinationEnv {
  /** Secrets Manager id of the Meta token (cloud). */
  META_TOKEN_SECRET_ID?: string;
  /** Plain token (local runs only). */
  META_ACCESS_TOKEN?: string;
  META_AD_ACCOUNT_ID?: string;
  META_GRAPH_URL?: string;
  /** Google Ads account for Google destinations that name none (local runs). */
  GOOGLE_ADS_ACCOUNT_ID?: string;
  /** Local: write would-be requests here instead of sending when no Meta credentials are given. */
  DRY_RUN_DIR?: string;
}

/** A destination that cannot work (no token, bad account): every call fails with the reason, so sync reports and alerts. */
class UnavailableDestination implements Destination {
  readonly maxBatchSize = 1;
  constructor(
    readonly platform: Destination['platform'],
    private readonly error: DestinationError,
  ) {}
  ensureAudience(): never {
    throw this.error;
  }
  add(): never {
    throw this.error;
  }
  remove(): never {
    throw this.error;
  }
}

export async function buildDestinations(
  config: AudienceConfig,
  env: DestinationEnv,
): Promise<Record<string, Destination | undefined>> {
  const out: Record<string, Destination | undefined> = {};
  for (const [id, dest] of Object.entries(config.destinations)) {
    if (dest.platform !== 'meta') {
      // Google runs dry locally with the exact Data Manager bodies; its live wiring (key secret) comes with the
      // platform registry.
      const google = dest.platform === 'google' ? googleSettings(dest, env.GOOGLE_ADS_ACCOUNT_ID) : undefined;
      out[id] = env.DRY_RUN_DIR ? new DryRunDestination(dest.platform, env.DRY_RUN_DIR, 10_000, google) : undefined;
      continue;
    }
    const secretId = env.META_TOKEN_SECRET_ID ?? ('tokenSecretName' in dest ? dest.tokenSecretName : undefined);
    const adAccountId = ('adAccountId' in dest ? dest.adAccountId : undefined) ?? env.META_AD_ACCOUNT_ID;
    const haveCredentials = !!(env.META_ACCESS_TOKEN || secretId);
    if (!haveCredentials && env.DRY_RUN_DIR) {
      out[id] = new DryRunDestination('meta', env.DRY_RUN_DIR);
      continue;
    }
    try {
      if (!adAccountId)
        throw new DestinationError(
          'config',
          `destination "${id}": no Meta ad account; set adAccountId in the config or META_AD_ACCOUNT_ID`,
        );
      const token = env.META_ACCESS_TOKEN ?? (secretId ? await readSecret(secretId) : undefined);
      if (!token) throw new DestinationError('auth', `destination "${id}": no Meta access token configured`);
      out[id] = new MetaDestination({
        accessToken: token,
        adAccountId,
        graphUrl: env.META_GRAPH_URL,
        customerFileSource: 'customerFileSource' in dest ? dest.customerFileSource : undefined,
      });
    } catch (e) {
      const err =
        e instanceof DestinationError
          ? e
          : new DestinationError('auth', `destination "${id}": ${(e as Error).message}`);
      out[id] = new UnavailableDestination('meta', err);
    }
  }
  return out;
}

const stamp = (iso: string) => iso.replace(/[:.]/g, '-');

export async function syncAndReport(
  rt: Runtime,
  env: DestinationEnv,
  opts: SyncOptions,
): Promise<{ report: SyncReport; reportKey: string }> {
  const destinations = await buildDestinations(rt.config, env);
  const report = await runSync({ ...rt, destinations }, opts);
  const base = `reports/sync/${stamp(report.startedAt)}${opts.dryRun ? '-dry-run' : ''}`;
  await rt.bucket.putJson(`${base}.json`, report);
  await rt.bucket.putText(`${base}.html`, renderSyncHtml(report), 'text/html; charset=utf-8');
  if (!opts.dryRun) {
    await rt.store.putRun('sync', report.startedAt, report);
    syncMetrics(rt.logger, report, rt.clock.now());
  }
  return { report, reportKey: `${base}.json` };
}
