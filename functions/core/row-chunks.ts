/**
 * Rows read in worker threads: one chunk of unsplit records (the reading thread frames them) is split, mapped,
 * normalized and hashed exactly as the reading thread would do it row by row, and comes back as one compact
 * outcome (parallel arrays, cheap to clone across threads) that the reading thread applies in file order
 * (`RowReader.takeChunk`): counting, duplicate checks, erasures, suppressions and staging stay in one thread.
 *
 * Pure: a job is plain data, and everything a row's outcome depends on is in it (the mapping, the day/month order
 * decided from the sample, the export time, the platforms in use), so a row gives the same outcome in any thread.
 */

import { fingerprintInto } from './compact-index';
import { type ColumnMapping, createRowMapper, type RowContext as MapContext } from './formats';
import { processMapped, type RowEnv, type RowOutcome, type StagedRecord } from './ingest-rows';
import { CONSENT_STATES, type ConsentState } from './model';
import type { PlatformRegistry } from './platform';

/** What a worker needs to read one table's chunks as the reading thread would (structured-clone friendly). */
export interface RowJob {
  mapping: ColumnMapping;
  mapContext: MapContext;
  env: Omit<RowEnv, 'platforms'> & { platforms: string[] };
  /** Whether accepted records are staged (ingest): their JSON and content hash are then made in the worker too. */
  stage: boolean;
  /** The reading thread's erasures and suppressions (serialized CompactIndex), when it has any. */
  erased?: Uint8Array;
  suppressed?: Uint8Array;
}

/** A row event as the reading thread hands it to the row logic (the reader's RowEvent). */
export type ChunkRowEvent =
  | { kind: 'row'; line: number; cells: string[] }
  | { kind: 'error'; line: number; reason: string; detail?: string };

/** The outcome of one row read: a record to stage, or why the row is rejected (and the column that says so). */
export type RowRead =
  | {
      ok: true;
      record: StagedRecord;
      warnings?: Array<{ reason: string; column?: string }>;
      /** What {@link tallyRecord} counts the record's keys by (see RowOutcome). */
      keyShapes?: RowOutcomeShapes;
    }
  | { ok: false; reason: string; column?: string };

type RowOutcomeShapes = NonNullable<Extract<RowOutcome, { ok: true }>['keyShapes']>;

/** One row through the row mapper and the record rules; the caller counts it (and checks erasures). */
export function readRow(
  mapRow: ((cells: readonly string[]) => ReturnType<ReturnType<typeof createRowMapper>>) | undefined,
  env: RowEnv,
  headerOf: (field: string | undefined) => string | undefined,
  ev: ChunkRowEvent,
): RowRead {
  if (ev.kind === 'error') return { ok: false, reason: ev.reason };
  if (!mapRow) return { ok: false, reason: 'unrecognized_format' };
  const mapped = mapRow(ev.cells);
  if ('reject' in mapped) return { ok: false, reason: mapped.reject, column: mapped.column };
  if (mapped.skip) return { ok: false, reason: mapped.skip };
  const out = processMapped(mapped, env);
  if (!out.ok) return { ok: false, reason: out.reason, column: headerOf(out.field) };
  if (!out.warnings) return out;
  return {
    ok: true,
    record: out.record,
    warnings: out.warnings.map((w) => ({ reason: w.reason, column: headerOf(w.field) })),
    keyShapes: out.keyShapes,
  };
}

/** Header of the first column a field is read from, for a mapping (never a value). */
export function headerOfMapping(mapping: ColumnMapping): (field: string | undefined) => string | undefined {
  const fields = mapping.fields as Record<string, ReadonlyArray<{ header?: string }> | undefined>;
  return (field) => (field === undefined ? undefined : fields[field]?.[0]?.header);
}

/** What the report counts of accepted records: the same tally in a worker (per chunk) and in the reading thread. */
export interface Tally {
  /** Per platform and key, keys in order of first occurrence (the key coverage). Read it after {@link settleTally}. */
  keyCounts: Record<string, Record<string, number>>;
  consent: Record<ConsentState, number>;
  /** Held back by their consent state, states in order of first occurrence. */
  suppressed: Record<string, number>;
  /**
   * Rows counted by the set of keys they have (a key table's mask, see KeysResult), per platform, sets in order of
   * first occurrence: added into `keyCounts` by {@link settleTally}. One number per row instead of a walk over its
   * keys; the order of first occurrence of keys is the same either way.
   */
  pending?: Record<string, { names: readonly string[]; masks: Map<number, number> }>;
}

/** A platform's key counts in `t`, made empty on its first key. */
function keyCountsOf(t: Tally, platform: string): Record<string, number> {
  let counts = t.keyCounts[platform];
  if (counts === undefined) {
    counts = {};
    t.keyCounts[platform] = counts;
  }
  return counts;
}

