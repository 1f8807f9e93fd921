/**
 * `audience-sync status`: per list its last snapshot and what happened to its latest drops, per audience its last
 * sync, read from the store (the local state or the deployed table). Counts, reasons, file names and column names
 * only. What needs a person is collected in `attention`; the CLI exits 4 when it is not empty.
 */
import type { AudienceConfig } from '../core/config';
import type { ContactStore } from '../core/ports';
import type { AudienceReport, SyncReport } from '../core/sync';
import { audienceKey, type IngestRun, reportedRange, reportedSize, syncHistory } from './report-data';
import { alertAction } from './report-words';

/** Ingest run records read: the latest drops of every list in ordinary use. */
export const STATUS_INGEST_RUNS = 200;

export interface DropStatus {
  at: string;
  file: string;
  kind?: string;
  status: string;
  rows?: number;
  accepted?: number;
  rejected?: number;
  rejections?: Record<string, number>;
  /** Quarantined: the reason code and the message that says what to do. */
  reason?: string;
  error?: string;
  /** Where the drop's report is, in the bucket. */
  report?: string;
}

export interface ListStatus {
  list: string;
  snapshot?: {
    exportedAt: string;
    committedAt: string;
    file: string;
    rows: number;
    accepted: number;
    rejected: number;
    removed: number;
  };
  /** A drop being written to the list now, or one that stopped midway. */
  applying?: { file: string; startedAt: string; running: boolean };
  /** The newest drop of this list among the run records. */
  lastDrop?: DropStatus;
  /**
   * Files quarantined in the last run (since the sync before the latest one), or after the list last ingested a
   * file (its snapshot, if the records do not reach back that far): newest first, each needs attention.
   */
  quarantined: DropStatus[];
  attention: string[];
}

export interface AudienceStatusEntry {
  destination: string;
  segment: string;
  audienceName: string;
  platform?: string;
  /** The audience's last sync run, from the newest run record that has it. */
  lastSync?: {
    at: string;
    status: string;
    added: number;
    removed: number;
    invalidEntries: number;
    desired: number;
    minSize: number;
    /** What the platform reported ("1,000–1,200"), and the number the charts use (its lower bound). */
    platformSize?: string;
    reportedSize?: number;
    message?: string;
    alert?: { kind: string; message: string; action: string; link?: string };
    report: string;
  };
  retired?: { at: string; policy: string };
  /** In the config but not in any stored sync run. */
  neverSynced?: boolean;
  attention: string[];
}

export interface NextRun {
  /** ISO time of the next scheduled sync, when it can be told. */
  at?: string;
  expression?: string;
  timeZone?: string;
  state?: string;
  note?: string;
}

export interface StatusReport {
  at: string;
  where:
    | { kind: 'local'; state: string; out?: string }
    | { kind: 'cloud'; stack?: string; table: string; bucket?: string };
  lists: ListStatus[];
  audiences: AudienceStatusEntry[];
  lastSync?: { at: string; finishedAt: string; done: boolean; report: string };
  nextRun: NextRun;
  /** Drops the store could not tie to a list (a bad key), quarantined in the last run. */
  unassigned: DropStatus[];
  attention: string[];
}

