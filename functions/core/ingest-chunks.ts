/**
 * A fanned-out ingest's report, put together from its parts: each chunk counted its rows (read, rejected with reasons,
 * accepted, consent, key coverage), each shard of cids counted what it wrote (merged repeats, unchanged, stale,
 * written, left). Summed, they are what one process reading the whole file reports.
 */
import {
  type ApplyInput,
  checkAccounting,
  emptyReport,
  type IngestReport,
  type IngestWarning,
  keyCoverageOf,
  parseDamageMessage,
} from './ingest';

/** What one chunk worker counted (rejected rows carry lines of the whole file). */
export interface ChunkSummary {
  chunk: number;
  report: IngestReport;
  keyCounts: Record<string, Record<string, number>>;
  parseDamaged: number;
}

/** What one shard's apply worker counted. */
export interface ShardSummary {
  shard: string;
  merged: number;
  unchanged: number;
  staleRows: number;
  written: number;
  removed: number;
  /** This list's opt-out blocks the shard's subscribed records ask to lift (the commit lifts them). */
  lifts?: string[];
}

/** Rejected rows a report keeps in memory (the same bound as a whole-file ingest). */
const MAX_REJECTED_ROWS = 200_000;

export function mergeFanOutReport(
  input: ApplyInput,
  chunks: readonly ChunkSummary[],
  shards: readonly ShardSummary[],
): IngestReport {
  const report = emptyReport(input, 'ingested');
  const ordered = [...chunks].sort((a, b) => a.chunk - b.chunk);
  const keyCounts: Record<string, Record<string, number>> = {};
  const warnings = new Map<string, IngestWarning>();
  let parseDamaged = 0;
  for (const { report: r, keyCounts: kc, parseDamaged: pd } of ordered) {
    report.rows += r.rows;
    report.accepted += r.accepted;
    report.rejected += r.rejected;
    report.heldBySuppression += r.heldBySuppression;
    parseDamaged += pd;
    for (const [k, n] of Object.entries(r.rejections)) report.rejections[k] = (report.rejections[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.consent)) report.consent[k as keyof IngestReport['consent']] += n;
    for (const [k, n] of Object.entries(r.suppressed)) report.suppressed[k] = (report.suppressed[k] ?? 0) + n;
    for (const [platform, counts] of Object.entries(kc)) {
      const into = keyCounts[platform] ?? {};
      keyCounts[platform] = into;
      for (const [k, n] of Object.entries(counts)) into[k] = (into[k] ?? 0) + n;
    }
    for (const w of r.warnings) {
      const key = `${w.reason}\u0000${w.column ?? ''}`;
      const had = warnings.get(key);
      if (had) had.rows += w.rows;
      else warnings.set(key, { ...w });
    }
    for (const row of r.rejectedRows) {
      if (report.rejectedRows.length < MAX_REJECTED_ROWS) report.rejectedRows.push(row);
      else report.rejectedRowsTruncated = true;
    }
    report.rejectedRowsTruncated ||= r.rejectedRowsTruncated;
    // One table, read in chunks: its entry is the first chunk's (format, columns), with every chunk's rows.
    const [entry] = r.entries;
    if (entry) {
      const had = report.entries[0];
      if (had) had.rows += entry.rows;
      else report.entries.push({ ...entry });
    }
    report.format ??= r.format;
  }
  for (const s of shards) {
    report.merged += s.merged;
    report.unchanged += s.unchanged;
    report.staleRows += s.staleRows;
    report.written += s.written;
    report.removed += s.removed;
  }
  report.warnings = [...warnings.values()];
  report.keyCoverage = keyCoverageOf(keyCounts, report.accepted);
  if (parseDamaged > 0 && input.kind === 'snapshot') report.message = parseDamageMessage(parseDamaged, report);
  checkAccounting(report);
  return report;
}
