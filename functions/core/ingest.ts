/**
 * The ingest use case: one dropped export (already split into entries of header + rows by the reader) becomes
 * pseudonymous contacts of one list, and a report that accounts for every row.
 *
 * Drop kinds, by place in the bucket:
 * - `incoming/<list>/…`            snapshot: the whole list; members missing from it leave the list
 * - `incoming/<list>/delta/…`      upserts only
 * - `incoming/<list>/suppress/…`   people never to upload, from now on, whatever any list says
 * - `incoming/<list>/unsuppress/…` lifts those suppressions
 *
 * A drop commits whole or changes nothing: the file is read in full first, its changes staged (hashes only); a file
 * that cannot be read in full is quarantined before anything is written. Only then are the changes applied, with the
 * list marked as being written, so a sync never uses a list that an ingest left half-written.
 */

import { CompactIndex, compactIndexToBytes, fingerprintInto, hex32 } from './compact-index';
import { type AudienceConfig, consentPolicyOf } from './config';
import { cidOfStaged, contentText, recordOfStaged, type StagedArray, serializeRecord } from './contact-content';
import {
  type ColumnMapping,
  createRowMapper,
  DetectionError,
  dayFirstEvidenceFor,
  detectFormat,
  type FormatId,
  looksLikeData,
  sniffDayFirst,
} from './formats';
import type { RowEnv, StagedRecord } from './ingest-rows';
import { acquireWaiting, describeHolder, Lease } from './lease';
import { CONSENT_STATES, type ConsentState, objectKeyOfSource, PARSE_FAILURES, type RejectionReason } from './model';
import { isPlausibleEmail, isSha256Hex, sha256Hex } from './normalize';
import { type PlatformRegistry, platformsInUse } from './platform';
import type {
  ApplyingMarker,
  BlockEntry,
  ContactStore,
  ContactWrite,
  ListSnapshot,
  Logger,
  RecordChunkLike,
  RowPool,
  StagingArea,
} from './ports';
import {
  addTally,
  type ChunkOutcome,
  headerOfMapping,
  type IdSet,
  idSetBytes,
  type RowJob,
  type RowRead,
  readRow,
  settleTally,
  type Tally,
  tallyRecord,
} from './row-chunks';
import { isOptedOut, mergeDuplicate } from './segments';

export type DropKind = 'snapshot' | 'delta' | 'suppress' | 'unsuppress';

export type RowEvent =
  | { kind: 'row'; line: number; cells: string[] }
  | { kind: 'error'; line: number; reason: string; detail?: string };

/** One table inside a dropped file (a CSV, or one CSV of a zip). */
export interface SourceEntry {
  name: string;
  encoding: string;
  delimiter: string;
  header: string[];
  headerLine: number;
  rows: AsyncIterable<RowEvent>;
  /**
   * The same events in arrays, in file order (the reader's `Entry.batches`): read instead of `rows` when present, so
   * a row costs no await of its own (one per batch of a few hundred).
   */
  batches?(): AsyncIterable<RowEvent[]>;
  /**
   * The records unsplit, in record-aligned chunks (the reader's `Entry.chunks`), for a {@link RowPool} to split and
   * read in worker threads; used instead of `rows` / `batches` when a pool is given.
   */
  chunks?(): AsyncIterable<RecordChunkLike>;
}

export interface IngestInput {
  list: string;
  kind: DropKind;
  /** Identity of the dropped object: `<key>#<version or etag>`. */
  source: string;
  exportedAt: string;
  exportedAtFrom: ListSnapshot['exportedAtFrom'];
  entries: AsyncIterable<SourceEntry>;
}

export interface RejectedRow {
  entry: string;
  line: number;
  reason: string;
  column?: string;
}

export interface EntryReport {
  name: string;
  format?: FormatId | string;
  confidence?: number;
  encoding: string;
  delimiter: string;
  rows: number;
  /** Columns read, with the field each feeds, and columns no field reads (names only, never values). */
  columns?: { read: Array<{ column: string; field: string }>; ignored: string[] };
  error?: string;
}

export type IngestStatus = 'ingested' | 'validated' | 'stale' | 'already_ingested';

/** An attribute that was dropped or read conservatively, per reason and column; the people were kept. */
export interface IngestWarning {
  reason: string;
  column?: string;
  rows: number;
}

export interface IngestReport {
  list: string;
  kind: DropKind;
  source: string;
  status: IngestStatus;
  /** Human-readable note on the outcome (stale, already ingested, nobody removed…). */
  message?: string;
  exportedAt: string;
  exportedAtFrom: string;
  /** The format detected for the first readable entry (see `entries` for each). */
  format?: string;
  entries: EntryReport[];
  rows: number;
  accepted: number;
  rejected: number;
  /** Rejection reason → count. rows = accepted + rejected, always. */
  rejections: Record<string, number>;
  /** Accepted rows that repeat a person already in the file: merged into one, the most restrictive consent winning. */
  merged: number;
  /** Accepted rows by consent state. */
  consent: Record<ConsentState, number>;
  /** Accepted rows held back by their consent state (unsubscribed, cleaned, pending, never subscribed, deletion requested); never-subscribed and pending people are uploaded only where the zone policy is `not_opted_out`. */
  suppressed: Record<string, number>;
  /** Accepted rows of people a suppression holds back (they are stored, never uploaded while it lasts). */
  heldBySuppression: number;
  /** Share of accepted rows carrying each match key, per platform in use (0–1). */
  keyCoverage: Record<string, Record<string, number>>;
  warnings: IngestWarning[];
  written: number;
  unchanged: number;
  /** Contacts kept because a newer export had already written them. */
  staleRows: number;
  /** Members of the list that this snapshot no longer contains (they left). */
  removed: number;
  /** Suppress and unsuppress drops: identities named, people they matched now, and whether they hold for later ones. */
  suppression?: {
    identities: number;
    matchedNow: number;
    lifted?: number;
    /** Unsuppress: suppressions of these identities that other lists' suppress drops recorded, and that still hold. */
    heldByOtherLists?: number;
  };
  /** First rejected rows (the full list goes to the rejected-rows CSV). */
  rejectedRows: RejectedRow[];
  rejectedRowsTruncated: boolean;
}

export interface IngestDeps {
  store?: ContactStore;
  /** Where changes wait until the file was read in full (default: memory; the Lambda spools to /tmp). */
  staging?: () => Promise<StagingArea>;
  platforms: PlatformRegistry;
  /** Compute every registered platform's keys, not only the config's (`validate` without destinations). */
  allPlatforms?: boolean;
  logger: Logger;
  now: () => Date;
  /**
   * Real time (default: now; see Clock.wall): for the list's lease, which other runs read, and to tell a stored time
   * from a broken clock (in the future) from a true one, whatever "now" a run is pinned to.
   */
  wallNow?: () => Date;
  /** How long to wait for another ingest of the same list (default 10 min). */
  lockWaitMs?: number;
  /**
   * Worker threads that split, map, normalize and hash the rows (the Lambda's second vCPU, the CLI's cores); without
   * it every row is read in this thread. Results are the same either way. The workers compute the keys of the
   * platforms of their build's registry (functions/platforms/registry.ts), not of `platforms` when a test passes
   * another.
   */
  rowPool?: RowPool;
  sleep?: (ms: number) => Promise<void>;
}

