/**
 * The sync as resumable steps for Step Functions: `plan` → `remove` (one Distributed Map item per shard group) →
 * `decide` → `add` (one item per shard group) → `finish`. The passes are those of `runSync` (sync.ts), run by
 * separate Lambda invocations that share nothing in memory: the run's state is an item per run and one per shard
 * group result (`RunStateStore`), the members confirmed so far are the synced state, as always.
 *
 * Each step is idempotent and can run again: a group with a stored result is skipped, a group cut short by the
 * Lambda's deadline is done again (its confirmed batches are not resent: the diff no longer holds them), and every
 * step takes the sync lock again under the run's id, so a run that lost it stops instead of writing beside another.
 *
 * Removals of every group end before the first addition (the Map is a barrier), so removals still go first within
 * an audience. A full replace streams every desired member in cid order in `finish`, one audience after another; it
 * never runs in the parallel maps, so no /users call of ours meets our own replace session.
 */
import { Lease, LeaseLost } from './lease';
import type { AudienceState, RunStateStore } from './ports';
import { DestinationError } from './ports';
import {
  type AudienceReport,
  addShard,
  checkTime,
  closeReport,
  decideRuns,
  finishAdds,
  finishRuns,
  flushRuns,
  healRuns,
  heldForLists,
  ListsUnsettled,
  newReport,
  newRun,
  OutOfTime,
  openContext,
  outOfTime,
  prepareRuns,
  type Run,
  type RunContext,
  removeShard,
  type SegmentReport,
  type SyncDeps,
  type SyncOptions,
  type SyncReport,
  startRun,
} from './sync';
import type { ReplaceDecision } from './sync-plan';

/** A step's lease: long enough to bridge the gap between steps (a Map starting, a cold start). */
export const STEP_LEASE_MS = 10 * 60_000;
/** What `decide` allows a new replace session: the finish step's Lambda time, less a margin for its other work. */
export const FINISH_BUDGET_MS = 12 * 60_000;
/** Shard groups a pass is split into: each is one Map item, loading the block index once for its shards. */
export const MAX_GROUPS = 16;

export type SyncStepName = 'plan' | 'remove' | 'decide' | 'add' | 'finish' | 'abort';

/** One audience's part of the run state, as a step leaves it for the next. */
export interface AudienceRunState {
  destKey: string;
  destination: string;
  segment?: string;
  mode: Run['mode'];
  ar: AudienceReport;
  halted: boolean;
  belowMin: boolean;
  desired: number;
  replaceRemaining: number;
  refused: boolean;
  heal: boolean;
  timedCalls: number;
  timedMs: number;
  replace?: { decision: Extract<ReplaceDecision, { action: 'send' }>; total: number };
}

/** The run item: what planning found, and what `decide` decided. */
export interface SyncRunState {
  runId: string;
  iteration: number;
  startedAt: string;
  opts: Pick<SyncOptions, 'segment' | 'forceReplace'>;
  shardDigits: number;
  groups: string[][];
  audiences: AudienceRunState[];
  segments: SegmentReport[];
  alerts: SyncReport['alerts'];
  stopped: Array<{ destination: string; kind: DestinationError['kind']; message: string }>;
  done: boolean;
  waitSeconds?: number;
  decided?: boolean;
  /** What finish reported: a finish run again (its answer lost, a retry) returns it instead of finishing twice. */
  finished?: SyncReport;
}

/** A shard group's result: what its audiences did (counts are this group's own) and what it learnt. */
export interface GroupResult {
  audiences: AudienceRunState[];
  segments?: SegmentReport[];
  alerts: SyncReport['alerts'];
  stopped: SyncRunState['stopped'];
  done: boolean;
  waitSeconds?: number;
}

export interface StepDeps extends SyncDeps {
  runState: RunStateStore;
}

const runKey = (iteration: number) => `RUN#${iteration}`;
const groupKey = (iteration: number, pass: 'remove' | 'add', group: number) =>
  `${iteration}#${pass}#${String(group).padStart(3, '0')}`;

