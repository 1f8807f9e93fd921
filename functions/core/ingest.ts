/**
 * The ingest use case: one dropped export (already split into entries of header + rows by the reader) becomes
 * pseudonymous contacts of one list, and a report that accounts for every row.
 *
 * Drop kinds, by place in the bucket:
 * - `incoming/<list>/…`          snapshot: the whole list; members missing from it leave the list
 * - `incoming/<list>/delta/…`    upserts only
 * - `incoming/<list>/suppress/…` people to mark unsubscribed in the list
 */

import { CompactIndex, hex32 } from './compact-index';
import type { AudienceConfig } from './config';
import { createRowMapper, DetectionError, detectFormat, type FormatId } from './formats';
import {
  CONSENT_STATES,
  type ConsentState,
  type ContactRecord,
  META_KEYS,
  type MetaKey,
  type RejectionReason,
} from './model';
import { contactId, countryIso2, googleKeys, isPlausibleEmail, metaKeys, sha256Hex, zoneOf } from './normalize';
import type { ContactStore, ListSnapshot, Logger } from './ports';

export type DropKind = 'snapshot' | 'delta' | 'suppress';

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
  error?: string;
}

export type IngestStatus = 'ingested' | 'validated' | 'stale' | 'already_ingested';

export interface IngestReport {
  list: string;
  kind: DropKind;
  source: string;
  status: IngestStatus;
  /** Human-readable reason for stale/already-ingested outcomes. */
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
  /** Accepted rows by consent state. */
  consent: Record<ConsentState, number>;
  /** Accepted rows held back by their consent state (unsubscribed, cleaned, pending, never subscribed, deletion requested); never-subscribed and pending people are uploaded only where the zone policy is `not_opted_out`. */
  suppressed: Record<string, number>;
  /** Share of accepted rows carrying each Meta match key (0–1). */
  keyCoverage: Partial<Record<MetaKey, number>>;
  written: number;
  unchanged: number;
  /** Contacts kept because a newer export had already written them. */
  staleRows: number;
  /** Members of the list that this snapshot no longer contains (they left). */
  removed: number;
  /** Contacts marked unsubscribed by a suppress drop. */
  markedUnsubscribed: number;
  /** First rejected rows (the full list goes to the rejected-rows CSV). */
  rejectedRows: RejectedRow[];
  rejectedRowsTruncated: boolean;
}

export interface IngestDeps {
  store?: ContactStore;
  logger: Logger;
  now: () => Date;
  /** How long to wait for another ingest of the same list (default 10 min). */
  lockWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const WRITE_BATCH = 500;
const SAMPLE_ROWS = 200;
const MAX_REJECTED_ROWS_IN_MEMORY = 200_000;
const NOT_UPLOADABLE: ConsentState[] = ['unsubscribed', 'cleaned', 'pending', 'never_subscribed', 'deletion_requested'];

/** Content fingerprint: a changed hash means the stored contact must be rewritten. */
function contentHash(r: Omit<ContactRecord, 'seenAt' | 'source'>): string {
  return sha256Hex(JSON.stringify([r.keys, r.consent, r.explicitOptIn === true, r.attrs]));
}

function emptyReport(input: IngestInput, status: IngestStatus): IngestReport {
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
    consent: Object.fromEntries(CONSENT_STATES.map((c) => [c, 0])) as Record<ConsentState, number>,
    suppressed: {},
    keyCoverage: {},
    written: 0,
    unchanged: 0,
    staleRows: 0,
    removed: 0,
    markedUnsubscribed: 0,
    rejectedRows: [],
    rejectedRowsTruncated: false,
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
  const listCfg = config.lists[input.list] ?? {};
  const defaultCountry = listCfg.defaultCountry ?? config.defaultCountry;

  if (!store) return ingestLocked(input, config, deps, defaultCountry);
  // One ingest per list at a time: with the list's lock held, ordering checks at the start stay true to the end, so
  // contacts can be written in cheap unconditional batches. A second drop for the same list waits its turn.
  const owner = `${input.source}@${deps.now().toISOString()}`;
  const waitUntil = deps.now().getTime() + (deps.lockWaitMs ?? 10 * 60_000);
  for (;;) {
    const now = deps.now();
    if (await store.acquireLock(`ingest#${input.list}`, owner, now, new Date(now.getTime() + 20 * 60_000))) break;
    if (now.getTime() > waitUntil)
      throw new Error(`list ${input.list} is being ingested by another drop for too long; this drop will be retried`);
    await (deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms))))(2_000);
  }
  try {
    return await ingestLocked(input, config, deps, defaultCountry);
  } finally {
    await store.releaseLock(`ingest#${input.list}`, owner);
  }
}

