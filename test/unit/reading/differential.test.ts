/**
 * The single-pass reader against the pipeline it replaced (legacy/: framer → framed text → csv-parse), on garbage:
 * same header, same events (rows, errors, line numbers, details), same stats, for every chunking, every limit and
 * both control-character policies. `batches()` and `chunks()` + `splitChunk()` must give exactly what `rows` gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ByteSource,
  type ReadLimits,
  type ReadOptions,
  type RowEvent,
  readExport,
  splitChunk,
} from '../../../functions/reading';
import { ChunkReader } from '../../../functions/reading/chunk-reader';
import { resolveLimits } from '../../../functions/reading/types';
import { bufferSource } from './helpers';
import { openEntry as legacyOpenEntry } from './legacy/entry-reader';

interface Outcome {
  error?: { name: string; reason?: string; message: string };
  header?: string[];
  headerLine?: number;
  delimiter?: string;
  events?: RowEvent[];
  stats?: unknown;
}

const failure = (e: unknown): Outcome => {
  const err = e as Error & { reason?: string };
  return { error: { name: err.name, reason: err.reason, message: err.message } };
};

async function legacy(source: ByteSource, limits: Partial<ReadLimits>, options: ReadOptions): Promise<Outcome> {
  const reader = new ChunkReader(await source.open());
  try {
    // As readExport does it: the first bytes are sniffed for a zip, then put back.
    reader.unshift((await reader.readSample(4, 4)).bytes);
    const entry = await legacyOpenEntry({
      reader,
      fileName: source.name,
      limits: resolveLimits(limits),
      controlCharacters: options.controlCharacters ?? 'strip',
      skippedEntries: [],
    });
    const events: RowEvent[] = [];
    for await (const ev of entry.rows) events.push(ev);
    return {
      header: entry.header,
      headerLine: entry.headerLine,
      delimiter: entry.delimiter,
      events,
      stats: entry.stats,
    };
  } catch (e) {
    return failure(e);
  } finally {
    await reader.close();
  }
}

type Mode = 'rows' | 'batches' | 'chunks';

async function current(source: ByteSource, limits: Partial<ReadLimits>, options: ReadOptions, mode: Mode) {
  try {
    for await (const entry of readExport(source, limits, options)) {
      const events: RowEvent[] = [];
      const stats = entry.stats;
      if (mode === 'rows') for await (const ev of entry.rows) events.push(ev);
      else if (mode === 'batches') for await (const b of entry.batches()) events.push(...b);
      else {
        let rows = 0;
        let errors = 0;
        let blank = 0;
        for await (const chunk of entry.chunks({ records: 3 })) {
          // What a worker gets: a structured clone.
          const r = splitChunk(structuredClone(chunk));
          events.push(...r.events);
          rows += r.rows;
          errors += r.errors;
          blank += r.blank;
        }
        expect(rows).toBe(events.filter((e) => e.kind === 'row').length);
        expect(errors).toBe(events.length - rows);
        return {
          header: entry.header,
          headerLine: entry.headerLine,
          delimiter: entry.delimiter,
          events,
          stats: { ...stats, rows, errors, blankRecords: stats.blankRecords + blank },
        };
      }
      return { header: entry.header, headerLine: entry.headerLine, delimiter: entry.delimiter, events, stats };
    }
    throw new Error('no entry');
  } catch (e) {
    return failure(e);
  }
}

// Control characters only between letters: stripping one never moves a quote to the start of a field (see
// read-export.test.ts for what the reader does when it does).
const token = fc.constantFrom(
  'a',
  'Z',
  'é',
  ' ',
  ',',
  ';',
  '\t',
  '|',
  '"',
  '""',
  '\n',
  '\r\n',
  '\r',
  'a\u0007a',
  'b\u0000b',
  '\ufffd',
  '😀',
  "'",
  'x@y.io',
);
const body = fc.array(token, { maxLength: 120 }).map((t) => t.join(''));
const headers = fc.constantFrom(
  'h1,h2,h3',
  'email;name;zip',
  'a\tb',
  'one|two|three|four',
  'email',
  'x@y.io',
  '"q,1",h2,"h\n3"',
);
const preamble = fc.constantFrom('', 'Title row\n', 'sep=;\n', '\n\n', ',,,\n');
const limits = fc.record({
  maxRecordBytes: fc.constantFrom(8, 16, 40, 1024 ** 2),
  maxRecordLines: fc.constantFrom(1, 2, 4, 100),
});
const options = fc.record({ controlCharacters: fc.constantFrom<'strip' | 'reject'>('strip', 'reject') });

describe('single-pass reader = legacy reader', () => {
  it('gives the same header, events and stats on any input, chunking, limits and policy', async () => {
    await fc.assert(
      fc.asyncProperty(
        preamble,
        headers,
        body,
        fc.integer({ min: 1, max: 64 }),
        limits,
        options,
        fc.constantFrom<Mode>('rows', 'batches', 'chunks'),
        async (pre, header, rest, chunk, lim, opt, mode) => {
          const text = `${pre}${header}\n${rest}`;
          const source = () => bufferSource('d.csv', text, chunk);
          const expected = await legacy(source(), lim, opt);
          const actual = await current(source(), lim, opt, mode);
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: Number(process.env.READING_PROPERTY_RUNS ?? 400) },
    );
  });

  it('agrees on lines dense with quotes, where a quote opens a field or is literal by its place', async () => {
    // Quotes at a field's start, mid-field, doubled, closing dirtily, left open across lines: the framer jumps from
    // quote to quote on a line that is a whole record and walks the others; either way the records are the legacy's.
    const dense = fc
      .array(fc.constantFrom('a', ',', '"', '""', '\n', '",', ',"'), { maxLength: 80 })
      .map((t) => t.join(''));
    await fc.assert(
      fc.asyncProperty(dense, fc.integer({ min: 1, max: 64 }), limits, async (rest, chunk, lim) => {
        const source = () => bufferSource('q.csv', `h1,h2,h3\n${rest}`, chunk);
        expect(await current(source(), lim, {}, 'batches')).toEqual(await legacy(source(), lim, {}));
      }),
      { numRuns: Number(process.env.READING_PROPERTY_RUNS ?? 400) },
    );
  });

  it('agrees on UTF-16 and Windows-1252 bytes too', async () => {
    await fc.assert(
      fc.asyncProperty(
        headers,
        body,
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom<BufferEncoding | 'utf16be' | 'latin1-bad'>('utf16le', 'utf16be', 'latin1', 'latin1-bad'),
        async (header, rest, chunk, enc) => {
          const text = `${header}\n${rest}`.replace(/[\ufffd😀]/gu, 'ü');
          let bytes: Buffer;
          if (enc === 'utf16be') bytes = Buffer.from(text, 'utf16le').swap16();
          else if (enc === 'latin1-bad')
            bytes = Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from([0x81, 0x41])]);
          else bytes = Buffer.from(text, enc);
          if (enc === 'utf16le' || enc === 'utf16be') {
            // A lone surrogate in the middle: must become U+FFFD in the cell, as before.
            const lone = Buffer.from('\ud800', 'utf16le');
            bytes = Buffer.concat([bytes, enc === 'utf16be' ? lone.swap16() : lone, bytes.subarray(0, 0)]);
          }
          const source = () => bufferSource('e.csv', bytes, chunk);
          const expected = await legacy(source(), {}, {});
          const actual = await current(source(), {}, {}, 'rows');
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: Number(process.env.READING_PROPERTY_RUNS ?? 200) },
    );
  });
});
