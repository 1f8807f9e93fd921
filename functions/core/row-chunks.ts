/**
 * Rows read in worker threads: one chunk of unsplit records (the reading thread frames them) is split, mapped,
 * normalized and hashed exactly as the reading thread would do it row by row, and comes back as one compact
 * outcome (parallel arrays, cheap to clone across threads) that the reading thread applies in file order
 * (`RowReader.takeChunk`): counting, duplicate checks, erasures, suppressions and staging stay in one thread.
 *
 * Pure: a job is plain data, and everything a row's outcome depends on is in it (the mapping, the day/month order
 * decided from the sample, the export time, the platforms in use), so a row gives the same outcome in any thread.
 */

import { type ColumnMapping, createRowMapper, type RowContext as MapContext } from './formats';
import { processMapped, type RowEnv, type StagedRecord } from './ingest-rows';
import { CONSENT_STATES, type ConsentState } from './model';
import type { PlatformRegistry } from './platform';

/** What a worker needs to read one table's chunks as the reading thread would (structured-clone friendly). */
export interface RowJob {
  mapping: ColumnMapping;
  mapContext: MapContext;
  env: Omit<RowEnv, 'platforms'> & { platforms: string[] };
  /** Whether accepted records are staged (ingest): their JSON and content hash are then made in the worker too. */
  stage: boolean;
}

/** A row event as the reading thread hands it to the row logic (the reader's RowEvent). */
export type ChunkRowEvent =
  | { kind: 'row'; line: number; cells: string[] }
  | { kind: 'error'; line: number; reason: string; detail?: string };

/** The outcome of one row read: a record to stage, or why the row is rejected (and the column that says so). */
export type RowRead =
  | { ok: true; record: StagedRecord; warnings?: Array<{ reason: string; column?: string }> }
  | { ok: false; reason: string; column?: string };

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
  };
}

/** Header of the first column a field is read from, for a mapping (never a value). */
export function headerOfMapping(mapping: ColumnMapping): (field: string | undefined) => string | undefined {
  const fields = mapping.fields as Record<string, ReadonlyArray<{ header?: string }> | undefined>;
  return (field) => (field === undefined ? undefined : fields[field]?.[0]?.header);
}

/**
 * One chunk's rows, in event order. `accepted[k]` says whether event k gave a record; the rejected ones are listed
 * in `rejected` and the accepted ones in the parallel arrays (one entry per accepted event, in order).
 */
export interface ChunkOutcome {
  accepted: Uint8Array;
  rejected: Array<{ line: number; reason: string; column?: string }>;
  cids: string[];
  /** Line of each accepted record. */
  lines: Uint32Array;
  /** Every accepted record's ids, one after the other; `idEnds[j]` is where record j's end. */
  ids: string[];
  idEnds: Uint32Array;
  /** How many of each record's ids are emails (a row may have hundreds: the Meta template repeats `email`). */
  emails: Uint32Array;
  /** Index into CONSENT_STATES. */
  consent: Uint8Array;
  /** Opt-out time of each record ('' when it has none). */
  optOutAt: string[];
  /** Index into `keySets`: which match keys each record carries, per platform. */
  keySet: Uint16Array;
  keySets: Array<Array<[platform: string, keys: string[]]>>;
  /** With `job.stage`: JSON.stringify(record) and contentHash(record), in order. */
  json?: string[];
  hash?: string[];
  /** Warnings of the chunk's rows, [reason, column, rows], in order of first occurrence. */
  warnings: Array<[reason: string, column: string | undefined, rows: number]>;
  /** Blank records the split skipped. */
  blank: number;
}

const CONSENT_INDEX = new Map<ConsentState, number>(CONSENT_STATES.map((c, i) => [c, i]));

/** The content hash of a staged record (the ingest module's), passed in so this module stays below it. */
export type ContentHasher = (record: StagedRecord) => string;

/**
 * The chunk processor run in worker threads: `init(job)` once per table and thread, then one call per chunk of
 * events (already split: see `functions/app/row-processor.ts`, which splits and resolves the registry).
 */
export function chunkReader(
  job: RowJob,
  registry: PlatformRegistry,
  contentHash: ContentHasher,
): (events: readonly ChunkRowEvent[], blank: number) => ChunkOutcome {
  const platforms = job.env.platforms.map((id) => {
    const p = registry[id];
    if (!p) throw new Error(`platform ${id} is not in this build's registry`);
    return p;
  });
  const env: RowEnv = { ...job.env, platforms };
  const mapRow = createRowMapper(job.mapping, job.mapContext);
  const headerOf = headerOfMapping(job.mapping);
  return (events, blank) => {
    const n = events.length;
    const accepted = new Uint8Array(n);
    const rejected: ChunkOutcome['rejected'] = [];
    const cids: string[] = [];
    const lines: number[] = [];
    const ids: string[] = [];
    const idEnds: number[] = [];
    const emails: number[] = [];
    const consent: number[] = [];
    const optOutAt: string[] = [];
    const keySet: number[] = [];
    const keySets: ChunkOutcome['keySets'] = [];
    const keySetIndex = new Map<string, number>();
    const json: string[] | undefined = job.stage ? [] : undefined;
    const hash: string[] | undefined = job.stage ? [] : undefined;
    const warnings = new Map<string, [string, string | undefined, number]>();
    for (let k = 0; k < n; k++) {
      const ev = events[k] as ChunkRowEvent;
      const read = readRow(mapRow, env, headerOf, ev);
      if (!read.ok) {
        rejected.push(read.column === undefined ? { line: ev.line, reason: read.reason } : { line: ev.line, ...read });
        continue;
      }
      accepted[k] = 1;
      const r = read.record;
      for (const w of read.warnings ?? []) {
        const key = `${w.reason}\u0000${w.column ?? ''}`;
        const have = warnings.get(key);
        if (have) have[2]++;
        else warnings.set(key, [w.reason, w.column, 1]);
      }
      cids.push(r.cid);
      lines.push(ev.line);
      for (const h of r.ids) ids.push(h);
      idEnds.push(ids.length);
      emails.push(r.emails ?? 0);
      consent.push(CONSENT_INDEX.get(r.consent) as number);
      optOutAt.push(r.optOutAt ?? '');
      let sig = '';
      for (const p in r.keys) sig += `${p}:${Object.keys(r.keys[p] as object).join(',')};`;
      let s = keySetIndex.get(sig);
      if (s === undefined) {
        s = keySets.length;
        keySetIndex.set(sig, s);
        keySets.push(Object.entries(r.keys).map(([p, keys]) => [p, Object.keys(keys as object)]));
      }
      keySet.push(s);
      if (json && hash) {
        json.push(JSON.stringify(r));
        hash.push(contentHash(r));
      }
    }
    const out: ChunkOutcome = {
      accepted,
      rejected,
      cids,
      lines: Uint32Array.from(lines),
      ids,
      idEnds: Uint32Array.from(idEnds),
      emails: Uint32Array.from(emails),
      consent: Uint8Array.from(consent),
      optOutAt,
      keySet: Uint16Array.from(keySet),
      keySets,
      warnings: [...warnings.values()],
      blank,
    };
    if (json && hash) {
      out.json = json;
      out.hash = hash;
    }
    return out;
  };
}
