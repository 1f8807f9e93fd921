/**
 * From framed records to row events: cell splitting, blank records, the column-count rule. Pure (no I/O, no Node
 * APIs), so it runs wherever the records go: in the reading thread for `entry.rows` / `entry.batches()`, or in a
 * worker thread for `entry.chunks()` (see pool.ts).
 */
import type { FramedBatch } from './framer';
import type { Delimiter, RowError, RowEvent } from './types';

const QUOTE = 0x22;

/**
 * Splits one framed record (no newline outside quotes) into cells with csv-parse's rules under `relax_quotes`:
 * a quote opens a quoted field only as the first character of the field; inside it `""` is one quote and a quote
 * followed by the delimiter (or the end of the record) closes it; a quote followed by anything else closes it
 * "dirtily" and the cell keeps both quotes and what follows up to the delimiter (`"ab"c` → `"ab"c`, content
 * unescaped). Quotes inside unquoted cells are literal. A quote left open runs to the end of the record.
 */
export function splitRecord(s: string, delimiter: string): string[] {
  if (s.indexOf('"') === -1) return s.split(delimiter);
  const d = delimiter.charCodeAt(0);
  const n = s.length;
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (i < n && s.charCodeAt(i) === QUOTE) {
      // Quoted cell.
      let j = i + 1;
      let content = '';
      for (;;) {
        const q = s.indexOf('"', j);
        if (q === -1) {
          cells.push(content + s.slice(j));
          return cells;
        }
        if (q + 1 < n && s.charCodeAt(q + 1) === QUOTE) {
          content += s.slice(j, q + 1);
          j = q + 2;
          continue;
        }
        content += s.slice(j, q);
        if (q + 1 >= n) {
          cells.push(content);
          return cells;
        }
        if (s.charCodeAt(q + 1) === d) {
          cells.push(content);
          i = q + 2;
          break;
        }
        // Closed dirtily: the rest of the cell is literal.
        let e = s.indexOf(delimiter, q + 1);
        if (e === -1) e = n;
        cells.push(`"${content}${s.slice(q, e)}`);
        if (e === n) return cells;
        i = e + 1;
        break;
      }
      continue;
    }
    const e = s.indexOf(delimiter, i);
    if (e === -1) {
      cells.push(s.slice(i));
      return cells;
    }
    cells.push(s.slice(i, e));
    i = e + 1;
    if (i === n) {
      cells.push('');
      return cells;
    }
  }
}

/** True when every cell from `from` on is empty or whitespace. */
export function isBlank(cells: readonly string[], from = 0): boolean {
  for (let i = from; i < cells.length; i++) {
    if ((cells[i] as string).trim() !== '') return false;
  }
  return true;
}

/** What cell splitting needs to know about an entry. */
export interface RecordShape {
  delimiter: Delimiter;
  /** Header fields: rows are cut or rejected to this width. */
  fields: number;
  /**
   * Replace lone surrogates with U+FFFD (UTF-16 entries: a broken surrogate pair must not reach a hash as an
   * unpaired code unit; this is what writing the record out as UTF-8 did).
   */
  wellFormed: boolean;
}

/** Events of records plus how many records turned out blank (skipped silently, counted in `stats.blankRecords`). */
export interface SplitResult {
  events: RowEvent[];
  rows: number;
  errors: number;
  blank: number;
}

type WellFormedString = string & { toWellFormed(): string };

/**
 * One record to an event: split, blank check (returns `undefined`), column-count rule: extra fields are tolerated
 * only when empty (Excel's trailing delimiters); any other count is `column_count_mismatch`.
 */
export function recordEvent(text: string, line: number, shape: RecordShape): RowEvent | undefined {
  const cells = splitRecord(shape.wellFormed ? (text as WellFormedString).toWellFormed() : text, shape.delimiter);
  if (isBlank(cells)) return undefined;
  const n = cells.length;
  const want = shape.fields;
  if (n !== want) {
    if (n > want && isBlank(cells, want)) {
      cells.length = want;
    } else {
      return {
        kind: 'error',
        line,
        reason: 'column_count_mismatch',
        detail: `expected ${want} fields, found ${n}`,
      };
    }
  }
  return { kind: 'row', line, cells };
}