async function ingestLocked(
  input: IngestInput,
  config: AudienceConfig,
  deps: IngestDeps,
  defaultCountry: string | undefined,
): Promise<IngestReport> {
  const { store, logger } = deps;
  const listCfg = config.lists[input.list] ?? {};
  if (store) {
    const current = await store.getSnapshot(input.list);
    if (current?.source === input.source) {
      const r = emptyReport(input, 'already_ingested');
      r.message = `this object was already ingested at ${current.committedAt}; nothing changed`;
      return r;
    }
    if (current && current.exportedAt > input.exportedAt) {
      const r = emptyReport(input, 'stale');
      r.message = `export time ${input.exportedAt} (from ${input.exportedAtFrom}) is older than the list's current snapshot (${current.exportedAt}); ignored so an old export never wins`;
      return r;
    }
  }

  const report = emptyReport(input, store ? 'ingested' : 'validated');
  const keyCounts: Partial<Record<MetaKey, number>> = {};
  const existing = new CompactIndex();
  // Contacts a newer drop (a delta after this export) already wrote: an older export never overwrites them.
  const newer = new CompactIndex(16);
  if (store && input.kind !== 'suppress') {
    for await (const fp of store.fingerprints(input.list)) {
      existing.add(fp.cid, hex32(fp.h));
      if (fp.seenAt > input.exportedAt) newer.add(fp.cid);
    }
  }
  const suppressed = store ? await store.suppressed() : new Set<string>();
  const seen = new CompactIndex();
  const pending: ContactRecord[] = [];
  const pendingHashes: string[] = [];
  const suppressCids: string[] = [];

  const reject = (entry: string, line: number, reason: RejectionReason | string, column?: string) => {
    report.rejected++;
    report.rejections[reason] = (report.rejections[reason] ?? 0) + 1;
    if (report.rejectedRows.length < MAX_REJECTED_ROWS_IN_MEMORY)
      report.rejectedRows.push({ entry, line, reason, column });
    else report.rejectedRowsTruncated = true;
  };
  const flush = async () => {
    if (!store || pending.length === 0) return;
    report.written += await store.putContacts(pending.splice(0), pendingHashes.splice(0));
  };

  let readable = 0;
  for await (const source of input.entries) {
    const entry = headerless(source);
    const er: EntryReport = { name: entry.name, encoding: entry.encoding, delimiter: entry.delimiter, rows: 0 };
    report.entries.push(er);
    const iterator = entry.rows[Symbol.asyncIterator]();
    // Buffer a sample so detection and the day/month hint can look at values, then replay it.
    const sample: RowEvent[] = [];
    for (let i = 0; i < SAMPLE_ROWS; i++) {
      const n = await iterator.next();
      if (n.done) break;
      sample.push(n.value);
    }
    const sampleCells = sample.filter((e) => e.kind === 'row').map((e) => (e as { cells: string[] }).cells);
    let mapRow: ReturnType<typeof createRowMapper> | undefined;
    // Header name of the column a field was read from, so a rejection can name the column (never the value).
    let headerOf: (field: string) => string | undefined = () => undefined;
    try {
      const mapping = detectFormat(entry.header, sampleCells, {
        format: listCfg.format as FormatId | undefined,
        columns: listCfg.columns,
      });
      er.format = mapping.format;
      headerOf = (field) =>
        (mapping.fields as Record<string, Array<{ header?: string }> | undefined>)[field]?.[0]?.header;
      er.confidence = mapping.confidence;
      report.format ??= mapping.format;
      mapRow = createRowMapper(mapping, {
        entryName: entry.name,
        now: deps.now().toISOString(),
        dayFirst: listCfg.dayFirst,
        sample: sampleCells,
      });
      readable++;
    } catch (e) {
      if (!(e instanceof DetectionError)) throw e;
      er.error = e.message;
      logger.warn('format_not_detected', { list: input.list, entry: entry.name, error: e.message });
    }

    const handle = async (ev: RowEvent) => {
      report.rows++;
      er.rows++;
      if (ev.kind === 'error') return reject(entry.name, ev.line, ev.reason);
      if (!mapRow) return reject(entry.name, ev.line, 'unrecognized_format');
      const mapped = mapRow(ev.cells);
      if ('reject' in mapped) return reject(entry.name, ev.line, mapped.reject, mapped.column);
      if (mapped.skip) return reject(entry.name, ev.line, mapped.skip);
      const { keys, problems } = metaKeys(mapped.raw, { defaultCountry });
      const cid = contactId(keys);
      if (!cid) {
        // Only an unusable identifier explains a missing contact id; a bad name or zip does not.
        const p = problems.find((x) => x.field === 'email' || x.field === 'phone' || x.field === 'externalId');
        return reject(entry.name, ev.line, p?.reason ?? 'missing_identifier', p ? headerOf(p.field) : undefined);
      }
      if (!seen.add(cid)) return reject(entry.name, ev.line, 'duplicate_in_file');
      if (
        suppressed.has(cid) ||
        (keys.EMAIL && suppressed.has(keys.EMAIL)) ||
        (keys.PHONE && suppressed.has(keys.PHONE))
      )
        return reject(entry.name, ev.line, 'erased');
      report.accepted++;
      for (const k of META_KEYS) if (keys[k]) keyCounts[k] = (keyCounts[k] ?? 0) + 1;
      report.consent[mapped.consent]++;
      if (NOT_UPLOADABLE.includes(mapped.consent))
        report.suppressed[mapped.consent] = (report.suppressed[mapped.consent] ?? 0) + 1;
      // Validation builds nothing it would not store: memory stays flat however long the file is.
      if (!store) return;
      if (input.kind === 'suppress') {
        suppressCids.push(cid);
        return;
      }
      const attrs = { ...mapped.attrs };
      attrs.country ??= countryIso2(mapped.raw.country);
      // No country in the row: the list's default country decides the zone (an EEA list needs opt-in), though it
      // is never sent to a platform as the person's country.
      attrs.zone = zoneOf(attrs.country ?? defaultCountry, attrs.region);
      const record: ContactRecord = {
        cid,
        list: input.list,
        keys: { meta: keys, google: googleKeys(mapped.raw, { defaultCountry }).keys },
        consent: mapped.consent,
        explicitOptIn: mapped.explicitOptIn || undefined,
        attrs: dropUndefined(attrs),
        seenAt: input.exportedAt,
        source: input.source,
      };
      if (newer.has(cid)) {
        report.staleRows++;
        return;
      }
      const h = contentHash(record);
      if (existing.get(cid) === hex32(h)) {
        report.unchanged++;
        return;
      }
      pending.push(record);
      pendingHashes.push(h);
      if (pending.length >= WRITE_BATCH) await flush();
    };
    for (const ev of sample) await handle(ev);
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) await handle(n.value);
  }
  await flush();

  if (report.entries.length && readable === 0) {
    throw new DetectionError(
      report.entries.map((e) => `${e.name}: ${e.error ?? 'unreadable'}`).join('; '),
      report.entries.flatMap(() => []),
    );
  }
  for (const k of META_KEYS) {
    if (keyCounts[k]) report.keyCoverage[k] = round(keyCounts[k]! / Math.max(1, report.accepted));
  }

  if (store && input.kind === 'suppress') {
    report.markedUnsubscribed = await store.setConsent(input.list, suppressCids, 'unsubscribed', input.exportedAt);
  }
  if (store && input.kind === 'snapshot') {
    // Members the snapshot no longer contains have left the list. Removed before the snapshot is committed, so a
    // failure here is retried with the file (a committed snapshot would be skipped as already ingested).
    const unreadable = report.entries.filter((e) => e.error).map((e) => e.name);
    if (unreadable.length) {
      // A snapshot missing one of its files (say, the unsubscribed CSV of a Mailchimp zip) must not make the people
      // in it leave the list: their stored opt-outs would go with them.
      report.message = `${unreadable.join(', ')} could not be read, so nobody was removed from the list by this snapshot`;
    } else {
      const gone: string[] = [];
      for await (const fp of store.fingerprints(input.list)) if (!seen.has(fp.cid)) gone.push(fp.cid);
      report.removed = await store.removeContacts(input.list, gone, input.exportedAt);
    }
    const outcome = await store.commitSnapshot({
      list: input.list,
      source: input.source,
      exportedAt: input.exportedAt,
      exportedAtFrom: input.exportedAtFrom,
      committedAt: deps.now().toISOString(),
      counts: { rows: report.rows, accepted: report.accepted, rejected: report.rejected, removed: report.removed },
    });
    if (outcome === 'stale') {
      // Cannot happen while the list's ingest lock is held; reported rather than assumed.
      report.status = 'stale';
      report.message = 'a newer snapshot of this list was committed meanwhile; this one was not recorded as current';
    }
  }
  if (report.rows !== report.accepted + report.rejected) {
    // An accounting bug must never pass silently.
    throw new Error(
      `row accounting broken: rows ${report.rows} != accepted ${report.accepted} + rejected ${report.rejected}`,
    );
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

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * A file without a header row: its first line holds a person (an email among the "header" cells). Columns become
 * `column 1…N` and the first line is replayed as data, so nobody is lost and no value is ever used as a column name.
 */
function headerless(entry: SourceEntry): SourceEntry {
  if (!entry.header.some((h) => isPlausibleEmail(h.trim()))) return entry;
  const first: RowEvent = { kind: 'row', line: entry.headerLine, cells: entry.header };
  const rest = entry.rows;
  return {
    ...entry,
    header: entry.header.map((_, i) => `column ${i + 1}`),
    rows: (async function* () {
      yield first;
      yield* rest;
    })(),
  };
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
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

/** Where a key in the bucket says a drop belongs: `incoming/<list>/[delta|suppress/]<file>`. */
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
  const sub = parts[2];
  if ((sub === 'delta' || sub === 'suppress') && parts.length >= 4)
    return { list, kind: sub, file: parts.slice(3).join('/') };
  return { list, kind: 'snapshot', file: parts.slice(2).join('/') };
}
