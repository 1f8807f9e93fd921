/**
 * Byte ranges of a big export, cut on record boundaries, so parallel workers can each read one range as if it were
 * its own file (the header repeated in front) and together read exactly the records the whole file holds.
 *
 * The scanner mirrors the record framer's rules (framer.ts) on bytes: a quote at a field start opens a quoted field,
 * `""` inside one is a quote, CRLF / lone CR / LF end a line, a quoted field spanning lines that closes dirtily, leaves
 * the wrong field count, stays open past `maxRecordLines` or reaches the end of the file costs only its first line and
 * the lines after it are framed again. Every place the framer starts a fresh record is a place a chunk may start.
 *
 * Only plain UTF-8 (with or without BOM) and Windows-1252 files are split: in both, the bytes of `"`, CR, LF and the
 * delimiter are those ASCII bytes and nothing else, so byte boundaries are character boundaries. UTF-16 files and zips
 * are read whole by one worker (see `layoutOf`). A record longer than `maxRecordChars` bytes makes the framer's
 * decision depend on how the stream happens to be chunked, so such a file is not split either.
 */
import { Readable } from 'node:stream';
import { createTextDecoder } from './encoding';
import { readExport } from './read-export';
import type { ByteSource, Delimiter, Entry, ReadLimits, TextEncodingName } from './types';
import { resolveLimits } from './types';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** Pieces a chunk's bytes are handed to the reader in: fixed, so a chunk is sampled the same way every time. */
export const CHUNK_PIECE_BYTES = 64 * 1024;

/** What the reader found about the whole file; every chunk must be read the same way. */
export interface FileLayout {
  encoding: Extract<TextEncodingName, 'utf-8' | 'utf-8-bom' | 'windows-1252'>;
  delimiter: Delimiter;
  /** 1-based physical line of the header record. */
  headerLine: number;
  /** Header cells as the reader read them (a chunk must read the very same). */
  header: string[];
}

/** A half-open byte range `[start, end)` of the object. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ChunkPlan {
  size: number;
  bomLength: number;
  /** The header record's bytes (after the preamble) and how many physical lines it spans. */
  header: ByteRange & { lines: number };
  /** Consecutive ranges covering `[0, size)`; the first holds BOM, preamble and header. `firstLine` is 1-based. */
  chunks: Array<ByteRange & { firstLine: number }>;
}

export type SplitOutcome = { plan: ChunkPlan } | { whole: string };

export interface ScanOptions {
  delimiter: Delimiter;
  headerLine: number;
  /** Fields of the header (the framer's expected count for records spanning lines). */
  expectedFields: number;
  maxRecordChars: number;
  maxRecordLines: number;
  /** A chunk is cut at the first record start at least this many bytes after the previous cut. */
  chunkBytes: number;
  bomLength: number;
}

/** `seen`: how far the framer looked to decide (a chunk may not start before it, or its first record would differ). */
type Scan =
  | { kind: 'end'; next: number; breaks: number }
  | { kind: 'broken'; next: number; seen: number }
  | { kind: 'more' }
  | { kind: 'too_large' };

/**
 * Finds record starts in a stream of bytes, incrementally (push, then finish). Pure: no I/O.
 * Holds at most one record (or the preamble line being skipped) between pushes.
 */
export class RecordBoundaryScanner {
  private buf: Buffer = Buffer.alloc(0);
  /** Absolute offset of buf[0]. */
  private base = 0;
  /** Physical line at buf[0] (1-based). */
  private line = 1;
  private mode: 'bom' | 'preamble' | 'header' | 'data' = 'bom';
  private header?: ChunkPlan['header'];
  private readonly chunks: ChunkPlan['chunks'] = [{ start: 0, end: 0, firstLine: 1 }];
  private whole?: string;
  /** Furthest absolute offset a decision about an earlier record looked at. */
  private seenUpTo = 0;
  private readonly d: number;

  constructor(private readonly opts: ScanOptions) {
    this.d = opts.delimiter.charCodeAt(0);
    if (opts.headerLine < 1) this.whole = 'the file has no header line to repeat in front of each chunk';
  }

