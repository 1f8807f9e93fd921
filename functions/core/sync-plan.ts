/**
 * Diff and batch planning: pure functions from desired and synced members to the batches that travel.
 */
import type { BatchMember, SyncedMember } from './ports';

export interface AudienceDiff {
  /** Members to remove, with the keys that were sent when they were added (a removal must send the same keys). */
  remove: BatchMember[];
  /** New members, and members whose keys changed (re-added with the new keys; removed first if a sent key changed). */
  add: BatchMember[];
  unchanged: number;
}

const sameKeys = (a: Record<string, string>, b: Record<string, string>): boolean => {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
};

/**
 * Desired vs last confirmed: removals are what the platform holds and should not; additions the reverse. A member
 * whose batch was never confirmed (pending) counts as held for removal and as missing for addition.
 */
export function diffAudience(
  desired: Map<string, Record<string, string>>,
  synced: Map<string, SyncedMember>,
): AudienceDiff {
  const remove: BatchMember[] = [];
  const add: BatchMember[] = [];
  let unchanged = 0;
  for (const [cid, member] of synced) if (!desired.has(cid)) remove.push({ cid, keys: member.keys });
  for (const [cid, keys] of desired) {
    const had = synced.get(cid);
    if (!had) add.push({ cid, keys });
    else if (!sameKeys(had.keys, keys)) {
      // A key whose value changed or disappeared (a new phone number) may still match someone on the platform:
      // remove with the keys that were sent, then add with the new ones. Keys only gained need just the add.
      if (Object.entries(had.keys).some(([k, v]) => keys[k] !== v)) remove.push({ cid, keys: had.keys });
      add.push({ cid, keys });
    } else if (had.pending) add.push({ cid, keys });
    else unchanged++;
  }
  // Deterministic order, so a resumed run plans the same batches.
  remove.sort((a, b) => (a.cid < b.cid ? -1 : 1));
  add.sort((a, b) => (a.cid < b.cid ? -1 : 1));
  return { remove, add, unchanged };
}

/** Splits into batches of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be at least 1 and whole, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Multi-key schema for one batch: the union of keys its members carry, in the platform's key order.
 * Unknown values become "" as Meta requires.
 */
export function toSchemaRows(
  batch: readonly BatchMember[],
  keyOrder: readonly string[],
): { schema: string[]; data: string[][] } {
  const present = new Set<string>();
  for (const m of batch) for (const k of Object.keys(m.keys)) present.add(k);
  const schema = keyOrder.filter((k) => present.has(k));
  return { schema, data: batch.map((m) => schema.map((k) => m.keys[k] ?? '')) };
}

/** Full jitter exponential backoff (AWS architecture blog): random in [0, min(cap, base·2^attempt)). */
export function backoffMs(attempt: number, random: () => number, baseMs = 500, capMs = 30_000): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/**
 * How long to pause after a call given the platform's reported usage (percent of quota).
 * Below 75 % no pause; above, a pause that grows as usage nears 100 %; at 95 % and over, stop for now.
 */
export function throttleDecision(usagePercent: number | undefined): { pauseMs: number } | { stop: true } {
  if (usagePercent === undefined || !Number.isFinite(usagePercent) || usagePercent < 75) return { pauseMs: 0 };
  if (usagePercent >= 95) return { stop: true };
  return { pauseMs: Math.round(((usagePercent - 75) / 20) * 20_000) };
}

// ---------------------------------------------------------------------------------------------------------------
// Replace window
// ---------------------------------------------------------------------------------------------------------------

/**
 * Meta closes a replace session this long after its first batch and replaces the audience with what it received
 * by then, so a replace that cannot finish inside it shrinks the live audience.
 */
export const REPLACE_WINDOW_MS = 90 * 60_000;
/** Time of one batch call assumed when none has been observed yet (unverified: Meta publishes no latency figure). */
export const DEFAULT_BATCH_CALL_MS = 5_000;
/** Estimates are stretched by this factor before they are compared with the time available. */
export const REPLACE_SAFETY_FACTOR = 1.5;
/**
 * Kept free at the end of Meta's window: our session clock starts just before batch 1 reaches Meta, the next Lambda
 * slice of a run takes a moment to start, and our clock and Meta's differ.
 */
export const REPLACE_WINDOW_RESERVE_MS = 10 * 60_000;

export interface ReplaceWindowInput {
  /** Members the session still has to send (all of them for a new session). */
  members: number;
  batchSize: number;
  /** Observed time of one batch call in ms (latency, without our own pauses); DEFAULT_BATCH_CALL_MS when unknown. */
  callMs?: number;
  /** The platform's latest rate-limit usage in percent; its pauses (throttleDecision) count against the window. */
  usagePercent?: number;
  /** How many usage pauses sync takes per batch (it paces before each call and again after each batch). */
  pausesPerBatch?: number;
  /** How long the session has been open already (0 for a new one). */
  elapsedMs?: number;
  /** What the current run slice may still spend (deadline − now); unbounded when absent. */
  budgetMs?: number;
  windowMs?: number;
}

