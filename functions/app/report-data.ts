/**
 * What the report pages and `status` read from stored run records: each audience's history over the last sync
 * runs, and the match-key coverage of the lists that feed a segment. Counts and key names only, never PII.
 */
import type { AudienceConfig } from '../core/config';
import type { IngestReport } from '../core/ingest';
import type { AudienceHealth, ContactStore, Logger } from '../core/ports';
import type { AudienceReport, SyncReport } from '../core/sync';
import type { ChangePoint, SizePoint } from './report-svg';

/** How many sync runs the charts look back over. */
export const HISTORY_RUNS = 30;

export const audienceKey = (a: Pick<AudienceReport, 'destination' | 'segment'>) => `${a.destination}#${a.segment}`;

/** The platform's reported size: its lower bound ("at least"), when the platform said anything usable. */
export function reportedSize(h: AudienceHealth | undefined): number | undefined {
  const lo = h?.approximateCountLowerBound;
  const hi = h?.approximateCountUpperBound;
  if (typeof lo === 'number' && lo >= 0) return lo;
  if (typeof hi === 'number' && hi >= 0) return hi;
  return undefined;
}

/** "1,000–1,200" as the platform reported it, or undefined. */
export function reportedRange(h: AudienceHealth | undefined): string | undefined {
  const lo = h?.approximateCountLowerBound;
  const hi = h?.approximateCountUpperBound;
  const ok = (n: unknown): n is number => typeof n === 'number' && n >= 0;
  if (ok(lo) && ok(hi))
    return lo === hi ? lo.toLocaleString('en-US') : `${lo.toLocaleString('en-US')}–${hi.toLocaleString('en-US')}`;
  if (ok(lo)) return `at least ${lo.toLocaleString('en-US')}`;
  if (ok(hi)) return `at most ${hi.toLocaleString('en-US')}`;
  return undefined;
}

export interface AudienceHistory {
  size: SizePoint[];
  changes: ChangePoint[];
}

const isSyncReport = (v: unknown): v is SyncReport =>
  !!v &&
  typeof v === 'object' &&
  Array.isArray((v as SyncReport).audiences) &&
  typeof (v as SyncReport).startedAt === 'string';

/**
 * Sync runs oldest first, at most HISTORY_RUNS, from stored run records (newest first, as the store returns them)
 * plus the current report when it is not stored yet. Dry runs are never part of the history.
 */
export function syncHistory(stored: Array<{ at: string; summary: unknown }>, current?: SyncReport): SyncReport[] {
  const runs = stored.map((r) => r.summary).filter(isSyncReport);
  if (current && !current.dryRun && !runs.some((r) => r.startedAt === current.startedAt)) runs.unshift(current);
  return runs
    .filter((r) => !r.dryRun)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .slice(-HISTORY_RUNS);
}

/** Per audience (destination#segment): its size and its adds/removes in every run of the history that has it. */
export function audienceHistories(runs: SyncReport[]): Map<string, AudienceHistory> {
  const out = new Map<string, AudienceHistory>();
  for (const run of runs) {
    for (const a of run.audiences) {
      if (a.status === 'planned') continue;
      const key = audienceKey(a);
      const h = out.get(key) ?? { size: [], changes: [] };
      out.set(key, h);
      const reported = reportedSize(a.health);
      h.size.push({
        at: run.startedAt,
        size: reported ?? a.desired,
        reported: reported !== undefined,
        desired: a.desired,
      });
      h.changes.push({ at: run.startedAt, added: a.added, removed: a.removed });
    }
  }
  return out;
}

/** The ingest run summaries as stored (the report without its rejected rows), plus quarantine records. */
export type IngestRun = Partial<Omit<IngestReport, 'status'>> & {
  list?: string;
  /** An ingest status, or `quarantined`. */
  status?: string;
  reason?: string;
  error?: string;
  object?: string;
  at?: string;
};

export interface SegmentCoverage {
  /** Lists whose latest snapshot went into the numbers. */
  lists: string[];
  /** Accepted rows those snapshots had. */
  rows: number;
  /** Per platform, the share of those rows carrying each match key (0–1). */
  byPlatform: Record<string, Record<string, number>>;
}

/** The newest ingested snapshot of each list among the runs (newest first), or undefined where none is. */
export function latestSnapshots(runs: Array<{ at: string; summary: unknown }>): Map<string, IngestRun> {
  const out = new Map<string, IngestRun>();
  for (const r of runs) {
    const s = r.summary as IngestRun;
    if (!s?.list || out.has(s.list)) continue;
    if (s.kind === 'snapshot' && s.status === 'ingested' && s.keyCoverage) out.set(s.list, s);
  }
  return out;
}

/**
 * Match-key coverage of each segment: the lists it reads (all lists when it names none), their latest snapshot's
 * key shares weighted by accepted rows. It describes the people the segment draws from, before its rules.
 */
export function segmentCoverage(
  config: Pick<AudienceConfig, 'segments'>,
  snapshots: Map<string, IngestRun>,
): Map<string, SegmentCoverage> {
  const out = new Map<string, SegmentCoverage>();
  for (const seg of config.segments) {
    const lists = (seg.lists ?? [...snapshots.keys()]).filter((l) => snapshots.has(l)).sort();
    const counts: Record<string, Record<string, number>> = {};
    let rows = 0;
    for (const l of lists) {
      const s = snapshots.get(l)!;
      const n = s.accepted ?? 0;
      rows += n;
      for (const [platform, keys] of Object.entries(s.keyCoverage ?? {})) {
        counts[platform] ??= {};
        const c = counts[platform];
        for (const [k, share] of Object.entries(keys)) c[k] = (c[k] ?? 0) + share * n;
      }
    }
    const byPlatform = Object.fromEntries(
      Object.entries(counts).map(([p, keys]) => [
        p,
        Object.fromEntries(Object.entries(keys).map(([k, n]) => [k, rows ? Math.round((n / rows) * 1000) / 1000 : 0])),
      ]),
    );
    out.set(seg.id, { lists, rows, byPlatform });
  }
  return out;
}

/** Ingest runs read for coverage: enough to reach the latest snapshot of every list in ordinary use. */
export const INGEST_RUNS_FOR_COVERAGE = 200;

/**
 * Everything the sync page shows beyond the report itself, read from the run records. A page is never worth a
 * failed sync: if the records cannot be read, the page is drawn from this report alone (and says so in the log).
 */
export async function syncPageContext(
  store: Pick<ContactStore, 'runs'>,
  config: Pick<AudienceConfig, 'segments'>,
  report: SyncReport,
  logger?: Logger,
): Promise<{ history: SyncReport[]; coverage: Map<string, SegmentCoverage> }> {
  try {
    const [syncRuns, ingestRuns] = await Promise.all([
      store.runs('sync', HISTORY_RUNS),
      store.runs('ingest', INGEST_RUNS_FOR_COVERAGE),
    ]);
    return {
      history: syncHistory(syncRuns, report),
      coverage: segmentCoverage(config, latestSnapshots(ingestRuns)),
    };
  } catch (e) {
    logger?.warn('report_history_unavailable', { error: (e as Error).message });
    return { history: syncHistory([], report), coverage: new Map() };
  }
}