  push(bytes: Uint8Array): void {
    if (this.whole) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, bytes]) : Buffer.from(bytes);
    this.run(false);
  }

  finish(): SplitOutcome {
    if (!this.whole) this.run(true);
    if (this.whole) return { whole: this.whole };
    if (!this.header) return { whole: 'the header record was not found' };
    const size = this.base + this.buf.length;
    const last = this.chunks[this.chunks.length - 1]!;
    last.end = size;
    return { plan: { size, bomLength: this.opts.bomLength, header: this.header, chunks: this.chunks } };
  }

  private run(final: boolean): void {
    let p = 0;
    const o = this.opts;
    const b = this.buf;
    for (;;) {
      if (this.mode === 'bom') {
        if (b.length - p < o.bomLength && !final) break;
        p += Math.min(o.bomLength, b.length - p);
        this.mode = o.headerLine === 1 ? 'header' : 'preamble';
        continue;
      }
      if (this.mode === 'preamble') {
        if (this.line >= o.headerLine) {
          this.mode = 'header';
          continue;
        }
        const brk = lineBreak(b, p, final);
        if (brk === undefined) break;
        if (brk < 0) {
          this.whole = 'the file ends before its header line';
          return;
        }
        p = brk;
        this.line++;
        continue;
      }
      if (p >= b.length) break;
      const start = p;
      const r = this.scanRecord(b, p, final, this.mode === 'header' ? -1 : o.expectedFields);
      if (r.kind === 'more') break;
      if (r.kind === 'too_large') {
        this.whole = `a record is longer than ${o.maxRecordChars} bytes, so its boundaries depend on how the file is streamed`;
        return;
      }
      if (this.mode === 'header') {
        if (r.kind === 'broken') {
          this.whole = 'the header record has broken quoting';
          return;
        }
        if (isBlank(b, start, r.next)) {
          p = r.next;
          this.line += r.breaks;
          continue;
        }
        this.header = { start: this.base + start, end: this.base + r.next, lines: Math.max(1, r.breaks) };
        this.mode = 'data';
        p = r.next;
        this.line += r.breaks;
        continue;
      }
      // A fresh record starts at `start`: a chunk may start here, unless the framer looked past it to decide about a
      // record before it (a quoted field that turned out broken), which a chunk ending here could not repeat.
      const at = this.base + start;
      const current = this.chunks[this.chunks.length - 1]!;
      if (at - current.start >= o.chunkBytes && at > (this.header?.end ?? 0) && at >= this.seenUpTo) {
        current.end = at;
        this.chunks.push({ start: at, end: at, firstLine: this.line });
      }
      if (r.kind === 'broken') {
        // The framer reports the first line and frames the lines after it again.
        this.seenUpTo = Math.max(this.seenUpTo, this.base + r.seen);
        p = r.next;
        this.line += 1;
      } else {
        p = r.next;
        this.line += r.breaks;
      }
    }
    this.base += p;
    this.buf = p > 0 ? b.subarray(p) : b;
  }

  /** One record from `start` (the framer's data or header mode), or what stops it. */
  private scanRecord(b: Buffer, start: number, final: boolean, expected: number): Scan {
    const { maxRecordChars, maxRecordLines } = this.opts;
    const d = this.d;
    let inQuotes = false;
    let atFieldStart = true;
    let field = 0;
    let fieldNonEmpty = false;
    let lastNonEmpty = -1;
    let quoteLine = 0;
    let lineIdx = 0;
    let dirty = false;
    let recLines = 1;
    let firstBreakEnd = -1;
    let i = start;
    const n = b.length;
    // Characters never outnumber bytes, so a record within the limit in bytes is within it in characters.
    const tooLong = (upTo: number) => upTo - start > maxRecordChars;
    for (;;) {
      if (i >= n) {
        if (tooLong(i)) return { kind: 'too_large' };
        if (!final) return { kind: 'more' };
        if (inQuotes && recLines > 1) return { kind: 'broken', next: firstBreakEnd, seen: n };
        return { kind: 'end', next: n, breaks: recLines - 1 };
      }
      const c = b[i]!;
      if (inQuotes) {
        if (c === QUOTE) {
          if (i + 1 >= n) {
            if (!final) return tooLong(i) ? { kind: 'too_large' } : { kind: 'more' };
            inQuotes = false;
            i++;
            continue;
          }
          const next = b[i + 1]!;
          if (next === QUOTE) {
            i += 2;
            continue;
          }
          inQuotes = false;
          const nextNorm = next === CR ? LF : next;
          if (quoteLine < lineIdx && nextNorm !== d && nextNorm !== LF) dirty = true;
          i++;
          continue;
        }
        if (c === LF || c === CR) {
          if (c === CR && i + 1 >= n && !final) return tooLong(i) ? { kind: 'too_large' } : { kind: 'more' };
          const len = c === CR && b[i + 1] === LF ? 2 : 1;
          recLines++;
          lineIdx++;
          if (firstBreakEnd < 0) firstBreakEnd = i + len;
          if (tooLong(i + len)) return { kind: 'too_large' };
          if (recLines > maxRecordLines) return { kind: 'broken', next: firstBreakEnd, seen: i + len };
          i += len;
          continue;
        }
        i++;
        continue;
      }
      if (c === d) {
        if (fieldNonEmpty) lastNonEmpty = field;
        field++;
        fieldNonEmpty = false;
        atFieldStart = true;
        i++;
        continue;
      }
      if (c === LF || c === CR) {
        if (c === CR && i + 1 >= n && !final) return tooLong(i) ? { kind: 'too_large' } : { kind: 'more' };
        const len = c === CR && b[i + 1] === LF ? 2 : 1;
        if (fieldNonEmpty) lastNonEmpty = field;
        const fields = field + 1;
        if (recLines > 1) {
          const countOk = expected < 0 || fields === expected || (fields > expected && lastNonEmpty < expected);
          if (dirty || !countOk) return { kind: 'broken', next: firstBreakEnd, seen: i + len };
        }
        if (tooLong(i + len)) return { kind: 'too_large' };
        return { kind: 'end', next: i + len, breaks: recLines };
      }
      if (c === QUOTE && atFieldStart) {
        inQuotes = true;
        quoteLine = lineIdx;
      }
      atFieldStart = false;
      fieldNonEmpty = true;
      i++;
    }
  }
}