/** Counts one accepted record into `t`: its keys by their table's mask where the read gave one, else one by one. */
export function tallyRecord(t: Tally, r: StagedRecord, keyShapes?: RowOutcomeShapes): void {
  if (keyShapes !== undefined && keyShapes.length > 0) {
    for (const [platform, shape] of keyShapes) {
      const pending = pendingOf(t, platform, shape.names);
      pending.set(shape.mask, (pending.get(shape.mask) ?? 0) + 1);
    }
  } else {
    // Keys counted one by one go after the sets counted before them, as they came (platforms and keys alike).
    settleTally(t);
    for (const platform in r.keys) {
      const keys = r.keys[platform] as Record<string, string>;
      const counts = keyCountsOf(t, platform);
      for (const key in keys) counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  t.consent[r.consent]++;
  if (NOT_UPLOADABLE_STATES.has(r.consent)) t.suppressed[r.consent] = (t.suppressed[r.consent] ?? 0) + 1;
}

function pendingOf(t: Tally, platform: string, names: readonly string[]): Map<number, number> {
  let pending = t.pending?.[platform];
  if (pending !== undefined && pending.names !== names) {
    settleTally(t);
    pending = undefined;
  }
  if (pending === undefined) {
    pending = { names, masks: new Map() };
    t.pending ??= {};
    t.pending[platform] = pending;
  }
  return pending.masks;
}

/** Adds the rows `t` counted by key set into its key counts (each set's keys in table order, sets as they came). */
export function settleTally(t: Tally): void {
  const pending = t.pending;
  if (pending === undefined) return;
  t.pending = undefined;
  for (const platform in pending) {
    const { names, masks } = pending[platform] as { names: readonly string[]; masks: Map<number, number> };
    const counts = keyCountsOf(t, platform);
    for (const [mask, n] of masks)
      for (let i = 0; i < names.length; i++)
        if ((mask & (1 << i)) !== 0) {
          const key = names[i] as string;
          counts[key] = (counts[key] ?? 0) + n;
        }
  }
}

/** Adds a chunk's tally to `into`, keeping the order of first occurrence of keys and states. */
export function addTally(into: Tally, t: Tally): void {
  settleTally(into);
  settleTally(t);
  for (const platform in t.keyCounts) {
    const chunk = t.keyCounts[platform] as Record<string, number>;
    const counts = keyCountsOf(into, platform);
    for (const key in chunk) counts[key] = (counts[key] ?? 0) + (chunk[key] as number);
  }
  for (const c of CONSENT_STATES) into.consent[c] += t.consent[c];
  for (const state in t.suppressed)
    into.suppressed[state] = (into.suppressed[state] ?? 0) + (t.suppressed[state] as number);
}

/**
 * One chunk's rows, in event order. `accepted[k]` says whether event k gave a record to stage; the rejected ones
 * (erased people included: the job carries the erasures) are listed in `rejected`, in order. What the report counts
 * of the accepted ones comes summed per chunk (`tally`); what the reading thread needs of each comes in parallel
 * arrays, one entry per accepted event: the fingerprints of their cids for the duplicate check (and, when staging,
 * for the stored fingerprints), and with `job.stage` what staging writes.
 */
export interface ChunkOutcome {
  accepted: Uint8Array;
  rejected: Array<{ line: number; reason: string; column?: string }>;
  /** The fingerprint of each accepted record's cid (three words each, `fingerprintInto`). */
  prints: Uint32Array;
  tally: Tally;
  /** Accepted records of people a suppression holds. */
  heldBySuppression: number;
  /** Warnings of the chunk's rows, [reason, column, rows], in order of first occurrence. */
  warnings: Array<[reason: string, column: string | undefined, rows: number]>;
  /** With `job.stage`: what staging needs of each accepted record. */
  staged?: {
    cids: string[];
    /** Every record's ids, one after the other; `idEnds[j]` is where record j's end. */
    ids: string[];
    idEnds: Uint32Array;
    /** How many of each record's ids are emails (a row may have hundreds: the Meta template repeats `email`). */
    emails: Uint32Array;
    /** Index into CONSENT_STATES. */
    consent: Uint8Array;
    /** Opt-out time of each record ('' when it has none). */
    optOutAt: string[];
    /** serializeRecord(record): its JSON and its contentHash. */
    json: string[];
    hash: string[];
  };
}

const CONSENT_INDEX = new Map<ConsentState, number>(CONSENT_STATES.map((c, i) => [c, i]));

/** A record's JSON and content hash, as staging writes them (`serializeRecord`, from contact-content). */
export type RecordSerializer = (record: StagedRecord) => { json: string; hash: string };

/** A set of identity hashes, as the job carries them (the reading thread's erasures and suppressions). */
export interface IdSet {
  readonly size: number;
  has(id: string): boolean;
}

/** Where the job's serialized id sets are read back (CompactIndex, passed in so this module stays below it). */
export type IdSetReader = (bytes: Uint8Array) => IdSet;

/**
 * Id sets this thread already holds, by the bytes they were serialized to for a job: the reading thread, when it
 * reads chunks itself, uses its own sets instead of a copy (a worker gets the bytes cloned and reads them back).
 */
const heldIdSets = new WeakMap<Uint8Array, IdSet>();

/** Serializes `set` for jobs once (the same bytes for every job of a file), remembering that this thread holds it. */
export function idSetBytes(set: IdSet, toBytes: (set: IdSet) => Uint8Array, cache: Map<IdSet, Uint8Array>): Uint8Array {
  let bytes = cache.get(set);
  if (bytes === undefined) {
    bytes = toBytes(set);
    cache.set(set, bytes);
    heldIdSets.set(bytes, set);
  }
  return bytes;
}

/**
 * The chunk processor run in worker threads: `init(job)` once per table and thread, then one call per chunk of
 * events (already split: see `functions/app/row-processor.ts`, which splits and resolves the registry). Counts as
 * `RowReader.take` counts, so the reading thread adds the chunk's sums in file order.
 */
export function chunkReader(
  job: RowJob,
  registry: PlatformRegistry,
  serialize: RecordSerializer,
  readIdSet: IdSetReader,
): (events: readonly ChunkRowEvent[]) => ChunkOutcome {
  const platforms = job.env.platforms.map((id) => {
    const p = registry[id];
    if (!p) throw new Error(`platform ${id} is not in this build's registry`);
    return p;
  });
  const env: RowEnv = { ...job.env, platforms };
  const mapRow = createRowMapper(job.mapping, job.mapContext);
  const headerOf = headerOfMapping(job.mapping);
  const idSet = (bytes: Uint8Array | undefined) =>
    bytes === undefined ? undefined : (heldIdSets.get(bytes) ?? readIdSet(bytes));
  const erased = idSet(job.erased);
  const suppressedIds = idSet(job.suppressed);
  const anyIn = (set: IdSet | undefined, ids: readonly string[]) => {
    if (set === undefined || set.size === 0) return false;
    for (const h of ids) if (set.has(h)) return true;
    return false;
  };
  return (events) => {
    const n = events.length;
    const accepted = new Uint8Array(n);
    const rejected: ChunkOutcome['rejected'] = [];
    const prints = new Uint32Array(3 * n);
    let accepts = 0;
    const tally: Tally = {
      keyCounts: {},
      consent: Object.fromEntries(CONSENT_STATES.map((c) => [c, 0])) as Record<ConsentState, number>,
      suppressed: {},
    };
    let heldBySuppression = 0;
    const warnings = new Map<string, [string, string | undefined, number]>();
    const staged = job.stage
      ? {
          cids: [] as string[],
          ids: [] as string[],
          idEnds: [] as number[],
          emails: [] as number[],
          consent: [] as number[],
          optOutAt: [] as string[],
          json: [] as string[],
          hash: [] as string[],
        }
      : undefined;
    for (let k = 0; k < n; k++) {
      const ev = events[k] as ChunkRowEvent;
      const read = readRow(mapRow, env, headerOf, ev);
      if (!read.ok) {
        rejected.push(
          read.column === undefined
            ? { line: ev.line, reason: read.reason }
            : { line: ev.line, reason: read.reason, column: read.column },
        );
        continue;
      }
      const r = read.record;
      if (read.warnings)
        for (const w of read.warnings) {
          const key = `${w.reason}\u0000${w.column ?? ''}`;
          const have = warnings.get(key);
          if (have) have[2]++;
          else warnings.set(key, [w.reason, w.column, 1]);
        }
      // After the warnings, as RowReader.read: an erased person's row still counts its warnings.
      if (anyIn(erased, r.ids)) {
        rejected.push({ line: ev.line, reason: 'erased' });
        continue;
      }
      accepted[k] = 1;
      fingerprintInto(r.cid, prints, 3 * accepts++);
      tallyRecord(tally, r, read.keyShapes);
      if (anyIn(suppressedIds, r.ids)) heldBySuppression++;
      if (staged) {
        staged.cids.push(r.cid);
        for (const h of r.ids) staged.ids.push(h);
        staged.idEnds.push(staged.ids.length);
        staged.emails.push(r.emails ?? 0);
        staged.consent.push(CONSENT_INDEX.get(r.consent) as number);
        staged.optOutAt.push(r.optOutAt ?? '');
        const { json, hash } = serialize(r);
        staged.json.push(json);
        staged.hash.push(hash);
      }
    }
    const out: ChunkOutcome = {
      accepted,
      rejected,
      tally,
      heldBySuppression,
      warnings: [...warnings.values()],
      prints: prints.slice(0, 3 * accepts),
    };
    if (staged)
      out.staged = {
        ...staged,
        idEnds: Uint32Array.from(staged.idEnds),
        emails: Uint32Array.from(staged.emails),
        consent: Uint8Array.from(staged.consent),
      };
    return out;
  };
}

/** Consent states whose people are held back (the report's `suppressed`; the ingest module's NOT_UPLOADABLE). */
export const NOT_UPLOADABLE_STATES: ReadonlySet<ConsentState> = new Set<ConsentState>([
  'unsubscribed',
  'cleaned',
  'pending',
  'never_subscribed',
  'deletion_requested',
]);
