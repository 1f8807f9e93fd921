/**
 * The sync use case: evaluate segments, diff each segment × destination against what the platform was last
 * confirmed to hold, send removals then additions in batches, checkpoint after every confirmed batch.
 * A failing destination stops only itself; the rest go on.
 */
import { type AudienceConfig, minSizeFor, type SegmentConfig, type SegmentDestination } from './config';
import { describeHolder, Lease } from './lease';
import { type PlatformRegistry, specOf } from './platform';
import {
  type AudienceHealth,
  type AudienceRef,
  type AudienceState,
  type BatchMember,
  type Clock,
  type ContactStore,
  type Destination,
  DestinationError,
  type Logger,
  type SyncedMember,
} from './ports';
import { BlockIndex, evaluateSegments, mergeInto, type Person } from './segments';
import {
  backoffMs,
  chunk,
  decideReplace,
  diffAudience,
  planReplaceWindow,
  REPLACE_WINDOW_MS,
  throttleDecision,
} from './sync-plan';

export interface SyncOptions {
  /** Identity of this run (kept across continuations), so only one sync at a time changes audiences. */
  runId?: string;
  /** Only this segment. */
  segment?: string;
  /** Plan only: compute adds/removes and report them, send nothing, change nothing. */
  dryRun?: boolean;
  /** Force a full replace now, whatever the schedule. */
  forceReplace?: boolean;
  /** Epoch ms after which no new batch starts (Lambda time budget); the run then asks to continue. */
  deadline?: number;
  maxAttempts?: number;
  random?: () => number;
}

export interface SyncDeps {
  config: AudienceConfig;
  store: ContactStore;
  /** Destination adapters by config destination id; a missing one is reported as not configured. */
  destinations: Record<string, Destination | undefined>;
  platforms: PlatformRegistry;
  clock: Clock;
  /** The sync lock, renewed before every platform call (internal: runSync sets it). */
  lease?: Lease;
  logger: Logger;
}

export type AudienceStatus =
  | 'in_sync'
  | 'synced'
  | 'partial'
  | 'planned'
  | 'below_min_size'
  | 'not_configured'
  | 'stopped'
  | 'failed';

export interface AudienceReport {
  segment: string;
  destination: string;
  platform: string;
  audienceName: string;
  audienceId?: string;
  created?: boolean;
  desired: number;
  minSize: number;
  planned: { add: number; remove: number; unchanged: number };
  added: number;
  removed: number;
  batches: number;
  invalidEntries: number;
  invalidFields: string[];
  replaced?: boolean;
  /**
   * Why a due or open full replace did not complete and the audience was healed by diff instead (a replace that
   * could not finish inside the platform's window, or a session the platform applied with only part of it).
   */
  healedByDiff?: string;
  status: AudienceStatus;
  /** Operator-facing reason when not fully synced. Never contains PII or tokens. */
  message?: string;
  errorKind?: string;
  health?: AudienceHealth;
  lookalikeId?: string;
}

export interface SegmentReport {
  id: string;
  matched: number;
  eligible: number;
  excluded: Record<string, number>;
}

export interface SyncReport {
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  done: boolean;
  /** Ask the caller to wait this long before continuing (rate limits). */
  waitSeconds?: number;
  segments: SegmentReport[];
  audiences: AudienceReport[];
  alerts: Array<{ destination: string; kind: string; message: string; link?: string }>;
}

/** The keys a platform receives for a person: its own, computed by its own rules at ingest. */
export function platformKeys(platform: string, p: Person): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.keys[platform] ?? {})) if (v) out[k] = v;
  return out;
}

export const destKeyOf = (destinationId: string, segmentId: string) => `${destinationId}#${segmentId}`;

class StopDestination extends Error {
  constructor(
    readonly reason: DestinationError,
    readonly waitSeconds?: number,
  ) {
    super(reason.message);
  }
}
class OutOfTime extends Error {}

/** Calls the platform with pacing and retries; `'batch'` also times the call for the replace-window estimate. */
type Call = <T>(fn: () => Promise<T>, timing?: 'batch') => Promise<T>;