const WRITE_BATCH = 500;
/** Lines handed to staging at once: few enough that they are encoded before the young generation is collected. */
const STAGE_LINES = 32;
const SAMPLE_ROWS = 200;
/** Rows read ahead (and held) to learn a file's day/month order: bounded, about 20 MB of cells at most. */
const DATE_LOOKAHEAD_ROWS = 20_000;
const MAX_REJECTED_ROWS_IN_MEMORY = 200_000;
/** Duplicate persons merged in memory at once during apply; beyond this they are merged through the store. */
const DUPLICATE_MERGE_CAP = 20_000;

// Flags kept per person of the file in the `seen` index.
const SEEN = 1;
const STAGED_FIRST = 2;
const UNCHANGED_FIRST = 4;
const DUPLICATE = 8;

export function emptyReport(
  input: Pick<IngestInput, 'list' | 'kind' | 'source' | 'exportedAt' | 'exportedAtFrom'>,
  status: IngestStatus,
): IngestReport {
  return {
    list: input.list,
    kind: input.kind,
    source: input.source,
    status,
    exportedAt: input.exportedAt,
    exportedAtFrom: input.exportedAtFrom,
    entries: [],
    rows: 0,
    accepted: 0,
    rejected: 0,
    rejections: {},
    merged: 0,
    consent: Object.fromEntries(CONSENT_STATES.map((c) => [c, 0])) as Record<ConsentState, number>,
    suppressed: {},
    heldBySuppression: 0,
    keyCoverage: {},
    warnings: [],
    written: 0,
    unchanged: 0,
    staleRows: 0,
    removed: 0,
    rejectedRows: [],
    rejectedRowsTruncated: false,
  };
}

/** In-memory staging: validation, tests and small local runs. */
export async function memoryStaging(): Promise<StagingArea> {
  let lines: string[] = [];
  return {
    write: async (more) => {
      for (const line of more) lines.push(line);
    },
    batches: async function* () {
      yield lines;
    },
    dispose: async () => {
      lines = [];
    },
  };
}

/**
 * Ingests one drop. Without a store it only validates (the `validate` command): same parsing, same report,
 * nothing written.
 */
export async function ingestExport(
  input: IngestInput,
  config: AudienceConfig,
  deps: IngestDeps,
): Promise<IngestReport> {
  const { store } = deps;
  if (!store) return ingestLocked(input, config, deps, undefined);
  // One ingest per list at a time: with the list's lock held, ordering checks at the start stay true to the end, so
  // contacts can be written in cheap unconditional batches. A second drop for the same list waits its turn; a lock
  // whose holder stopped renewing it (a crash) is taken over within a minute.
  const wallNow = deps.wallNow ?? deps.now;
  const lease = new Lease(store, `ingest#${input.list}`, `${input.source}@${deps.now().toISOString()}`, wallNow);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const got = await acquireWaiting(lease, {
    waitMs: deps.lockWaitMs ?? 10 * 60_000,
    pollMs: 2_000,
    now: wallNow,
    sleep,
  });
  if (!got.acquired)
    throw new Error(
      `list ${input.list} is being ingested by another drop (${describeHolder(got.holder, wallNow())}); this drop is retried later`,
    );
  if (got.tookOverFrom)
    deps.logger.warn('ingest_lock_taken_over', {
      list: input.list,
      from: got.tookOverFrom.owner,
      lastHeartbeat: got.tookOverFrom.heartbeatAt,
      note: 'the run that held the lock stopped renewing it (crashed); this one takes over',
    });
  try {
    return await ingestLocked(input, config, deps, lease);
  } finally {
    await lease.release();
  }
}

/** A snapshot whose export time is further in the future than this was written by a broken clock and is not trusted. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Stored times after this (real time plus the skew allowed) were written under a broken clock. */
export const untrustedAfterOf = (wallNow: Date) => new Date(wallNow.getTime() + CLOCK_SKEW_MS).toISOString();

/**
 * The checks a drop passes before anything is read: a report for a drop already ingested or older than the list's
 * snapshot (nothing to do), else undefined.
 */
export async function dropVerdict(
  store: ContactStore,
  input: Pick<IngestInput, 'list' | 'kind' | 'source' | 'exportedAt' | 'exportedAtFrom'>,
  now: Date,
  logger: Logger,
): Promise<IngestReport | undefined> {
  const ordered = input.kind === 'snapshot' || input.kind === 'delta';
  const state = await store.listState(input.list);
  const current = state.snapshot;
  if (current?.source === input.source && !state.applying) {
    const r = emptyReport(input, 'already_ingested');
    r.message = `this object was already ingested at ${current.committedAt}; nothing changed`;
    return r;
  }
  // A committed export time in the future came from a broken clock (before times were checked): never let it
  // freeze the list; newer drops are ordered against the present instead.
  const trusted = current && Date.parse(current.exportedAt) <= now.getTime() + CLOCK_SKEW_MS;
  if (ordered && current && trusted && current.exportedAt > input.exportedAt) {
    const r = emptyReport(input, 'stale');
    r.message = `export time ${input.exportedAt} (from ${input.exportedAtFrom}) is older than the list's current snapshot (${current.exportedAt}); ignored so an old export never wins`;
    return r;
  }
  if (current && !trusted)
    logger.warn('snapshot_time_in_future_ignored', { list: input.list, exportedAt: current.exportedAt });
  return undefined;
}

/** Blocks by identity hash, as ingest uses them: erasures, suppressions, and this list's own opt-outs. */
export interface IngestBlocks {
  erased: CompactIndex;
  suppressed: CompactIndex;
  ownOptOuts: CompactIndex;
}

export async function loadIngestBlocks(store: ContactStore | undefined, list: string): Promise<IngestBlocks> {
  // Erased people are refused at the door; suppressions are counted; this list's own opt-outs are lifted when the
  // list says the person is subscribed again.
  const out: IngestBlocks = {
    erased: new CompactIndex(16),
    suppressed: new CompactIndex(16),
    ownOptOuts: new CompactIndex(16),
  };
  const ownSource = `list:${list}`;
  if (store) {
    for await (const b of store.blocks()) {
      if (b.kind === 'erasure') out.erased.add(b.hash);
      else if (b.kind === 'suppress') out.suppressed.add(b.hash);
      else if (b.source === ownSource) out.ownOptOuts.add(b.hash);
    }
  }
  return out;
}

/** What the store holds of a list (or one shard of it), compactly: content fingerprints, contacts a newer drop wrote. */
export async function loadFingerprints(
  store: ContactStore,
  list: string,
  exportedAt: string,
  untrustedAfter: string,
  shard?: string,
): Promise<{ existing: CompactIndex; newer: CompactIndex }> {
  const existing = new CompactIndex();
  const newer = new CompactIndex(16);
  for await (const fp of store.fingerprints(list, shard)) {
    existing.add(fp.cid, hex32(fp.h));
    // A contact "seen" in the future was written under a broken clock (before times were checked): not newer.
    if (fp.seenAt > exportedAt && fp.seenAt <= untrustedAfter) newer.add(fp.cid);
  }
  return { existing, newer };
}

/** One table being read: its report entry, the row mapper, and the rows (the sample first, replayed). */
export interface OpenedEntry {
  name: string;
  er: EntryReport;
  mapRow?: ReturnType<typeof createRowMapper>;
  /** Header name of the column a field was read from, so a rejection can name the column (never the value). */
  headerOf: (field: string | undefined) => string | undefined;
  sample: RowEvent[];
  rest: AsyncIterator<RowEvent>;
  /**
   * Read by a pool: the chunks after the sample (whose leftover events are in `sample`), and the job that reads them
   * as this thread would (`stage`: whether records are staged). Undefined when read here.
   */
  pooled?: { chunks: AsyncIterable<RecordChunkLike>; job(stage: boolean): RowJob };
}