/** Turns a framer batch into row events in file order (errors merged in by position). */
export function batchEvents(batch: FramedBatch, shape: RecordShape): SplitResult {
  const { texts, lines, errors, errorAt } = batch;
  const events: RowEvent[] = [];
  let rows = 0;
  let errs = 0;
  let blank = 0;
  let e = 0;
  for (let k = 0; k < texts.length; k++) {
    while (e < errors.length && (errorAt[e] as number) <= k) {
      events.push(errors[e++] as RowError);
      errs++;
    }
    const ev = recordEvent(texts[k] as string, lines[k] as number, shape);
    if (ev === undefined) blank++;
    else {
      events.push(ev);
      if (ev.kind === 'row') rows++;
      else errs++;
    }
  }
  while (e < errors.length) {
    events.push(errors[e++] as RowError);
    errs++;
  }
  return { events, rows, errors: errs, blank };
}

/**
 * A run of consecutive records of one entry, not yet split into cells: the unit handed to a worker thread.
 * Structured-clone friendly (one string, two typed arrays, a few plain objects), and self-contained: `splitChunk`
 * needs nothing else to produce exactly the events `entry.rows` would have produced for these records.
 */
export interface RecordChunk {
  /** 0-based position of this chunk in its entry. */
  seq: number;
  /** Every record's text, concatenated; record k is `text.slice(k === 0 ? 0 : ends[k - 1], ends[k])`. */
  text: string;
  ends: Uint32Array;
  /** First physical line of each record. */
  lines: Uint32Array;
  /** Framing errors among these records, in line order; `errorAt[k]` records come before `errors[k]`. */
  errors: RowError[];
  errorAt: number[];
  shape: RecordShape;
}

/** Packs framer batches (in order) into one {@link RecordChunk}. */
export function packChunk(seq: number, batches: readonly FramedBatch[], shape: RecordShape): RecordChunk {
  let count = 0;
  for (const b of batches) count += b.texts.length;
  const ends = new Uint32Array(count);
  const lines = new Uint32Array(count);
  const errors: RowError[] = [];
  const errorAt: number[] = [];
  const parts: string[] = [];
  let k = 0;
  let offset = 0;
  for (const b of batches) {
    for (let e = 0; e < b.errors.length; e++) {
      errors.push(b.errors[e] as RowError);
      errorAt.push(k + (b.errorAt[e] as number));
    }
    for (let r = 0; r < b.texts.length; r++) {
      const t = b.texts[r] as string;
      parts.push(t);
      offset += t.length;
      ends[k] = offset;
      lines[k] = b.lines[r] as number;
      k++;
    }
  }
  return { seq, text: parts.join(''), ends, lines, errors, errorAt, shape };
}

/**
 * Hands the events of a {@link RecordChunk} to `fn` one at a time, in order, splitting each record only when its
 * turn comes (nothing of the chunk is materialized: what `fn` does not keep is garbage before the next record).
 * Same events and counts as {@link splitChunk}.
 */
export function forEachEvent(chunk: RecordChunk, fn: (ev: RowEvent) => void): Omit<SplitResult, 'events'> {
  const { text, ends, lines, errors, errorAt, shape } = chunk;
  let rows = 0;
  let errs = 0;
  let blank = 0;
  let e = 0;
  let start = 0;
  for (let k = 0; k < ends.length; k++) {
    while (e < errors.length && (errorAt[e] as number) <= k) {
      fn(errors[e++] as RowError);
      errs++;
    }
    const end = ends[k] as number;
    const ev = recordEvent(text.slice(start, end), lines[k] as number, shape);
    start = end;
    if (ev === undefined) blank++;
    else {
      if (ev.kind === 'row') rows++;
      else errs++;
      fn(ev);
    }
  }
  while (e < errors.length) {
    fn(errors[e++] as RowError);
    errs++;
  }
  return { rows, errors: errs, blank };
}

/** Splits a {@link RecordChunk} into the row events (and counts) `entry.rows` would have yielded for it. */
export function splitChunk(chunk: RecordChunk): SplitResult {
  const { text, ends, lines } = chunk;
  const texts: string[] = new Array(ends.length);
  let start = 0;
  for (let k = 0; k < ends.length; k++) {
    const end = ends[k] as number;
    texts[k] = text.slice(start, end);
    start = end;
  }
  return batchEvents({ texts, lines: Array.from(lines), errors: chunk.errors, errorAt: chunk.errorAt }, chunk.shape);
}