/** How long to wait before trying again when another update (a replace session) holds an audience. */
const REPLACE_BUSY_WAIT_SECONDS = 600;

/** Loads every list's contacts and merges them into people. */
/** Streams every list's contacts into people, without holding the records themselves. */
export async function loadPeople(store: ContactStore): Promise<Map<string, Person>> {
  const people = new Map<string, Person>();
  for (const list of await store.listIds()) for await (const r of store.contacts(list)) mergeInto(people, r);
  return people;
}

export async function runSync(deps: SyncDeps, opts: SyncOptions = {}): Promise<SyncReport> {
  const { config, store, clock, logger } = deps;
  const startedAt = clock.now().toISOString();
  const report: SyncReport = {
    startedAt,
    finishedAt: startedAt,
    dryRun: opts.dryRun === true,
    done: true,
    segments: [],
    audiences: [],
    alerts: [],
  };
  if (opts.segment && !config.segments.some((s) => s.id === opts.segment)) {
    throw new Error(
      `segment "${opts.segment}" is not in the config (segments: ${config.segments.map((s) => s.id).join(', ')})`,
    );
  }
  const owner = opts.runId ?? `run-${startedAt}`;
  const lease = new Lease(store, 'sync', owner, () => clock.now());
  if (!opts.dryRun) {
    const got = await lease.tryAcquire();
    if (!got.acquired) {
      report.done = false;
      report.waitSeconds = 60;
      report.alerts.push({
        destination: '*',
        kind: 'busy',
        message: `another sync is running (${describeHolder(got.holder, clock.now())}); this one waits and continues when it has finished`,
      });
      logger.warn('sync_busy', { holder: got.holder?.owner });
      return report;
    }
    if (got.tookOverFrom) {
      // The lease ran out without a heartbeat: the run that held it crashed. Its checkpoints make this one resume.
      report.alerts.push({
        destination: '*',
        kind: 'lock_taken_over',
        message: `took over the sync lock from ${got.tookOverFrom.owner}, which stopped renewing it${got.tookOverFrom.heartbeatAt ? ` at ${got.tookOverFrom.heartbeatAt}` : ''} (a crashed run); continuing from its last confirmed batch`,
      });
      logger.warn('sync_lock_taken_over', {
        from: got.tookOverFrom.owner,
        lastHeartbeat: got.tookOverFrom.heartbeatAt,
      });
    }
  }
  try {
    return await syncAll({ ...deps, lease: opts.dryRun ? undefined : lease }, opts, report);
  } finally {
    if (!opts.dryRun) await lease.release();
  }
}

async function syncAll(deps: SyncDeps, opts: SyncOptions, report: SyncReport): Promise<SyncReport> {
  const { config, store, clock, logger } = deps;
  const people = await loadPeople(store);
  const blocks = await BlockIndex.load(store.blocks());
  const results = evaluateSegments(config, people, blocks, clock.now());
  const stopped = new Map<string, DestinationError>();

  for (const seg of config.segments) {
    if (opts.segment && seg.id !== opts.segment) continue;
    const result = results.get(seg.id)!;
    report.segments.push({
      id: seg.id,
      matched: result.matched,
      eligible: result.members.length,
      excluded: result.excluded,
    });
    for (const d of seg.destinations) {
      const ar = await syncAudience(deps, opts, seg, d, result.members, stopped, report);
      report.audiences.push(ar);
    }
  }
  report.finishedAt = clock.now().toISOString();
  logger.info('sync_finished', {
    done: report.done,
    audiences: report.audiences.map((a) => ({
      segment: a.segment,
      destination: a.destination,
      status: a.status,
      added: a.added,
      removed: a.removed,
    })),
  });
  return report;
}