/** Shard prefixes in at most MAX_GROUPS consecutive groups (cid order is kept inside and across groups). */
export function groupPrefixes(prefixes: readonly string[], groups = MAX_GROUPS): string[][] {
  const n = Math.min(groups, prefixes.length);
  const out: string[][] = [];
  for (let g = 0; g < n; g++)
    out.push(prefixes.slice(Math.floor((g * prefixes.length) / n), Math.floor(((g + 1) * prefixes.length) / n)));
  return out;
}

function snapshotRun(run: Run): AudienceRunState {
  const s: AudienceRunState = {
    destKey: run.destKey,
    destination: run.destination,
    mode: run.mode,
    ar: run.ar,
    halted: run.halted,
    belowMin: run.belowMin,
    desired: run.desired,
    replaceRemaining: run.replaceRemaining,
    refused: run.refused !== undefined || run.refusedElsewhere === true,
    heal: run.heal,
    timedCalls: run.timedCalls,
    timedMs: run.timedMs,
  };
  if (run.seg) s.segment = run.seg.id;
  if (run.replace) s.replace = { decision: run.replace.decision, total: run.replace.total };
  return s;
}

const zeroCounts = (ar: AudienceReport): AudienceReport => ({
  ...ar,
  desired: 0,
  planned: { add: 0, remove: 0, unchanged: 0 },
  added: 0,
  removed: 0,
  batches: 0,
  invalidEntries: 0,
  invalidFields: [],
});

/** Rebuilds the runs of a saved state; `fresh` zeroes their counters, so what a group step counts is its own. */
async function restoreRuns(deps: StepDeps, opts: SyncOptions, saved: AudienceRunState[], fresh: boolean) {
  const runs: Run[] = [];
  for (const a of saved) {
    const state: AudienceState = (await deps.store.audienceState(a.destKey)) ?? {
      destKey: a.destKey,
      destination: a.destination,
      segment: a.segment,
      audienceName: a.ar.audienceName,
      updatedAt: deps.clock.now().toISOString(),
    };
    const seg = a.mode === 'live' ? deps.config.segments.find((s) => s.id === a.segment) : undefined;
    const d = seg?.destinations.find((x) => x.destination === a.destination);
    if (a.mode === 'live' && (!seg || !d)) continue; // the config changed under the run: the next run sees it
    const run = newRun(deps, opts, { seg, d, state, mode: a.mode, destination: a.destination });
    run.ar = fresh ? zeroCounts(a.ar) : structuredClone(a.ar);
    run.halted = a.halted || run.halted;
    run.belowMin = a.belowMin;
    run.desired = fresh ? 0 : a.desired;
    run.replaceRemaining = fresh ? 0 : a.replaceRemaining;
    run.refusedElsewhere = a.refused;
    run.heal = a.heal;
    run.timedCalls = fresh ? 0 : a.timedCalls;
    run.timedMs = fresh ? 0 : a.timedMs;
    run.audience = { id: state.audienceId ?? '', name: state.audienceName };
    if (a.replace) run.replace = { decision: a.replace.decision, total: a.replace.total, sent: 0, buf: [] };
    runs.push(run);
  }
  return runs;
}

const STATUS_RANK: Record<string, number> = { failed: 4, stopped: 3, partial: 2, not_configured: 1 };

/** Adds a group's result to the run's state: counts summed, the worst status of any group kept with its reason. */
function mergeGroup(state: SyncRunState, g: GroupResult, pass: 'remove' | 'add'): void {
  for (const r of g.audiences) {
    const a = state.audiences.find((x) => x.destKey === r.destKey);
    if (!a) continue;
    a.desired += r.desired;
    a.replaceRemaining += r.replaceRemaining;
    a.halted ||= r.halted;
    a.refused ||= r.refused;
    a.timedCalls += r.timedCalls;
    a.timedMs += r.timedMs;
    const ar = a.ar;
    if (pass === 'remove') {
      ar.planned.add += r.ar.planned.add;
      ar.planned.remove += r.ar.planned.remove;
      ar.planned.unchanged += r.ar.planned.unchanged;
    }
    ar.added += r.ar.added;
    ar.removed += r.ar.removed;
    ar.batches += r.ar.batches;
    ar.invalidEntries += r.ar.invalidEntries;
    for (const f of r.ar.invalidFields) if (!ar.invalidFields.includes(f)) ar.invalidFields.push(f);
    if ((STATUS_RANK[r.ar.status] ?? 0) > (STATUS_RANK[ar.status] ?? 0)) {
      ar.status = r.ar.status;
      ar.message = r.ar.message;
      ar.errorKind = r.ar.errorKind;
    } else if (r.ar.message && !ar.message && r.ar.status === ar.status) ar.message = r.ar.message;
  }
  for (const s of g.segments ?? []) {
    const t = state.segments.find((x) => x.id === s.id);
    if (!t) continue;
    t.matched += s.matched;
    t.eligible += s.eligible;
    for (const [k, v] of Object.entries(s.excluded)) t.excluded[k] = (t.excluded[k] ?? 0) + v;
  }
  for (const al of g.alerts)
    if (!state.alerts.some((x) => x.destination === al.destination && x.kind === al.kind && x.message === al.message))
      state.alerts.push(al);
  for (const s of g.stopped) if (!state.stopped.some((x) => x.destination === s.destination)) state.stopped.push(s);
  if (!g.done) {
    state.done = false;
    state.waitSeconds = Math.max(state.waitSeconds ?? 0, g.waitSeconds ?? 1);
  }
}

