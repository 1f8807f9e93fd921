/**
 * The byte-range splitter of big exports (functions/reading/split.ts): chunks read on their own, the header repeated in
 * front, yield exactly the records of the whole file — none split, dropped or read twice — on any input.
 */
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import type { ReadLimits, RowEvent } from '../../../functions/reading';
import {
  type ChunkPlan,
  chunkSource,
  findChunks,
  layoutOf,
  planChunks,
  type RangeSource,
  sameLayout,
  wholeLineOf,
} from '../../../functions/reading/split';
import { bufferSource, readOne } from './helpers';

/** An in-memory object read by range, in small parts so ranges cross part boundaries. */
function memory(bytes: Buffer, part = 7): RangeSource {
  return {
    name: 'big.csv',
    size: bytes.length,
    async range(start, end) {
      async function* parts() {
        for (let i = start; i < end; i += part) yield bytes.subarray(i, Math.min(end, i + part));
      }
      return parts();
    },
  };
}

/** Every record of the whole file, then of the chunks read one by one with their lines mapped back. */
async function readBoth(bytes: Buffer, chunkBytes: number, limits: Partial<ReadLimits>) {
  const whole = await readOne(bufferSource('big.csv', bytes, 13), limits).catch(() => undefined);
  if (!whole) return undefined; // unreadable as a whole: never split
  const { events, ...meta } = whole;
  const lay = layoutOf({ ...meta, rows: [] as never });
  if ('whole' in lay) return undefined;
  const source = memory(bytes);
  const outcome = await planChunks({ source, layout: lay.layout, chunkBytes, limits });
  if ('whole' in outcome) return { whole: events, chunks: [events], plan: undefined, reason: outcome.whole };
  const chunks: RowEvent[][] = [];
  for (let k = 0; k < outcome.plan.chunks.length; k++) {
    const e = await readOne(chunkSource(source, outcome.plan, k, lay.layout.encoding), limits);
    expect(sameLayout({ ...e, rows: [] as never }, lay.layout, k)).toBeUndefined();
    const toWhole = wholeLineOf(outcome.plan, k);
    chunks.push(e.events.map((ev) => ({ ...ev, line: toWhole(ev.line) })));
  }
  return { whole: events, chunks, plan: outcome.plan, reason: undefined };
}

function expectContiguous(plan: ChunkPlan) {
  expect(plan.chunks[0]!.start).toBe(0);
  expect(plan.chunks.at(-1)!.end).toBe(plan.size);
  for (let k = 1; k < plan.chunks.length; k++) expect(plan.chunks[k]!.start).toBe(plan.chunks[k - 1]!.end);
  for (const c of plan.chunks) expect(c.end).toBeGreaterThan(c.start);
}

// Cells as marketers' tools write them, and as broken exports do: quotes, delimiters and newlines inside.
const piece = fc.constantFrom('a', 'Zoë', ' ', ',', '"', '""', '\n', '\r\n', '\r', 'é', 'x@y.z', '\t', "'", '0');
const rawCell = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
const quotedCell = rawCell.map((c) => `"${c.replaceAll('"', '""')}"`);
const cell = fc.oneof({ weight: 3, arbitrary: quotedCell }, { weight: 2, arbitrary: rawCell });
const eol = fc.constantFrom('\n', '\r\n', '\r');
const line = fc.oneof(
  { weight: 8, arbitrary: fc.array(cell, { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant(['']) },
  { weight: 1, arbitrary: fc.constant(['', '', '']) },
);
const csv = fc.record({
  delimiter: fc.constantFrom(',', ';', '\t'),
  bom: fc.boolean(),
  preamble: fc.boolean(),
  lines: fc.array(fc.tuple(line, eol), { maxLength: 60 }),
  lastEol: fc.boolean(),
  encoding: fc.constantFrom('utf-8', 'windows-1252'),
});

function render(c: typeof csv extends fc.Arbitrary<infer T> ? T : never): Buffer {
  const d = c.delimiter;
  const head = `${c.preamble ? 'Exported contacts\r\n\r\n' : ''}email${d}first name${d}"note\nabout"\r\n`;
  const body = c.lines.map(([cells, e], i) => cells.join(d) + (i < c.lines.length - 1 || c.lastEol ? e : '')).join('');
  const text = head + body;
  const bytes = c.encoding === 'utf-8' ? Buffer.from(text, 'utf8') : iconv.encode(text, 'windows-1252');
  return c.bom && c.encoding === 'utf-8' ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]) : bytes;
}

