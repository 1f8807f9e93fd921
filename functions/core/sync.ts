/**
 * The sync use case: evaluate segments, diff each segment × destination against what the platform was last
 * confirmed to hold, send removals then additions in batches, checkpoint after every confirmed batch.
 *
 * Bounded memory: people are read shard by shard (a range of cids), each shard's persons merged across lists in cid
 * order and evaluated once for every segment, and each audience diffed for that shard against its synced members of
 * the same range. Removals of every audience go first (pass 1, which also counts each audience's size); additions
 * or a full replace follow (pass 2). A failing destination stops only itself; the rest go on.
 *
 * Every audience the product ever created is walked: one whose segment or destination left the config is emptied
 * (or deleted, or kept with only opt-outs and erasures leaving it: `orphanedAudiences`), unless it is the same
 * platform audience a renamed segment now feeds, whose synced state then moves to the new segment.
 */

import { CompactIndex } from './compact-index';
import {
  type AudienceConfig,
  consentPolicyOf,
  minSizeFor,
  type SegmentConfig,
  type SegmentDestination,
} from './config';
import { describeHolder, Lease } from './lease';
import { type ContactRecord, objectKeyOfSource } from './model';
import { type PlatformRegistry, type PlatformSpec, specOf } from './platform';
import {
  type AudienceHealth,
  type AudienceRef,
  type AudienceState,
  type BatchMember,
  type BatchOutcome,
  type Clock,
  type ContactStore,
  type Destination,
  DestinationError,
  type Logger,
  type SyncedMember,
} from './ports';
import type { ExclusionReason } from './segments';
import { BlockIndex, consentBlock, evaluateSegments, mergeRecord, type Person, personOf } from './segments';
import {
  backoffMs,
  chunk,
  decideReplace,
  diffAudience,
  planReplaceWindow,
  type ReplaceDecision,
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
  /** Hex digits per sync shard (0: one shard; default from the number of people). */
  shardDigits?: number;
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
  | 'held'
  | 'retired'
  | 'failed';

export interface AudienceReport {
  segment: string;
  destination: string;
  platform: string;
  audienceName: string;
  audienceId?: string;
  created?: boolean;
  /** The segment or destination left the config: what happened to the audience under `orphanedAudiences`. */
  orphan?: 'empty' | 'delete' | 'keep' | 'moved';
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
  /** Ask the caller to wait this long before continuing (rate limits, a list being written). */
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

/** How long another replace session (someone else's) is waited out: Meta closes a session within 90 minutes. */
const REPLACE_BUSY_WAIT_SECONDS = 600;
/** How long a run waits for a list that is being written by an ingest before it looks again. */
const LIST_BUSY_WAIT_SECONDS = 60;

class StopDestination extends Error {
  constructor(
    readonly reason: DestinationError,
    readonly waitSeconds?: number,
  ) {
    super(reason.message);
  }
}
export class OutOfTime extends Error {}

/** A list the run reads is being written (or was, while a shard was read): what was read may be half a snapshot. */
export class ListsUnsettled extends OutOfTime {
  constructor(readonly lists: UnsettledList[]) {
    super(lists.map((l) => l.message).join('; '));
  }
}

export interface UnsettledList {
  list: string;
  kind: 'list_being_written' | 'list_ingest_stopped';
  message: string;
}

type Call = <T>(fn: () => Promise<T>, timing?: 'batch') => Promise<T>;

/**
 * People of one cid range, merged across lists: each list's records of the range arrive in cid order, so a k-way
 * merge yields every person once, in cid order, without holding more than the range.
 */
export async function peopleOfShard(store: ContactStore, lists: readonly string[], prefix: string): Promise<Person[]> {
  const iters = lists.map((l) => store.contacts(l, prefix)[Symbol.asyncIterator]());
  const heads: Array<ContactRecord | undefined> = await Promise.all(iters.map(async (it) => (await it.next()).value));
  const out: Person[] = [];
  for (;;) {
    let min: string | undefined;
    for (const h of heads) if (h && (min === undefined || h.cid < min)) min = h.cid;
    if (min === undefined) return out;
    let p: Person | undefined;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (!h || h.cid !== min) continue;
      if (p) mergeRecord(p, h);
      else p = personOf(h);
      heads[i] = (await iters[i]!.next()).value;
    }
    out.push(p!);
  }
}

/** Streams every list's contacts into people (small stores, tests); sync itself reads shard by shard. */
export async function loadPeople(store: ContactStore): Promise<Map<string, Person>> {
  const people = new Map<string, Person>();
  for (const p of await peopleOfShard(store, await store.listIds(), '')) people.set(p.cid, p);
  return people;
}

/** The cid prefixes of a run's shards: none for a small store, 16 or 256 ranges for big ones. */
export function shardPrefixes(digits: number): string[] {
  if (digits <= 0) return [''];
  const hex = [...'0123456789abcdef'];
  let out = [''];
  for (let i = 0; i < digits; i++) out = out.flatMap((p) => hex.map((h) => p + h));
  return out;
}

/**
 * Shards sized so one holds at most about 20,000 people (16, 256 or 4,096 cid ranges): what a run holds at once is one
 * shard, so memory stays flat however many contacts there are (bench/scale.ts measures it up to 10 million).
 */
export function shardDigitsFor(people: number): number {
  return people <= 20_000 ? 0 : people <= 320_000 ? 1 : people <= 5_120_000 ? 2 : 3;
}

/** An empty report for a run starting now; throws when `segment` names no segment of the config. */
export function newReport(deps: SyncDeps, opts: SyncOptions): SyncReport {
  const { config, clock } = deps;
  const startedAt = clock.now().toISOString();
  if (opts.segment && !config.segments.some((s) => s.id === opts.segment)) {
    throw new Error(
      `segment "${opts.segment}" is not in the config (segments: ${config.segments.map((s) => s.id).join(', ')})`,
    );
  }
  return {
    startedAt,
    finishedAt: startedAt,
    dryRun: opts.dryRun === true,
    done: true,
    segments: [],
    audiences: [],
    alerts: [],
  };
}

/**
 * Takes the sync lock and checks that no list is being written. False when the run cannot go on now: another sync
 * holds the lock (the report asks to wait) or a list is unsettled (the report says why, and asks to wait while an
 * ingest is still writing). The caller releases the lease.
 */
export async function startRun(deps: SyncDeps, opts: SyncOptions, report: SyncReport, lease: Lease): Promise<boolean> {
  const { clock, logger } = deps;
  const wall = () => clock.wall?.() ?? clock.now();
  if (!opts.dryRun) {
    const got = await lease.tryAcquire();
    if (!got.acquired) {
      report.done = false;
      report.waitSeconds = 60;
      report.alerts.push({
        destination: '*',
        kind: 'busy',
        message: `another sync is running (${describeHolder(got.holder, wall())}); this one waits and continues when it has finished`,
      });
      logger.warn('sync_busy', { holder: got.holder?.owner });
      return false;
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
  // A list an ingest is writing (or left half-written when it crashed) is not used: the run waits or holds.
  const unsettled = await unsettledLists(deps);
  if (unsettled.length) {
    for (const u of unsettled) report.alerts.push({ destination: '*', kind: u.kind, message: u.message });
    logger.warn('sync_held_for_lists', { lists: unsettled.map((u) => u.list) });
    if (!opts.dryRun) {
      if (unsettled.some((u) => u.kind === 'list_being_written')) {
        report.done = false;
        report.waitSeconds = LIST_BUSY_WAIT_SECONDS;
      }
      report.finishedAt = clock.now().toISOString();
      return false;
    }
  }
  return true;
}

export async function runSync(deps: SyncDeps, opts: SyncOptions = {}): Promise<SyncReport> {
  const { store, clock } = deps;
  const report = newReport(deps, opts);
  const owner = opts.runId ?? `run-${report.startedAt}`;
  const lease = new Lease(store, 'sync', owner, () => clock.wall?.() ?? clock.now());
  try {
    if (!(await startRun(deps, opts, report, lease))) return report;
    return await syncAll({ ...deps, lease: opts.dryRun ? undefined : lease }, opts, report);
  } finally {
    if (!opts.dryRun) await lease.release();
  }
}

/** Lists marked as being written by an ingest: still running (wait) or stopped midway (hold until re-ingested). */
export async function unsettledLists(deps: SyncDeps): Promise<UnsettledList[]> {
  const out: UnsettledList[] = [];
  const now = deps.clock.wall?.() ?? deps.clock.now();
  for (const list of await deps.store.listIds()) {
    const { applying } = await deps.store.listState(list);
    if (!applying) continue;
    const holder = await deps.store.lockHolder(`ingest#${list}`);
    // Any live ingest of the list: its own drop, or another file's (which waits its turn behind a stopped one's mark).
    const alive = holder !== undefined && Date.parse(holder.until) > now.getTime();
    out.push(
      alive
        ? {
            list,
            kind: 'list_being_written',
            message:
              holder.owner === applying.owner
                ? `list ${list} is being written by an ingest (${objectKeyOfSource(applying.source)}); audiences wait until it has committed`
                : `list ${list} is being written by an ingest while the ingest of ${objectKeyOfSource(applying.source)} that stopped midway at ${applying.startedAt} still holds it half-written; audiences wait (until that file is ingested again or a snapshot commits)`,
          }
        : {
            list,
            kind: 'list_ingest_stopped',
            message: `the ingest of ${objectKeyOfSource(applying.source)} into list ${list} stopped midway at ${applying.startedAt}; no audience changes until the file is ingested again (it is retried automatically; if it landed in the dead-letter queue, drop the file again)`,
          },
    );
  }
  return out;
}

/** One audience (segment × destination, or an orphan) as the run works on it. */
export interface Run {
  destKey: string;
  destination: string;
  seg?: SegmentConfig;
  d?: SegmentDestination;
  mode: 'live' | 'empty' | 'keep' | 'delete';
  spec: PlatformSpec;
  dest?: Destination;
  ar: AudienceReport;
  state: AudienceState;
  audience: AudienceRef;
  call: Call;
  saveState: () => Promise<void>;
  /** Stop sending to this audience for the rest of the run (failed, stopped, below minimum for additions…). */
  halted: boolean;
  belowMin: boolean;
  /** Pass 1 counts. */
  desired: number;
  /** Members of an open replace session still to send (cid after its position). */
  replaceRemaining: number;
  removeBuf: BatchMember[];
  addBuf: BatchMember[];
  /** Removals the platform refused (low audience size): kept pending; a changed member's re-add waits for them. */
  refused?: CompactIndex;
  /** A shard step saw the platform refuse removals of this audience (its refused members are not known here). */
  refusedElsewhere?: boolean;
  replace?: {
    decision: Extract<ReplaceDecision, { action: 'send' }>;
    sent: number;
    buf: BatchMember[];
    total: number;
    closed?: boolean;
  };
  /** An open session outlived the platform's window: the synced state is cut down to it after pass 1. */
  pendingPrune?: string;
  /** The synced state was cut down (a partial session): diff again after pass 2. */
  heal: boolean;
  /** The platform refused the session (unknown or already finished): a new one runs in pass 3, once. */
  restarted?: boolean;
  restartFrom?: number;
  /** Confirmed batch calls timed in this run, and their total time (their mean is `state.batchCallMs`). */
  timedCalls: number;
  timedMs: number;
}

/**
 * Everything one sync run works on: its audiences, the lists and blocks it reads, its shards. `runSync` builds it
 * once and runs every pass in this process; the cloud steps (sync-steps.ts) build it per step from the run's state.
 */
export interface RunContext {
  deps: SyncDeps;
  opts: SyncOptions;
  report: SyncReport;
  now: Date;
  lists: string[];
  blocks: BlockIndex;
  policy: ReturnType<typeof consentPolicyOf>;
  /** Hex digits of the shard prefixes (0: one shard). */
  shardDigits: number;
  prefixes: string[];
  stopped: Map<string, DestinationError>;
  runs: Run[];
  segReports: Map<string, SegmentReport>;
  /** The lists' state after the last shard read (see shardDiffs). */
  listMarks?: ListMarks;
}

/** Every list's committed snapshot and applying marker, as one comparable string; `busy` when one is being written. */
interface ListMarks {
  marks: string;
  busy: boolean;
}

/** Lists, blocks and shards of a run; `runs` come from `prepareRuns` (planning) or from a saved state (a step). */
export async function openContext(
  deps: SyncDeps,
  opts: SyncOptions,
  report: SyncReport,
  runs: (stopped: Map<string, DestinationError>) => Promise<Run[]>,
  shardDigits?: number,
): Promise<RunContext> {
  const { config, store, clock } = deps;
  const now = clock.now();
  const lists = await store.listIds();
  // Before the blocks: an ingest writing opt-outs while they load is caught by the first shard's read (shardDiffs).
  const marks = await listMarks(store, lists);
  const blocks = await BlockIndex.load(store.blocks());
  const policy = consentPolicyOf(config);
  const digits = shardDigits ?? opts.shardDigits ?? shardDigitsFor(await estimatePeople(deps, lists));
  const prefixes = shardPrefixes(digits);
  const stopped = new Map<string, DestinationError>();
  const built = await runs(stopped);
  const segReports = new Map<string, SegmentReport>();
  for (const seg of config.segments) {
    if (opts.segment && seg.id !== opts.segment) continue;
    const r: SegmentReport = { id: seg.id, matched: 0, eligible: 0, excluded: {} };
    segReports.set(seg.id, r);
    report.segments.push(r);
  }
  return {
    deps,
    opts,
    report,
    now,
    lists,
    blocks,
    policy,
    shardDigits: digits,
    prefixes,
    stopped,
    runs: built,
    segReports,
    listMarks: marks,
  };
}

interface ShardDiff {
  run: Run;
  diff: ReturnType<typeof diffAudience>;
  desired: Map<string, Record<string, string>>;
  members: Map<string, BatchMember>;
}

/** One shard: people, each live audience's desired members, and every audience's diff against its synced state. */
async function shardDiffs(ctx: RunContext, prefix: string, pass: 1 | 2 | 3, only?: Set<Run>): Promise<ShardDiff[]> {
  const { deps, lists, blocks, now, segReports, runs, policy } = ctx;
  const { config, store } = deps;
  // Read like a seqlock: the lists' state before and after the shard, so a shard read while an ingest was writing
  // (which began after the plan, or between two steps of a stepped run) is never used.
  // The state after one shard (or before the blocks were loaded) is the state before the next: stricter than reading
  // it again, and half the reads.
  const before = ctx.listMarks ?? (await listMarks(store, lists));
  const shardPeople = await peopleOfShard(store, lists, prefix);
  const after = await listMarks(store, lists);
  ctx.listMarks = after;
  // A dry run sends nothing, and plans over an unsettled list on purpose (startRun alerts it).
  if (!ctx.opts.dryRun && (before.busy || after.busy || before.marks !== after.marks)) await listsChanged(deps, lists);
  const byCid = new Map(shardPeople.map((p) => [p.cid, p]));
  const results = evaluateSegments(config, byCid, blocks, now);
  if (pass === 1) {
    for (const [id, r] of results) {
      const sr = segReports.get(id);
      if (!sr) continue;
      sr.matched += r.matched;
      sr.eligible += r.members.length;
      for (const [k, v] of Object.entries(r.excluded)) sr.excluded[k] = (sr.excluded[k] ?? 0) + v;
    }
  }
  const out: ShardDiff[] = [];
  for (const run of runs) {
    if (only && !only.has(run)) continue;
    if (run.mode === 'live' && !results.get(run.seg!.id)) continue;
    const desired = new Map<string, Record<string, string>>();
    const members = new Map<string, BatchMember>();
    const synced = new Map<string, SyncedMember>();
    for await (const m of store.syncedMembers(run.destKey, prefix)) synced.set(m.cid, m);
    if (run.mode === 'live') {
      for (const p of results.get(run.seg!.id)!.members) {
        const keys = platformKeys(run.spec.id, p);
        if (Object.keys(keys).length === 0) continue;
        desired.set(p.cid, keys);
        if (run.spec.capabilities.consentFields) members.set(p.cid, memberOf(p, keys));
      }
    } else if (run.mode === 'keep') {
      // Kept as it is: only people who may no longer be uploaded at all (opt-outs, erasures) leave it.
      for (const [cid, m] of synced) {
        const p = byCid.get(cid);
        // Someone no list holds any more (erased, or gone) is judged by the blocks on the hashes that were sent.
        const why = p ? consentBlock(p, policy, blocks) : blocks.check(sentHashes(cid, m.keys), undefined);
        if (!consentBlocksForGood(why)) desired.set(cid, m.keys);
      }
    }
    out.push({ run, diff: diffAudience(desired, synced), desired, members });
  }
  return out;
}

/** The lists' state, read at once. */
async function listMarks(store: SyncDeps['store'], lists: readonly string[]): Promise<ListMarks> {
  const states = await Promise.all(lists.map((list) => store.listState(list)));
  return {
    marks: states
      .map((st, i) =>
        JSON.stringify([
          lists[i],
          st.snapshot?.source,
          st.snapshot?.committedAt,
          st.applying?.source,
          st.applying?.owner,
        ]),
      )
      .join('\n'),
    busy: states.some((st) => st.applying !== undefined),
  };
}

/** Stops the run where it is (its confirmed batches are checkpointed): it plans again, and the plan waits or holds. */
async function listsChanged(deps: SyncDeps, lists: readonly string[]): Promise<never> {
  const unsettled = await unsettledLists(deps);
  throw new ListsUnsettled(
    unsettled.length
      ? unsettled
      : lists.map((list) => ({
          list,
          kind: 'list_being_written' as const,
          message: `a list was written by an ingest while this run read it (${lists.join(', ')}); the run plans again`,
        })),
  );
}

/**
 * A list became unsettled under the run: every audience still going stops for this run (what it read of that shard is
 * not used), the report says which list and why, and the run continues once it has committed.
 */
export function heldForLists(ctx: RunContext, e: ListsUnsettled): void {
  const { report } = ctx;
  for (const u of e.lists)
    if (!report.alerts.some((a) => a.kind === u.kind && a.message === u.message))
      report.alerts.push({ destination: '*', kind: u.kind, message: u.message });
  for (const run of ctx.runs) {
    if (run.halted && (run.ar.status === 'failed' || run.ar.status === 'stopped')) continue;
    run.halted = true;
    run.ar.status = 'partial';
    run.ar.message = `stopped for this run: ${e.lists.map((u) => `list ${u.list}`).join(', ')} changed under it (an ingest is writing it); it continues once the list has committed`;
  }
  ctx.deps.logger.warn('sync_held_for_lists', { lists: e.lists.map((u) => u.list), midRun: true });
  report.done = false;
  report.waitSeconds = Math.max(report.waitSeconds ?? 0, LIST_BUSY_WAIT_SECONDS);
}

/** Pass 1 for one shard: every audience's removals, and each audience's size. */
export async function removeShard(ctx: RunContext, prefix: string): Promise<void> {
  const { deps, opts, report, stopped } = ctx;
  for (const { run, diff, desired, members } of await shardDiffs(ctx, prefix, 1)) {
    run.desired += desired.size;
    run.ar.planned.remove += diff.remove.length;
    run.ar.planned.add += diff.add.length;
    run.ar.planned.unchanged += diff.unchanged;
    const after = run.state.replace?.lastCid;
    if (after !== undefined) for (const cid of desired.keys()) if (cid > after) run.replaceRemaining++;
    if (opts.dryRun) {
      // A platform that can check requests without changing anything gets one batch of each to check.
      if (run.dest?.validateOnly) {
        const max = run.dest.maxBatchSize;
        for (const m of diff.remove) if (run.removeBuf.length < max) run.removeBuf.push(m);
        for (const m of diff.add) if (run.addBuf.length < max) run.addBuf.push(decorate(m, members));
      }
      continue;
    }
    await guard(deps, report, stopped, run, async () => {
      if (run.state.replace && run.state.replace.nextSeq > 1) return; // our own open session blocks /users
      for (const m of diff.remove) await pushRemove(deps, opts, run, m);
    });
  }
}

/** After pass 1: the last removals, then each audience's decisions (below minimum, full replace). */
export async function decideRuns(ctx: RunContext): Promise<void> {
  const { deps, opts, report, stopped, runs } = ctx;
  for (const run of runs) {
    if (opts.dryRun) continue;
    await guard(deps, report, stopped, run, async () => {
      await flushRemovals(deps, opts, run, true);
      decideAudience(deps, opts, run);
      if (run.pendingPrune) await keepOnlySession(deps, run, run.pendingPrune);
    });
  }
}

/**
 * Pass 2 for one shard: additions, and/or the members of a full replace, in cid order. `what` picks the audiences
 * (`all` in one process; the add step sends additions, the finish step replaces). False when none is left.
 */
export async function addShard(ctx: RunContext, prefix: string, what: 'all' | 'adds' | 'replace'): Promise<boolean> {
  const { deps, opts, report, stopped, runs } = ctx;
  const pass2 = new Set(
    runs.filter(
      (r) =>
        !r.halted &&
        r.mode === 'live' &&
        (what === 'all' || (what === 'replace' ? r.replace !== undefined : r.replace === undefined)),
    ),
  );
  if (pass2.size === 0) return false;
  for (const { run, diff, desired, members } of await shardDiffs(ctx, prefix, 2, pass2)) {
    await guard(deps, report, stopped, run, async () => {
      if (run.replace) {
        // A replace re-sends everyone desired, in cid order, from where an open session stopped.
        const after = run.state.replace?.lastCid ?? '';
        const all = [...desired.keys()].filter((cid) => cid > after).sort();
        for (const cid of all) await pushReplace(deps, opts, run, members.get(cid) ?? { cid, keys: desired.get(cid)! });
        return;
      }
      if (run.belowMin) return;
      // Removals refused in another shard's step are not known here: a changed member whose old keys are still
      // synced (its removal is pending) waits, as `refused` makes it wait in one process.
      const pending = run.refusedElsewhere ? new Set(diff.remove.map((m) => m.cid)) : undefined;
      for (const m of diff.add) {
        if (run.refused?.has(m.cid) || pending?.has(m.cid)) continue;
        await pushAdd(deps, opts, run, decorate(m, members));
      }
    });
  }
  return true;
}

/**
 * Sends every audience's buffered removals and additions (batches fill up across the shards of a step; a shard group
 * step sends what is left before it records its result, so a group that has a result has sent everything).
 */
export async function flushRuns(ctx: RunContext): Promise<void> {
  const { deps, opts, report, stopped, runs } = ctx;
  for (const run of runs)
    await guard(deps, report, stopped, run, async () => {
      await flushRemovals(deps, opts, run, true);
      await flushAdds(deps, opts, run, true);
    });
}

/** End of pass 2 for every audience: the session's closing batch, or the last additions. */
export async function finishAdds(ctx: RunContext, only?: (run: Run) => boolean): Promise<void> {
  const { deps, opts, report, stopped, runs } = ctx;
  for (const run of runs) {
    if (only && !only(run)) continue;
    await guard(deps, report, stopped, run, () => finishPass2(deps, opts, run));
  }
}

/**
 * Pass 3: audiences whose synced state was cut down to a partly applied replace session are healed by diff; a session
 * the platform refused (unknown, already finished) starts again under a new id.
 */
export async function healRuns(ctx: RunContext): Promise<void> {
  const { deps, opts, report, stopped, runs, prefixes } = ctx;
  const restarting = runs.filter((r) => r.restarted && !r.state.replace && !r.halted && !r.heal);
  for (const run of restarting) startSession(deps, opts, run);
  const healing = new Set(runs.filter((r) => (r.heal || (r.restarted && r.replace)) && !r.halted));
  if (!healing.size) return;
  for (const prefix of prefixes) {
    checkTime(deps, opts);
    for (const { run, diff, desired, members } of await shardDiffs(ctx, prefix, 3, healing)) {
      await guard(deps, report, stopped, run, async () => {
        if (run.replace) {
          for (const cid of [...desired.keys()].sort())
            await pushReplace(deps, opts, run, members.get(cid) ?? { cid, keys: desired.get(cid)! });
          return;
        }
        for (const m of diff.remove) await pushRemove(deps, opts, run, m);
        if (!run.belowMin) for (const m of diff.add) await pushAdd(deps, opts, run, decorate(m, members));
      });
    }
  }
  for (const run of healing) {
    await guard(deps, report, stopped, run, async () => {
      if (run.replace) return finishPass2(deps, opts, run);
      await flushRemovals(deps, opts, run, true);
      await flushAdds(deps, opts, run, true);
    });
  }
}

/** Lookalikes, size read-back, orphan retirement and the final status of every audience. */
export async function finishRuns(ctx: RunContext): Promise<void> {
  const { deps, report, stopped, runs } = ctx;
  for (const run of runs) await guard(deps, report, stopped, run, () => finishAudience(deps, run));
}

/** The time budget ran out: every audience still going is partial, and the run asks to continue. */
export function outOfTime(ctx: RunContext): void {
  for (const run of ctx.runs) {
    if (run.ar.status === 'failed' || run.ar.status === 'stopped') continue;
    run.ar.status = 'partial';
    run.ar.message = 'time budget used up; the next invocation continues from the last confirmed batch';
  }
  ctx.report.done = false;
  ctx.report.waitSeconds = Math.max(ctx.report.waitSeconds ?? 0, 1);
}

/** Puts every audience's report into the run's report and logs the outcome. */
export function closeReport(ctx: RunContext): SyncReport {
  const { report, runs, deps, prefixes } = ctx;
  for (const run of runs) report.audiences.push(run.ar);
  report.finishedAt = deps.clock.now().toISOString();
  deps.logger.info('sync_finished', {
    done: report.done,
    shards: prefixes.length,
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

async function syncAll(deps: SyncDeps, opts: SyncOptions, report: SyncReport): Promise<SyncReport> {
  const ctx = await openContext(deps, opts, report, (stopped) => prepareRuns(deps, opts, report, stopped));
  try {
    for (const prefix of ctx.prefixes) {
      checkTime(deps, opts);
      await removeShard(ctx, prefix);
    }
    await decideRuns(ctx);
    if (opts.dryRun) {
      for (const run of ctx.runs) {
        run.ar.desired = run.desired;
        if (run.belowMin || run.desired < run.ar.minSize) run.ar.planned.add = 0;
        run.ar.status = 'planned';
        if (run.dest?.validateOnly) await guard(deps, report, ctx.stopped, run, () => validateSample(run));
      }
    } else {
      // Pass 2: additions, or a full replace where one is due.
      for (const prefix of ctx.prefixes) {
        checkTime(deps, opts);
        if (!(await addShard(ctx, prefix, 'all'))) break;
      }
      await finishAdds(ctx);
      await healRuns(ctx);
      await finishRuns(ctx);
    }
  } catch (e) {
    if (e instanceof ListsUnsettled) heldForLists(ctx, e);
    else if (e instanceof OutOfTime) outOfTime(ctx);
    else throw e;
  }
  return closeReport(ctx);
}

/** A dry run on a platform that checks requests: one batch of the planned removals and additions, checked, not applied. */
async function validateSample(run: Run): Promise<void> {
  const dest = run.dest!;
  if (!run.state.audienceId) {
    const { ref } = await run.call(() =>
      dest.ensureAudience({ name: run.ar.audienceName, description: `audience-sync segment ${run.ar.segment}` }),
    );
    run.audience = ref;
  }
  const checked: string[] = [];
  if (run.removeBuf.length) {
    await run.call(() => dest.remove(run.audience, run.removeBuf));
    checked.push(`${run.removeBuf.length} removals`);
  }
  if (run.addBuf.length && run.ar.planned.add > 0) {
    await run.call(() => dest.add(run.audience, run.addBuf));
    checked.push(`${run.addBuf.length} additions`);
  }
  run.removeBuf = [];
  run.addBuf = [];
  if (checked.length)
    run.ar.message = `${run.spec.displayName} checked ${checked.join(' and ')} of the plan (validate only): accepted, nothing changed`;
}

/** An exclusion that means "never upload" (not merely "not in this segment" or "no opt-in recorded"). */
const consentBlocksForGood = (r: ExclusionReason | undefined) =>
  r === 'erased' ||
  r === 'suppressed' ||
  r === 'unsubscribed' ||
  r === 'cleaned' ||
  r === 'deletion_requested' ||
  r === 'opted_out_elsewhere';

/** The cid and every hashed key a synced member was sent with: what erasure, suppression and opt-out blocks match. */
const sentHashes = (cid: string, keys: Record<string, string>) => [
  cid,
  ...Object.values(keys).filter((v) => /^[0-9a-f]{64}$/.test(v)),
];

/** A member of a platform that takes consent per member: the person's zone, and consent granted (they were admitted). */
function memberOf(p: Person, keys: Record<string, string>): BatchMember {
  const m: BatchMember = { cid: p.cid, keys };
  if (p.attrs.zone) m.zone = p.attrs.zone;
  m.consent = { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' };
  return m;
}

const decorate = (m: BatchMember, members: Map<string, BatchMember>) => members.get(m.cid) ?? m;

/** People the store holds (the lists' committed snapshots say how many rows they had). */
export async function estimatePeople(deps: SyncDeps, lists: readonly string[]): Promise<number> {
  let n = 0;
  for (const l of lists) n += (await deps.store.getSnapshot(l))?.counts.accepted ?? 0;
  return n;
}

/** Every audience of the run: the config's (segment × destination), and every audience ever created that left it. */
export async function prepareRuns(
  deps: SyncDeps,
  opts: SyncOptions,
  report: SyncReport,
  stopped: Map<string, DestinationError>,
): Promise<Run[]> {
  const { config, store, clock } = deps;
  const runs: Run[] = [];
  const liveKeys = new Set<string>();
  for (const seg of config.segments) {
    for (const d of seg.destinations) {
      liveKeys.add(destKeyOf(d.destination, seg.id));
      if (opts.segment && seg.id !== opts.segment) continue;
      const state = (await store.audienceState(destKeyOf(d.destination, seg.id))) ?? {
        destKey: destKeyOf(d.destination, seg.id),
        destination: d.destination,
        segment: seg.id,
        audienceName: d.audienceName,
        updatedAt: clock.now().toISOString(),
      };
      runs.push(newRun(deps, opts, { seg, d, state, mode: 'live' }));
    }
  }
  // Orphans: every audience state whose segment or destination left the config (never in a one-segment run).
  const orphans: AudienceState[] = [];
  if (!opts.segment) {
    for await (const state of store.audienceStates()) {
      if (liveKeys.has(state.destKey) || state.retired?.policy === 'delete') continue;
      if (state.retired && (state.retired.policy === 'empty' || state.retired.policy === 'moved')) {
        // Emptied earlier: nothing is synced any more, unless a member arrived since (never).
        continue;
      }
      orphans.push(state);
    }
  }
  if (opts.dryRun) {
    for (const run of runs) run.ar.status = 'planned';
  } else {
    // Find or create every live audience first, so a renamed segment finds its old platform audience by name.
    for (const run of runs) {
      await guard(deps, report, stopped, run, async () => {
        if (!run.dest) return;
        await ensureLive(deps, run);
      });
    }
  }
  for (const state of orphans) {
    const destination = state.destination ?? state.destKey.split('#')[0]!;
    // Own entries only: an audience of a destination no longer in the config has none, whatever its name.
    const destCfg = Object.hasOwn(config.destinations, destination) ? config.destinations[destination] : undefined;
    const live = runs.find((r) => r.mode === 'live' && r.state.audienceId && r.state.audienceId === state.audienceId);
    if (live && !opts.dryRun) {
      // A renamed segment feeds the same platform audience: its members move with it, nobody is removed.
      await store.moveAudience(state.destKey, { ...live.state, destKey: live.destKey });
      live.ar.message = `took over the synced members of ${state.destKey} (the segment was renamed)`;
      continue;
    }
    if (!destCfg) {
      report.alerts.push({
        destination,
        kind: 'orphaned_audience',
        message: `audience "${state.audienceName}" (${state.destKey}) belongs to destination "${destination}", which left the config; it still holds its members and cannot be emptied without that destination: add it back under destinations (no segment needs to use it) and the next sync empties the audience`,
      });
      continue;
    }
    const mode = config.orphanedAudiences;
    runs.push(newRun(deps, opts, { state, mode, destination }));
  }
  return runs;
}

export function newRun(
  deps: SyncDeps,
  opts: SyncOptions,
  a: {
    seg?: SegmentConfig;
    d?: SegmentDestination;
    state: AudienceState;
    mode: Run['mode'];
    destination?: string;
  },
): Run {
  const { config, clock } = deps;
  const destination = a.d?.destination ?? a.destination!;
  const destCfg = config.destinations[destination]!;
  const spec = specOf(deps.platforms, destCfg.platform);
  const dest = deps.destinations[destination];
  const minSize = a.d ? minSizeFor(config, a.d, deps.platforms) : 0;
  const ar: AudienceReport = {
    segment: a.seg?.id ?? a.state.segment ?? a.state.destKey.split('#').slice(1).join('#'),
    destination,
    platform: spec.id,
    audienceName: a.d?.audienceName ?? a.state.audienceName,
    desired: 0,
    minSize,
    planned: { add: 0, remove: 0, unchanged: 0 },
    added: 0,
    removed: 0,
    batches: 0,
    invalidEntries: 0,
    invalidFields: [],
    status: 'in_sync',
  };
  if (a.mode !== 'live') ar.orphan = a.mode;
  if (a.state.audienceId) ar.audienceId = a.state.audienceId;
  const state = a.state;
  const run: Run = {
    destKey: state.destKey,
    destination,
    seg: a.seg,
    d: a.d,
    mode: a.mode,
    spec,
    dest,
    ar,
    state,
    audience: { id: state.audienceId ?? '', name: state.audienceName },
    call: async () => {
      throw new Error('no destination');
    },
    saveState: async () => {
      state.updatedAt = clock.now().toISOString();
      await deps.store.putAudienceState(state);
    },
    halted: false,
    belowMin: false,
    desired: 0,
    replaceRemaining: 0,
    removeBuf: [],
    addBuf: [],
    heal: false,
    timedCalls: 0,
    timedMs: 0,
  };
  if (!dest) {
    run.halted = true;
    ar.status = 'not_configured';
    ar.message = `no ${spec.displayName} adapter is configured for destination "${destination}"; nothing was sent`;
    return run;
  }
  // Pace on the platform's own usage report before every call, not only after batches. Confirmed batch calls are
  // timed (without the pauses): their mean is kept in the state and feeds the replace-window estimate.
  run.call = (fn, timing) =>
    withRetry(
      async () => {
        await deps.lease?.keepAlive();
        await pace(deps, dest.usage?.() ?? {});
        if (timing !== 'batch') return fn();
        const t0 = clock.now().getTime();
        const out = await fn();
        run.timedCalls++;
        run.timedMs += clock.now().getTime() - t0;
        state.batchCallMs = Math.round(run.timedMs / run.timedCalls);
        return out;
      },
      deps,
      opts,
    );
  return run;
}

/** Finds or creates a live audience; a deleted one is recreated (if configured) with an empty synced state. */
async function ensureLive(deps: SyncDeps, run: Run): Promise<void> {
  const ensure = async () => {
    const { ref, created } = await run.call(() =>
      run.dest!.ensureAudience({
        name: run.d!.audienceName,
        description: run.seg!.description ?? `audience-sync segment ${run.seg!.id}`,
        knownId: run.state.audienceId,
      }),
    );
    run.state.audienceId = ref.id;
    run.state.audienceName = ref.name;
    run.state.destination = run.destination;
    run.state.segment = run.seg!.id;
    run.audience = ref;
    run.ar.audienceId = ref.id;
    run.ar.created = run.ar.created || created;
    await run.saveState();
  };
  try {
    await ensure();
  } catch (e) {
    if (
      !(
        e instanceof DestinationError &&
        e.kind === 'deleted' &&
        run.spec.policy(deps.config.destinations[run.destination]!).recreateDeleted
      )
    )
      throw e;
    deps.logger.warn('audience_deleted_recreating', { destination: run.destination, segment: run.seg!.id });
    await deps.store.replaceSynced(run.destKey, []);
    run.state.audienceId = undefined;
    run.state.lookalikeId = undefined;
    run.state.lastReplaceAt = undefined;
    run.state.replace = undefined;
    await ensure();
    run.ar.message = `the audience had been deleted on ${run.spec.displayName} and was recreated with the current members`;
  }
}

/** After pass 1: below the minimum (no additions), and whether a full replace runs (inside the platform's window). */
function decideAudience(deps: SyncDeps, opts: SyncOptions, run: Run): void {
  if (run.halted) return;
  run.ar.desired = run.desired;
  if (run.mode !== 'live') return;
  run.belowMin = run.desired < run.ar.minSize;
  if (run.belowMin) {
    run.ar.planned.add = 0;
    run.ar.message = `segment has ${run.desired} eligible people, below the minimum of ${run.ar.minSize} for ${run.spec.displayName}; no additions are sent (removals still are)`;
  }
  const policy = run.spec.policy(deps.config.destinations[run.destination]!);
  const now = deps.clock.now().getTime();
  const synced = run.ar.planned.unchanged + run.ar.planned.remove;
  const due =
    run.spec.capabilities.fullReplace &&
    policy.replaceEveryDays > 0 &&
    !!run.dest?.replace &&
    !run.belowMin &&
    run.desired > 0 &&
    synced > 0 &&
    (opts.forceReplace ||
      !run.state.lastReplaceAt ||
      now - Date.parse(run.state.lastReplaceAt) > policy.replaceEveryDays * 86_400_000);
  const session = run.state.replace;
  if (!due && !session) {
    if (!run.state.lastReplaceAt && synced === 0) run.state.lastReplaceAt = new Date(now).toISOString();
    return;
  }
  const open = session !== undefined && session.nextSeq > 1;
  const age = session ? now - Date.parse(session.startedAt) : 0;
  const windowMs = run.spec.limits.replaceWindowMs ?? Number.POSITIVE_INFINITY;
  if (session && !open && age >= windowMs) run.state.replace = undefined;
  const members = open ? run.replaceRemaining : run.belowMin ? 0 : run.desired;
  if (!open && members === 0) {
    run.state.replace = undefined;
    return;
  }
  const plan = planReplaceWindow({
    members: Math.max(members, open ? 1 : 0),
    batchSize: run.dest!.maxBatchSize,
    callMs: run.state.batchCallMs,
    usagePercent: run.dest!.usage?.().usagePercent,
    elapsedMs: open ? age : 0,
    windowMs,
    // A new session must fit this slice; an open one goes on in the next, since stopping it would not stop the clock.
    budgetMs: open || opts.deadline === undefined ? undefined : Math.max(0, opts.deadline - now),
  });
  const decision = decideReplace(open, age, plan, windowMs);
  if (decision.action === 'assume_applied') {
    run.pendingPrune = `the replace session outlived ${windowWords(run)} and was applied as it stood`;
    return;
  }
  if (decision.action === 'skip') {
    run.state.replace = undefined;
    noteReplace(run.ar, `full replace not started: ${decision.reason}; healed by diff instead`);
    deps.logger.info('replace_not_started', { destKey: run.destKey, batches: plan.batches, neededMs: plan.neededMs });
    return;
  }
  if (!open) {
    run.state.replace = {
      sessionId: newSessionId(now, opts.random ?? Math.random, session?.sessionId),
      nextSeq: 1,
      startedAt: new Date(now).toISOString(),
      sentCids: 0,
    };
  }
  run.replace = { decision, sent: 0, buf: [], total: members };
}

/** A new session for every desired member, after the platform refused the previous one. */
function startSession(deps: SyncDeps, opts: SyncOptions, run: Run): void {
  const now = deps.clock.now().getTime();
  run.state.replace = {
    sessionId: newSessionId(now, opts.random ?? Math.random, run.restartFrom),
    nextSeq: 1,
    startedAt: new Date(now).toISOString(),
    sentCids: 0,
  };
  const batches = Math.ceil(run.desired / run.dest!.maxBatchSize);
  run.replace = { decision: { action: 'send', batches, closesEarly: false }, sent: 0, buf: [], total: run.desired };
}

/** "Meta’s 90-minute window" */
function windowWords(run: Run): string {
  const name = run.spec.displayName.replace(/\s*\(.*\)$/, '');
  const ms = run.spec.limits.replaceWindowMs;
  return ms === undefined ? `${name}’s session window` : `${name}’s ${Math.round(ms / 60_000)}-minute window`;
}

/** Adds a line to the audience report; `healed`: it says why the audience was healed by diff instead of a replace. */
function noteReplace(ar: AudienceReport, why: string, healed = true) {
  if (healed) ar.healedByDiff = ar.healedByDiff ? `${ar.healedByDiff}; ${why}` : why;
  ar.message = ar.message ? `${ar.message}; ${why}` : why;
}

/**
 * A new replace session id: seconds since the epoch in the high bits and 20 random bits, so a session never reuses
 * the id of an earlier one (the platform refuses batches for a closed session id). Stays below 2^53.
 */
function newSessionId(now: number, random: () => number, avoid?: number): number {
  const id = Math.floor(now / 1000) * 2 ** 20 + Math.floor(random() * 2 ** 20);
  return id === avoid ? id + 1 : id;
}

async function pushRemove(deps: SyncDeps, opts: SyncOptions, run: Run, m: BatchMember) {
  if (run.halted || run.refused) return;
  run.removeBuf.push(m);
  if (run.removeBuf.length >= run.dest!.maxBatchSize) await flushRemovals(deps, opts, run, false);
}

async function pushAdd(deps: SyncDeps, opts: SyncOptions, run: Run, m: BatchMember) {
  if (run.halted) return;
  run.addBuf.push(m);
  if (run.addBuf.length >= run.dest!.maxBatchSize) await flushAdds(deps, opts, run, false);
}

async function flushRemovals(deps: SyncDeps, opts: SyncOptions, run: Run, all: boolean) {
  const max = run.dest?.maxBatchSize ?? 1;
  while (!run.halted && (run.removeBuf.length >= max || (all && run.removeBuf.length > 0))) {
    const batch = run.removeBuf.splice(0, max);
    if (run.refused) {
      for (const m of batch) run.refused.add(m.cid);
      continue;
    }
    checkTime(deps, opts);
    let outcome: BatchOutcome;
    try {
      outcome = await run.call(() => run.dest!.remove(run.audience, batch), 'batch');
    } catch (e) {
      if (e instanceof DestinationError && e.kind === 'low_audience_size') {
        // Known outcome: the platform refuses to shrink below its minimum. Reported, retried next run, not looped on;
        // a changed member's re-add waits for its removal.
        run.ar.status = 'partial';
        run.ar.errorKind = e.kind;
        run.ar.message = `removals refused by ${run.spec.displayName}: ${e.message}; they stay pending and are retried next run`;
        run.refused = new CompactIndex(16);
        for (const m of [...batch, ...run.removeBuf.splice(0)]) run.refused.add(m.cid);
        continue;
      }
      throw e;
    }
    await deps.store.recordSynced(
      run.destKey,
      [],
      batch.map((m) => m.cid),
    );
    countBatch(run, outcome, { removed: batch.length });
    await pace(deps, outcome);
  }
}

async function flushAdds(deps: SyncDeps, opts: SyncOptions, run: Run, all: boolean) {
  const max = run.dest?.maxBatchSize ?? 1;
  while (!run.halted && (run.addBuf.length >= max || (all && run.addBuf.length > 0))) {
    const batch = run.addBuf.splice(0, max);
    checkTime(deps, opts);
    await recordPending(deps, run, batch);
    const outcome = await run.call(() => run.dest!.add(run.audience, batch), 'batch');
    await deps.store.recordSynced(
      run.destKey,
      batch.map((m) => ({ cid: m.cid, keys: m.keys })),
      [],
    );
    countBatch(run, outcome, { added: batch.length });
    await pace(deps, outcome);
  }
}

/**
 * Before a batch is sent, its members are written as pending: if the run dies after the platform applied the batch
 * but before its answer arrived, the next run still knows they may be there, and removes whoever opted out meanwhile.
 */
async function recordPending(deps: SyncDeps, run: Run, batch: BatchMember[], session?: number) {
  await deps.store.recordSynced(
    run.destKey,
    batch.map((m) =>
      session === undefined
        ? { cid: m.cid, keys: m.keys, pending: true }
        : { cid: m.cid, keys: m.keys, session, pending: true },
    ),
    [],
  );
}

function countBatch(run: Run, outcome: BatchOutcome, n: { added?: number; removed?: number }) {
  run.ar.added += n.added ?? 0;
  run.ar.removed += n.removed ?? 0;
  run.ar.batches++;
  run.ar.invalidEntries += outcome.invalid;
  for (const f of outcome.invalidFields ?? []) if (!run.ar.invalidFields.includes(f)) run.ar.invalidFields.push(f);
}

/**
 * Replace members stream in, in cid order across shards; a batch is sent once more than a batch is waiting, so the
 * last batch (with the session's last flag) is always there to close it.
 */
async function pushReplace(deps: SyncDeps, opts: SyncOptions, run: Run, m: BatchMember) {
  const r = run.replace;
  // The session ended (closed early, applied partly, refused): pass 3 heals or restarts.
  if (!r || r.closed) return;
  r.buf.push(m);
  const max = run.dest!.maxBatchSize;
  while (r.buf.length > max && r.sent < r.decision.batches - 1) await sendReplaceBatch(deps, opts, run, false);
  // The platform's window allows no more batches: the one that closes the session goes now, the rest by diff.
  if (r.decision.closesEarly && r.sent === r.decision.batches - 1 && r.buf.length >= max) {
    await sendReplaceBatch(deps, opts, run, true);
  }
}

async function sendReplaceBatch(deps: SyncDeps, opts: SyncOptions, run: Run, last: boolean) {
  const r = run.replace!;
  const session = run.state.replace!;
  const batch = r.buf.splice(0, run.dest!.maxBatchSize);
  if (batch.length === 0 && last && session.lastMember) batch.push(session.lastMember);
  if (batch.length === 0) return;
  checkTime(deps, opts);
  await recordPending(deps, run, batch, session.sessionId);
  try {
    const outcome = await run.call(
      () =>
        run.dest!.replace!(run.audience, batch, {
          sessionId: session.sessionId,
          startedAt: session.startedAt,
          batchSeq: session.nextSeq,
          last,
          estimatedTotal: session.sentCids + r.total,
        }),
      'batch',
    );
    await deps.store.recordSynced(
      run.destKey,
      batch.map((m) => ({ cid: m.cid, keys: m.keys, session: session.sessionId })),
      [],
    );
    session.nextSeq++;
    session.sentCids += batch.length;
    const lastSent = batch[batch.length - 1]!;
    session.lastCid = lastSent.cid;
    session.lastMember = { cid: lastSent.cid, keys: lastSent.keys };
    r.sent++;
    run.ar.batches++;
    run.ar.invalidEntries += outcome.invalid;
    for (const f of outcome.invalidFields ?? []) if (!run.ar.invalidFields.includes(f)) run.ar.invalidFields.push(f);
    await run.saveState();
    await pace(deps, outcome);
    if (last) r.closed = true;
  } catch (e) {
    if (!(e instanceof DestinationError)) throw e;
    // Timed out or finished on batch 1 of ours: the platform knows this id from an earlier session; nothing of ours
    // was applied, and the next run starts again under a new id.
    const idTaken = session.nextSeq === 1 && (e.kind === 'replace_timed_out' || e.kind === 'replace_restart');
    if (e.kind === 'replace_timed_out' && !idTaken) {
      await keepOnlySession(
        deps,
        run,
        'the platform closed the replace session (timed out) and applied it as it stood',
      );
      return;
    }
    if (e.kind === 'replace_restart' || idTaken) {
      // The platform does not know this session (no batch 1) or it already finished: start a new one, once. A
      // finished session was applied, so only its members are assumed to be there.
      if (e.details.sessionApplied && !idTaken)
        await keepOnlySession(deps, run, 'the platform reported the replace session as already finished', 'restart');
      const previous = session.sessionId;
      run.state.replace = undefined;
      run.replace = undefined;
      run.heal = false;
      if (!run.restarted) {
        run.restarted = true;
        run.restartFrom = previous;
      } else {
        run.heal = true;
        noteReplace(run.ar, 'the replace session was refused twice; healed by diff, the next run replaces again');
      }
      await run.saveState();
      deps.logger.warn('replace_session_restarted', {
        destKey: run.destKey,
        code: e.details.code,
        subcode: e.details.subcode,
      });
      return;
    }
    if (e.kind === 'replace_in_progress' && session.nextSeq === 1) {
      // Our batch 1 was refused because another session holds the audience: ours never opened.
      run.state.replace = undefined;
      await run.saveState();
    }
    throw e;
  }
}

/** The platform holds only what the session sent: forget everyone else in the synced state, then heal by diff. */
async function keepOnlySession(deps: SyncDeps, run: Run, why: string, then: 'diff' | 'restart' = 'diff') {
  const session = run.state.replace!;
  const dropped = await deps.store.pruneSynced(run.destKey, session.sessionId);
  run.state.replace = undefined;
  await run.saveState();
  run.replace = undefined;
  run.heal = true;
  noteReplace(
    run.ar,
    `${why}: the audience holds only the ${session.sentCids} members that session sent, so ${dropped} others are no longer assumed to be there and ${then === 'diff' ? 'are re-added by diff' : 'a new replace session is started'}`,
    then === 'diff',
  );
  deps.logger.warn('replace_session_applied_partially', { destKey: run.destKey, sent: session.sentCids, dropped });
}

/** End of pass 2: the last replace batch (which closes the session), or the remaining additions. */
async function finishPass2(deps: SyncDeps, opts: SyncOptions, run: Run) {
  if (run.halted) return;
  if (run.replace) {
    const r = run.replace;
    while (!r.closed && r.buf.length > run.dest!.maxBatchSize && r.sent < r.decision.batches - 1)
      await sendReplaceBatch(deps, opts, run, false);
    if (!r.closed && run.replace) await sendReplaceBatch(deps, opts, run, true);
    if (!run.replace) return; // the session failed and was handled
    const session = run.state.replace!;
    await deps.store.pruneSynced(run.destKey, session.sessionId);
    run.state.replace = undefined;
    run.replace = undefined;
    if (r.decision.closesEarly) {
      await run.saveState();
      run.heal = true;
      noteReplace(
        run.ar,
        `the open replace session could not finish inside ${windowWords(run)} (${r.decision.reason}): it was closed after ${session.sentCids} members and the rest is added by diff`,
      );
      return;
    }
    run.state.lastReplaceAt = deps.clock.now().toISOString();
    await run.saveState();
    run.ar.replaced = true;
    run.ar.added += run.ar.planned.add;
    return;
  }
  await flushAdds(deps, opts, run, true);
}

/** Lookalike, size read-back, orphan retirement and the final status. */
async function finishAudience(deps: SyncDeps, run: Run) {
  if (run.halted) return;
  const { store, logger } = deps;
  if (run.mode === 'live') {
    const d = run.d!;
    if (!run.belowMin && d.lookalike && !run.state.lookalikeId && run.dest!.createLookalike) {
      const seedMin = d.lookalike.minSeedSize ?? run.ar.minSize;
      if (run.desired >= seedMin) {
        const lal = await run.call(() =>
          run.dest!.createLookalike!(run.audience, {
            name:
              d.lookalike!.name ??
              `${d.audienceName} – lookalike ${d.lookalike!.country} ${Math.round(d.lookalike!.ratio * 100)}%`,
            country: d.lookalike!.country,
            ratio: d.lookalike!.ratio,
          }),
        );
        run.state.lookalikeId = lal.id;
      }
    }
    run.ar.lookalikeId = run.state.lookalikeId;
  } else {
    // An orphan: emptied (its synced state says who is left), deleted, or kept.
    let left = 0;
    for await (const _ of store.syncedMembers(run.destKey)) left++;
    if (run.mode === 'delete' && left === 0 && run.dest!.deleteAudience && run.state.audienceId) {
      await run.call(() => run.dest!.deleteAudience!(run.audience));
      run.state.retired = { at: deps.clock.now().toISOString(), policy: 'delete' };
    } else if (run.mode === 'empty' && left === 0) {
      run.state.retired = { at: deps.clock.now().toISOString(), policy: 'empty' };
    }
    run.ar.message = describeOrphan(run, left);
    logger.warn('orphaned_audience', { destKey: run.destKey, policy: run.mode, left });
  }
  await run.saveState();
  if (run.dest!.health && run.state.audienceId && run.state.retired?.policy !== 'delete') {
    try {
      run.ar.health = await run.call(() => run.dest!.health!(run.audience));
    } catch (e) {
      logger.warn('health_read_failed', {
        destination: run.destination,
        segment: run.ar.segment,
        error: (e as Error).message,
      });
    }
  }
  if (run.ar.status === 'in_sync' && (run.ar.added || run.ar.removed || run.ar.replaced)) run.ar.status = 'synced';
  if (run.belowMin && run.ar.status !== 'partial') run.ar.status = 'below_min_size';
  if (run.mode !== 'live' && run.ar.status !== 'partial') run.ar.status = 'retired';
}

function describeOrphan(run: Run, left: number): string {
  const why = `its segment or destination left the config (orphanedAudiences: ${run.mode})`;
  if (run.mode === 'keep')
    return `audience kept as it is because ${why}: ${left} members stay; only opt-outs and erasures leave it`;
  if (run.mode === 'delete')
    return run.state.retired?.policy === 'delete'
      ? `audience emptied and deleted on ${run.spec.displayName} because ${why}`
      : `audience emptied because ${why}; ${run.dest?.deleteAudience ? `${left} members still to remove before it is deleted` : `${run.spec.displayName} cannot delete audiences through its API, so it stays, empty`}`;
  return `audience emptied because ${why}${left ? `; ${left} members still to remove` : ''}`;
}

/** Runs one audience's step, turning its errors into its report (and stopping its destination where they say so). */
export async function guard(
  deps: SyncDeps,
  report: SyncReport,
  stopped: Map<string, DestinationError>,
  run: Run,
  fn: () => Promise<void>,
): Promise<void> {
  if (run.halted) return;
  const already = stopped.get(run.destination);
  if (already) {
    run.halted = true;
    run.ar.status = 'stopped';
    run.ar.errorKind = already.kind;
    run.ar.message = `destination stopped earlier in this run: ${already.message}`;
    return;
  }
  try {
    await fn();
  } catch (e) {
    if (e instanceof OutOfTime) throw e;
    run.halted = true;
    const ar = run.ar;
    const { logger } = deps;
    if (e instanceof DestinationError && e.kind === 'replace_in_progress') {
      // Someone else's replace session (or another update) holds the audience: nothing is lost, nothing is
      // alerted; pending changes stay pending and the run continues later.
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
      stopped.set(run.destination, e.reason);
    } else if (e instanceof DestinationError) {
      ar.status = 'failed';
      ar.errorKind = e.kind;
      ar.message = e.message;
      if (['auth', 'terms', 'config', 'deleted'].includes(e.kind)) {
        // Token, terms and permissions affect every audience of the destination; a deleted audience only itself.
        if (e.kind !== 'deleted') stopped.set(run.destination, e);
        else ar.message = `${e.message}; recreateDeleted is off for this destination, so it was not recreated`;
        report.alerts.push({ destination: run.destination, kind: e.kind, message: e.message, link: e.details.link });
        // The alarm in the stack is a metric filter on this event.
        logger.error('destination_alert', {
          destination: run.destination,
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
        stopped.set(run.destination, e);
      }
    } else {
      ar.status = 'failed';
      ar.message = `unexpected error: ${(e as Error).message}`;
      logger.error('sync_audience_failed', {
        destination: run.destination,
        segment: ar.segment,
        error: (e as Error).message,
      });
    }
  }
}

export function checkTime(deps: SyncDeps, opts: SyncOptions) {
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
      // A replace session holding the audience can last up to 90 minutes: not retried here, but later (guard).
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

export { chunk };