/** A context for one step, from the run's state. */
async function stepContext(
  deps: StepDeps,
  state: SyncRunState,
  deadline: number | undefined,
  fresh: boolean,
): Promise<RunContext> {
  const opts: SyncOptions = { ...state.opts, runId: state.runId, deadline };
  const report = newReport(deps, opts);
  report.startedAt = state.startedAt;
  const ctx = await openContext(
    deps,
    opts,
    report,
    async (stopped) => {
      for (const s of state.stopped) stopped.set(s.destination, new DestinationError(s.kind, s.message));
      return restoreRuns(deps, opts, state.audiences, fresh);
    },
    state.shardDigits,
  );
  if (!fresh) {
    // The segment counts so far (openContext starts them at zero).
    for (const s of state.segments) {
      const r = ctx.segReports.get(s.id);
      if (r) Object.assign(r, structuredClone(s));
    }
  }
  return ctx;
}

/** The run's lease under its own id: renewed, or taken back if it lapsed and nobody else took it meanwhile. */
async function holdLease(deps: StepDeps, runId: string): Promise<Lease> {
  const lease = new Lease(deps.store, 'sync', runId, () => deps.clock.wall?.() ?? deps.clock.now(), STEP_LEASE_MS);
  const got = await lease.tryAcquire();
  if (!got.acquired)
    throw new LeaseLost(
      `sync run ${runId} lost its lock to ${got.holder?.owner ?? 'another run'} between steps; it stops here and the other run carries on`,
    );
  return lease;
}

async function loadState(deps: StepDeps, runId: string, iteration: number): Promise<SyncRunState> {
  const state = await deps.runState.getRunState<SyncRunState>(runId, runKey(iteration));
  if (!state)
    throw new Error(
      `sync run ${runId} iteration ${iteration} has no saved state (it expired or was never planned); start a new sync`,
    );
  return state;
}

const outOfOrder = (state: SyncRunState, what: string, when: string) =>
  new Error(
    `sync run ${state.runId} iteration ${state.iteration}: ${what} cannot run ${when} (remove every group, decide, then add); start a new sync`,
  );

export type PlanOutcome =
  | { next: 'shards'; state: SyncRunState }
  /** Nothing to do in steps: another sync holds the lock, a list is unsettled (the report says which and why). */
  | { next: 'wait' | 'done'; report: SyncReport };

/**
 * Plan: the lock, the lists' state, every audience found or created (orphans included), shard groups. The run's
 * state is saved for the steps that follow.
 */
