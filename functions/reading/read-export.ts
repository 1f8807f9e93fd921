import { ChunkReader } from './chunk-reader';
import { openEntry } from './entry-reader';
import { formatBytes, UnreadableFileError } from './errors';
import type { ByteSource, Entry, ReadLimits, ReadOptions, ResolvedLimits } from './types';
import { resolveLimits } from './types';
import { isZipMagic, mapInflateError, openZip, spoolToTempFile } from './zip';

/**
 * Reads a contact export (a CSV-like file, or a zip of them) with bounded memory and yields one {@link Entry} per
 * table, each with its header and a lazy stream of rows and per-row errors.
 *
 * - A zip is recognised by its magic bytes, spooled to a temp file (deleted afterwards, also on error) and
 *   validated as a whole before any entry is yielded; its `.csv`/`.txt`/`.tsv` entries are read in order.
 * - Throws {@link UnreadableFileError} when the file (or one of the zip's tables) cannot be read at all; this can
 *   happen after earlier entries were yielded (e.g. a zip limit hit while inflating), so treat the whole export
 *   as failed then. Other errors (I/O) propagate as they are.
 * - Consume (or abandon) an entry's `rows` before asking for the next entry.
 */
export async function* readExport(
  source: ByteSource,
  limits?: Partial<ReadLimits>,
  options: ReadOptions = {},
): AsyncGenerator<Entry, void, undefined> {
  const lim = resolveLimits(limits);
  const controlCharacters = options.controlCharacters ?? 'strip';
  const tooLarge = () =>
    new UnreadableFileError(
      'too_large',
      `"${source.name}" is larger than the ${formatBytes(lim.maxFileBytes ?? 0)} limit; it was not read.`,
      source.name,
    );
  if (lim.maxFileBytes !== undefined && source.size !== undefined && source.size > lim.maxFileBytes) throw tooLarge();

  const reader = new ChunkReader(await source.open(), (total) => {
    if (lim.maxFileBytes !== undefined && total > lim.maxFileBytes) throw tooLarge();
  });
  try {
    const head = (await reader.readSample(4, 4)).bytes;
    if (head.length === 0) {
      throw new UnreadableFileError('empty', `"${source.name}" is empty (0 bytes).`, source.name);
    }
    if (!isZipMagic(head)) {
      reader.unshift(head);
      yield await openEntry({ reader, fileName: source.name, limits: lim, controlCharacters, skippedEntries: [] });
      return;
    }
    yield* readZip(source.name, head, reader, lim, controlCharacters, options.tmpDir);
  } finally {
    await reader.close();
  }
}

async function* readZip(
  fileName: string,
  head: Buffer,
  sourceReader: ChunkReader,
  lim: ResolvedLimits,
  controlCharacters: 'strip' | 'reject',
  tmpDir: string | undefined,
): AsyncGenerator<Entry, void, undefined> {
  const spool = await spoolToTempFile(head, sourceReader, tmpDir);
  try {
    const zip = await openZip(spool, fileName, lim);
    try {
      for (const zipEntry of zip.entries) {
        const stream = await zipEntry.open();
        let entryBytes = 0;
        const reader = new ChunkReader(stream, (_total, chunk) => {
          entryBytes += chunk.length;
          zip.countInflated(zipEntry.name, entryBytes, chunk.length, zipEntry.compressedSize);
        });
        try {
          const entry = await withInflateErrors(fileName, zipEntry.name, () =>
            openEntry({
              reader,
              fileName,
              entryName: zipEntry.name,
              limits: lim,
              controlCharacters,
              skippedEntries: zip.skipped,
            }),
          );
          yield {
            ...entry,
            rows: mapRowsErrors(entry.rows, fileName, zipEntry.name),
            batches: () => mapRowsErrors(entry.batches(), fileName, zipEntry.name),
            chunks: (options) => mapRowsErrors(entry.chunks(options), fileName, zipEntry.name),
          };
        } finally {
          await reader.close().catch(() => undefined);
          stream.destroy();
        }
      }
    } finally {
      zip.close();
    }
  } finally {
    await spool.dispose();
  }
}

async function withInflateErrors<T>(fileName: string, entryName: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapInflateError(e, fileName, entryName);
  }
}

function mapRowsErrors<T>(rows: AsyncIterable<T>, fileName: string, entryName: string): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      try {
        yield* rows;
      } catch (e) {
        throw mapInflateError(e, fileName, entryName);
      }
    },
  };
}