/** What staging needs of an accepted record, whether it was read in this thread or in a worker. */
export interface AcceptedRecord extends Pick<StagedRecord, 'cid' | 'ids' | 'emails' | 'consent' | 'optOutAt'> {
  /** The record's staged form (serializeRecord's JSON). */
  json(): string;
  /** contentHash of the record. */
  hash(): string;
}

/** Record `a` of a chunk read by a pool with staging, as staging sees it. */
export function acceptedAt(out: ChunkOutcome, a: number): AcceptedRecord {
  const st = out.staged;
  if (st === undefined) throw new Error('a pooled chunk was read without staging');
  const ids = st.ids.slice(a === 0 ? 0 : st.idEnds[a - 1], st.idEnds[a]);
  const emails = st.emails[a] as number;
  const optOutAt = st.optOutAt[a] as string;
  const json = st.json[a] as string;
  const hash = st.hash[a] as string;
  return {
    cid: st.cids[a] as string,
    ids,
    emails: emails > 0 ? emails : undefined,
    consent: CONSENT_STATES[st.consent[a] as number] as ConsentState,
    optOutAt: optOutAt === '' ? undefined : optOutAt,
    json: () => json,
    hash: () => hash,
  };
}

/** A record read in this thread, as staging sees it. */
export function acceptedOf(record: StagedRecord): AcceptedRecord {
  // Made on first use: a duplicate row needs only the JSON, an unchanged one only the hash.
  let serialized: { json: string; hash: string } | undefined;
  const serialize = () => {
    if (serialized === undefined) serialized = serializeRecord(record);
    return serialized;
  };
  return {
    cid: record.cid,
    ids: record.ids,
    emails: record.emails,
    consent: record.consent,
    optOutAt: record.optOutAt,
    json: () => serialize().json,
    hash: () => serialize().hash,
  };
}

/**
 * Pass 1, front half: each row read, mapped, normalized and hashed, every rejection counted with its reason; an
 * accepted row comes out as the record to stage. Shared by a whole-file ingest and by each chunk of a fanned-out one.
 */
export class RowReader {
  readonly report: IngestReport;
  parseDamaged = 0;
  readable = 0;
  private readonly keyCounts: Record<string, Record<string, number>> = {};
  /** The report's counts of accepted records (its consent and suppressed counts, and the key counts). */
  private readonly tally: Tally;
  private readonly warnings = new Map<string, IngestWarning>();
  private readonly env: RowEnv;
  private readonly listCfg: AudienceConfig['lists'][string];
  private rowsSinceBeat = 0;

  constructor(
    private readonly input: Pick<IngestInput, 'list' | 'kind' | 'source' | 'exportedAt' | 'exportedAtFrom'>,
    config: AudienceConfig,
    private readonly deps: Pick<IngestDeps, 'platforms' | 'allPlatforms' | 'logger' | 'now'>,
    private readonly blocks: Pick<IngestBlocks, 'erased' | 'suppressed'>,
    status: IngestStatus,
    private readonly lease?: Lease,
    /** The time rows are read as of (a fanned-out ingest reads every chunk as of its plan). */
    private readonly asOf: Date = deps.now(),
  ) {
    this.report = emptyReport(input, status);
    this.tally = { keyCounts: this.keyCounts, consent: this.report.consent, suppressed: this.report.suppressed };
    // Own entries only: a drop into `incoming/constructor/` is a list of that name without settings.
    this.listCfg = (Object.hasOwn(config.lists, input.list) ? config.lists[input.list] : undefined) ?? {};
    this.env = {
      defaultCountry: this.listCfg.defaultCountry ?? config.defaultCountry,
      platforms: deps.allPlatforms
        ? Object.values(deps.platforms)
        : platformsInUse(config.destinations, deps.platforms),
      exportedAt: input.exportedAt,
      currentYear: asOf.getUTCFullYear(),
      consentPolicy: consentPolicyOf(config),
    };
  }

  private reject(entry: string, line: number, reason: RejectionReason | string, column?: string): void {
    const report = this.report;
    report.rejected++;
    report.rejections[reason] = (report.rejections[reason] ?? 0) + 1;
    if (PARSE_FAILURES.has(reason)) this.parseDamaged++;
    if (report.rejectedRows.length < MAX_REJECTED_ROWS_IN_MEMORY)
      report.rejectedRows.push({ entry, line, reason, column });
    else report.rejectedRowsTruncated = true;
  }

  private warn(reason: string, column: string | undefined, rows = 1): void {
    const key = `${reason}\u0000${column ?? ''}`;
    const w = this.warnings.get(key);
    if (w) w.rows += rows;
    else this.warnings.set(key, column === undefined ? { reason, rows } : { reason, column, rows });
  }

  /** Samples a table, detects its format and the day/month order of its dates, and builds its row mapper. */
  async openEntry(source: SourceEntry, pool?: RowPool): Promise<OpenedEntry> {
    const { listCfg, report } = this;
    const entry = headerless(source);
    const er: EntryReport = { name: entry.name, encoding: entry.encoding, delimiter: entry.delimiter, rows: 0 };
    report.entries.push(er);
    // With a pool, the records come unsplit: the sample is split here, the chunks after it go to the workers.
    const chunked =
      pool && entry.chunks ? new ChunkEventCursor(entry.chunks()[Symbol.asyncIterator](), pool) : undefined;
    const iterator: AsyncIterator<RowEvent> =
      chunked ??
      (entry.batches ? new EventCursor(entry.batches()[Symbol.asyncIterator]()) : entry.rows[Symbol.asyncIterator]());
    // Buffer a sample so detection and the day/month hint can look at values, then replay it.
    const sample: RowEvent[] = [];
    for (let i = 0; i < SAMPLE_ROWS; i++) {
      const n = await iterator.next();
      if (n.done) break;
      sample.push(n.value);
    }
    const sampleCells = sample.filter((e) => e.kind === 'row').map((e) => (e as { cells: string[] }).cells);
    const opened: OpenedEntry = { name: entry.name, er, headerOf: () => undefined, sample, rest: iterator };
    try {
      const mapping = detectFormat(entry.header, sampleCells, {
        format: listCfg.format as FormatId | undefined,
        columns: listCfg.columns,
      });
      er.format = mapping.format;
      const fields = mapping.fields as Record<string, Array<{ header?: string; index: number }> | undefined>;
      opened.headerOf = headerOfMapping(mapping);
      er.confidence = mapping.confidence;
      er.columns = columnsOf(entry.header, fields);
      report.format ??= mapping.format;
      // The day/month order of slash dates: the config's, else what the file's own dates show. A file whose first
      // rows cannot tell (a date-sorted export starting on the 2nd to 12th) is read ahead until it does, within a
      // bound; what stays undecided falls back to the platform's export locale, else that date alone is dropped.
      const evidence = dayFirstEvidenceFor(mapping);
      for (const cells of sampleCells) evidence(cells);
      if (listCfg.dayFirst === undefined && evidence.hasDates && evidence.evidence.decision() === undefined) {
        while (evidence.evidence.ambiguous > 0 && sample.length < DATE_LOOKAHEAD_ROWS) {
          const n = await iterator.next();
          if (n.done) break;
          sample.push(n.value);
          if (n.value.kind === 'row') evidence(n.value.cells);
          if (evidence.evidence.decision() !== undefined) break;
        }
      }
      const mapContext = {
        entryName: entry.name,
        now: this.asOf.toISOString(),
        dayFirst: listCfg.dayFirst ?? evidence.evidence.decision(),
        sample: sampleCells,
      };
      opened.mapRow = createRowMapper(mapping, mapContext);
      this.readable++;
      if (chunked) {
        // What is left of the chunk the sample ended in is read here, after the sample; the later chunks by the pool.
        for (const ev of chunked.leftover()) sample.push(ev);
        const env = { ...this.env, platforms: this.env.platforms.map((p) => p.id) };
        const m: ColumnMapping = { format: mapping.format, header: mapping.header, fields: mapping.fields };
        // The workers get the day/month order the mapper takes from the sample, not the sample: 200 rows of up to
        // 1 MiB each do not fit a worker's heap.
        const jobContext = {
          entryName: mapContext.entryName,
          now: mapContext.now,
          dayFirst: mapContext.dayFirst ?? sniffDayFirst(mapping, sampleCells),
        };
        opened.pooled = {
          chunks: chunked.restChunks(),
          job: (stage) => ({
            mapping: m,
            mapContext: jobContext,
            env,
            stage,
            // The workers refuse erased people and count held ones as this thread would (serialized once a file).
            ...(this.blocks.erased.size > 0 ? { erased: this.idBytes(this.blocks.erased) } : {}),
            ...(this.blocks.suppressed.size > 0 ? { suppressed: this.idBytes(this.blocks.suppressed) } : {}),
          }),
        };
      }
    } catch (e) {
      if (!(e instanceof DetectionError)) throw e;
      er.error = e.message;
      this.deps.logger.warn('format_not_detected', { list: this.input.list, entry: entry.name, code: e.code });
    }
    return opened;
  }