export async function planStep(
  deps: StepDeps,
  opts: SyncOptions & { runId: string; iteration: number },
): Promise<PlanOutcome> {
  const report = newReport(deps, opts);
  const lease = new Lease(deps.store, 'sync', opts.runId, () => deps.clock.wall?.() ?? deps.clock.now(), STEP_LEASE_MS);
  if (!(await startRun(deps, opts, report, lease))) {
    // Held by a list that stopped midway: the report says so and the run ends; otherwise it waits and plans again.
    await lease.release();
    return { next: report.done ? 'done' : 'wait', report };
  }
  const ctx = await openContext({ ...deps, lease }, opts, report, (stopped) =>
    prepareRuns({ ...deps, lease }, opts, report, stopped),
  );
  const state: SyncRunState = {
    runId: opts.runId,
    iteration: opts.iteration,
    startedAt: report.startedAt,
    opts: { segment: opts.segment, forceReplace: opts.forceReplace },
    shardDigits: ctx.shardDigits,
    groups: groupPrefixes(ctx.prefixes),
    audiences: ctx.runs.map(snapshotRun),
    segments: [...ctx.segReports.values()],
    alerts: report.alerts,
    stopped: [...ctx.stopped].map(([destination, e]) => ({ destination, kind: e.kind, message: e.message })),
    done: report.done,
    waitSeconds: report.waitSeconds,
  };
  await deps.runState.putRunState(opts.runId, runKey(opts.iteration), state);
  deps.logger.info('sync_planned', {
    runId: opts.runId,
    groups: state.groups.length,
    audiences: state.audiences.length,
  });
  return { next: 'shards', state };
}

export interface GroupStepInput {
  runId: string;
  iteration: number;
  group: number;
  /** Epoch ms after which no new batch starts. */
  deadline?: number;
}

/**
 * One shard group of pass 1 (`remove`: removals of every audience, and the counts) or pass 2 (`add`: additions of
 * every audience that does not replace). Returns `done: false` when the deadline cut it short: the same item runs
 * again and does what is left.
 */
export async function groupStep(
  deps: StepDeps,
  pass: 'remove' | 'add',
  input: GroupStepInput,
): Promise<{ done: boolean; skipped?: boolean }> {
  const key = groupKey(input.iteration, pass, input.group);
  if (await deps.runState.getRunState<GroupResult>(input.runId, key)) return { done: true, skipped: true };
  const state = await loadState(deps, input.runId, input.iteration);
  // The Maps are the barrier that sends every removal before the first addition (and decide the minimum size and the
  // replace): a step started out of turn (a redrive, a replayed event) is refused rather than run.
  if (pass === 'add' && !state.decided) throw outOfOrder(state, 'an add step', 'before decide');
  if (pass === 'remove' && state.decided) throw outOfOrder(state, 'a remove step', 'after decide');
  const prefixes = state.groups[input.group];
  if (!prefixes) throw new Error(`sync run ${input.runId} has no shard group ${input.group}`);
  const lease = await holdLease(deps, input.runId);
  const ctx = await stepContext({ ...deps, lease }, state, input.deadline, true);
  try {
    for (const prefix of prefixes) {
      checkTime(ctx.deps, ctx.opts);
      await lease.keepAlive();
      if (pass === 'remove') await removeShard(ctx, prefix);
      else if (!(await addShard(ctx, prefix, 'adds'))) break;
    }
    // Batches fill up across the group's shards; what is left goes now, before the group records its result.
    await flushRuns(ctx);
  } catch (e) {
    // A list written under the run: the group records that its audiences stopped, and the run plans again.
    if (e instanceof ListsUnsettled) heldForLists(ctx, e);
    else if (e instanceof OutOfTime) return { done: false };
    else throw e;
  }
  const result: GroupResult = {
    audiences: ctx.runs.map(snapshotRun),
    segments: pass === 'remove' ? [...ctx.segReports.values()] : undefined,
    alerts: ctx.report.alerts,
    stopped: [...ctx.stopped].map(([destination, e]) => ({ destination, kind: e.kind, message: e.message })),
    done: ctx.report.done,
    waitSeconds: ctx.report.waitSeconds,
  };
  await deps.runState.putRunState(input.runId, key, result);
  return { done: true };
}

/** Every group's result of a pass, in group order (so the first group's reasons are the ones kept). */
async function mergeResults(deps: StepDeps, state: SyncRunState, pass: 'remove' | 'add'): Promise<void> {
  const seen = new Set<string>();
  for await (const { key, value } of deps.runState.runStates<GroupResult>(state.runId, `${state.iteration}#${pass}#`)) {
    seen.add(key);
    mergeGroup(state, value, pass);
  }
  const missing = state.groups.map((_, g) => groupKey(state.iteration, pass, g)).filter((k) => !seen.has(k));
  if (missing.length)
    throw new Error(
      `sync run ${state.runId}: ${missing.length} shard group(s) of the ${pass} pass have no result (${missing.join(', ')}); the Map must finish every item first`,
    );
}

