/**
 * One dropped object, end to end: where it belongs, its export time, reading, ingest, reports, and what happens
 * to the raw file. Shared by the ingest Lambda and `audience-sync local`.
 */
import { ingestMetrics, type RunMetrics } from '../adapters/metrics';
import type { S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import { DetectionError } from '../core/formats';
import {
  CLOCK_SKEW_MS,
  type IngestReport,
  ingestExport,
  parseDropKey,
  rejectedRowsCsv,
  type SourceEntry,
} from '../core/ingest';
import type { PlatformRegistry } from '../core/platform';
import type { ContactStore, ListSnapshot, Logger, StagingArea } from '../core/ports';
import { readExport, UnreadableFileError } from '../reading';
import { eraseFromFile } from './erase';
import { renderIngestHtml, renderQuarantineHtml } from './report-ingest-html';

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
}

export type ObjectOutcome =
  | { kind: 'ingested'; report: IngestReport; reportKey: string }
  | { kind: 'quarantined'; reason: string; reportKey: string }
  | { kind: 'erasure'; erased: number; reportKey: string }
  | { kind: 'ignored'; reason: string }
  /** The same object version's event again, after it was processed: what that processing did (functions/ingest.ts). */
  | { kind: 'duplicate'; of: string; firstReportKey?: string };

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

export async function processObject(deps: ObjectDeps, key: string): Promise<ObjectOutcome> {
  const { bucket, logger } = deps;
  if (key.endsWith('/')) return { kind: 'ignored', reason: 'folder placeholder' };
  // Only incoming/ and erasure/ are wired to the queue; anything else (reports, quarantine) is never touched.
  if (!key.startsWith('incoming/') && !key.startsWith('erasure/'))
    return { kind: 'ignored', reason: 'not under incoming/ or erasure/' };
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
    return { kind: 'quarantined', reason: where.error, reportKey };
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
      return { kind: 'ignored', reason: 'object no longer exists (already ingested and deleted)' };
    }
    throw e;
  }
  if (key.startsWith('erasure/')) return eraseFromFile(deps, info);
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
    return { kind: 'quarantined', reason: time.refused, reportKey: `${reportBase}.json` };
  }
  const { exportedAt, exportedAtFrom } = time;
  try {
    const report = await ingestExport(
      {
        list: where.list,
        kind: where.kind,
        source: `${key}#${info.versionId ?? info.etag ?? ''}`,
        exportedAt,
        exportedAtFrom,
        entries: (deps.read ?? readExport)(bucket.source(info), info.size),
      },
      deps.config,
      {
        store: deps.store,
        staging: deps.staging,
        platforms: deps.platforms,
        logger,
        now: deps.now,
        wallNow: deps.wallNow,
      },
    );
    const { rejectedRows, ...summary } = report;
    await bucket.putJson(`${reportBase}.json`, { ...summary, rejectedRowsSample: rejectedRows.slice(0, 100) });
    if (rejectedRows.length)
      await bucket.putText(`${reportBase}.rejected.csv`, rejectedRowsCsv(rejectedRows), 'text/csv');
    const csvName = rejectedRows.length ? `${reportBase.split('/').pop()}.rejected.csv` : undefined;
    await bucket.putText(
      `${reportBase}.html`,
      renderIngestHtml(report, { at: now.toISOString(), csvName }),
      'text/html; charset=utf-8',
    );
    await deps.store.putRun('ingest', now.toISOString(), {
      ...summary,
      rejectedRows: undefined,
      reportKey: `${reportBase}.json`,
    });
    if (deps.metrics) ingestMetrics(deps.metrics, report);
    if (deps.config.keepRawFilesDays === 0) await bucket.delete(info);
    return { kind: 'ingested', report, reportKey: `${reportBase}.json` };
  } catch (e) {
    if (e instanceof UnreadableFileError || e instanceof DetectionError) {
      const target = await bucket.quarantine(info);
      const record = {
        list: where.list,
        status: 'quarantined',
        object: target,
        reason: e instanceof UnreadableFileError ? e.reason : 'format_not_detected',
        error: e.message,
        at: now.toISOString(),
      };
      await bucket.putJson(`${reportBase}.json`, record);
      await quarantineReport(deps, `${reportBase}.json`, record);
      logger.warn('object_quarantined', { list: where.list, reason: e.name, reportKey: `${reportBase}.json` });
      return { kind: 'quarantined', reason: e.message, reportKey: `${reportBase}.json` };
    }
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
