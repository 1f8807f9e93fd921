/**
 * `validate` rebuilt on the batched reading API and the worker pool, with today's pure mappers: what the bench
 * measures on one and on two cores, and what the golden test holds to the product's results.
 *
 * The reading thread frames the file into record chunks (entry.chunks()), takes a sample for detection, and merges
 * the workers' verdicts in file order, doing the one thing that needs every earlier row: the duplicate check, in a
 * CompactIndex. Workers (bench/validate-processor.ts) split, map, normalize and hash. With `threads: 0` the same
 * processor runs inline. Same rules as `ingestExport` without a store, row for row; same report counts.
 */

import { CompactIndex } from '../functions/core/compact-index';
import type { AudienceConfig } from '../functions/core/config';
import { type ColumnMapping, DetectionError, detectFormat, type FormatId } from '../functions/core/formats';
import { CONSENT_STATES, type ConsentState, META_KEYS, type MetaKey } from '../functions/core/model';
import { isPlausibleEmail } from '../functions/core/normalize';
import { type Entry, type RecordChunk, type RowEvent, splitChunk } from '../functions/reading';
import type { RecordPool } from '../functions/reading/pool';
import { type ValidateJob, type Verdicts, verdictsOf } from './validate-processor';

export const VALIDATE_PROCESSOR = new URL('./validate-processor.ts', import.meta.url);

const SAMPLE_ROWS = 200;
const MAX_REJECTED_ROWS_IN_MEMORY = 200_000;
const NOT_UPLOADABLE: ConsentState[] = ['unsubscribed', 'cleaned', 'pending', 'never_subscribed', 'deletion_requested'];

export interface ValidateReport {
  format?: string;
  entries: Array<{ name: string; format?: string; error?: string; rows: number }>;
  rows: number;
  accepted: number;
  rejected: number;
  rejections: Record<string, number>;
  consent: Record<ConsentState, number>;
  suppressed: Record<string, number>;
  keyCoverage: Partial<Record<MetaKey, number>>;
  rejectedRows: Array<{ entry: string; line: number; reason: string; column?: string }>;
  rejectedRowsTruncated: boolean;
  /** Bytes held by the duplicate index at the end. */
  duplicateIndexBytes: number;
}

