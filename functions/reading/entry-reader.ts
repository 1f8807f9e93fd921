import type { ChunkReader } from './chunk-reader';
import { createTextDecoder, detectEncoding } from './encoding';
import { describeFile, UnreadableFileError } from './errors';
import { type FramedBatch, HeaderFramingError, RecordFramer } from './framer';
import { batchEvents, packChunk, type RecordChunk, type RecordShape, splitRecord } from './records';
import { locateHeader, sampleLines } from './sniff';
import type { Entry, EntryStats, ResolvedLimits, RowError, RowEvent, SkippedEntry } from './types';

/** Bytes read before sniffing (more when the first lines are longer). */
const SAMPLE_BYTES = 64 * 1024;

export interface EntryInput {
  /** Positioned on the entry's first byte; owned by the caller (closed by it). */
  reader: ChunkReader;
  /** Source name (the object, or the zip). */
  fileName: string;
  /** Path inside the zip, when the entry comes from one. */
  entryName?: string;
  limits: ResolvedLimits;
  controlCharacters: 'strip' | 'reject';
  skippedEntries: readonly SkippedEntry[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: header cells lose control characters.
const HEADER_JUNK = /[\u0000-\u0008\u000b-\u001f\u007f\ufeff\u200b-\u200d\u2060]/g;

/**
 * Sniffs one entry (encoding, delimiter, preamble, header) from a leading sample and returns it with a lazy
 * row stream. Throws `UnreadableFileError` (`empty`, `not_text`, `no_header`) when the entry cannot be read.
 */
export async function openEntry(input: EntryInput): Promise<Entry> {
  const { reader, fileName, entryName, limits } = input;
  const label = describeFile(fileName, entryName);
  const fail = (reason: 'empty' | 'no_header', message: string) =>
    new UnreadableFileError(reason, message, fileName, entryName);

  const { bytes, ended } = await reader.readSample(
    SAMPLE_BYTES,
    SAMPLE_BYTES + 2 * limits.maxRecordBytes,
    (buf) => countNewlineBytes(buf) < 3,
  );
  let detected: ReturnType<typeof detectEncoding>;
  try {
    detected = detectEncoding(bytes, ended, label);
  } catch (e) {
    if (e instanceof UnreadableFileError) throw new UnreadableFileError(e.reason, e.message, fileName, entryName);
    throw e;
  }
  const decoder = createTextDecoder(detected.encoding);
  let text0 = decoder.write(bytes.subarray(detected.bomLength));
  if (ended) text0 += decoder.end();

  const lines = sampleLines(text0.replace(/\r\n?/g, '\n'), ended);
  if (lines.every((l) => l.text.trim() === '')) {
    if (ended) throw fail('empty', `${label} contains only blank lines.`);
    throw fail('no_header', `${label} has no header row in its first ${Math.round(bytes.length / 1024)} KiB.`);
  }
  const loc = locateHeader(lines, limits.maxRecordBytes);
  if (loc === undefined) {
    throw fail('no_header', `${label} has no recognisable header row (no line has the field count of the rows).`);
  }

  const { delimiter } = loc;
  // Lone surrogates can only come out of a UTF-16 decoder.
  const wellFormed = detected.encoding === 'utf-16le' || detected.encoding === 'utf-16be';
  let header: string[] = loc.synthesized ? ['email'] : [];
  const framer = new RecordFramer({
    delimiter: loc.delimiter,
    headerLine: loc.headerLine,
    maxRecordChars: limits.maxRecordBytes,
    maxRecordLines: limits.maxRecordLines,
    controlCharacters: input.controlCharacters,
    encodingLabel: detected.encoding.startsWith('utf-8') ? 'UTF-8' : detected.encoding,
    expectedFields: 1,
    onHeader(text) {
      header = splitRecord(wellFormed ? (text as WellFormedString).toWellFormed() : text, delimiter).map((c) =>
        c.replace(HEADER_JUNK, '').trim(),
      );
      return header.length;
    },
  });

  let eof = ended;
  try {
    framer.write(text0, eof);
    while (!framer.headerDone && !eof) {
      const chunk = await reader.next();
      if (chunk === null) {
        eof = true;
        framer.write(decoder.end(), true);
      } else {
        framer.write(decoder.write(chunk), false);
      }
    }
  } catch (e) {
    if (e instanceof HeaderFramingError) throw fail('no_header', `${label}: ${e.message}.`);
    throw e;
  }
  if (!framer.headerDone || (!loc.synthesized && header.every((h) => h === ''))) {
    throw fail('no_header', `${label} has no usable header row.`);
  }

  const stats: EntryStats = {
    rows: 0,
    errors: 0,
    blankRecords: 0,
    rowsWithControlCharactersStripped: 0,
    bytesDecodedAsWindows1252: 0,
  };
  const initial = framer.take();
  let consumed = false;
  const claim = () => {
    if (consumed) throw new Error(`rows of ${label} can only be iterated once`);
    consumed = true;
  };
  const shape: RecordShape = { delimiter, fields: header.length, wellFormed };
  let blankRows = 0;
  const syncStats = () => {
    stats.blankRecords = framer.blankRecords + blankRows;
    stats.rowsWithControlCharactersStripped = framer.controlStripped;
    stats.bytesDecodedAsWindows1252 = decoder.repairedBytes;
  };

  /** What the framer made of each chunk of bytes, in order (empty batches skipped). */
  async function* framed(): AsyncGenerator<FramedBatch> {
    if (initial.texts.length > 0 || initial.errors.length > 0) yield initial;
    while (!eof) {
      const chunk = await reader.next();
      if (chunk === null) {
        eof = true;
        framer.write(decoder.end(), true);
      } else {
        framer.write(decoder.write(chunk), false);
      }
      const out = framer.take();
      if (out.texts.length > 0 || out.errors.length > 0) yield out;
    }
  }

  async function* batches(): AsyncGenerator<RowEvent[]> {
    try {
      for await (const b of framed()) {
        const r = batchEvents(b, shape);
        blankRows += r.blank;
        if (r.events.length > 0) {
          stats.rows += r.rows;
          stats.errors += r.errors;
          yield r.events;
        }
      }
    } finally {
      syncStats();
    }
  }

  async function* rowEvents(): AsyncGenerator<RowEvent> {
    try {
      for await (const b of framed()) {
        const r = batchEvents(b, shape);
        blankRows += r.blank;
        for (const ev of r.events) {
          if (ev.kind === 'row') stats.rows++;
          else stats.errors++;
          yield ev;
        }
      }
    } finally {
      syncStats();
    }
  }

  async function* chunks(records: number, maxChars: number): AsyncGenerator<RecordChunk> {
    let seq = 0;
    let cur: FramedBatch = { texts: [], lines: [], errors: [], errorAt: [] };
    let chars = 0;
    const full = () => cur.texts.length + cur.errors.length >= records || chars >= maxChars;
    const flush = () => {
      stats.errors += cur.errors.length;
      const chunk = packChunk(seq++, [cur], shape);
      cur = { texts: [], lines: [], errors: [], errorAt: [] };
      chars = 0;
      return chunk;
    };
    try {
      for await (const b of framed()) {
        let e = 0;
        for (let k = 0; k < b.texts.length; k++) {
          while (e < b.errors.length && (b.errorAt[e] as number) <= k) {
            cur.errors.push(b.errors[e++] as RowError);
            cur.errorAt.push(cur.texts.length);
          }
          const t = b.texts[k] as string;
          cur.texts.push(t);
          cur.lines.push(b.lines[k] as number);
          chars += t.length;
          if (full()) yield flush();
        }
        while (e < b.errors.length) {
          cur.errors.push(b.errors[e++] as RowError);
          cur.errorAt.push(cur.texts.length);
        }
        if (full()) yield flush();
      }
      if (cur.texts.length > 0 || cur.errors.length > 0) yield flush();
    } finally {
      syncStats();
    }
  }

  return {
    name: entryName ?? fileName,
    ...(entryName !== undefined ? { archiveName: fileName } : {}),
    encoding: detected.encoding,
    delimiter,
    header,
    headerLine: loc.headerLine,
    preambleLines: loc.synthesized ? 0 : loc.headerLine - 1,
    headerSynthesized: loc.synthesized,
    skippedEntries: input.skippedEntries,
    stats,
    rows: {
      [Symbol.asyncIterator]() {
        claim();
        return rowEvents();
      },
    },
    batches() {
      claim();
      return batches();
    },
    chunks(options = {}) {
      claim();
      return chunks(
        Math.max(1, options.records ?? DEFAULT_CHUNK_RECORDS),
        Math.max(1, options.chars ?? DEFAULT_CHUNK_CHARS),
      );
    },
  };
}

/**
 * Records per {@link RecordChunk} unless the caller asks otherwise, and the most text one holds: enough to make a
 * message to a worker cheap, small enough that the chunk's text stays out of V8's large-object space (strings over
 * ~128 KB live there until a full GC, which is what made RSS climb with 2,048-record chunks).
 */
export const DEFAULT_CHUNK_RECORDS = 512;
export const DEFAULT_CHUNK_CHARS = 48 * 1024;

type WellFormedString = string & { toWellFormed(): string };

function countNewlineBytes(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1 && n < 3; i = buf.indexOf(0x0a, i + 1)) n++;
  for (let i = buf.indexOf(0x0d); i !== -1 && n < 3; i = buf.indexOf(0x0d, i + 1)) n++;
  return n;
}