  /** A row read as a record, or why it is rejected (and the column that says so). */
  private read(entry: OpenedEntry, ev: RowEvent): RowRead {
    const read = readRow(entry.mapRow, this.env, entry.headerOf, ev);
    if (!read.ok) return read;
    if (read.warnings) for (const w of read.warnings) this.warn(w.reason, w.column);
    if (this.isErased(read.record.ids)) return { ok: false, reason: 'erased' };
    return read;
  }

  private readonly serializedIds = new Map<IdSet, Uint8Array>();
  private idBytes(index: CompactIndex): Uint8Array {
    return idSetBytes(index, (s) => compactIndexToBytes(s as CompactIndex), this.serializedIds);
  }

  private isErased(ids: readonly string[]): boolean {
    const erased = this.blocks.erased;
    if (erased.size === 0) return false;
    for (const h of ids) if (erased.has(h)) return true;
    return false;
  }

  /**
   * A chunk read by a pool, applied as {@link take} applies its rows one by one, in file order: every event counted,
   * rejections listed (erased people among them: the workers refuse them), the chunk's tally added. Returns how many
   * records were accepted: the outcome's arrays hold them, in order, for staging ({@link acceptedAt}).
   */
  takeChunk(entry: OpenedEntry, out: ChunkOutcome): number {
    const { report } = this;
    const n = out.accepted.length;
    report.rows += n;
    entry.er.rows += n;
    for (const [reason, column, rows] of out.warnings) this.warn(reason, column, rows);
    let r = 0;
    let accepted = 0;
    for (let k = 0; k < n; k++) {
      if (out.accepted[k] !== 0) accepted++;
      else {
        const rej = out.rejected[r++] as ChunkOutcome['rejected'][number];
        this.reject(entry.name, rej.line, rej.reason, rej.column);
      }
    }
    report.accepted += accepted;
    addTally(this.tally, out.tally);
    report.heldBySuppression += out.heldBySuppression;
    return accepted;
  }

  /** One row: counted, and its record when it is accepted (undefined when it was rejected). */
  async row(entry: OpenedEntry, ev: RowEvent): Promise<StagedRecord | undefined> {
    await this.beat(1);
    return this.take(entry, ev);
  }

  /** Renews the lease every 2,000 rows read (`rows` more since the last call). */
  async beat(rows: number): Promise<void> {
    if (!this.lease) return;
    this.rowsSinceBeat += rows;
    if (this.rowsSinceBeat < 2_000) return;
    this.rowsSinceBeat = 0;
    await this.lease.keepAlive();
  }

  /** {@link row} without the lease: the caller beats once per batch of rows. */
  take(entry: OpenedEntry, ev: RowEvent): StagedRecord | undefined {
    const { report } = this;
    report.rows++;
    entry.er.rows++;
    const read = this.read(entry, ev);
    if (!read.ok) {
      this.reject(entry.name, ev.line, read.reason, read.column);
      return undefined;
    }
    const { record } = read;
    report.accepted++;
    tallyRecord(this.tally, record, read.keyShapes);
    if (this.blocks.suppressed.size > 0 && record.ids.some((h) => this.blocks.suppressed.has(h)))
      report.heldBySuppression++;
    return record;
  }

  /** Every row read: warnings and key coverage into the report; a table that could not be read fails the file. */
  finish(): void {
    const report = this.report;
    report.warnings = [...this.warnings.values()];
    if (report.entries.length && this.readable < report.entries.length) {
      // A file commits whole or changes nothing: a zip with one table that cannot be read is refused as a whole, so
      // the tables that could be read do not change the list on their own.
      const bad = report.entries.filter((e) => e.error);
      throw new DetectionError(
        `${bad.length === report.entries.length ? 'no table of this file could be read' : `${bad.length} of ${report.entries.length} tables could not be read, so nothing of the file was stored`}: ${bad.map((e) => `${e.name}: ${e.error}`).join('; ')}`,
        [],
        { code: 'no_identifier_column' },
      );
    }
    settleTally(this.tally);
    Object.assign(report.keyCoverage, keyCoverageOf(this.keyCounts, report.accepted));
    checkAccounting(report);
  }

  /** The per-key counts behind the coverage, for a fanned-out ingest to add up across chunks. */
  get keyCountsSoFar(): Record<string, Record<string, number>> {
    settleTally(this.tally);
    return this.keyCounts;
  }

  get warningsSoFar(): IngestWarning[] {
    return [...this.warnings.values()];
  }
}

/** Share of accepted rows carrying each key, per platform. */
export function keyCoverageOf(
  keyCounts: Record<string, Record<string, number>>,
  accepted: number,
): IngestReport['keyCoverage'] {
  const out: IngestReport['keyCoverage'] = {};
  for (const [platform, counts] of Object.entries(keyCounts)) {
    out[platform] = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, round(n / Math.max(1, accepted))]));
  }
  return out;
}

/** rows = accepted + rejected, always: an accounting bug must never pass silently. */
export function checkAccounting(report: IngestReport): void {
  if (report.rows !== report.accepted + report.rejected) {
    throw new Error(
      `row accounting broken: rows ${report.rows} != accepted ${report.accepted} + rejected ${report.rejected}`,
    );
  }
}

/**
 * Pass 1, back half: each accepted record against what the file held before it (a repeat of a person is merged at
 * apply) and what the store holds (unchanged ones are not written; a newer drop's contacts are kept), staged as the
 * change to apply. Records of one person must arrive in file order; people may arrive shard by shard.
 */
