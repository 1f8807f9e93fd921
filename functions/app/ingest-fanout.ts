/**
 * A big export ingested by parallel workers (the ingest fan-out state machine, lib/constructs/ingest-fan-out.ts):
 *
 * 1. `plan`: the list's lock, the drop's checks (already ingested, stale), whether the file can be split at all
 *    (a plain UTF-8 / Windows-1252 CSV whose format is detected), one pass over its bytes for the chunks
 *    (functions/reading/split.ts), the blocks the workers need, saved under `staging/ingest/<run>/`.
 * 2. `stage` (Distributed Map, one item per chunk): the chunk read as its own file (header in front) and mapped as the
 *    whole file's head says (format, day/month order, as of the plan's time); every accepted record staged to the
 *    file of its cid shard; the chunk's counts saved.
 * 3. `apply` (Distributed Map, one item per cid shard): every chunk's records of the shard, in file order, through the
 *    same stager and apply as a whole-file ingest (repeats merged across chunks, unchanged skipped), then the shard's
 *    leavers — once every chunk is staged, so nobody in the file is taken to have left.
 * 4. `commit`: the counts summed, the snapshot committed (only now: sync never uses the list before), the reports,
 *    the raw file and the staging files deleted, the lock released.
 *
 * A file that cannot be split goes to `whole`: one worker reads it, as the queue's ingest does.
 */
import { CompactIndex, compactIndexFromBytes, compactIndexToBytes } from '../core/compact-index';
import { looksLikeData } from '../core/formats';
import {
  apply,
  commitDrop,
  dropVerdict,
  emptyReport,
  type IngestBlocks,
  type IngestReport,
  liftOptOuts,
  loadFingerprints,
  loadIngestBlocks,
  type OpenedEntry,
  RowReader,
  Stager,
  untrustedAfterOf,
} from '../core/ingest';
import { type ChunkSummary, mergeFanOutReport, type ShardSummary } from '../core/ingest-chunks';
import type { StagedRecord } from '../core/ingest-rows';
import { Lease, LeaseLost } from '../core/lease';
import { SHARDS, shardOf } from '../core/model';
import { isPlausibleEmail } from '../core/normalize';
import type { ApplyingMarker, RunFiles, RunStateStore, StagingArea } from '../core/ports';
import { type ByteSource, type Entry, readExport } from '../reading';
import {
  type ChunkPlan,
  chunkSource,
  type FileLayout,
  layoutOf,
  planChunks,
  sameLayout,
  wholeLineOf,
} from '../reading/split';
import {
  finishIngest,
  ingestWhole,
  type ObjectDeps,
  type ObjectOutcome,
  type PreparedDrop,
  prepareObject,
} from './ingest-object';

/** A step's lease: long enough to bridge the gaps between steps (a Map starting its items, a cold start). */
export const FAN_OUT_LEASE_MS = 15 * 60_000;

export interface FanOutDeps extends ObjectDeps {
  runState: RunStateStore;
  /** The run's files (S3 `staging/ingest/<run>/` in the cloud). */
  runFiles: (runId: string) => RunFiles;
  /** Target bytes of one chunk. */
  chunkBytes: number;
}

/** The run's own record: what the plan found, for every later step. */
interface FanOutRun {
  runId: string;
  key: string;
  drop: PreparedDrop;
  layout: FileLayout;
  plan: ChunkPlan;
  /** The time every chunk is read as of (the mapper's "now", the current year of ages). */
  asOf: string;
  marker: ApplyingMarker;
}

export type FanOutPlan =
  | { next: 'chunks'; chunks: number[]; shards: number[] }
  | { next: 'whole'; reason: string }
  | { next: 'wait'; waitSeconds: number }
  | { next: 'done'; outcome: ObjectOutcome };

const RUN_KEY = 'INGEST';
const chunkKey = (k: number) => `chunk-${String(k).padStart(4, '0')}.json`;
const shardFile = (k: number, s: string) => `chunk-${String(k).padStart(4, '0')}/shard-${s}.jsonl`;
const shardKey = (s: string) => `shard-${s}.json`;

