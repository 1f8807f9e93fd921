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

/** Desired vs last confirmed: removals are what the platform holds and should not; additions the reverse. */
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
    } else unchanged++;
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
