import { createReadStream } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type ByteSource,
  type Entry,
  type ReadLimits,
  type ReadOptions,
  type RowEvent,
  readExport,
} from '../../../functions/reading';

export const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'exports');

/** A source over an in-memory buffer, delivered in chunks of `chunkSize` bytes (to cross chunk boundaries). */
export function bufferSource(name: string, data: Buffer | string, chunkSize = 64 * 1024): ByteSource {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return {
    name,
    size: buf.length,
    async open() {
      function* chunks() {
        for (let i = 0; i < buf.length; i += chunkSize) yield buf.subarray(i, i + chunkSize);
      }
      return Readable.from(chunks(), { objectMode: false });
    },
  };
}

/** A source over a file on disk. */
export function fileSource(path: string): ByteSource {
  return { name: basename(path), open: async () => createReadStream(path) };
}

/** A fixture file from test/fixtures/exports. */
export function fixture(name: string): ByteSource {
  return fileSource(join(FIXTURES, name));
}

export interface ReadEntry extends Omit<Entry, 'rows'> {
  events: RowEvent[];
  rows: string[][];
  errors: Extract<RowEvent, { kind: 'error' }>[];
}

/** Reads every entry and all its events. */
export async function readAll(
  source: ByteSource,
  limits?: Partial<ReadLimits>,
  options?: ReadOptions,
): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readExport(source, limits, options)) {
    const events: RowEvent[] = [];
    for await (const ev of entry.rows) events.push(ev);
    const { rows: _rows, ...meta } = entry;
    out.push({
      ...meta,
      events,
      rows: events.flatMap((e) => (e.kind === 'row' ? [e.cells] : [])),
      errors: events.flatMap((e) => (e.kind === 'error' ? [e] : [])),
    });
  }
  return out;
}

/** Reads a single-entry source and returns that entry. */
export async function readOne(
  source: ByteSource,
  limits?: Partial<ReadLimits>,
  options?: ReadOptions,
): Promise<ReadEntry> {
  const all = await readAll(source, limits, options);
  if (all.length !== 1) throw new Error(`expected one entry, got ${all.length}`);
  return all[0] as ReadEntry;
}
