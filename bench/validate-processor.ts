/**
 * The validate pipeline's per-row work as a pure, serializable chunk processor (see functions/reading/pool.ts): split
 * a record chunk, map every row with the file's row mapper (compiled once per file per thread), normalize and hash
 * the Meta keys, and return compact verdicts. Only the duplicate check — which needs every earlier row of the file —
 * is left to the thread that merges the chunks in order (validate-pipeline.ts). The rules are those of
 * `ingestExport` without a store (functions/core/ingest.ts), row for row.
 */
import { type ColumnMapping, createRowMapper, type RowContext } from '../functions/core/formats';
import { CONSENT_STATES, type ConsentState, META_KEYS, type MetaKey } from '../functions/core/model';
import { contactId, metaKeys } from '../functions/core/normalize';
import { forEachEvent, type RecordChunk, type RowEvent } from '../functions/reading';
import type { ChunkProcessor } from '../functions/reading/pool';

/** What every thread needs to process the rows of one entry (structured-clone friendly). */
export interface ValidateJob {
  /** Undefined when the entry's format was not detected: every row is then `unrecognized_format`. */
  mapping?: ColumnMapping;
  context: RowContext;
  defaultCountry?: string;
  /** Also return each candidate's Meta keys as `KEY:value` lines (the golden test's digest). */
  collectKeys?: boolean;
}

/** Verdicts of a run of rows, in line order. */
export interface Verdicts {
  rows: number;
  blank: number;
  /** Rows rejected without the duplicate check, in line order. */
  rejected: Array<{ line: number; reason: string; column?: string }>;
  /** Rows with a contact id: accepted unless an earlier row of the file had the same id. In line order. */
  cids: string[];
  lines: number[];
  /** Index into CONSENT_STATES. */
  consent: number[];
  /** Bit k set: the row carries META_KEYS[k]. */
  keyMask: number[];
  keyLines?: string[][];
}

const CONSENT_INDEX = new Map<ConsentState, number>(CONSENT_STATES.map((c, i) => [c, i]));
const KEY_BIT: Record<string, number> = Object.fromEntries(META_KEYS.map((k, i) => [k, 1 << i]));

/** The per-row work for one job (pure): `begin()` a run of rows, `row(ev)` each of them, in order. */
export function rowVerdicts(job: ValidateJob): { begin(): Verdicts; row(ev: RowEvent): void } {
  const mapRow = job.mapping ? createRowMapper(job.mapping, job.context) : undefined;
  const fields = (job.mapping?.fields ?? {}) as Record<string, Array<{ header?: string }> | undefined>;
  const headerOf = (field: string) => fields[field]?.[0]?.header;
  const options = { defaultCountry: job.defaultCountry };
  let v: Verdicts = { rows: 0, blank: 0, rejected: [], cids: [], lines: [], consent: [], keyMask: [] };
  const reject = (line: number, reason: string, column?: string) => {
    v.rejected.push(column === undefined ? { line, reason } : { line, reason, column });
  };
  return {
    begin() {
      v = { rows: 0, blank: 0, rejected: [], cids: [], lines: [], consent: [], keyMask: [] };
      if (job.collectKeys) v.keyLines = [];
      return v;
    },
    row(ev) {
      v.rows++;
      if (ev.kind === 'error') return reject(ev.line, ev.reason);
      if (!mapRow) return reject(ev.line, 'unrecognized_format');
      const mapped = mapRow(ev.cells);
      if ('reject' in mapped) return reject(ev.line, mapped.reject, mapped.column);
      if (mapped.skip) return reject(ev.line, mapped.skip);
      const { keys, problems } = metaKeys(mapped.raw, options);
      const cid = contactId(keys);
      if (!cid) {
        const p = problems.find((x) => x.field === 'email' || x.field === 'phone' || x.field === 'externalId');
        return reject(ev.line, p?.reason ?? 'missing_identifier', p ? headerOf(p.field) : undefined);
      }
      // Which keys the row carries (truthy, as ingestExport counts coverage), one bit per META_KEYS position.
      let mask = 0;
      for (const k in keys) if (keys[k as MetaKey]) mask |= KEY_BIT[k] ?? 0;
      v.cids.push(cid);
      v.lines.push(ev.line);
      v.consent.push(CONSENT_INDEX.get(mapped.consent) ?? 0);
      v.keyMask.push(mask);
      if (v.keyLines) {
        const lines = [`CID:${cid}`];
        for (const k of META_KEYS) if (keys[k] !== undefined) lines.push(`${k}:${keys[k]}`);
        v.keyLines.push(lines);
      }
    },
  };
}

/** Verdicts of a list of events (the header-less first row, tests). */
export function verdictsOf(job: ValidateJob): (events: readonly RowEvent[]) => Verdicts {
  const r = rowVerdicts(job);
  return (events) => {
    const v = r.begin();
    for (const ev of events) r.row(ev);
    return v;
  };
}

export const processor: ChunkProcessor<ValidateJob, Verdicts> = {
  init(job) {
    const r = rowVerdicts(job);
    return (chunk: RecordChunk) => {
      const v = r.begin();
      v.blank = forEachEvent(chunk, r.row).blank;
      return v;
    };
  },
};