/** Offset after the line break that ends the line at `p`; undefined when more bytes are needed; -1 at the end. */
function lineBreak(b: Buffer, p: number, final: boolean): number | undefined {
  for (let i = p; i < b.length; i++) {
    const c = b[i]!;
    if (c === LF) return i + 1;
    if (c === CR) {
      if (i + 1 >= b.length) return final ? i + 1 : undefined;
      return b[i + 1] === LF ? i + 2 : i + 1;
    }
  }
  return final ? -1 : undefined;
}

/** Only spaces and tabs (and the line break): the framer skips such a record in front of the header. */
function isBlank(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== LF && c !== CR) return false;
  }
  return true;
}

/** Record boundaries of a whole buffer (tests, small files). */
export function findChunks(bytes: Uint8Array, opts: ScanOptions): SplitOutcome {
  const s = new RecordBoundaryScanner(opts);
  s.push(bytes);
  return s.finish();
}

/**
 * Whether an export can be split at all, from the first entry the reader opened: a plain file (not a zip) in UTF-8 or
 * Windows-1252 with a header line. UTF-16 is read whole: its newline and quote are two bytes each, and exports in it
 * (Excel "Unicode text") are small in practice.
 */
export function layoutOf(entry: Entry): { layout: FileLayout } | { whole: string } {
  if (entry.archiveName !== undefined) return { whole: 'a zip is read whole by one worker' };
  if (entry.encoding === 'utf-16le' || entry.encoding === 'utf-16be')
    return { whole: 'a UTF-16 file is read whole by one worker' };
  if (entry.headerSynthesized || entry.headerLine < 1)
    return { whole: 'a file without a header line is read whole by one worker' };
  return {
    layout: {
      encoding: entry.encoding,
      delimiter: entry.delimiter,
      headerLine: entry.headerLine,
      header: entry.header,
    },
  };
}

/** An object's bytes by range, e.g. S3 GetObject with `Range: bytes=start-(end-1)`. */
export interface RangeSource {
  name: string;
  size: number;
  range(start: number, end: number): Promise<AsyncIterable<Uint8Array>>;
}

/** The ranges a chunk is read from: chunk 0 from after the BOM; every other one behind the header record. */
function rangesOf(plan: ChunkPlan, k: number): ByteRange[] {
  const c = plan.chunks[k];
  if (!c) throw new Error(`chunk ${k} is not in the plan (it has ${plan.chunks.length})`);
  if (k === 0) return [{ start: plan.bomLength, end: c.end }];
  return [plan.header, { start: c.start, end: c.end }];
}

/**
 * The bytes a worker reads for chunk `k`: a UTF-8 BOM, then the text of its ranges decoded as the whole file was and
 * encoded as UTF-8, in fixed pieces. With the BOM the reader cannot guess another encoding for a chunk; `limit` cuts
 * the stream short (a probe of the chunk's first bytes).
 */