async function syncAudience(
  deps: SyncDeps,
  opts: SyncOptions,
  seg: SegmentConfig,
  d: SegmentDestination,
  members: Person[],
  stopped: Map<string, DestinationError>,
  report: SyncReport,
): Promise<AudienceReport> {
  const { config, store, clock, logger } = deps;
  const destCfg = config.destinations[d.destination]!;
  const platform = destCfg.platform;
  const spec = specOf(deps.platforms, platform);
  const policy = spec.policy(destCfg);
  const destKey = destKeyOf(d.destination, seg.id);
  const desired = new Map<string, Record<string, string>>();
  for (const p of members) {
    const keys = platformKeys(platform, p);
    if (Object.keys(keys).length) desired.set(p.cid, keys);
  }
  const minSize = minSizeFor(config, d, deps.platforms);
  const synced = new Map<string, SyncedMember>();
  for await (const m of store.syncedMembers(destKey)) synced.set(m.cid, m);
  const diff = diffAudience(desired, synced);
  const belowMin = desired.size < minSize;
  const ar: AudienceReport = {
    segment: seg.id,
    destination: d.destination,
    platform,
    audienceName: d.audienceName,
    desired: desired.size,
    minSize,
    planned: { add: belowMin ? 0 : diff.add.length, remove: diff.remove.length, unchanged: diff.unchanged },
    added: 0,
    removed: 0,
    batches: 0,
    invalidEntries: 0,
    invalidFields: [],
    status: 'in_sync',
  };
  if (belowMin) {
    ar.message = `segment has ${desired.size} eligible people, below the minimum of ${minSize} for ${platform}; no additions are sent (removals still are)`;
  }
  const dest = deps.destinations[d.destination];
  if (opts.dryRun) {
    ar.status = 'planned';
    return ar;
  }
  if (!dest) {
    ar.status = 'not_configured';
    ar.message = `no ${platform} adapter is configured for destination "${d.destination}" yet; nothing was sent`;
    return ar;
  }
  const already = stopped.get(d.destination);
  if (already) {
    ar.status = 'stopped';
    ar.errorKind = already.kind;
    ar.message = `destination stopped earlier in this run: ${already.message}`;
    return ar;
  }
  const state: AudienceState = (await store.audienceState(destKey)) ?? {
    destKey,
    destination: d.destination,
    segment: seg.id,
    audienceName: d.audienceName,
    updatedAt: clock.now().toISOString(),
  };
  const saveState = async () => {
    state.updatedAt = clock.now().toISOString();
    await store.putAudienceState(state);
  };
  // Pace on the platform's own usage report before every call, not only after batches. Confirmed batch calls are
  // timed (without the pauses): their mean is kept in the state and feeds the replace-window estimate.
  let timedCalls = 0;
  let timedMs = 0;
  const call: Call = (fn, timing) =>
    withRetry(
      async () => {
        await deps.lease?.keepAlive();
        await pace(deps, dest.usage?.() ?? {});
        if (timing !== 'batch') return fn();
        const t0 = clock.now().getTime();
        const out = await fn();
        timedCalls++;
        timedMs += clock.now().getTime() - t0;
        state.batchCallMs = Math.round(timedMs / timedCalls);
        return out;
      },
      deps,
      opts,
    );

  try {
    if (belowMin && diff.remove.length === 0 && !state.audienceId) {
      ar.status = 'below_min_size';
      return ar;
    }
    let audience: AudienceRef = { id: '', name: d.audienceName };
    const attempt = async (current: ReturnType<typeof diffAudience>, syncedCount: number) => {
      audience = await ensure(dest, state, d, seg, call, ar);
      await saveState();
      const replaceDue =
        spec.capabilities.fullReplace &&
        policy.replaceEveryDays > 0 &&
        !!dest.replace &&
        !belowMin &&
        desired.size > 0 &&
        syncedCount > 0 &&
        (opts.forceReplace ||
          !state.lastReplaceAt ||
          clock.now().getTime() - Date.parse(state.lastReplaceAt) > policy.replaceEveryDays * 86_400_000);
      let removalsSent = false;
      let outcome: ReplaceOutcome = { replaced: false, syncedPruned: false };
      if (replaceDue || state.replace) {
        // Removals travel first even on a replace day (not while our own session is open: it blocks them).
        if (!state.replace) {
          await sendDiff(dest, audience, { ...current, add: [] }, true, destKey, deps, opts, ar, call);
          removalsSent = true;
        }
        outcome = await fullReplace(
          dest,
          audience,
          belowMin ? new Map() : desired,
          state,
          saveState,
          deps,
          opts,
          ar,
          call,
        );
      }
      if (!outcome.replaced) {
        if (!state.lastReplaceAt && syncedCount === 0) {
          // A brand-new audience filled by additions counts as freshly replaced.
          state.lastReplaceAt = clock.now().toISOString();
        }
        let heal = removalsSent ? { ...current, remove: [] } : current;
        if (outcome.syncedPruned) {
          // The platform now holds only what a replace session sent, and the synced state says so: diff again,
          // so everyone else who should be there is re-added (and anyone the session sent who left is removed).
          const held = new Map<string, SyncedMember>();
          for await (const m of store.syncedMembers(destKey)) held.set(m.cid, m);
          heal = diffAudience(desired, held);
          ar.planned = {
            add: belowMin ? 0 : heal.add.length,
            remove: ar.removed + heal.remove.length,
            unchanged: heal.unchanged,
          };
        }
        await sendDiff(dest, audience, heal, belowMin, destKey, deps, opts, ar, call);
        await saveState();
      }
    };
    try {
      await attempt(diff, synced.size);
    } catch (e) {
      const recreate = policy.recreateDeleted;
      if (!(e instanceof DestinationError && e.kind === 'deleted' && recreate)) throw e;
      logger.warn('audience_deleted_recreating', { destination: d.destination, segment: seg.id });
      await store.replaceSynced(destKey, []);
      state.audienceId = undefined;
      state.lookalikeId = undefined;
      state.lastReplaceAt = undefined;
      state.replace = undefined;
      const fresh = diffAudience(desired, new Map());
      ar.planned = { add: belowMin ? 0 : fresh.add.length, remove: 0, unchanged: 0 };
      await attempt(fresh, 0);
      ar.message = `the audience had been deleted on ${spec.displayName} and was recreated with the current members`;
    }
    if (!belowMin && d.lookalike && !state.lookalikeId && dest.createLookalike) {
      const seedMin = d.lookalike.minSeedSize ?? minSize;
      if (desired.size >= seedMin) {
        const lal = await call(() =>
          dest.createLookalike!(audience, {
            name:
              d.lookalike!.name ??
              `${d.audienceName} – lookalike ${d.lookalike!.country} ${Math.round(d.lookalike!.ratio * 100)}%`,
            country: d.lookalike!.country,
            ratio: d.lookalike!.ratio,
          }),
        );
        state.lookalikeId = lal.id;
        await saveState();
      }
    }
    ar.lookalikeId = state.lookalikeId;
    if (dest.health) {
      try {
        ar.health = await call(() => dest.health!(audience));
      } catch (e) {
        logger.warn('health_read_failed', { destination: d.destination, segment: seg.id, error: (e as Error).message });
      }
    }
    if (ar.status === 'in_sync' && (ar.added || ar.removed || ar.replaced)) ar.status = 'synced';
    if (belowMin && ar.status !== 'partial') ar.status = 'below_min_size';
  } catch (e) {
    if (e instanceof OutOfTime) {
      ar.status = 'partial';
      ar.message = 'time budget used up; the next invocation continues from the last confirmed batch';
      report.done = false;
      report.waitSeconds = Math.max(report.waitSeconds ?? 0, 1);
    } else if (e instanceof DestinationError && e.kind === 'replace_in_progress') {
      // Someone else's replace session (or another update) holds the audience: nothing is lost, nothing is
      // alerted; pending changes stay pending and the run continues later. The platform closes a session within
      // its 90-minute window, so this ends.
      ar.status = 'partial';
      ar.errorKind = e.kind;
      ar.message = e.message;
      report.done = false;
      report.waitSeconds = Math.max(report.waitSeconds ?? 0, REPLACE_BUSY_WAIT_SECONDS);
    } else if (e instanceof StopDestination) {
      ar.status = e.reason.kind === 'throttled' ? 'partial' : 'failed';
      ar.errorKind = e.reason.kind;
      ar.message = e.reason.message;
      if (e.reason.kind === 'throttled') {
        report.done = false;
        report.waitSeconds = Math.max(report.waitSeconds ?? 0, e.waitSeconds ?? 300);
      }
      stopped.set(d.destination, e.reason);
    } else if (e instanceof DestinationError) {
      ar.status = 'failed';
      ar.errorKind = e.kind;
      ar.message = e.message;
      if (['auth', 'terms', 'config', 'deleted'].includes(e.kind)) {
        // Token, terms and permissions affect every audience of the destination; a deleted audience only itself.
        if (e.kind !== 'deleted') stopped.set(d.destination, e);
        else ar.message = `${e.message}; recreateDeleted is off for this destination, so it was not recreated`;
        report.alerts.push({ destination: d.destination, kind: e.kind, message: e.message, link: e.details.link });
        // The alarm in the stack is a metric filter on this event.
        logger.error('destination_alert', {
          destination: d.destination,
          kind: e.kind,
          code: e.details.code,
          subcode: e.details.subcode,
          message: e.message,
          link: e.details.link,
        });
      } else if (e.kind === 'throttled') {
        report.done = false;
        report.waitSeconds = Math.max(report.waitSeconds ?? 0, e.details.retryAfterSeconds ?? 300);
        ar.status = 'partial';
        stopped.set(d.destination, e);
      }
    } else {
      ar.status = 'failed';
      ar.message = `unexpected error: ${(e as Error).message}`;
      logger.error('sync_audience_failed', {
        destination: d.destination,
        segment: seg.id,
        error: (e as Error).message,
      });
    }
  }
  return ar;
}