const stamp = (iso: string) => iso.replace(/[:.]/g, '-');
const fileOf = (source: string | undefined) =>
  (source ?? '')
    .replace(/#[^#]*$/, '')
    .split('/')
    .pop() ?? '';
export const syncReportKey = (r: Pick<SyncReport, 'startedAt'>) => `reports/sync/${stamp(r.startedAt)}.html`;

function dropOf(at: string, s: IngestRun & { reportKey?: string }): DropStatus {
  const report = s.reportKey?.replace(/\.json$/, '.html');
  if (s.status === 'quarantined')
    return { at, file: fileOf(s.object), status: 'quarantined', reason: s.reason, error: s.error, report };
  return {
    at,
    file: fileOf(s.source),
    kind: s.kind,
    status: s.status ?? 'unknown',
    rows: s.rows,
    accepted: s.accepted,
    rejected: s.rejected,
    rejections: s.rejections,
    report,
  };
}

function auditAudience(a: AudienceReport, run: SyncReport): AudienceStatusEntry {
  const alert = run.alerts.find((x) => x.destination === a.destination);
  const attention: string[] = [];
  const name = `${a.destination} "${a.audienceName}"`;
  if (alert) attention.push(`${name}: ${alert.message} — ${alertAction(alert.kind)}`);
  else if (a.status === 'failed') attention.push(`${name} failed: ${a.message ?? 'see the sync report'}`);
  else if (a.status === 'stopped' && a.errorKind !== 'throttled')
    attention.push(`${name} stopped: ${a.message ?? 'its destination failed earlier in the run'}`);
  else if (a.status === 'held') attention.push(`${name} held: ${a.message ?? 'a list is being written'}`);
  return {
    destination: a.destination,
    segment: a.segment,
    audienceName: a.audienceName,
    platform: a.platform,
    lastSync: {
      at: run.startedAt,
      status: a.status,
      added: a.added,
      removed: a.removed,
      invalidEntries: a.invalidEntries,
      desired: a.desired,
      minSize: a.minSize,
      platformSize: reportedRange(a.health),
      reportedSize: reportedSize(a.health),
      message: a.message,
      alert: alert
        ? { kind: alert.kind, message: alert.message, action: alertAction(alert.kind), link: alert.link }
        : undefined,
      report: syncReportKey(run),
    },
    attention,
  };
}

export interface StatusDeps {
  store: ContactStore;
  /** The config, when there is one: names audiences that were never synced. */
  config?: Pick<AudienceConfig, 'segments'>;
  now: Date;
  where: StatusReport['where'];
  /** When the next scheduled sync starts (cloud: from the schedule); locally nothing is scheduled. */
  nextRun?: (lastSyncAt: string | undefined) => Promise<NextRun>;
}

export async function collectStatus(deps: StatusDeps): Promise<StatusReport> {
  const { store, now } = deps;
  const [syncRuns, ingestRuns, listIds] = await Promise.all([
    store.runs('sync', 30),
    store.runs('ingest', STATUS_INGEST_RUNS),
    store.listIds(),
  ]);
  const history = syncHistory(syncRuns);
  const latest = history.at(-1);
  // The last run: what happened since the sync before the latest one (drops, then the latest sync).
  const cycleStart = history.at(-2)?.startedAt ?? '';

  // Lists: those the store knows, and those only a quarantine ever named.
  const drops = new Map<string, DropStatus[]>();
  const unassigned: DropStatus[] = [];
  for (const r of ingestRuns) {
    const s = r.summary as IngestRun & { reportKey?: string };
    if (!s || typeof s !== 'object') continue;
    const drop = dropOf(r.at, s);
    if (!s.list) {
      if (drop.status === 'quarantined' && r.at > cycleStart) unassigned.push(drop);
      continue;
    }
    const list = drops.get(s.list) ?? [];
    drops.set(s.list, list);
    list.push(drop);
  }
  const names = [...new Set([...listIds, ...drops.keys()])].sort();
  const lists: ListStatus[] = [];
  for (const list of names) {
    const state = await store.listState(list);
    const mine = drops.get(list) ?? [];
    const snap = state.snapshot;
    // A quarantine needs attention while no later file of its list was ingested, and through the run it was
    // part of: until a second sync after it (so a bad file dropped beside good ones is still seen).
    const replacedAt = mine.find((d) => d.status === 'ingested')?.at ?? snap?.committedAt ?? '';
    const entry: ListStatus = {
      list,
      lastDrop: mine[0],
      quarantined: mine.filter((d) => d.status === 'quarantined' && (d.at > replacedAt || d.at > cycleStart)),
      attention: [],
    };
    if (snap)
      entry.snapshot = {
        exportedAt: snap.exportedAt,
        committedAt: snap.committedAt,
        file: fileOf(snap.source),
        ...snap.counts,
      };
    if (state.applying) {
      const holder = await store.lockHolder(`ingest#${list}`);
      const running = holder !== undefined && Date.parse(holder.until) > now.getTime();
      const file = fileOf(state.applying.source);
      entry.applying = { file, startedAt: state.applying.startedAt, running };
      entry.attention.push(
        running
          ? `list ${list} is being written by an ingest of ${file} (since ${state.applying.startedAt}); its audiences wait until it commits`
          : `the ingest of ${file} into list ${list} stopped midway at ${state.applying.startedAt}; its audiences are held until the file is ingested again (drop it again if it landed in the dead-letter queue)`,
      );
    }
    for (const q of entry.quarantined)
      entry.attention.push(`list ${list}: ${q.file} was quarantined at ${q.at} — ${q.error ?? q.reason}`);
    lists.push(entry);
  }

  // Audiences: the newest run record of each, then the audience states and the config for the others.
  const audiences = new Map<string, AudienceStatusEntry>();
  for (const run of [...history].reverse())
    for (const a of run.audiences)
      if (!audiences.has(audienceKey(a))) audiences.set(audienceKey(a), auditAudience(a, run));
  for await (const st of store.audienceStates()) {
    if (!st.destination || !st.segment) continue;
    const key = `${st.destination}#${st.segment}`;
    const known = audiences.get(key);
    if (known) {
      if (st.retired) known.retired = st.retired;
      continue;
    }
    audiences.set(key, {
      destination: st.destination,
      segment: st.segment,
      audienceName: st.audienceName,
      retired: st.retired,
      attention: [],
    });
  }
  for (const seg of deps.config?.segments ?? [])
    for (const d of seg.destinations) {
      const key = `${d.destination}#${seg.id}`;
      if (!audiences.has(key))
        audiences.set(key, {
          destination: d.destination,
          segment: seg.id,
          audienceName: d.audienceName,
          neverSynced: true,
          attention: [],
        });
    }

  const nextRun = deps.nextRun ? await deps.nextRun(latest?.startedAt) : { note: 'nothing is scheduled' };
  const attention = [
    ...lists.flatMap((l) => l.attention),
    ...unassigned.map(
      (d) =>
        `${d.file} was quarantined at ${d.at} without a list (${d.error ?? d.reason}); drop it under incoming/<list-id>/`,
    ),
    ...[...audiences.values()].flatMap((a) => a.attention),
  ];
  return {
    at: now.toISOString(),
    where: deps.where,
    lists,
    audiences: [...audiences.values()].sort(
      (a, b) => a.destination.localeCompare(b.destination) || a.segment.localeCompare(b.segment),
    ),
    lastSync: latest
      ? { at: latest.startedAt, finishedAt: latest.finishedAt, done: latest.done, report: syncReportKey(latest) }
      : undefined,
    nextRun,
    unassigned,
    attention,
  };
}