export class Stager {
  readonly seen = new CompactIndex();

  constructor(
    private readonly kind: DropKind,
    private readonly report: IngestReport,
    private readonly existing: CompactIndex,
    private readonly newer: CompactIndex,
    private readonly ownOptOuts: CompactIndex,
    private readonly staging: StagingArea | undefined,
  ) {}

  async stage(record: StagedRecord): Promise<void> {
    const lines: string[] = [];
    this.linesOf(record, lines);
    if (lines.length && this.staging) await this.staging.write(lines);
  }

  /** Counts the record and adds to `lines` what staging is to write of it (nothing when validating). */
  linesOf(record: StagedRecord, lines: string[]): void {
    fingerprintInto(record.cid, this.one, 0);
    // Validation builds nothing it would not store: memory stays flat however long the file is.
    if (!this.staging) this.countPrint(this.one, 0);
    else this.linesFor(acceptedOf(record), lines, this.one, 0);
  }

  private readonly one = new Uint32Array(3);

  /**
   * {@link linesOf} for each of `records`, in order, with the duplicate index's slots of the whole group loaded first
   * ({@link CompactIndex.touchPrints}): at a million people the index outgrows the caches, and one probe per row,
   * between the rest of the row's work, waited on memory every time.
   */
  linesOfAll(records: readonly StagedRecord[], lines: string[]): void {
    const n = records.length;
    if (n === 0) return;
    const prints = this.load(n, (j) => (records[j] as StagedRecord).cid);
    if (!this.staging) {
      for (let j = 0; j < n; j++) this.countPrint(prints, 3 * j);
      return;
    }
    for (let j = 0; j < n; j++) this.linesFor(acceptedOf(records[j] as StagedRecord), lines, prints, 3 * j);
  }

  /**
   * Loads the index slots of the first `n` fingerprints of `prints` (a pool's) before they are counted or staged one
   * by one.
   */
  touchPrints(prints: Uint32Array, n: number): void {
    this.seen.touchPrints(prints, n);
    if (this.staging && this.existing.size > 0) this.existing.touchPrints(prints, n);
  }

  /**
   * The fingerprints of `n` cids (`cid(j)`), with their slots in the file's index (and, when staging, in the list's
   * stored fingerprints) loaded: what {@link linesFor} then probes for each, one by one.
   */
  load(n: number, cid: (j: number) => string): Uint32Array {
    if (this.prints.length < 3 * n) this.prints = new Uint32Array(3 * n);
    const prints = this.prints;
    for (let j = 0; j < n; j++) fingerprintInto(cid(j), prints, 3 * j);
    this.touchPrints(prints, n);
    return prints;
  }

  private prints = new Uint32Array(0);

  /**
   * {@link linesOf} for a record read in this thread or by a pool, whose cid's fingerprint is `prints[at..at + 2]`:
   * each index is asked by the fingerprint, so a cid is decoded and mixed once, not once per index.
   */
  linesFor(record: AcceptedRecord, lines: string[], prints: Uint32Array, at: number): void {
    const duplicate = this.countPrint(prints, at);
    if (!this.staging) return;
    if (this.kind === 'suppress' || this.kind === 'unsuppress') {
      lines.push(JSON.stringify({ t: 's', ids: record.ids }));
      return;
    }
    if (this.newer.hasPrint(prints, at)) {
      this.report.staleRows++;
      return;
    }
    // Merged when applied, where the whole file's occurrences are known; opt-out blocks follow the merge. The lines
    // are JSON.stringify({ t, h?, a }) with the record's staged form made once (in a worker, when pooled).
    if (duplicate) {
      lines.push(`{"t":"r","a":${record.json()}}`);
      return;
    }
    const h = record.hash();
    const stored = this.existing.getPrint(prints, at);
    if (stored !== undefined && stored === hex32(h)) {
      this.report.unchanged++;
      this.seen.setPrint(prints, at, SEEN | UNCHANGED_FIRST);
    } else {
      lines.push(putLine(h, record.json()));
      this.seen.setPrint(prints, at, SEEN | STAGED_FIRST);
    }
    const blockOp = optOutBlockOp(record, this.ownOptOuts);
    if (blockOp) lines.push(JSON.stringify(blockOp));
  }

  /**
   * Marks the person whose cid's fingerprint is `prints[at..at + 2]` seen in this file; true when they were seen
   * before (a duplicate row).
   */
  countPrint(prints: Uint32Array, at: number): boolean {
    const flags = this.seen.addPrintIfAbsent(prints, at, SEEN);
    if (flags === undefined) return false;
    this.seen.setPrint(prints, at, this.repeat(flags));
    return true;
  }

  /**
   * Rows of this file that repeated a person seen earlier in it. None (the usual file): no first record staged is
   * one to merge, and apply writes each as staged without asking the index.
   */
  get duplicates(): number {
    return this.repeats;
  }

  private repeats = 0;

  /** A person seen again: counted as merged (an unchanged first row no longer is); their flags from now on. */
  private repeat(flags: number): number {
    this.report.merged++;
    this.repeats++;
    if ((flags & DUPLICATE) === 0 && (flags & UNCHANGED_FIRST) !== 0) this.report.unchanged--;
    return flags | DUPLICATE;
  }
}

async function ingestLocked(
  input: IngestInput,
  config: AudienceConfig,
  deps: IngestDeps,
  lease: Lease | undefined,
): Promise<IngestReport> {
  const { store, logger } = deps;
  const ordered = input.kind === 'snapshot' || input.kind === 'delta';
  if (store) {
    const verdict = await dropVerdict(store, input, (deps.wallNow ?? deps.now)(), logger);
    if (verdict) return verdict;
  }
  const blocks = await loadIngestBlocks(store, input.list);
  const reader = new RowReader(input, config, deps, blocks, store ? 'ingested' : 'validated', lease);
  const report = reader.report;
  const untrustedAfter = untrustedAfterOf((deps.wallNow ?? deps.now)());
  const { existing, newer } =
    store && ordered
      ? await loadFingerprints(store, input.list, input.exportedAt, untrustedAfter)
      : { existing: new CompactIndex(), newer: new CompactIndex(16) };
  const staging = store ? await (deps.staging ?? memoryStaging)() : undefined;
  const stager = new Stager(input.kind, report, existing, newer, blocks.ownOptOuts, staging);

  try {
    for await (const source of input.entries) {
      const entry = await reader.openEntry(source, deps.rowPool);
      // A batch of rows at a time: rows are read, counted and staged without an await each (validation awaits nothing
      // but the reading; ingest awaits its staging writes and a lease renewal every 2,000 rows).
      const handle = async (events: readonly RowEvent[]) => {
        let lines: string[] = [];
        const records: StagedRecord[] = [];
        for (let k = 0; k < events.length; k++) {
          const record = reader.take(entry, events[k] as RowEvent);
          if (record) records.push(record);
          // Staged a few records at a time, in file order: the group's duplicate-index slots are loaded together
          // (linesOfAll), and a line is encoded (and its strings freed) while it is young.
          if (records.length === STAGE_LINES || (k === events.length - 1 && records.length > 0)) {
            stager.linesOfAll(records, lines);
            records.length = 0;
          }
          if (lines.length >= STAGE_LINES && staging) {
            await staging.write(lines);
            lines = [];
          }
        }
        if (lines.length && staging) await staging.write(lines);
        await reader.beat(events.length);
      };
      await handle(entry.sample);
      const rest = entry.rest;
      if (entry.pooled && deps.rowPool) {
        // The workers read the chunks; this thread takes their outcomes in file order and stages them.
        const job = entry.pooled.job(staging !== undefined);
        for await (const out of deps.rowPool.map(entry.pooled.chunks, job)) {
          const accepted = reader.takeChunk(entry, out);
          const lines: string[] = [];
          const { prints } = out;
          stager.touchPrints(prints, accepted);
          for (let a = 0; a < accepted; a++) {
            if (staging) stager.linesFor(acceptedAt(out, a), lines, prints, 3 * a);
            else stager.countPrint(prints, 3 * a);
          }
          if (lines.length && staging) await staging.write(lines);
          await reader.beat(out.accepted.length);
        }
      } else if (rest instanceof EventCursor)
        for (let b = await rest.nextBatch(); b !== undefined; b = await rest.nextBatch()) await handle(b);
      else for (let n = await rest.next(); !n.done; n = await rest.next()) await handle([n.value]);
    }
    reader.finish();
    if (store && staging && lease) {
      await apply(input, report, {
        store,
        staging,
        lease,
        deps,
        existing,
        seen: stager.seen,
        duplicates: stager.duplicates,
        ownOptOuts: blocks.ownOptOuts,
        parseDamaged: reader.parseDamaged,
        untrustedAfter,
      });
    }
  } finally {
    await staging?.dispose();
  }
  logger.info('ingest_finished', {
    list: input.list,
    kind: input.kind,
    status: report.status,
    format: report.format,
    rows: report.rows,
    accepted: report.accepted,
    rejected: report.rejected,
    written: report.written,
    removed: report.removed,
  });
  return report;
}