async function ensure(
  dest: Destination,
  state: AudienceState,
  d: SegmentDestination,
  seg: SegmentConfig,
  call: Call,
  ar: AudienceReport,
): Promise<AudienceRef> {
  const { ref, created } = await call(() =>
    dest.ensureAudience({
      name: d.audienceName,
      description: seg.description ?? `audience-sync segment ${seg.id}`,
      knownId: state.audienceId,
    }),
  );
  state.audienceId = ref.id;
  state.audienceName = ref.name;
  ar.audienceId = ref.id;
  ar.created = ar.created || created;
  return ref;
}

function checkTime(deps: SyncDeps, opts: SyncOptions) {
  if (opts.deadline !== undefined && deps.clock.now().getTime() > opts.deadline) throw new OutOfTime();
}

async function pace(deps: SyncDeps, outcome: { usagePercent?: number; regainAccessMinutes?: number }) {
  const t = throttleDecision(outcome.usagePercent);
  if ('stop' in t) {
    throw new StopDestination(
      new DestinationError(
        'throttled',
        `rate-limit usage at ${outcome.usagePercent}%: pausing before the platform blocks us`,
      ),
      Math.max(60, (outcome.regainAccessMinutes ?? 5) * 60),
    );
  }
  if (t.pauseMs > 0) await deps.clock.sleep(t.pauseMs);
}

