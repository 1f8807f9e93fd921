/**
 * One dropped object, end to end: where it belongs, its export time, reading, ingest, reports, and what happens
 * to the raw file. Shared by the ingest Lambda and `audience-sync local`.
 */
import { ingestMetrics, type RunMetrics } from '../adapters/metrics';
import type { ObjectInfo, S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import { DetectionError } from '../core/formats';
import {
  CLOCK_SKEW_MS,
  type DropKind,
  type IngestReport,
  ingestExport,
  parseDropKey,
  rejectedRowsCsv,
  type SourceEntry,
} from '../core/ingest';
import type { PlatformRegistry } from '../core/platform';
import type { ContactStore, ListSnapshot, Logger, RowPool, StagingArea } from '../core/ports';
import { readExport, UnreadableFileError } from '../reading';
import { eraseFromFile } from './erase';
import { renderIngestHtml, renderQuarantineHtml } from './report-ingest-html';

/** Starts the Step Functions ingest of a big file (a Distributed Map of chunk workers); returns the execution's name. */
export interface FanOutStarter {
  /** Files at least this large (bytes) are fanned out. */
  minBytes: number;
  start(input: { key: string }): Promise<string>;
}

export interface ObjectDeps {
  bucket: S3Bucket;
  store: ContactStore;
  config: AudienceConfig;
  platforms: PlatformRegistry;
  staging: () => Promise<StagingArea>;
  logger: Logger;
  /** Rows, accepted, rejected… per list (the functions' dashboard); none: not counted. */
  metrics?: RunMetrics;
  now: () => Date;
  /** The CLI on a terminal: reads the file itself to show bytes and rows as they go (default: readExport). */
  read?: (source: ReturnType<S3Bucket['source']>, size: number | undefined) => AsyncIterable<SourceEntry>;
  /** Real time for leases and for telling an export time in the future (see Clock.wall); default now. */
  wallNow?: () => Date;
  /** Set where big files are fanned out (the cloud); without it every file is ingested here, whole. */
  fanOut?: FanOutStarter;
  /** Worker threads that read the rows (see IngestDeps.rowPool); without it, this thread reads them. */
  rowPool?: RowPool;
}

export type ObjectOutcome =
  | { kind: 'ingested'; report: IngestReport; reportKey: string }
  | { kind: 'quarantined'; reason: string; reportKey: string }
  | { kind: 'erasure'; erased: number; reportKey: string }
  | { kind: 'fanned_out'; execution: string }
  | { kind: 'ignored'; reason: string }
  /** The same object version's event again, after it was processed: what that processing did (functions/ingest.ts). */
  | { kind: 'duplicate'; of: string; firstReportKey?: string };

/** A dropped object ready to ingest: where it belongs, its version and export time, where its reports go. */
export interface PreparedDrop {
  where: { list: string; kind: DropKind; file: string };
  info: ObjectInfo;
  exportedAt: string;
  exportedAtFrom: ListSnapshot['exportedAtFrom'];
  reportBase: string;
  source: string;
  /** When the drop was picked up: its run record's time. */
  at: string;
}

const stamp = (d: Date) => d.toISOString().replace(/[:.]/g, '-');

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
/** Before this an export time is a typo, not an export. */
const EARLIEST_EXPORT = Date.UTC(2000, 0, 1);

/**
 * The export's own time: `x-amz-meta-exported-at` when the uploader set it, else the object's LastModified. A
 * metadata time that is not an ISO date, lies in the future (beyond a few minutes of clock skew) or before 2000 is
 * refused: adopted, it would freeze the list (every later export "older") or reorder it.
 */
export function exportTimeOf(
  metadata: Record<string, string>,
  lastModified: Date | undefined,
  now: Date,
): { exportedAt: string; exportedAtFrom: ListSnapshot['exportedAtFrom'] } | { refused: string } {
  const meta = metadata['exported-at'];
  if (meta !== undefined && meta !== '') {
    const t = ISO_TIME.test(meta.trim()) ? Date.parse(meta.trim()) : Number.NaN;
    if (Number.isNaN(t))
      return {
        refused: `exported-at ${JSON.stringify(meta)} is not an ISO date; set it like 2026-11-20T08:00:00Z (or leave it out) and drop the file again`,
      };
    if (t > now.getTime() + CLOCK_SKEW_MS)
      return {
        refused: `exported-at ${meta} is in the future (now ${now.toISOString()}); fix the uploader's clock or the metadata and drop the file again`,
      };
    if (t < EARLIEST_EXPORT)
      return { refused: `exported-at ${meta} is before 2000; fix the metadata and drop the file again` };
    return { exportedAt: new Date(t).toISOString(), exportedAtFrom: 'metadata' };
  }
  if (lastModified) return { exportedAt: lastModified.toISOString(), exportedAtFrom: 'last-modified' };
  return { exportedAt: now.toISOString(), exportedAtFrom: 'clock' };
}

/**
 * Where an object belongs and when it was exported; an outcome instead when there is nothing to ingest (a folder,
 * a key outside incoming/, an object already gone, an erasure request, which is handled here) or it is quarantined.
 */
export async function prepareObject(
  deps: ObjectDeps,
  key: string,
): Promise<{ outcome: ObjectOutcome } | { drop: PreparedDrop }> {
  const { bucket, logger } = deps;
  if (key.endsWith('/')) return { outcome: { kind: 'ignored', reason: 'folder placeholder' } };
  // Only incoming/ and erasure/ are wired to the queue; anything else (reports, quarantine) is never touched.
  if (!key.startsWith('incoming/') && !key.startsWith('erasure/'))
    return { outcome: { kind: 'ignored', reason: 'not under incoming/ or erasure/' } };
  const now = deps.now();
  const where = key.startsWith('erasure/') ? { list: '', kind: 'snapshot' as const, file: key } : parseDropKey(key);
  if ('error' in where) {
    const reportKey = `reports/quarantine/${stamp(now)}.json`;
    const target = await bucket.quarantine({ key });
    const record = {
      status: 'quarantined',
      object: target,
      reason: 'bad_key',
      error: where.error,
      at: now.toISOString(),
    };
    await bucket.putJson(reportKey, record);
    await quarantineReport(deps, reportKey, record);
    logger.warn('object_quarantined', { reason: 'bad_key', reportKey });
    return { outcome: { kind: 'quarantined', reason: where.error, reportKey } };
  }
  let info: Awaited<ReturnType<S3Bucket['head']>>;
  try {
    info = await bucket.head(key);
  } catch (e) {
    // Without s3:ListBucket (the function has none, by design) S3 answers a missing object with 403, not 404.
    // The function can read incoming/* and erasure/*, so a 403 here means the object is gone: a duplicate
    // event or a redelivery after the file was ingested and deleted.
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if ((e as { name?: string }).name === 'NotFound' || status === 404 || status === 403) {
      logger.info('object_gone', { status });
      return { outcome: { kind: 'ignored', reason: 'object no longer exists (already ingested and deleted)' } };
    }
    throw e;
  }
  if (key.startsWith('erasure/')) return { outcome: await eraseFromFile(deps, info) };
  const reportBase = `reports/ingest/${where.list}/${stamp(now)}`;
  const time = exportTimeOf(info.metadata, info.lastModified, deps.wallNow?.() ?? now);
  if ('refused' in time) {
    const target = await bucket.quarantine(info);
    const record = {
      list: where.list,
      status: 'quarantined',
      object: target,
      reason: 'bad_export_time',
      error: time.refused,
      at: now.toISOString(),
    };
    await bucket.putJson(`${reportBase}.json`, record);
    await quarantineReport(deps, `${reportBase}.json`, record);
    logger.warn('object_quarantined', { list: where.list, reason: 'bad_export_time', reportKey: `${reportBase}.json` });
    return { outcome: { kind: 'quarantined', reason: time.refused, reportKey: `${reportBase}.json` } };
  }
  return {
    drop: {
      where,
      info,
      exportedAt: time.exportedAt,
      exportedAtFrom: time.exportedAtFrom,
      reportBase,
      source: `${key}#${info.versionId ?? info.etag ?? ''}`,
      at: now.toISOString(),
    },
  };
}

/** The drop's reports (JSON, rejected-rows CSV), its run record and metrics; the raw file deleted unless kept. */
export async function finishIngest(deps: ObjectDeps, drop: PreparedDrop, report: IngestReport): Promise<ObjectOutcome> {
  const { bucket } = deps;
  const { reportBase } = drop;
  const { rejectedRows, ...summary } = report;
  await bucket.putJson(`${reportBase}.json`, { ...summary, rejectedRowsSample: rejectedRows.slice(0, 100) });
  if (rejectedRows.length)
    await bucket.putText(`${reportBase}.rejected.csv`, rejectedRowsCsv(rejectedRows), 'text/csv');
  const csvName = rejectedRows.length ? `${reportBase.split('/').pop()}.rejected.csv` : undefined;
  await bucket.putText(
    `${reportBase}.html`,
    renderIngestHtml(report, { at: drop.at, csvName }),
    'text/html; charset=utf-8',
  );
  await deps.store.putRun('ingest', drop.at, { ...summary, rejectedRows: undefined, reportKey: `${reportBase}.json` });
  if (deps.metrics) ingestMetrics(deps.metrics, report);
  if (deps.config.keepRawFilesDays === 0) await bucket.delete(drop.info);
  return { kind: 'ingested', report, reportKey: `${reportBase}.json` };
}

/** A file that cannot be read is moved to quarantine/ with a report saying why. */
export async function quarantineDrop(deps: ObjectDeps, drop: PreparedDrop, e: Error): Promise<ObjectOutcome> {
  const { bucket, logger } = deps;
  const target = await bucket.quarantine(drop.info);
  const reportKey = `${drop.reportBase}.json`;
  const record = {
    list: drop.where.list,
    status: 'quarantined',
    object: target,
    reason: e instanceof UnreadableFileError ? e.reason : 'format_not_detected',
    error: e.message,
    at: drop.at,
  };
  await bucket.putJson(reportKey, record);
  await quarantineReport(deps, reportKey, record);
  logger.warn('object_quarantined', { list: drop.where.list, reason: e.name, reportKey });
  return { kind: 'quarantined', reason: e.message, reportKey };
}

/** Whether a drop goes to the Step Functions ingest: a snapshot or delta at least `minBytes` large. */
export const fansOut = (deps: ObjectDeps, drop: PreparedDrop) =>
  deps.fanOut !== undefined &&
  (drop.where.kind === 'snapshot' || drop.where.kind === 'delta') &&
  (drop.info.size ?? 0) >= deps.fanOut.minBytes;

export async function processObject(deps: ObjectDeps, key: string): Promise<ObjectOutcome> {
  const prepared = await prepareObject(deps, key);
  if ('outcome' in prepared) return prepared.outcome;
  const drop = prepared.drop;
  if (fansOut(deps, drop)) {
    // Read by a Distributed Map of workers; its plan step decides whether the file can be split at all.
    const execution = await deps.fanOut!.start({ key });
    deps.logger.info('ingest_fanned_out', { list: drop.where.list, bytes: drop.info.size, execution });
    return { kind: 'fanned_out', execution };
  }
  return ingestWhole(deps, drop);
}

/** One worker reads the whole file. */
export async function ingestWhole(deps: ObjectDeps, drop: PreparedDrop): Promise<ObjectOutcome> {
  try {
    const report = await ingestExport(
      {
        list: drop.where.list,
        kind: drop.where.kind,
        source: drop.source,
        exportedAt: drop.exportedAt,
        exportedAtFrom: drop.exportedAtFrom,
        entries: (deps.read ?? readExport)(deps.bucket.source(drop.info), drop.info.size),
      },
      deps.config,
      {
        store: deps.store,
        staging: deps.staging,
        platforms: deps.platforms,
        logger: deps.logger,
        now: deps.now,
        wallNow: deps.wallNow,
        rowPool: deps.rowPool,
      },
    );
    return finishIngest(deps, drop, report);
  } catch (e) {
    if (e instanceof UnreadableFileError || e instanceof DetectionError) return quarantineDrop(deps, drop, e);
    throw e;
  }
}

/** A quarantine's page beside its JSON, and a run record, so `status` shows the file and the reason. */
async function quarantineReport(
  deps: ObjectDeps,
  reportKey: string,
  record: { list?: string; status: string; object: string; reason: string; error: string; at: string },
) {
  await deps.bucket.putText(
    reportKey.replace(/\.json$/, '.html'),
    renderQuarantineHtml(record),
    'text/html; charset=utf-8',
  );
  await deps.store.putRun('ingest', record.at, { ...record, reportKey });
}