const inputOf = (drop: PreparedDrop) => ({
  list: drop.where.list,
  kind: drop.where.kind,
  source: drop.source,
  exportedAt: drop.exportedAt,
  exportedAtFrom: drop.exportedAtFrom,
});

const leaseFor = (deps: FanOutDeps, list: string, runId: string) =>
  new Lease(deps.store, `ingest#${list}`, runId, deps.wallNow ?? deps.now, FAN_OUT_LEASE_MS);

/** The run's lease under its own id, or LeaseLost when another ingest of the list took it meanwhile. */
async function holdLease(deps: FanOutDeps, run: FanOutRun): Promise<Lease> {
  const lease = leaseFor(deps, run.drop.where.list, run.runId);
  const got = await lease.tryAcquire();
  if (!got.acquired)
    throw new LeaseLost(
      `ingest run ${run.runId} lost the lock of list ${run.drop.where.list} to ${got.holder?.owner ?? 'another ingest'}; it stops here (drop the file again to ingest it)`,
    );
  return lease;
}

async function loadRun(deps: FanOutDeps, runId: string): Promise<FanOutRun> {
  const run = await deps.runState.getRunState<FanOutRun>(runId, RUN_KEY);
  if (!run)
    throw new Error(`ingest run ${runId} has no saved plan (it expired or was never planned); drop the file again`);
  return run;
}

/** The first table of a file as the reader opens it, open until `close` (the rest of the file is not read). */
async function firstEntry(source: ByteSource): Promise<{ entry?: Entry; close: () => Promise<void> }> {
  const it = readExport(source)[Symbol.asyncIterator]();
  const n = await it.next();
  return {
    entry: n.done ? undefined : n.value,
    close: async () => {
      await it.return?.(undefined);
    },
  };
}