/** The identity hashes an opted-out record blocks: a bounced address the address only, else every identity. */
const optOutIds = (record: Pick<StagedRecord, 'consent' | 'ids' | 'emails'>): string[] =>
  record.consent === 'cleaned' ? record.ids.slice(0, record.emails ?? 0) : record.ids;

/** Opt-outs that leave a record behind as blocks on its identity hashes, and lifts this list's blocks otherwise. */
function optOutBlockOp(
  record: Pick<StagedRecord, 'cid' | 'ids' | 'emails' | 'consent' | 'optOutAt'>,
  ownOptOuts: CompactIndex,
): object | undefined {
  if (isOptedOut(record.consent)) {
    const ids = optOutIds(record);
    const fresh = ids.filter((h) => !ownOptOuts.has(h));
    return fresh.length ? { t: 'b', c: record.cid, ids: fresh, at: record.optOutAt } : undefined;
  }
  // Most lists hold no opt-out blocks of their own: nothing to lift, nothing to look at.
  if (ownOptOuts.size === 0) return undefined;
  const held = record.ids.filter((h) => ownOptOuts.has(h));
  return held.length ? { t: 'u', c: record.cid, ids: held } : undefined;
}

/** What applying needs of a drop (not its entries). */
export type ApplyInput = Pick<IngestInput, 'list' | 'kind' | 'source' | 'exportedAt' | 'exportedAtFrom'>;

export interface ApplyContext {
  store: ContactStore;
  staging: StagingArea;
  lease: Lease;
  deps: Pick<IngestDeps, 'now'>;
  existing: CompactIndex;
  seen: CompactIndex;
  /** Rows that repeated a person of the file ({@link Stager.duplicates}): none, and no staged record is merged. */
  duplicates: number;
  ownOptOuts: CompactIndex;
  parseDamaged: number;
  /** Stored times after this are from a broken clock. */
  untrustedAfter: string;
  /** One shard of a fanned-out ingest: only its people are written, only its leavers removed, nothing committed. */
  shard?: { id: string; marker: ApplyingMarker };
}

const PUT_HEAD = '{"t":"r","h":"';
const PUT_ARRAY = '","a":[0,';

/** The staged line of a first occurrence to write: `{"t":"r","h":<content hash>,"a":<staged array>}`. */
export const putLine = (hash: string, staged: string): string => `{"t":"r","h":${JSON.stringify(hash)},"a":${staged}}`;

/**
 * The content text of a {@link putLine}, read off the line without parsing it again: a staged array whose cid is
 * its first id is `[0,` and the content text's values (see {@link serializeRecord}). Undefined for any other line.
 */
export function contentOfLine(line: string): string | undefined {
  const at = PUT_HEAD.length + 64;
  if (!line.startsWith(PUT_HEAD) || !line.startsWith(PUT_ARRAY, at) || !line.endsWith(']}')) return undefined;
  return `[${line.slice(at + PUT_ARRAY.length, -1)}`;
}

/**
 * The cid, content hash and content text of a {@link putLine} whose cid is its first id (every record a row makes),
 * read off the line without parsing it: ids are SHA-256 hex, which JSON writes as they are. Undefined for any other
 * line (which is parsed).
 */
export function plainPutOfLine(line: string): { cid: string; h: string; text: string } | undefined {
  const text = contentOfLine(line);
  if (text === undefined || !text.startsWith('[["')) return undefined;
  const end = text.indexOf('"', 3);
  const cid = text.slice(3, end);
  if (!isSha256Hex(cid)) return undefined;
  return { cid, h: line.slice(PUT_HEAD.length, PUT_HEAD.length + 64), text };
}

type StagedLine =
  | { t: 'r'; h?: string; a: StagedArray }
  | { t: 'b'; c: string; ids: string[]; at?: string }
  | { t: 'u'; c: string; ids: string[] }
  | { t: 's'; ids: string[] };

/**
 * Writes what pass one staged, then removes leavers and commits. The list is marked as being written meanwhile. A shard
 * of a fanned-out ingest commits nothing: it returns the opt-out lifts its records ask for (see liftOptOuts).
 */