export interface ValidateOptions {
  pool: RecordPool;
  config: AudienceConfig;
  list?: string;
  now: Date;
  /** Records per chunk (default: entry.chunks()'s). */
  chunkRecords?: number;
  /** Return the `KEY:value` lines of every accepted contact (golden test). */
  collectKeys?: boolean;
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

export async function validateEntries(
  entries: AsyncIterable<Entry>,
  options: ValidateOptions,
): Promise<{ report: ValidateReport; keyLines?: string[] }> {
  const listCfg = options.config.lists[options.list ?? 'validate'] ?? {};
  const defaultCountry = listCfg.defaultCountry ?? options.config.defaultCountry;
  const report: ValidateReport = {
    entries: [],
    rows: 0,
    accepted: 0,
    rejected: 0,
    rejections: {},
    consent: Object.fromEntries(CONSENT_STATES.map((c) => [c, 0])) as Record<ConsentState, number>,
    suppressed: {},
    keyCoverage: {},
    rejectedRows: [],
    rejectedRowsTruncated: false,
    duplicateIndexBytes: 0,
  };
  const keyCounts = new Array<number>(META_KEYS.length).fill(0);
  const consentCounts = new Array<number>(CONSENT_STATES.length).fill(0);
  const notUploadable = CONSENT_STATES.map((c) => NOT_UPLOADABLE.includes(c));
  const keyLines: string[] | undefined = options.collectKeys ? [] : undefined;
  const seen = new CompactIndex();
  let readable = 0;

  for await (const entry of entries) {
    const er: ValidateReport['entries'][number] = { name: entry.name, rows: 0 };
    report.entries.push(er);
    const reject = (line: number, reason: string, column?: string) => {
      report.rejected++;
      report.rejections[reason] = (report.rejections[reason] ?? 0) + 1;
      if (report.rejectedRows.length < MAX_REJECTED_ROWS_IN_MEMORY)
        report.rejectedRows.push({ entry: entry.name, line, reason, column });
      else report.rejectedRowsTruncated = true;
    };
    const merge = (v: Verdicts) => {
      report.rows += v.rows;
      er.rows += v.rows;
      let i = 0;
      let j = 0;
      while (i < v.rejected.length || j < v.cids.length) {
        const r = v.rejected[i];
        if (r !== undefined && (j >= v.cids.length || r.line < (v.lines[j] as number))) {
          reject(r.line, r.reason, r.column);
          i++;
          continue;
        }
        if (!seen.add(v.cids[j] as string)) reject(v.lines[j] as number, 'duplicate_in_file');
        else {
          report.accepted++;
          for (let mask = v.keyMask[j] as number, k = 0; mask !== 0; mask >>>= 1, k++)
            if (mask & 1) keyCounts[k] = (keyCounts[k] as number) + 1;
          const c = v.consent[j] as number;
          consentCounts[c] = (consentCounts[c] as number) + 1;
          if (keyLines && v.keyLines) for (const l of v.keyLines[j] as string[]) keyLines.push(l);
        }
        j++;
      }
    };

    // A header-less file: its "header" is a person, replayed as the first row (as ingestExport does).
    let header = entry.header;
    let first: RowEvent | undefined;
    if (header.some((h) => isPlausibleEmail(h.trim()))) {
      first = { kind: 'row', line: entry.headerLine, cells: header };
      header = header.map((_, i) => `column ${i + 1}`);
    }

    // The sample for detection: the first 200 events, split here from the first chunk(s).
    const source = entry.chunks({ records: options.chunkRecords })[Symbol.asyncIterator]();
    const buffered: RecordChunk[] = [];
    const sample: RowEvent[] = first ? [first] : [];
    while (sample.length < SAMPLE_ROWS) {
      const n = await source.next();
      if (n.done) break;
      buffered.push(n.value);
      for (const ev of splitChunk(n.value).events) if (sample.length < SAMPLE_ROWS) sample.push(ev);
    }
    const sampleCells = sample.flatMap((e) => (e.kind === 'row' ? [e.cells] : []));
    let mapping: ColumnMapping | undefined;
    try {
      const d = detectFormat(header, sampleCells, {
        format: listCfg.format as FormatId | undefined,
        columns: listCfg.columns,
      });
      mapping = { format: d.format, header: d.header, fields: d.fields };
      er.format = d.format;
      report.format ??= d.format;
      readable++;
    } catch (e) {
      if (!(e instanceof DetectionError)) throw e;
      er.error = e.message;
    }
    const job: ValidateJob = {
      mapping,
      context: {
        entryName: entry.name,
        now: options.now.toISOString(),
        dayFirst: listCfg.dayFirst,
        sample: sampleCells,
      },
      defaultCountry,
      collectKeys: options.collectKeys,
    };
    if (first) merge(verdictsOf(job)([first]));
    const all = (async function* () {
      yield* buffered;
      for (let n = await source.next(); !n.done; n = await source.next()) yield n.value;
    })();
    for await (const v of options.pool.map<ValidateJob, Verdicts>(all, job)) merge(v);
  }

  if (report.entries.length && readable === 0) {
    throw new DetectionError(report.entries.map((e) => `${e.name}: ${e.error ?? 'unreadable'}`).join('; '), []);
  }
  CONSENT_STATES.forEach((c, i) => {
    const n = consentCounts[i] as number;
    report.consent[c] += n;
    if (n > 0 && notUploadable[i]) report.suppressed[c] = (report.suppressed[c] ?? 0) + n;
  });
  META_KEYS.forEach((k, i) => {
    if (keyCounts[i]) report.keyCoverage[k] = round((keyCounts[i] as number) / Math.max(1, report.accepted));
  });
  if (report.rows !== report.accepted + report.rejected) throw new Error('row accounting broken');
  report.duplicateIndexBytes = seen.bytes;
  return { report, keyLines };
}