async function sendDiff(
  dest: Destination,
  audience: AudienceRef,
  diff: ReturnType<typeof diffAudience>,
  belowMin: boolean,
  destKey: string,
  deps: SyncDeps,
  opts: SyncOptions,
  ar: AudienceReport,
  call: Call,
) {
  // Removals first: someone who left must never stay longer than needed.
  // Members whose removal is still pending (refused): a changed member's re-add must wait for its removal.
  let pending = new Set<string>();
  const removeBatches = chunk(diff.remove, dest.maxBatchSize);
  for (const [index, batch] of removeBatches.entries()) {
    checkTime(deps, opts);
    let outcome: Awaited<ReturnType<Destination['remove']>>;
    try {
      outcome = await call(() => dest.remove(audience, batch), 'batch');
    } catch (e) {
      if (e instanceof DestinationError && e.kind === 'low_audience_size') {
        // Known outcome: the platform refuses to shrink below its minimum. Reported, retried next run, not looped on.
        ar.status = 'partial';
        ar.errorKind = e.kind;
        ar.message = `removals refused by ${dest.platform}: ${e.message}; they stay pending and are retried next run`;
        pending = new Set(removeBatches.slice(index).flatMap((b) => b.map((m) => m.cid)));
        break;
      }
      throw e;
    }
    await deps.store.recordSynced(
      destKey,
      [],
      batch.map((m) => m.cid),
    );
    ar.removed += batch.length;
    ar.batches++;
    ar.invalidEntries += outcome.invalid;
    mergeFields(ar, outcome.invalidFields);
    await pace(deps, outcome);
  }
  if (belowMin) return;
  const adds = pending.size ? diff.add.filter((m) => !pending.has(m.cid)) : diff.add;
  for (const batch of chunk(adds, dest.maxBatchSize)) {
    checkTime(deps, opts);
    const outcome = await call(() => dest.add(audience, batch), 'batch');
    await deps.store.recordSynced(destKey, batch, []);
    ar.added += batch.length;
    ar.batches++;
    ar.invalidEntries += outcome.invalid;
    mergeFields(ar, outcome.invalidFields);
    await pace(deps, outcome);
  }
}