export async function apply(input: ApplyInput, report: IngestReport, a: ApplyContext): Promise<string[]> {
  const { store, lease, deps, seen } = a;
  const ownSource = `list:${input.list}`;
  await lease.keepAlive();
  await store.markApplying(
    input.list,
    a.shard?.marker ?? { source: input.source, startedAt: deps.now().toISOString(), owner: lease.owner },
  );
  const pending = new Map<string, ContactWrite>();
  const flushRecords = async () => {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending.clear();
    await lease.keepAlive();
    report.written += await store.putContacts(batch);
  };
  /** Queues a contact's write; a promise (to await) only when that fills a batch, so most rows await nothing. */
  const queueWrite = (cid: string, h: string, text: string): Promise<void> | undefined => {
    // One item per key in a batch: a later version of the same person replaces the earlier one.
    pending.set(cid, { cid, list: input.list, seenAt: input.exportedAt, source: input.source, h, text });
    return pending.size >= WRITE_BATCH ? flushRecords() : undefined;
  };
  /** Queues a record, with its content text and hash when the caller has them (a staged line holds both). */
  const putRecord = (r: StagedRecord, h?: string, given?: string): Promise<void> | undefined => {
    const text = given ?? contentText(r);
    return queueWrite(r.cid, h ?? sha256Hex(text), text);
  };
  const blocks: BlockEntry[] = [];
  const unblocks: Array<Pick<BlockEntry, 'hash' | 'kind' | 'source'>> = [];
  // Lifts wait until the list holds what this drop leaves in it (see liftOptOuts).
  const flushBlocks = async (force = false) => {
    if (force || blocks.length >= WRITE_BATCH) await store.putBlocks(blocks.splice(0));
  };
  const blockOp = async (op: object | undefined) => {
    if (!op) return;
    const o = op as StagedLine;
    if (o.t === 'b') {
      for (const hash of o.ids) blocks.push({ hash, kind: 'optout', at: o.at ?? input.exportedAt, source: ownSource });
    } else if (o.t === 'u') for (const hash of o.ids) unblocks.push({ hash, kind: 'optout', source: ownSource });
    await flushBlocks();
  };

  // Duplicates of one person within the file, merged (most restrictive consent wins) before they are written.
  const dups = new Map<string, StagedRecord>();
  const merged = new CompactIndex(16);
  const flushDups = async () => {
    await flushRecords();
    for (const [cid, r] of dups) {
      const text = contentText(r);
      const h = sha256Hex(text);
      if (a.existing.get(cid) === hex32(h)) report.unchanged++;
      else await putRecord(r, h, text);
      await blockOp(optOutBlockOp(r, a.ownOptOuts));
      merged.add(cid);
    }
    dups.clear();
    await flushRecords();
  };
  const suppressIds: string[] = [];
  for await (const batch of a.staging.batches())
    for (const line of batch) {
      // Most lines are a person's first and only record: written as the text the line holds, never parsed.
      const plain = plainPutOfLine(line);
      if (plain !== undefined && (a.duplicates === 0 || ((seen.get(plain.cid) ?? 0) & DUPLICATE) === 0)) {
        const written = queueWrite(plain.cid, plain.h, plain.text);
        if (written) await written;
        continue;
      }
      const o = JSON.parse(line) as StagedLine;
      if (o.t === 's') {
        suppressIds.push(...o.ids);
        continue;
      }
      const cid = o.t === 'r' ? cidOfStaged(o.a) : o.c;
      const flags = seen.get(cid) ?? 0;
      if ((flags & DUPLICATE) !== 0) {
        if (o.t !== 'r') continue; // blocks of duplicates follow the merged record
        const r = recordOfStaged(o.a);
        let base = dups.get(cid);
        if (!base && (merged.has(cid) || (flags & STAGED_FIRST) === 0)) {
          // The first occurrence was unchanged (so not staged), or merged earlier and written: the store has it.
          await flushRecords();
          base = await store.getContact(input.list, cid);
        }
        dups.set(cid, base ? mergeDuplicate(base, r) : r);
        if (dups.size >= DUPLICATE_MERGE_CAP) await flushDups();
        continue;
      }
      if (o.t === 'r') {
        const r = recordOfStaged(o.a);
        const written = o.h === undefined ? putRecord(r) : putRecord(r, o.h, contentOfLine(line));
        if (written) await written;
      } else await blockOp(o);
    }
  await flushDups();
  await flushRecords();
  await flushBlocks(true);

  if (input.kind === 'suppress' || input.kind === 'unsuppress') {
    await applySuppression(input, report, store, [...new Set(suppressIds)]);
  }
  if (input.kind === 'snapshot') await removeLeavers(input, report, a);
  // A shard of a fanned-out ingest hands its lifts to the commit, which runs when every shard holds what it leaves.
  if (a.shard) return unblocks.map((u) => u.hash);
  await liftOptOuts(
    input.list,
    unblocks.map((u) => u.hash),
    store,
    lease,
  );
  await commitDrop(input, report, store, deps.now());
  return [];
}

/**
 * Lifts this list's opt-out blocks on hashes a subscribed record now carries, unless a record the list still holds
 * opts out on the same hash: a phone-only unsubscribe next to a subscribed record with that phone (or kept because its
 * row was damaged) keeps the phone blocked however often the file is dropped again.
 */
export async function liftOptOuts(list: string, hashes: string[], store: ContactStore, lease: Lease): Promise<void> {
  if (hashes.length === 0) return;
  const stillOut = new CompactIndex(16);
  let n = 0;
  for await (const c of store.contacts(list)) {
    if (isOptedOut(c.consent)) for (const h of optOutIds(c)) stillOut.add(h);
    if (++n % 10_000 === 0) await lease.keepAlive();
  }
  const source = `list:${list}`;
  await store.deleteBlocks(
    [...new Set(hashes)].filter((h) => !stillOut.has(h)).map((hash) => ({ hash, kind: 'optout' as const, source })),
  );
}

/**
 * Members the snapshot no longer contains have left the list; they leave every audience at the next sync. Only a file
 * read in full says who is absent: when rows could not be read, their people may be among the "absent".
 */
async function removeLeavers(input: ApplyInput, report: IngestReport, a: ApplyContext): Promise<void> {
  if (a.parseDamaged > 0) {
    report.message = parseDamageMessage(a.parseDamaged, report);
    return;
  }
  const gone: string[] = [];
  for await (const fp of a.store.fingerprints(input.list, a.shard?.id)) if (!a.seen.has(fp.cid)) gone.push(fp.cid);
  await a.lease.keepAlive();
  report.removed = await a.store.removeContacts(input.list, gone, input.exportedAt, a.untrustedAfter);
}

export const parseDamageMessage = (n: number, report: IngestReport) =>
  `${n} row(s) could not be read (${PARSE_FAILURE_LIST(report)}), so nobody left the list by this snapshot; fix the file and drop it again to remove people who left`;

/** A snapshot becomes the list's current one (an older one never replaces a newer); a delta clears its marker. */
export async function commitDrop(input: ApplyInput, report: IngestReport, store: ContactStore, now: Date) {
  if (input.kind !== 'snapshot') {
    await store.clearApplying(input.list, input.source);
    return;
  }
  // The snapshot makes a list whole that another snapshot left half-written, not one a delta, suppress or unsuppress
  // drop left so: their changes are not in it (a suppression half applied would let suppressed people through).
  const { applying } = await store.listState(input.list);
  const keep = applying && applying.source !== input.source && dropKindOfSource(applying.source) !== 'snapshot';
  const outcome = await store.commitSnapshot(
    {
      list: input.list,
      source: input.source,
      exportedAt: input.exportedAt,
      exportedAtFrom: input.exportedAtFrom,
      committedAt: now.toISOString(),
      counts: { rows: report.rows, accepted: report.accepted, rejected: report.rejected, removed: report.removed },
    },
    keep ? applying : undefined,
  );
  if (outcome === 'stale') {
    // Cannot happen while the list's ingest lock is held; reported rather than assumed.
    report.status = 'stale';
    report.message = 'a newer snapshot of this list was committed meanwhile; this one was not recorded as current';
  }
}

const PARSE_FAILURE_LIST = (r: IngestReport) =>
  Object.entries(r.rejections)
    .filter(([k]) => PARSE_FAILURES.has(k))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/**
 * A suppression is durable per identity: blocked from every upload from now on, whether the person is stored yet or
 * arrives later, until the operator lifts it (an unsuppress drop) or an opt-in recorded after it. The report says how
 * many stored people it matched now.
 */