function blocksToBytes(b: IngestBlocks): Uint8Array {
  const parts = [b.erased, b.suppressed, b.ownOptOuts].map(compactIndexToBytes);
  const out = new Uint8Array(12 + parts.reduce((n, p) => n + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 12;
  parts.forEach((p, i) => {
    view.setUint32(i * 4, p.length, true);
    out.set(p, at);
    at += p.length;
  });
  return out;
}

function blocksFromBytes(bytes: Uint8Array): IngestBlocks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 12;
  const [erased, suppressed, ownOptOuts] = [0, 1, 2].map((i) => {
    const len = view.getUint32(i * 4, true);
    const idx = compactIndexFromBytes(bytes.subarray(at, at + len));
    at += len;
    return idx;
  });
  return { erased: erased!, suppressed: suppressed!, ownOptOuts: ownOptOuts! };
}

async function loadBlocks(deps: FanOutDeps, runId: string): Promise<IngestBlocks> {
  const bytes = await deps.runFiles(runId).getBytes('blocks.bin');
  if (!bytes) throw new Error(`ingest run ${runId} lost its block snapshot (staging expired?); drop the file again`);
  return blocksFromBytes(bytes);
}

/**
 * Plan: the lock, the checks, and the chunks of the file (or why it is read whole). A drop already ingested or stale
 * is reported and done here, as a whole-file ingest reports it.
 */
export async function planFanOut(deps: FanOutDeps, input: { key: string; runId: string }): Promise<FanOutPlan> {
  const prepared = await prepareObject(deps, input.key);
  if ('outcome' in prepared) return { next: 'done', outcome: prepared.outcome };
  const drop = prepared.drop;
  const list = drop.where.list;
  const lease = leaseFor(deps, list, input.runId);
  const got = await lease.tryAcquire();
  if (!got.acquired) return { next: 'wait', waitSeconds: 60 };
  const whole = async (reason: string): Promise<FanOutPlan> => {
    await lease.release();
    deps.logger.info('ingest_read_whole', { list, reason });
    return { next: 'whole', reason };
  };
  try {
    const asOf = deps.now();
    const verdict = await dropVerdict(deps.store, inputOf(drop), (deps.wallNow ?? deps.now)(), deps.logger);
    if (verdict) {
      await lease.release();
      return { next: 'done', outcome: await finishIngest(deps, drop, verdict) };
    }
    if (drop.where.kind !== 'snapshot' && drop.where.kind !== 'delta')
      return whole('suppress and unsuppress drops are read whole');
    const { entry: head, close } = await firstEntry(deps.bucket.source(drop.info));
    let mapped: boolean;
    let lay: ReturnType<typeof layoutOf>;
    try {
      if (!head) return whole('the file has no table');
      lay = layoutOf(head);
      if ('whole' in lay) return whole(lay.whole);
      // A header line that holds an email is a person: a header-less list, read whole.
      if (head.header.some((h) => isPlausibleEmail(h.trim()) || looksLikeData(h)))
        return whole('the first line is a person, not a header');
      const reader = new RowReader(inputOf(drop), deps.config, deps, noBlocks(), 'ingested', undefined, asOf);
      mapped = (await reader.openEntry(head)).mapRow !== undefined;
    } finally {
      await close();
    }
    if (!mapped) return whole('the format was not detected; the whole-file ingest quarantines it');
    const outcome = await planChunks({
      source: deps.bucket.rangeSource(drop.info),
      layout: lay.layout,
      chunkBytes: deps.chunkBytes,
    });
    if ('whole' in outcome) return whole(outcome.whole);
    if (outcome.plan.chunks.length < 2) return whole('the file is one chunk');
    const layout = lay.layout;
    await lease.keepAlive();
    await deps.runFiles(input.runId).putBytes('blocks.bin', blocksToBytes(await loadIngestBlocks(deps.store, list)));
    const run: FanOutRun = {
      runId: input.runId,
      key: input.key,
      drop,
      layout,
      plan: outcome.plan,
      asOf: asOf.toISOString(),
      marker: { source: drop.source, startedAt: asOf.toISOString(), owner: input.runId },
    };
    await deps.runState.putRunState(input.runId, RUN_KEY, run);
    deps.logger.info('ingest_planned', { list, bytes: drop.info.size, chunks: outcome.plan.chunks.length });
    return { next: 'chunks', chunks: outcome.plan.chunks.map((_, i) => i), shards: SHARDS.map((_, i) => i) };
  } catch (e) {
    await lease.release();
    throw e;
  }
}

/** Detecting the format reads no block. */
const noBlocks = () => ({ erased: new CompactIndex(16), suppressed: new CompactIndex(16) });

/** One chunk: read, mapped as the file's head says, each accepted record staged to its cid shard's file. */
export async function stageChunk(deps: FanOutDeps, input: { runId: string; chunk: number }): Promise<void> {
  const files = deps.runFiles(input.runId);
  if (await files.getJson(chunkKey(input.chunk))) return; // done before (a retried item)
  const run = await loadRun(deps, input.runId);
  const lease = await holdLease(deps, run);
  const blocks = await loadBlocks(deps, input.runId);
  const reader = new RowReader(inputOf(run.drop), deps.config, deps, blocks, 'ingested', lease, new Date(run.asOf));
  // The mapping every chunk uses is the whole file's: detected on its head, as one worker reading it would.
  const head = await firstEntry(deps.bucket.source(run.drop.info));
  let opened: OpenedEntry;
  try {
    if (!head.entry) throw new Error(`ingest run ${input.runId}: ${run.key} has no table any more`);
    opened = await reader.openEntry(head.entry);
  } finally {
    await head.close();
  }
  const chunk = await firstEntry(
    chunkSource(deps.bucket.rangeSource(run.drop.info), run.plan, input.chunk, run.layout.encoding),
  );
  const shards = new Map<string, StagingArea>();
  try {
    const differs = chunk.entry
      ? sameLayout(chunk.entry, run.layout, input.chunk)
      : `chunk ${input.chunk} has no table`;
    if (differs) throw new Error(`ingest run ${input.runId}: ${differs}; drop the file again to have it read whole`);
    const toWhole = wholeLineOf(run.plan, input.chunk);
    const rows = chunk.entry!.rows[Symbol.asyncIterator]();
    const entry: OpenedEntry = { ...opened, sample: [], rest: rows };
    for (const s of SHARDS) shards.set(s, await deps.staging());
    for (let n = await rows.next(); !n.done; n = await rows.next()) {
      const record = await reader.row(entry, { ...n.value, line: toWhole(n.value.line) });
      if (record) await shards.get(shardOf(record.cid))!.write([JSON.stringify({ c: record.cid, r: record })]);
    }
    reader.report.warnings = reader.warningsSoFar;
    for (const [s, staging] of shards) {
      await lease.keepAlive();
      await files.writeLines(shardFile(input.chunk, s), eachLine(staging));
    }
  } finally {
    await chunk.close();
    for (const staging of shards.values()) await staging.dispose();
  }
  const summary: ChunkSummary = {
    chunk: input.chunk,
    report: reader.report,
    keyCounts: reader.keyCountsSoFar,
    parseDamaged: reader.parseDamaged,
  };
  await files.putJson(chunkKey(input.chunk), summary);
  deps.logger.info('ingest_chunk_staged', { chunk: input.chunk, rows: reader.report.rows });
}

/**
 * One shard of cids: every chunk's records of it in file order through the whole-file stager and apply (repeats
 * merged across chunks, unchanged ones not written), then its leavers.
 */
export async function applyShard(deps: FanOutDeps, input: { runId: string; shard: number }): Promise<void> {
  const shard = SHARDS[input.shard];
  if (shard === undefined) throw new Error(`ingest run ${input.runId}: there is no shard ${input.shard}`);
  const files = deps.runFiles(input.runId);
  if (await files.getJson(shardKey(shard))) return;
  const run = await loadRun(deps, input.runId);
  const lease = await holdLease(deps, run);
  const chunks = await chunkSummaries(files, run);
  const blocks = await loadBlocks(deps, input.runId);
  const drop = inputOf(run.drop);
  const untrustedAfter = untrustedAfterOf((deps.wallNow ?? deps.now)());
  const { existing, newer } = await loadFingerprints(deps.store, drop.list, drop.exportedAt, untrustedAfter, shard);
  const report = emptyReport(drop, 'ingested');
  const staging = await deps.staging();
  let lifts: string[] = [];
  try {
    const stager = new Stager(drop.kind, report, existing, newer, blocks.ownOptOuts, staging);
    for (let k = 0; k < run.plan.chunks.length; k++) {
      for await (const line of files.readLines(shardFile(k, shard))) {
        await stager.stage((JSON.parse(line) as { r: StagedRecord }).r);
      }
      await lease.keepAlive();
    }
    lifts = await apply(drop, report, {
      store: deps.store,
      staging,
      lease,
      deps,
      existing,
      seen: stager.seen,
      duplicates: stager.duplicates,
      ownOptOuts: blocks.ownOptOuts,
      parseDamaged: chunks.reduce((n, c) => n + c.parseDamaged, 0),
      untrustedAfter,
      shard: { id: shard, marker: run.marker },
    });
  } finally {
    await staging.dispose();
  }
  const summary: ShardSummary = {
    shard,
    merged: report.merged,
    unchanged: report.unchanged,
    staleRows: report.staleRows,
    written: report.written,
    removed: report.removed,
    lifts,
  };
  await files.putJson(shardKey(shard), summary);
}

async function chunkSummaries(files: RunFiles, run: FanOutRun): Promise<ChunkSummary[]> {
  const out: ChunkSummary[] = [];
  for (let k = 0; k < run.plan.chunks.length; k++) {
    const c = await files.getJson<ChunkSummary>(chunkKey(k));
    if (!c) throw new Error(`ingest run ${run.runId}: chunk ${k} has no result; every chunk must be staged first`);
    out.push(c);
  }
  return out;
}

/** Commit: the counts summed, the snapshot committed, the reports written, staging deleted, the lock released. */
export async function commitFanOut(deps: FanOutDeps, input: { runId: string }): Promise<ObjectOutcome> {
  const run = await loadRun(deps, input.runId);
  const lease = await holdLease(deps, run);
  const files = deps.runFiles(input.runId);
  try {
    const done = await committedBefore(deps, run, files);
    if (done) return done;
    const chunks = await chunkSummaries(files, run);
    const shards: ShardSummary[] = [];
    for (const s of SHARDS) {
      const r = await files.getJson<ShardSummary>(shardKey(s));
      if (!r) throw new Error(`ingest run ${run.runId}: shard ${s} has no result; every shard must be applied first`);
      shards.push(r);
    }
    const drop = inputOf(run.drop);
    const report: IngestReport = mergeFanOutReport(drop, chunks, shards);
    // Opt-out lifts wait for every shard: a record of another shard may still opt out on the same hash.
    await liftOptOuts(
      drop.list,
      shards.flatMap((s) => s.lifts ?? []),
      deps.store,
      lease,
    );
    await commitDrop(drop, report, deps.store, deps.now());
    const outcome = await finishIngest(deps, run.drop, report);
    deps.logger.info('ingest_finished', {
      list: drop.list,
      kind: drop.kind,
      status: report.status,
      format: report.format,
      rows: report.rows,
      accepted: report.accepted,
      rejected: report.rejected,
      written: report.written,
      removed: report.removed,
      chunks: chunks.length,
    });
    await files.delete([
      'blocks.bin',
      ...chunks.flatMap((c) => [chunkKey(c.chunk), ...SHARDS.map((s) => shardFile(c.chunk, s))]),
      ...SHARDS.map(shardKey),
    ]);
    return outcome;
  } finally {
    await lease.release();
  }
}

/**
 * A commit that finished (its staging deleted last) and runs again, its answer lost (a retry on a Lambda service
 * error): what it did, not a failed ingest. Its staging is gone and the list holds the drop with no write under way.
 */
async function committedBefore(deps: FanOutDeps, run: FanOutRun, files: RunFiles): Promise<ObjectOutcome | undefined> {
  if (await files.getJson(chunkKey(0))) return undefined;
  const { snapshot, applying } = await deps.store.listState(run.drop.where.list);
  // Still this drop's marker: its commit did not finish. (Another file's, which a commit leaves, says nothing of it.)
  if (applying?.source === run.drop.source) return undefined;
  if (run.drop.where.kind === 'snapshot' && snapshot?.source !== run.drop.source) return undefined;
  deps.logger.info('ingest_commit_repeated', { list: run.drop.where.list, runId: run.runId });
  return { kind: 'duplicate', of: run.drop.source, firstReportKey: `${run.drop.reportBase}.json` };
}

/** After a failed Map: the lock is released; the list stays marked as being written until the file is dropped again. */
export async function abortFanOut(deps: FanOutDeps, input: { runId: string; error?: string }): Promise<void> {
  const run = await deps.runState.getRunState<FanOutRun>(input.runId, RUN_KEY);
  if (!run) return;
  await leaseFor(deps, run.drop.where.list, input.runId).release();
  await deps.bucket.putJson(`${run.drop.reportBase}.json`, {
    list: run.drop.where.list,
    status: 'failed',
    error: input.error ?? 'a chunk or shard failed after its retries',
    message:
      'the ingest of this file stopped; the list keeps its previous snapshot and audiences wait for it; drop the file again',
    at: deps.now().toISOString(),
  });
  deps.logger.error('ingest_fan_out_aborted', { list: run.drop.where.list, runId: input.runId });
}

/** A file the plan would not split: one worker reads it, with the lock and checks of a queue ingest. */
export async function ingestWholeStep(deps: FanOutDeps, input: { key: string }): Promise<ObjectOutcome> {
  const prepared = await prepareObject(deps, input.key);
  if ('outcome' in prepared) return prepared.outcome;
  return ingestWhole(deps, prepared.drop);
}

/** A staging area's lines one by one, as a run file is written. */
async function* eachLine(staging: StagingArea): AsyncIterable<string> {
  for await (const batch of staging.batches()) yield* batch;
}
