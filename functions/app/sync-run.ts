/**
 * A sync run wired to its destinations and reports. Shared by the sync Lambda and the CLI.
 */
import { DryRunDestination } from '../adapters/dry-run-destination';
import { meteredDestination, syncMetrics } from '../adapters/metrics';
import { rememberSecret } from '../adapters/secret-redactor';
import { readSecretString } from '../adapters/secrets';
import type { AudienceConfig } from '../core/config';
import { type PlatformRegistry, specOf } from '../core/platform';
import { type Destination, DestinationError } from '../core/ports';
import { runSync, type SyncOptions, type SyncReport } from '../core/sync';
import { ADAPTERS, type PlatformAdapter } from '../platforms/adapters';
import { syncPageContext } from './report-data';
import { renderSyncHtml } from './report-html';
import type { Runtime } from './runtime';

/**
 * Where destinations find their credentials and settings: the stack's `DESTINATION_SECRETS` (JSON, destination id →
 * secret id) in the cloud; locally `AUDIENCE_SYNC_SECRET_<DESTINATION_ID>` or a platform's own variables
 * (META_ACCESS_TOKEN, GOOGLE_SERVICE_ACCOUNT_KEY…), plus test endpoints (META_GRAPH_URL, GOOGLE_DATAMANAGER_URL).
 */
export type DestinationEnv = Readonly<Record<string, string | undefined>> & {
  /** Local: destinations without credentials write their would-be requests here instead of sending. */
  DRY_RUN_DIR?: string;
  DESTINATION_SECRETS?: string;
};

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

/** `AUDIENCE_SYNC_SECRET_META_MAIN` for destination `meta-main`. */
export const localSecretVar = (destinationId: string) =>
  `AUDIENCE_SYNC_SECRET_${destinationId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

function secretIds(env: DestinationEnv): Record<string, string> {
  if (!env.DESTINATION_SECRETS) return {};
  try {
    return JSON.parse(env.DESTINATION_SECRETS) as Record<string, string>;
  } catch {
    throw new Error('DESTINATION_SECRETS is not JSON (destination id → secret id); redeploy the stack');
  }
}

/**
 * One adapter per destination of the config, each with its own secret (several ad accounts of one platform can sit
 * side by side). Without credentials a destination runs dry where a dry-run folder is given, else it reports why.
 */
export async function buildDestinations(
  config: AudienceConfig,
  platforms: PlatformRegistry,
  env: DestinationEnv,
  opts: { validateOnly?: boolean; adapters?: Readonly<Record<string, PlatformAdapter>> } = {},
): Promise<Record<string, Destination | undefined>> {
  const adapters = opts.adapters ?? ADAPTERS;
  const ids = secretIds(env);
  const out: Record<string, Destination | undefined> = {};
  for (const [id, dest] of Object.entries(config.destinations)) {
    const spec = specOf(platforms, dest.platform);
    const adapter = adapters[dest.platform];
    const named = dest[spec.secret.nameField];
    const secretId = ids[id] ?? (typeof named === 'string' ? named : undefined);
    const local = env[localSecretVar(id)] ?? adapter?.localSecretEnv.map((k) => env[k]).find((v) => v);
    if (!adapter || (!local && !secretId)) {
      out[id] = env.DRY_RUN_DIR
        ? new DryRunDestination(spec, env.DRY_RUN_DIR, dest)
        : new UnavailableDestination(
            dest.platform,
            new DestinationError(
              'auth',
              `destination "${id}": no ${spec.displayName} credentials; store them in its secret (or set ${localSecretVar(id)} locally)`,
            ),
          );
      continue;
    }
    try {
      const secret = local ?? (await readSecretString(secretId!));
      rememberSecret(secret); // the loggers redact it from any line, by value
      out[id] = adapter.create(dest, { destinationId: id, secret, env, validateOnly: opts.validateOnly });
    } catch (e) {
      const err =
        e instanceof DestinationError
          ? e
          : new DestinationError('auth', `destination "${id}": ${(e as Error).message}`);
      out[id] = new UnavailableDestination(dest.platform, err);
    }
  }
  return out;
}

const stamp = (iso: string) => iso.replace(/[:.]/g, '-');

export async function syncAndReport(
  rt: Runtime,
  env: DestinationEnv,
  opts: SyncOptions,
  /** The CLI on a terminal wraps each destination to show batches as they are sent. */
  watch?: (id: string, destination: Destination | undefined) => Destination | undefined,
): Promise<{ report: SyncReport; reportKey: string; dryRun: string[] }> {
  try {
    // A dry run with credentials lets platforms that can check requests (Google validateOnly) check a batch.
    const built = await buildDestinations(rt.config, rt.platforms, env, { validateOnly: opts.dryRun === true });
    // Every error a destination's call throws is counted (ApiErrors by destination, kind and code), retried or not.
    const destinations = Object.fromEntries(
      Object.entries(built).map(([id, d]) => [id, meteredDestination(id, watch ? watch(id, d) : d, rt.metrics)]),
    );
    const dryRun = Object.entries(built)
      .filter(([, d]) => d instanceof DryRunDestination)
      .map(([id]) => id);
    const report = await runSync({ ...rt, destinations }, opts);
    const base = `reports/sync/${stamp(report.startedAt)}${opts.dryRun ? '-dry-run' : ''}`;
    await rt.bucket.putJson(`${base}.json`, report);
    const page = renderSyncHtml(report, await syncPageContext(rt.store, rt.config, report, rt.logger));
    await rt.bucket.putText(`${base}.html`, page, 'text/html; charset=utf-8');
    if (!opts.dryRun) {
      await rt.store.putRun('sync', report.startedAt, report);
      syncMetrics(rt.metrics, report, { segment: opts.segment });
    }
    return { report, reportKey: `${base}.json`, dryRun };
  } finally {
    // One flush per invocation: the sync function runs one syncAndReport per invocation.
    rt.metrics.flush();
  }
}