/** How a full replace ended. */
interface ReplaceOutcome {
  /** The session completed: the platform holds exactly what it sent, and so does the synced state. */
  replaced: boolean;
  /**
   * The synced state was cut down to the members a session sent, because the platform applied that session with
   * only part of the members (timed out, closed early, or finished unseen). The caller diffs again to re-add the rest.
   */
  syncedPruned: boolean;
}

/**
 * A new replace session id: seconds since the epoch in the high bits and 20 random bits, so a session never reuses
 * the id of an earlier one (the platform refuses batches for a closed session id). Stays below 2^53.
 */
function newSessionId(now: number, random: () => number, avoid?: number): number {
  const id = Math.floor(now / 1000) * 2 ** 20 + Math.floor(random() * 2 ** 20);
  return id === avoid ? id + 1 : id;
}

/** Adds a line to the audience report; `healed`: it says why the audience was healed by diff instead of a replace. */
function noteReplace(ar: AudienceReport, why: string, healed = true) {
  if (healed) ar.healedByDiff = ar.healedByDiff ? `${ar.healedByDiff}; ${why}` : why;
  ar.message = ar.message ? `${ar.message}; ${why}` : why;
}

/**
 * Full replace through a platform session, in cid order. Each confirmed batch is checkpointed as synced with the
 * session's id, and the session's position is the last cid sent, so an interrupted replace resumes the same session
 * with whatever the members are now. When it completes, synced entries the session did not send are dropped: the
 * platform no longer holds them. Anyone who left meanwhile but was sent earlier in the session stays synced, so the
 * next diff removes them.
 *
 * Meta closes a session 90 minutes after its first batch and applies what it received by then, so:
 * - a new session starts only if planReplaceWindow says it can finish inside that window and inside this run
 *   slice's remaining time (it must not depend on a continuation arriving in time); otherwise nothing is started and
 *   the audience is healed by diff;
 * - an open session is resumed across slices only as far as its window allows: if the rest does not fit, the
 *   batches that do are sent, the last of them closes the session, and the rest is added by diff;
 * - a session past its window, or one the platform reports as timed out, was applied with only what it received:
 *   the synced state keeps just the members recorded with that session, and the caller re-adds everyone else.
 */
