/**
 * The reading pipeline as it was before the single-pass reader (framer → framed text → csv-parse → column check),
 * kept verbatim as the oracle of the differential test (differential.test.ts). Not used by the product.
 */
import { pipeline, Readable } from 'node:stream';
import { type Options as CsvOptions, Parser } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import type { ChunkReader } from '../../../../functions/reading/chunk-reader';
import { createTextDecoder, detectEncoding } from '../../../../functions/reading/encoding';
import { describeFile, UnreadableFileError } from '../../../../functions/reading/errors';
import { locateHeader, sampleLines } from '../../../../functions/reading/sniff';
import type {
  Delimiter,
  Entry,
  EntryStats,
  ResolvedLimits,
  RowError,
  RowEvent,
  SkippedEntry,
} from '../../../../functions/reading/types';
import { HeaderFramingError, RecordFramer } from './framer';

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

/** The csv-parse options the framer's quote rules mirror. Records arrive framed, one per `\n`. */
function csvOptions(delimiter: Delimiter): CsvOptions {
  return {
    delimiter,
    quote: '"',
    escape: '"',
    record_delimiter: '\n',
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: false,
    bom: false,
    cast: false,
  };
}

/**
 * Sniffs one entry (encoding, delimiter, preamble, header) from a leading sample and returns it with a lazy
 * row stream. Throws `UnreadableFileError` (`empty`, `not_text`, `no_header`) when the entry cannot be read.
 */
export async function openEntry(input: EntryInput): Promise<Omit<Entry, 'batches' | 'chunks'>> {
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
      const parsed = parseSync(text, csvOptions(delimiter)) as string[][];
      header = (parsed[0] ?? []).map((c) => c.replace(HEADER_JUNK, '').trim());
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

  const headerCount = header.length;
  async function* rowEvents(): AsyncGenerator<RowEvent> {
    const queue: RowError[] = initial.errors;
    let qHead = 0;
    const syncStats = () => {
      stats.blankRecords = framer.blankRecords + blankRows;
      stats.rowsWithControlCharactersStripped = framer.controlStripped;
      stats.bytesDecodedAsWindows1252 = decoder.repairedBytes;
    };
    let blankRows = 0;

    async function* framed(): AsyncGenerator<string> {
      if (initial.text !== '') yield initial.text;
      while (!eof) {
        const chunk = await reader.next();
        if (chunk === null) {
          eof = true;
          framer.write(decoder.end(), true);
        } else {
          framer.write(decoder.write(chunk), false);
        }
        const out = framer.take();
        for (const e of out.errors) queue.push(e);
        if (out.text !== '') yield out.text;
      }
    }

    const parser = new Parser(csvOptions(delimiter));
    const feed = Readable.from(framed(), { objectMode: true });
    pipeline(feed, parser, () => {
      // Errors surface through the parser's async iterator.
    });

    const drainBefore = function* (line: number): Generator<RowEvent> {
      while (qHead < queue.length && (queue[qHead] as RowError).line < line) {
        stats.errors++;
        yield queue[qHead++] as RowError;
      }
      if (qHead > 1024) {
        queue.splice(0, qHead);
        qHead = 0;
      }
    };

    try {
      for await (const rec of parser as AsyncIterable<string[]>) {
        const line = Number(rec[0]);
        yield* drainBefore(line);
        const cells = rec.slice(1);
        if (isBlank(cells)) {
          blankRows++;
          continue;
        }
        const n = cells.length;
        if (n !== headerCount) {
          if (n > headerCount && isBlank(cells, headerCount)) {
            cells.length = headerCount;
          } else {
            stats.errors++;
            yield {
              kind: 'error',
              line,
              reason: 'column_count_mismatch',
              detail: `expected ${headerCount} fields, found ${n}`,
            };
            continue;
          }
        }
        stats.rows++;
        yield { kind: 'row', line, cells };
      }
      yield* drainBefore(Number.POSITIVE_INFINITY);
    } finally {
      syncStats();
      feed.destroy();
      parser.destroy();
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
        if (consumed) throw new Error(`rows of ${label} can only be iterated once`);
        consumed = true;
        return rowEvents();
      },
    },
  };
}

function isBlank(cells: string[], from = 0): boolean {
  for (let i = from; i < cells.length; i++) {
    if ((cells[i] as string).trim() !== '') return false;
  }
  return true;
}

function countNewlineBytes(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1 && n < 3; i = buf.indexOf(0x0a, i + 1)) n++;
  for (let i = buf.indexOf(0x0d); i !== -1 && n < 3; i = buf.indexOf(0x0d, i + 1)) n++;
  return n;
}
