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
import { abortStep, decideStep, finishStep, groupStep, planStep } from '../core/sync-steps';
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
    const destinations = metered(rt, built, watch);
    const dryRun = Object.entries(built)
      .filter(([, d]) => d instanceof DryRunDestination)
      .map(([id]) => id);
    const report = await runSync({ ...rt, destinations }, opts);
    const reportKey = await writeSyncReport(rt, report, { segment: opts.segment });
    return { report, reportKey, dryRun };
  } finally {
    // One flush per invocation: the sync function runs one syncAndReport per invocation.
    rt.metrics.flush();
  }
}

/** Every error a destination's call throws is counted (ApiErrors by destination, kind and code), retried or not. */
function metered(
  rt: Runtime,
  built: Record<string, Destination | undefined>,
  watch?: (id: string, destination: Destination | undefined) => Destination | undefined,
): Record<string, Destination | undefined> {
  return Object.fromEntries(
    Object.entries(built).map(([id, d]) => [id, meteredDestination(id, watch ? watch(id, d) : d, rt.metrics)]),
  );
}

/** The report as JSON and HTML under reports/sync/, the run record and the metrics (a dry run: the files only). */
export async function writeSyncReport(
  rt: Runtime,
  report: SyncReport,
  opts: { segment?: string } = {},
): Promise<string> {
  const base = `reports/sync/${stamp(report.startedAt)}${report.dryRun ? '-dry-run' : ''}`;
  await rt.bucket.putJson(`${base}.json`, report);
  const page = renderSyncHtml(report, await syncPageContext(rt.store, rt.config, report, rt.logger));
  await rt.bucket.putText(`${base}.html`, page, 'text/html; charset=utf-8');
  if (!report.dryRun) {
    await rt.store.putRun('sync', report.startedAt, report);
    syncMetrics(rt.metrics, report, { segment: opts.segment });
  }
  return `${base}.json`;
}

export type SyncStep =
  | { step: 'plan'; runId: string; iteration: number; segment?: string; forceReplace?: boolean; shardDigits?: number }
  | { step: 'remove' | 'add'; runId: string; iteration: number; group: number; deadline?: number }
  | { step: 'decide'; runId: string; iteration: number }
  | { step: 'finish'; runId: string; iteration: number; deadline?: number }
  | { step: 'abort'; runId: string };

/** What a step tells the state machine: where to go next, and (plan) the shard groups for the Maps. */
export interface SyncStepOutcome {
  next: 'shards' | 'wait' | 'done' | 'continue';
  groups?: number[];
  done?: boolean;
  waitSeconds?: number;
  reportKey?: string;
  report?: SyncReport;
}

/** One step of a stepped sync (the Step Functions sync), wired to the destinations and the reports. */
export async function runSyncStep(rt: Runtime, env: DestinationEnv, input: SyncStep): Promise<SyncStepOutcome> {
  if (input.step === 'abort') {
    await abortStep({ ...rt, destinations: {}, runState: rt.runState }, input);
    return { next: 'done', done: true };
  }
  try {
    return await runStep(rt, env, input);
  } finally {
    // One flush per invocation: a step is one invocation of the sync function.
    rt.metrics.flush();
  }
}

async function runStep(
  rt: Runtime,
  env: DestinationEnv,
  input: Exclude<SyncStep, { step: 'abort' }>,
): Promise<SyncStepOutcome> {
  const destinations = metered(rt, await buildDestinations(rt.config, rt.platforms, env));
  const deps = { ...rt, destinations, runState: rt.runState };
  switch (input.step) {
    case 'plan': {
      const out = await planStep(deps, input);
      if (out.next === 'shards') return { next: 'shards', groups: out.state.groups.map((_, i) => i) };
      if (out.next === 'wait')
        return { next: 'wait', waitSeconds: Math.max(1, Math.ceil(out.report.waitSeconds ?? 60)) };
      return { next: 'done', done: true, report: out.report, reportKey: await writeSyncReport(rt, out.report) };
    }
    case 'remove':
    case 'add': {
      const out = await groupStep(deps, input.step, input);
      return { next: out.done ? 'done' : 'continue', done: out.done };
    }
    case 'decide':
      await decideStep(deps, input);
      return { next: 'continue' };
    case 'finish': {
      const report = await finishStep(deps, input);
      const reportKey = await writeSyncReport(rt, report);
      return {
        next: report.done ? 'done' : 'wait',
        done: report.done,
        waitSeconds: report.done ? undefined : Math.min(3600, Math.max(1, Math.ceil(report.waitSeconds ?? 1))),
        report,
        reportKey,
      };
    }
  }
}