describe('splitting an export into byte ranges on record boundaries', () => {
  it('never splits, drops or duplicates a record, on any input (quotes across lines, CRLF, CR, BOM, blank lines, broken quoting)', async () => {
    let split = 0;
    await fc.assert(
      fc.asyncProperty(
        csv,
        fc.integer({ min: 1, max: 120 }),
        fc.record({ maxRecordLines: fc.integer({ min: 2, max: 5 }), maxRecordBytes: fc.constantFrom(60, 1 << 20) }),
        async (c, chunkBytes, limits) => {
          const got = await readBoth(render(c), chunkBytes, limits);
          if (!got) return;
          expect(got.chunks.flat()).toEqual(got.whole);
          if (got.plan) {
            expectContiguous(got.plan);
            if (got.plan.chunks.length > 1) split++;
          }
        },
      ),
      { numRuns: Number(process.env.SPLIT_PROPERTY_RUNS ?? 400) },
    );
    // The property must have been tried on files that really were split, not only on ones read whole (about a
    // quarter of the runs are, so 40 of 400 holds under any seed: one seed gave 99, and 100 failed it).
    expect(split).toBeGreaterThan(Number(process.env.SPLIT_PROPERTY_RUNS ?? 400) / 10);
  });

  it('cuts only where a record starts: a quoted field spanning lines stays in one chunk', async () => {
    const text = `email,note\r\n${Array.from({ length: 50 }, (_, i) => `u${i}@x.io,"line one\r\nline two, ""quoted"""\r\n`).join('')}`;
    const got = await readBoth(Buffer.from(text), 40, {});
    expect(got?.plan?.chunks.length).toBeGreaterThan(10);
    expect(got!.chunks.flat()).toEqual(got!.whole);
    expect(got!.whole.filter((e) => e.kind === 'row')).toHaveLength(50);
    for (const chunk of got!.chunks) for (const ev of chunk) expect(ev).toMatchObject({ kind: 'row' });
  });

  it('splits a multi-megabyte Windows-1252 export into chunks that read as the whole file does', async () => {
    const rows = Array.from(
      { length: 40_000 },
      (_, i) => `k${i}@example.com;"Müller; Zoë";${i % 7 === 0 ? '"two\r\nlines"' : 'plain'};${i}\r\n`,
    );
    const bytes = iconv.encode(`email;name;note;n\r\n${rows.join('')}`, 'windows-1252');
    const got = await readBoth(bytes, 256 * 1024, {});
    expect(got?.reason).toBeUndefined();
    expect(got!.plan!.chunks.length).toBe(Math.ceil(bytes.length / (256 * 1024)));
    expect(got!.whole).toHaveLength(40_000);
    expect(got!.chunks.flat()).toEqual(got!.whole);
  });

  it('keeps the BOM, preamble and header in chunk 0 and repeats only the header record in front of the others', () => {
    const bytes = Buffer.from('\ufeffNotes: exported today\nemail,"first\nname"\na@x.io,Ann\nb@x.io,Bo\nc@x.io,Cy\n');
    const out = findChunks(bytes, {
      delimiter: ',',
      headerLine: 2,
      expectedFields: 2,
      maxRecordChars: 1 << 20,
      maxRecordLines: 100,
      chunkBytes: 1,
      bomLength: 3,
    });
    if ('whole' in out) throw new Error(out.whole);
    const { plan } = out;
    expect(bytes.subarray(plan.header.start, plan.header.end).toString()).toBe('email,"first\nname"\n');
    expect(plan.header.lines).toBe(2);
    expect(plan.chunks.map((c) => bytes.subarray(c.start, c.end).toString())).toEqual([
      '\ufeffNotes: exported today\nemail,"first\nname"\na@x.io,Ann\n',
      'b@x.io,Bo\n',
      'c@x.io,Cy\n',
    ]);
    expect(plan.chunks.map((c) => c.firstLine)).toEqual([1, 5, 6]);
  });

  it('reads a file whole when a record is longer than the record limit (its boundaries would depend on the stream)', () => {
    const bytes = Buffer.from(`email,note\na@x.io,${'x'.repeat(200)}\nb@x.io,y\n`);
    const out = findChunks(bytes, {
      delimiter: ',',
      headerLine: 1,
      expectedFields: 2,
      maxRecordChars: 100,
      maxRecordLines: 100,
      chunkBytes: 1,
      bomLength: 0,
    });
    expect(out).toEqual({ whole: expect.stringContaining('longer than 100 bytes') });
  });

  it('reads UTF-16 files, zips and header-less lists whole, by one worker', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email\ta\r\nx@y.z\tb\r\n', 'utf16le')]);
    const e16 = await readOne(bufferSource('u.txt', utf16));
    expect(layoutOf({ ...e16, rows: [] as never })).toEqual({ whole: 'a UTF-16 file is read whole by one worker' });
    const bare = await readOne(bufferSource('l.csv', 'a@x.io\nb@x.io\nc@x.io\n'));
    expect(layoutOf({ ...bare, rows: [] as never })).toEqual({
      whole: 'a file without a header line is read whole by one worker',
    });
    expect(layoutOf({ ...bare, archiveName: 'export.zip', rows: [] as never })).toEqual({
      whole: 'a zip is read whole by one worker',
    });
  });

  it('scans a big file at hundreds of MB/s (one pass before the workers start)', () => {
    const row = 'someone@example.com,"Smith, Ann",+1 555 0100,2026-01-01,subscribed\r\n';
    const bytes = Buffer.from(`email,name,phone,date,status\r\n${row.repeat(400_000)}`);
    const t0 = performance.now();
    const out = findChunks(bytes, {
      delimiter: ',',
      headerLine: 1,
      expectedFields: 5,
      maxRecordChars: 1 << 20,
      maxRecordLines: 100,
      chunkBytes: 4 << 20,
      bomLength: 0,
    });
    const mbPerS = bytes.length / 1e6 / ((performance.now() - t0) / 1000);
    if ('whole' in out) throw new Error(out.whole);
    expect(out.plan.chunks.length).toBe(Math.ceil(bytes.length / (4 << 20)));
    expect(mbPerS).toBeGreaterThan(40);
  });
});