async function applySuppression(input: ApplyInput, report: IngestReport, store: ContactStore, ids: string[]) {
  const source = `suppress:${input.list}`;
  if (input.kind === 'suppress')
    await store.putBlocks(ids.map((hash) => ({ hash, kind: 'suppress' as const, at: input.exportedAt, source })));
  const named = new CompactIndex(ids.length);
  for (const h of ids) named.add(h);
  let lifted = 0;
  let heldByOtherLists = 0;
  if (input.kind === 'unsuppress') {
    // An unsuppress drop lifts only what its own list's suppress drops recorded: another list's suppression (another
    // team's do-not-contact list, a legal hold) is not this list's to lift.
    const lift: Array<Pick<BlockEntry, 'hash' | 'kind' | 'source'>> = [];
    for await (const b of store.blocks()) {
      if (b.kind !== 'suppress' || !named.has(b.hash)) continue;
      if (b.source === source) lift.push(b);
      else heldByOtherLists++;
    }
    await store.deleteBlocks(lift);
    lifted = lift.length;
    if (heldByOtherLists > 0)
      report.message = `${heldByOtherLists} suppression(s) of these people were recorded by other lists' suppress drops and still hold; drop the unsuppress file under those lists to lift them`;
  }
  const matched = new Set<string>();
  for (const list of await store.listIds())
    for await (const c of store.contacts(list)) if (c.ids.some((h) => named.has(h))) matched.add(c.cid);
  report.suppression = {
    identities: ids.length,
    matchedNow: matched.size,
    ...(input.kind === 'unsuppress' ? { lifted, heldByOtherLists } : {}),
  };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** Columns read (with their field) and ignored, by header name only. */
function columnsOf(
  header: readonly string[],
  fields: Record<string, Array<{ index: number }> | undefined>,
): NonNullable<EntryReport['columns']> {
  const fieldOf = new Map<number, string>();
  for (const [field, refs] of Object.entries(fields)) for (const r of refs ?? []) fieldOf.set(r.index, field);
  const read: Array<{ column: string; field: string }> = [];
  const ignored: string[] = [];
  header.forEach((h, i) => {
    const name = h.trim() || `column ${i + 1}`;
    const field = fieldOf.get(i);
    if (field) read.push({ column: name, field });
    else ignored.push(name);
  });
  return { read, ignored };
}

/**
 * A file without a header row: its first line holds a person (an email, a phone number or a long id among the
 * "header" cells). Columns become `column 1…N` and the first line is replayed as data, so nobody is lost and no value
 * is ever used as a column name (or shown in a report as one).
 */
function headerless(entry: SourceEntry): SourceEntry {
  if (!entry.header.some((h) => isPlausibleEmail(h.trim()) || looksLikeData(h))) return entry;
  const first: RowEvent = { kind: 'row', line: entry.headerLine, cells: entry.header };
  const rest = entry.rows;
  const batches = entry.batches?.bind(entry);
  return {
    ...entry,
    // Its header line is a row: replayed first, so this entry is read by rows here, never as chunks by a pool.
    chunks: undefined,
    header: entry.header.map((_, i) => `column ${i + 1}`),
    rows: (async function* () {
      yield first;
      yield* rest;
    })(),
    batches: batches
      ? async function* () {
          yield [first];
          yield* batches();
        }
      : undefined,
  };
}

/**
 * Events of an entry read in unsplit chunks, split in this thread (the sample and the date read-ahead); the chunks
 * not yet split can then go to a pool, after what is left of the last one split.
 */
class ChunkEventCursor implements AsyncIterator<RowEvent> {
  private events: RowEvent[] = [];
  private at = 0;

  constructor(
    private readonly source: AsyncIterator<RecordChunkLike>,
    private readonly pool: Pick<RowPool, 'split'>,
  ) {}

  async next(): Promise<IteratorResult<RowEvent>> {
    while (this.at >= this.events.length) {
      const n = await this.source.next();
      if (n.done) return { done: true, value: undefined };
      this.events = this.pool.split(n.value);
      this.at = 0;
    }
    return { done: false, value: this.events[this.at++] as RowEvent };
  }

  /** Events of the chunk split last that were not taken yet (taken by this call). */
  leftover(): RowEvent[] {
    const left = this.events.slice(this.at);
    this.events = [];
    this.at = 0;
    return left;
  }

  /** The chunks not split yet. */
  restChunks(): AsyncIterable<RecordChunkLike> {
    const source = this.source;
    return { [Symbol.asyncIterator]: () => source };
  }

  async return(): Promise<IteratorResult<RowEvent>> {
    await this.source.return?.();
    return { done: true, value: undefined };
  }
}

/**
 * Events of an entry read by batches: one at a time (the sample, the date read-ahead), then the rest as batches
 * again, starting with what is left of the batch the last event came from.
 */
class EventCursor implements AsyncIterator<RowEvent> {
  private batch: RowEvent[] = [];
  private at = 0;

  constructor(private readonly source: AsyncIterator<RowEvent[]>) {}

  async next(): Promise<IteratorResult<RowEvent>> {
    while (this.at >= this.batch.length) {
      const n = await this.source.next();
      if (n.done) return { done: true, value: undefined };
      this.batch = n.value;
      this.at = 0;
    }
    return { done: false, value: this.batch[this.at++] as RowEvent };
  }

  /** The next events in file order, or undefined at the end. */
  async nextBatch(): Promise<RowEvent[] | undefined> {
    if (this.at < this.batch.length) {
      const left = this.at === 0 ? this.batch : this.batch.slice(this.at);
      this.batch = [];
      this.at = 0;
      return left;
    }
    const n = await this.source.next();
    return n.done ? undefined : n.value;
  }

  async return(): Promise<IteratorResult<RowEvent>> {
    await this.source.return?.();
    return { done: true, value: undefined };
  }
}

/**
 * The rejected-rows CSV: row number, reason, column name — never values. Column and entry names come from the
 * file, so a cell that a spreadsheet would run as a formula (= + - @) is neutralized with a leading '.
 */
export function rejectedRowsCsv(rows: RejectedRow[]): string {
  const cell = (s: string) => {
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines = rows.map((r) => [r.entry, String(r.line), r.reason, r.column ?? ''].map(cell).join(','));
  return `${['entry,line,reason,column', ...lines].join('\n')}\n`;
}

const SUB_KINDS: ReadonlySet<string> = new Set(['delta', 'suppress', 'unsuppress']);

/** The kind of drop a source (`<key>#<version>`) came from; undefined for a key outside incoming/. */
function dropKindOfSource(source: string): DropKind | undefined {
  const parsed = parseDropKey(objectKeyOfSource(source));
  return 'kind' in parsed ? parsed.kind : undefined;
}

/** Where a key in the bucket says a drop belongs: `incoming/<list>/[delta|suppress|unsuppress/]<file>`. */
export function parseDropKey(key: string): { list: string; kind: DropKind; file: string } | { error: string } {
  const parts = key.split('/');
  if (parts[0] !== 'incoming' || parts.length < 3)
    return { error: `object key "${key}" is not under incoming/<list-id>/; drop files as incoming/<list-id>/<file>` };
  const list = parts[1]!;
  if (!/^[a-z0-9][a-z0-9-_]{0,62}$/.test(list))
    return {
      error: `list id "${list}" in "${key}" must be lowercase letters, digits, - or _ (max 63 characters)`,
    };
  if (parts.some((p) => p === '..' || p === '.' || p === ''))
    return { error: `object key "${key}" has an empty, . or .. path segment; rename the file` };
  const sub = parts[2]!;
  if (SUB_KINDS.has(sub) && parts.length >= 4) return { list, kind: sub as DropKind, file: parts.slice(3).join('/') };
  return { list, kind: 'snapshot', file: parts.slice(2).join('/') };
}