async function fullReplace(
  dest: Destination,
  audience: AudienceRef,
  desired: Map<string, Record<string, string>>,
  state: AudienceState,
  saveState: () => Promise<void>,
  deps: SyncDeps,
  opts: SyncOptions,
  ar: AudienceReport,
  call: Call,
): Promise<ReplaceOutcome> {
  const destKey = destKeyOf(ar.destination, ar.segment);
  const { logger } = deps;
  let syncedPruned = false;
  let previousId = state.replace?.sessionId;
  /** The platform holds only what `session` sent: forget everyone else in the synced state. */
  const keepOnlySession = async (
    session: NonNullable<AudienceState['replace']>,
    why: string,
    then: 'diff' | 'restart' = 'diff',
  ) => {
    const dropped = await deps.store.pruneSynced(destKey, session.sessionId);
    state.replace = undefined;
    await saveState();
    syncedPruned = true;
    const next = then === 'diff' ? 'are re-added by diff' : 'a new replace session is started';
    noteReplace(
      ar,
      `${why}: the audience holds only the ${session.sentCids} members that session sent, so ${dropped} others are no longer assumed to be there and ${next}`,
      then === 'diff',
    );
    logger.warn('replace_session_applied_partially', { destKey, sent: session.sentCids, dropped });
  };

  for (let restarts = 0; ; restarts++) {
    const now = deps.clock.now().getTime();
    let session = state.replace;
    const age = session ? now - Date.parse(session.startedAt) : 0;
    // Batch 1 confirmed: the session is open on the platform, on the platform's clock.
    const open = session !== undefined && session.nextSeq > 1;
    // No batch of it was confirmed: nothing is known to be open. A young one starts again under the same id.
    if (session && !open && age >= REPLACE_WINDOW_MS) session = undefined;
    const after = open ? (session?.lastCid ?? '') : '';
    const remaining: BatchMember[] = [...desired]
      .filter(([cid]) => cid > after)
      .map(([cid, keys]) => ({ cid, keys }))
      .sort((a, b) => (a.cid < b.cid ? -1 : 1));
    if (!open && remaining.length === 0) {
      // Nothing sent and nothing to send (the segment emptied): no session to finish; the plain diff removes people.
      state.replace = undefined;
      await saveState();
      return { replaced: false, syncedPruned };
    }
    const batches = chunk(remaining, dest.maxBatchSize);
    if (batches.length === 0 && session?.lastMember) {
      // Everyone after the last sent batch left: close the session by sending its last member again (already synced
      // under this session; the next diff removes them if they left too).
      batches.push([session.lastMember]);
    }
    const plan = planReplaceWindow({
      members: batches.reduce((n, b) => n + b.length, 0),
      batchSize: dest.maxBatchSize,
      callMs: state.batchCallMs,
      usagePercent: dest.usage?.().usagePercent,
      elapsedMs: session ? age : 0,
      // A new session must fit this slice; an open one goes on in the next, since stopping it would not stop Meta's clock.
      budgetMs: open || opts.deadline === undefined ? undefined : Math.max(0, opts.deadline - now),
    });
    const decision = decideReplace(open, age, plan);
    if (decision.action === 'assume_applied') {
      await keepOnlySession(
        session!,
        'the replace session outlived Meta’s 90-minute window and was applied as it stood',
      );
      return { replaced: false, syncedPruned };
    }
    if (decision.action === 'skip') {
      state.replace = undefined;
      await saveState();
      noteReplace(ar, `full replace not started: ${decision.reason}; healed by diff instead`);
      logger.info('replace_not_started', { destKey, batches: plan.batches, neededMs: plan.neededMs });
      return { replaced: false, syncedPruned };
    }
    // An open session that cannot finish in its window sends what fits; its last batch closes it, and the rest goes
    // by diff right after (rather than waiting for the timeout with /users blocked).
    const send = batches.slice(0, decision.batches);
    if (!open) {
      session ??= {
        sessionId: newSessionId(now, opts.random ?? Math.random, previousId),
        nextSeq: 1,
        startedAt: new Date(now).toISOString(),
        sentCids: 0,
      };
      state.replace = session;
      await saveState();
    }
    const current = session!;
    try {
      for (let i = 0; i < send.length; i++) {
        checkTime(deps, opts);
        const batch = send[i]!;
        const outcome = await call(
          () =>
            dest.replace!(audience, batch, {
              sessionId: current.sessionId,
              batchSeq: current.nextSeq,
              last: i === send.length - 1,
              estimatedTotal: current.sentCids + remaining.length,
            }),
          'batch',
        );
        await deps.store.recordSynced(
          destKey,
          batch.map((m) => ({ cid: m.cid, keys: m.keys, session: current.sessionId })),
          [],
        );
        current.nextSeq++;
        current.sentCids += batch.length;
        const lastSent = batch[batch.length - 1];
        if (lastSent) {
          current.lastCid = lastSent.cid;
          current.lastMember = lastSent;
        }
        ar.batches++;
        ar.invalidEntries += outcome.invalid;
        mergeFields(ar, outcome.invalidFields);
        await saveState();
        await pace(deps, outcome);
      }
    } catch (e) {
      if (!(e instanceof DestinationError)) throw e;
      // Timed out or finished on batch 1 of ours: the platform knows this id from an earlier session. Nothing of
      // ours was applied; start again under a new id.
      const idTaken = current.nextSeq === 1 && (e.kind === 'replace_timed_out' || e.kind === 'replace_restart');
      if (e.kind === 'replace_timed_out' && !idTaken) {
        await keepOnlySession(current, 'Meta closed the replace session (timed out) and applied it as it stood');
        return { replaced: false, syncedPruned };
      }
      if ((e.kind === 'replace_restart' || idTaken) && restarts === 0) {
        // The platform does not know this session (no batch 1) or it already finished: start a new one, once. A
        // finished session was applied, so only its members are assumed to be there.
        if (e.details.sessionApplied && !idTaken) {
          await keepOnlySession(current, 'Meta reported the replace session as already finished', 'restart');
        }
        previousId = current.sessionId;
        state.replace = undefined;
        await saveState();
        logger.warn('replace_session_restarted', { destKey, code: e.details.code, subcode: e.details.subcode });
        continue;
      }
      if (e.kind === 'replace_in_progress' && current.nextSeq === 1) {
        // Our batch 1 was refused because another session holds the audience: ours never opened.
        state.replace = undefined;
        await saveState();
      }
      throw e;
    }
    await deps.store.pruneSynced(destKey, current.sessionId);
    state.replace = undefined;
    if (decision.closesEarly) {
      await saveState();
      syncedPruned = true;
      noteReplace(
        ar,
        `the open replace session could not finish inside Meta’s 90-minute window (${decision.reason}): it was closed after ${current.sentCids} members and the rest is added by diff`,
      );
      return { replaced: false, syncedPruned };
    }
    state.lastReplaceAt = deps.clock.now().toISOString();
    await saveState();
    ar.replaced = true;
    ar.added += ar.planned.add;
    return { replaced: true, syncedPruned: true };
  }
}

function mergeFields(ar: AudienceReport, fields?: string[]) {
  for (const f of fields ?? []) if (!ar.invalidFields.includes(f)) ar.invalidFields.push(f);
}

/** Retries transient failures with jittered backoff, a bounded number of times; throttling stops the destination. */
async function withRetry<T>(fn: () => Promise<T>, deps: SyncDeps, opts: SyncOptions): Promise<T> {
  const max = opts.maxAttempts ?? 5;
  const random = opts.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof DestinationError)) throw e;
      if (e.kind === 'throttled') throw new StopDestination(e, e.details.retryAfterSeconds ?? 300);
      // A replace session holding the audience can last up to 90 minutes: not retried here, but later (syncAudience).
      if (e.kind === 'transient' && attempt + 1 < max) {
        const wait = backoffMs(attempt, random);
        // Never retry past the time budget: the next invocation resumes from the checkpoint instead.
        if (opts.deadline !== undefined && deps.clock.now().getTime() + wait > opts.deadline) throw new OutOfTime();
        deps.logger.warn('destination_retry', {
          kind: e.kind,
          attempt: attempt + 1,
          waitMs: wait,
          code: e.details.code,
        });
        await deps.clock.sleep(wait);
        continue;
      }
      throw e;
    }
  }
}