export interface ReplaceWindowPlan {
  batches: number;
  /** Estimated time per batch: call latency plus usage pauses (Infinity when usage already means "stop"). */
  perBatchMs: number;
  /** Estimated time for every batch, stretched by the safety factor. */
  neededMs: number;
  /** What is left of Meta's window after the reserve. */
  windowLeftMs: number;
  /** How many of the batches fit in what is left of the window (all of them exactly when `fitsWindow`). */
  batchesThatFit: number;
  fitsWindow: boolean;
  /** Whether the run slice's budget covers every batch (true when unbounded). */
  fitsBudget: boolean;
  /** One line for the audience report when the replace does not fit. */
  reason?: string;
}

const duration = (ms: number) => (ms < 120_000 ? `${Math.ceil(ms / 1_000)} s` : `${Math.ceil(ms / 60_000)} min`);

/**
 * Whether a replace session can finish inside Meta's window:
 *
 *   batches     = ⌈members / batchSize⌉
 *   perBatchMs  = callMs + pausesPerBatch × pause(usagePercent)
 *   neededMs    = batches × perBatchMs × REPLACE_SAFETY_FACTOR
 *   windowLeft  = windowMs − elapsedMs − REPLACE_WINDOW_RESERVE_MS
 *   fitsWindow  = neededMs ≤ windowLeft;  fitsBudget = neededMs ≤ budgetMs
 *
 * Usage is assumed to stay where it is during the session (the factor covers some growth); usage at or above the
 * stop threshold means sync would pause for the platform's reset, so nothing fits.
 */
export function planReplaceWindow(input: ReplaceWindowInput): ReplaceWindowPlan {
  const { members, batchSize } = input;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batch size must be at least 1 and whole, got ${batchSize}`);
  const windowMs = input.windowMs ?? REPLACE_WINDOW_MS;
  const batches = Math.ceil(Math.max(0, members) / batchSize);
  const throttle = throttleDecision(input.usagePercent);
  const pausesPerBatch = input.pausesPerBatch ?? 2;
  const callMs = Math.max(0, input.callMs ?? DEFAULT_BATCH_CALL_MS);
  const perBatchMs = 'stop' in throttle ? Number.POSITIVE_INFINITY : callMs + pausesPerBatch * throttle.pauseMs;
  const neededMs = batches === 0 ? 0 : batches * perBatchMs * REPLACE_SAFETY_FACTOR;
  const windowLeftMs = Math.max(0, windowMs - (input.elapsedMs ?? 0) - REPLACE_WINDOW_RESERVE_MS);
  const stretched = perBatchMs * REPLACE_SAFETY_FACTOR;
  const batchesThatFit = stretched === 0 ? batches : Math.min(batches, Math.floor(windowLeftMs / stretched));
  const fitsWindow = neededMs <= windowLeftMs;
  const fitsBudget = input.budgetMs === undefined || neededMs <= input.budgetMs;
  const plan: ReplaceWindowPlan = {
    batches,
    perBatchMs,
    neededMs,
    windowLeftMs,
    batchesThatFit,
    fitsWindow,
    fitsBudget,
  };
  const size = `${members} members (${batches} batches at about ${Math.round(perBatchMs / 100) / 10} s each, with margin)`;
  if ('stop' in throttle)
    plan.reason = `rate-limit usage is at ${input.usagePercent}%, so a replace would stall past Meta's ${duration(windowMs)} replace window`;
  else if (!fitsWindow)
    plan.reason = `a replace of ${size} needs about ${duration(neededMs)}, more than the ${duration(windowLeftMs)} left of Meta's ${duration(windowMs)} replace window`;
  else if (!fitsBudget)
    plan.reason = `a replace of ${size} needs about ${duration(neededMs)}, more than the ${duration(input.budgetMs ?? 0)} left in this run slice`;
  return plan;
}

export type ReplaceDecision =
  /** The open session outlived its window: the platform applied it with what it had received. */
  | { action: 'assume_applied' }
  /** A new session would not finish in time: start nothing, heal by diff. */
  | { action: 'skip'; reason: string }
  /**
   * Send this many batches, the last one closing the session. `closesEarly`: they are fewer than the session still
   * needs (an open session that cannot finish in its window is closed with what fits; the rest goes by diff).
   */
  | { action: 'send'; batches: number; closesEarly: boolean; reason?: string };

/**
 * What to do about a full replace. `open`: the session's batch 1 was confirmed, so it runs on the platform's clock
 * and will be applied when its window ends, whatever we do. A new session is all or nothing: it must fit the window
 * and the run slice. An open one is continued as far as its window allows, across slices.
 */
export function decideReplace(
  open: boolean,
  elapsedMs: number,
  plan: ReplaceWindowPlan,
  windowMs = REPLACE_WINDOW_MS,
): ReplaceDecision {
  if (open && elapsedMs >= windowMs) return { action: 'assume_applied' };
  if (!open) {
    if (plan.fitsWindow && plan.fitsBudget) return { action: 'send', batches: plan.batches, closesEarly: false };
    return { action: 'skip', reason: plan.reason ?? 'the replace does not fit' };
  }
  if (plan.fitsWindow) return { action: 'send', batches: plan.batches, closesEarly: false };
  const batches = Math.min(plan.batches, Math.max(1, plan.batchesThatFit));
  return { action: 'send', batches, closesEarly: batches < plan.batches, reason: plan.reason };
}