/**
 * Decide: every group's counts summed, then each audience's decisions as in one process (below the minimum: no
 * additions; a full replace when one is due and fits the platform's window and the finish step's time).
 */
export async function decideStep(deps: StepDeps, input: { runId: string; iteration: number }): Promise<SyncRunState> {
  const state = await loadState(deps, input.runId, input.iteration);
  if (state.decided) return state;
  await mergeResults(deps, state, 'remove');
  const lease = await holdLease(deps, input.runId);
  const ctx = await stepContext({ ...deps, lease }, state, deps.clock.now().getTime() + FINISH_BUDGET_MS, false);
  for (const run of ctx.runs) if (run.timedCalls > 0) run.state.batchCallMs = Math.round(run.timedMs / run.timedCalls);
  await decideRuns(ctx);
  // What the decisions changed in the audiences' own state (a session decided now, the replace clock of a new
  // audience) is saved for finish, which reads it back; a session opens at its first batch, in finish.
  for (const run of ctx.runs) if (run.dest && !run.halted) await run.saveState();
  state.audiences = ctx.runs.map(snapshotRun);
  state.alerts = ctx.report.alerts;
  state.stopped = [...ctx.stopped].map(([destination, e]) => ({ destination, kind: e.kind, message: e.message }));
  if (!ctx.report.done) {
    state.done = false;
    state.waitSeconds = Math.max(state.waitSeconds ?? 0, ctx.report.waitSeconds ?? 1);
  }
  state.decided = true;
  await deps.runState.putRunState(input.runId, runKey(input.iteration), state);
  return state;
}

/**
 * Finish: the additions' counts summed; full replaces streamed across every shard in cid order; audiences healed or
 * restarted; lookalikes, health, orphans retired; the report; the lock released. A replace cut short by the deadline
 * leaves the run `done: false`: the next iteration plans again and continues the open session, as `runSync` does.
 */
export async function finishStep(
  deps: StepDeps,
  input: { runId: string; iteration: number; deadline?: number },
): Promise<SyncReport> {
  const state = await loadState(deps, input.runId, input.iteration);
  if (!state.decided) throw outOfOrder(state, 'finish', 'before decide');
  // Its replaces closed, its audiences' state saved: finishing again would replay sessions that no longer exist.
  if (state.finished) return state.finished;
  await mergeResults(deps, state, 'add');
  const lease = await holdLease(deps, input.runId);
  const ctx = await stepContext({ ...deps, lease }, state, input.deadline, false);
  ctx.report.alerts = state.alerts;
  if (!state.done) {
    ctx.report.done = false;
    ctx.report.waitSeconds = state.waitSeconds;
  }
  try {
    for (const run of ctx.runs) {
      // Decided in `decide`, opened by its first batch now: the platform's window counts from here.
      const session = run.state.replace;
      if (run.replace && session && session.nextSeq === 1) session.startedAt = deps.clock.now().toISOString();
    }
    for (const prefix of ctx.prefixes) {
      checkTime(ctx.deps, ctx.opts);
      if (!(await addShard(ctx, prefix, 'replace'))) break;
    }
    await finishAdds(ctx);
    await healRuns(ctx);
    await finishRuns(ctx);
  } catch (e) {
    if (e instanceof ListsUnsettled) heldForLists(ctx, e);
    else if (e instanceof OutOfTime) outOfTime(ctx);
    else {
      await lease.release();
      throw e;
    }
  }
  try {
    const report = closeReport(ctx);
    state.finished = report;
    await deps.runState.putRunState(input.runId, runKey(input.iteration), state);
    return report;
  } finally {
    await lease.release();
  }
}

/** After a failed Map: the lock is released (if still ours) so the next run need not wait for it to lapse. */
export async function abortStep(deps: StepDeps, input: { runId: string }): Promise<void> {
  await new Lease(
    deps.store,
    'sync',
    input.runId,
    () => deps.clock.wall?.() ?? deps.clock.now(),
    STEP_LEASE_MS,
  ).release();
  deps.logger.error('sync_run_aborted', { runId: input.runId });
}