export function chunkSource(
  source: RangeSource,
  plan: ChunkPlan,
  k: number,
  encoding: FileLayout['encoding'],
  limit = Number.POSITIVE_INFINITY,
): ByteSource {
  const ranges = rangesOf(plan, k);
  async function* pieces(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [BOM];
    let pendingBytes = BOM.length;
    let sent = 0;
    const flush = function* (all: boolean): Generator<Buffer> {
      while (pendingBytes >= CHUNK_PIECE_BYTES || (all && pendingBytes > 0)) {
        const joined = Buffer.concat(pending, pendingBytes);
        const take = Math.min(CHUNK_PIECE_BYTES, joined.length, limit - sent);
        if (take <= 0) return;
        yield joined.subarray(0, take);
        sent += take;
        pending = [joined.subarray(take)];
        pendingBytes = joined.length - take;
      }
    };
    const add = (text: string) => {
      if (!text) return;
      const out = Buffer.from(text, 'utf8');
      pending.push(out);
      pendingBytes += out.length;
    };
    for (const [i, r] of ranges.entries()) {
      const decoder = createTextDecoder(encoding);
      const isHeader = k > 0 && i === 0;
      let header = '';
      for await (const part of await source.range(r.start, r.end)) {
        const text = decoder.write(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
        if (isHeader) header += text;
        else add(text);
        yield* flush(false);
        if (sent >= limit) return;
      }
      if (isHeader) {
        // A header ending in a lone CR in front of a chunk starting with LF would read as one CRLF: end it with LF.
        header += decoder.end();
        add(header.endsWith('\r') ? `${header.slice(0, -1)}\n` : header);
      } else add(decoder.end());
    }
    yield* flush(true);
  }
  return { name: source.name, open: async () => Readable.from(pieces(), { objectMode: false }) };
}

/** Chunk line → line of the whole file (reports name lines of the file the marketer dropped). */
export function wholeLineOf(plan: ChunkPlan, k: number): (line: number) => number {
  if (k === 0) return (line) => line;
  const first = plan.chunks[k]!.firstLine;
  const headerLines = plan.header.lines;
  return (line) => first + line - 1 - headerLines;
}

/** What a chunk's entry must agree with: one line in the error that says where it differs, or undefined. */
export function sameLayout(entry: Entry, layout: FileLayout, k: number): string | undefined {
  if (entry.encoding !== 'utf-8-bom') return `chunk ${k} was read as ${entry.encoding}`;
  if (entry.delimiter !== layout.delimiter)
    return `chunk ${k} was read with delimiter ${JSON.stringify(entry.delimiter)} instead of ${JSON.stringify(layout.delimiter)}`;
  const headerLine = k === 0 ? layout.headerLine : 1;
  if (entry.headerSynthesized || entry.headerLine !== headerLine)
    return `chunk ${k} found its header on line ${entry.headerLine} instead of ${headerLine}`;
  if (entry.header.length !== layout.header.length || entry.header.some((h, i) => h !== layout.header[i]))
    return `chunk ${k} read a different header`;
  return undefined;
}

/** Enough of a chunk for the reader to sample it exactly as it will when it reads all of it. */
const probeBytes = (limits: ReadLimits) => 64 * 1024 + 2 * limits.maxRecordBytes + 2 * CHUNK_PIECE_BYTES;

export interface SplitRequest {
  source: RangeSource;
  layout: FileLayout;
  chunkBytes: number;
  limits?: Partial<ReadLimits>;
}

/**
 * Plans the chunks of a file: one pass over its bytes finds the record starts, then the start of each chunk is read
 * as its worker will read it, to be sure the reader sniffs every chunk as it sniffed the whole file.
 */
export async function planChunks(req: SplitRequest): Promise<SplitOutcome> {
  const limits = resolveLimits(req.limits);
  const { layout, source } = req;
  const scanner = new RecordBoundaryScanner({
    delimiter: layout.delimiter,
    headerLine: layout.headerLine,
    expectedFields: layout.header.length,
    maxRecordChars: limits.maxRecordBytes,
    maxRecordLines: limits.maxRecordLines,
    chunkBytes: Math.max(1, req.chunkBytes),
    bomLength: layout.encoding === 'utf-8-bom' ? 3 : 0,
  });
  for await (const part of await source.range(0, source.size)) scanner.push(part);
  const outcome = scanner.finish();
  if ('whole' in outcome || outcome.plan.chunks.length < 2) return outcome;
  const { plan } = outcome;
  for (let k = 0; k < plan.chunks.length; k++) {
    const probe = chunkSource(source, plan, k, layout.encoding, probeBytes(limits));
    let why: string | undefined;
    try {
      for await (const entry of readExport(probe, req.limits)) {
        why = sameLayout(entry, layout, k);
        break;
      }
    } catch (e) {
      why = `chunk ${k} could not be read on its own (${(e as Error).message})`;
    }
    if (why) return { whole: `${why}, so the file is read whole` };
  }
  return outcome;
}
