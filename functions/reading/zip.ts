import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import type { ChunkReader } from './chunk-reader';
import { describeFile, formatBytes, UnreadableFileError } from './errors';
import type { ResolvedLimits, SkippedEntry } from './types';

/** `PK\x03\x04` (a local file header) or `PK\x05\x06` (an empty archive). */
export function isZipMagic(head: Buffer): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

/** Entries are only read with these extensions. */
const READABLE = /\.(csv|txt|tsv)$/i;
/** Compression ratio is only judged once an entry has inflated this much (tiny entries compress wildly). */
const RATIO_FLOOR_BYTES = 64 * 1024;

/** A spooled copy of the source on local disk, removed by `dispose`. */
export interface Spool {
  path: string;
  size: number;
  dispose(): Promise<void>;
}

/** Copies the rest of the source (after `head`) to a fresh temp directory. Removes it again on failure. */
export async function spoolToTempFile(head: Buffer, reader: ChunkReader, dir: string | undefined): Promise<Spool> {
  const folder = await mkdtemp(join(dir ?? tmpdir(), 'audience-sync-zip-'));
  const path = join(folder, 'source.zip');
  const dispose = () => rm(folder, { recursive: true, force: true });
  try {
    let size = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      size += head.length;
      yield head;
      for (let c = await reader.next(); c !== null; c = await reader.next()) {
        size += c.length;
        yield c;
      }
    }
    await pipeline(chunks(), createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    return { path, size, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** One readable entry of a zip, opened lazily. */
export interface ZipCsvEntry {
  name: string;
  /** Compressed size from the central directory (bounded by the zip's real size, so usable for the ratio). */
  compressedSize: number;
  /** Opens the inflated bytes; the stream throws `UnreadableFileError` `zip_bomb` when a limit is passed. */
  open(): Promise<Readable>;
}

/** What a zip holds, after validation of every name, count and declared size. */
export interface OpenedZip {
  entries: ZipCsvEntry[];
  skipped: SkippedEntry[];
  /** Inflated bytes counted so far across all entries; call from the entry's byte counter. */
  countInflated(entryName: string, entryBytes: number, delta: number, compressedSize: number): void;
  close(): void;
}

/**
 * Opens a spooled zip and validates its central directory before anything is inflated: entry count, every
 * entry name (path traversal → `unsafe_entry_name`), declared sizes and ratios, and that at least one
 * `.csv`/`.txt`/`.tsv` entry exists. Directories, `__MACOSX/`, `._*` and `.DS_Store` are ignored silently;
 * other entries are listed in `skipped`.
 */
export async function openZip(spool: Spool, fileName: string, limits: ResolvedLimits): Promise<OpenedZip> {
  const corrupt = (why: string, entryName?: string) =>
    new UnreadableFileError(
      'corrupt_archive',
      `${describeFile(fileName, entryName)} looks like a zip archive but cannot be read: ${why}.`,
      fileName,
      entryName,
    );
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(spool.path, {
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: true,
      strictFileNames: true,
    });
  } catch (e) {
    throw corrupt(errorText(e));
  }
  try {
    if (zip.entryCount > limits.maxZipEntries) {
      throw new UnreadableFileError(
        'too_many_entries',
        `The zip "${fileName}" holds ${zip.entryCount} entries; at most ${limits.maxZipEntries} are accepted.`,
        fileName,
      );
    }
    const all: Array<{ name: string; entry: yauzl.Entry }> = [];
    try {
      for await (const entry of zip.eachEntry()) {
        const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
        all.push({ name, entry });
      }
    } catch (e) {
      throw corrupt(errorText(e));
    }

    for (const { name } of all) {
      if (isUnsafeName(name)) {
        throw new UnreadableFileError(
          'unsafe_entry_name',
          `The zip "${fileName}" contains an entry with an unsafe path (${JSON.stringify(name)}); the whole zip was rejected.`,
          fileName,
          name,
        );
      }
    }

    const skipped: SkippedEntry[] = [];
    const chosen: Array<{ name: string; entry: yauzl.Entry }> = [];
    for (const item of all) {
      if (isIgnored(item.name)) continue;
      if (READABLE.test(item.name)) chosen.push(item);
      else skipped.push({ name: item.name, reason: 'not_csv' });
    }
    if (chosen.length === 0) {
      const seen = all.map((a) => a.name).filter((n) => !isIgnored(n));
      const excel = seen.some((n) => n === '[Content_Types].xml' || n.startsWith('xl/'));
      const list = seen.slice(0, 10).join(', ') + (seen.length > 10 ? `, … (${seen.length} in all)` : '');
      throw new UnreadableFileError(
        'no_csv_in_zip',
        excel
          ? `"${fileName}" is an Excel workbook (.xlsx), not a CSV export; save or export it as CSV.`
          : `The zip "${fileName}" contains no .csv, .txt or .tsv file${seen.length > 0 ? ` (found: ${list})` : ' (it is empty)'}.`,
        fileName,
      );
    }

    const bomb = (why: string, entryName: string) =>
      new UnreadableFileError(
        'zip_bomb',
        `${describeFile(fileName, entryName)} was not read: ${why}. This is how zip bombs look, not contact exports.`,
        fileName,
        entryName,
      );
    let declaredTotal = 0;
    for (const { name, entry } of chosen) {
      if (entry.isEncrypted()) throw corrupt('the entry is password-protected', name);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw corrupt(`the entry uses an unsupported compression method (${entry.compressionMethod})`, name);
      }
      declaredTotal += entry.uncompressedSize;
      checkRatio(entry.uncompressedSize, entry.compressedSize, limits, (why) => bomb(why, name));
    }
    if (declaredTotal > limits.maxInflatedBytes) {
      throw bomb(
        `its entries declare ${formatBytes(declaredTotal)} once unzipped, over the ${formatBytes(limits.maxInflatedBytes)} limit`,
        (chosen[0] as { name: string }).name,
      );
    }

    let inflatedTotal = 0;
    const countInflated = (entryName: string, entryBytes: number, delta: number, compressedSize: number) => {
      inflatedTotal += delta;
      if (inflatedTotal > limits.maxInflatedBytes) {
        throw bomb(`the zip inflates to more than ${formatBytes(limits.maxInflatedBytes)}`, entryName);
      }
      checkRatio(entryBytes, compressedSize, limits, (why) => bomb(why, entryName));
    };

    const entries: ZipCsvEntry[] = chosen.map(({ name, entry }) => ({
      name,
      compressedSize: entry.compressedSize,
      async open() {
        try {
          return await zip.openReadStreamPromise(entry);
        } catch (e) {
          throw corrupt(errorText(e), name);
        }
      },
    }));
    return { entries, skipped, countInflated, close: () => zip.close() };
  } catch (e) {
    zip.close();
    throw e;
  }
}

function checkRatio(
  inflated: number,
  compressed: number,
  limits: ResolvedLimits,
  fail: (why: string) => UnreadableFileError,
): void {
  if (inflated > RATIO_FLOOR_BYTES && inflated > compressed * limits.maxCompressionRatio) {
    const ratio = compressed === 0 ? '∞' : Math.round(inflated / compressed).toString();
    throw fail(`it compresses ${ratio}:1, above the ${limits.maxCompressionRatio}:1 limit`);
  }
}

/** Maps errors raised by yauzl while inflating to the reader's reasons. */
export function mapInflateError(e: unknown, fileName: string, entryName: string): unknown {
  if (e instanceof UnreadableFileError) return e;
  const text = errorText(e);
  if (/too many bytes in the stream/i.test(text)) {
    return new UnreadableFileError(
      'zip_bomb',
      `${describeFile(fileName, entryName)} was not read: it inflates to more than its declared size. This is how zip bombs look, not contact exports.`,
      fileName,
      entryName,
    );
  }
  if (/bytes in the stream|invalid|unexpected end|incorrect|unknown compression|stored block/i.test(text)) {
    return new UnreadableFileError(
      'corrupt_archive',
      `${describeFile(fileName, entryName)} is damaged and cannot be unzipped (${text}).`,
      fileName,
      entryName,
    );
  }
  return e;
}

/**
 * Entry names that could point outside an extraction directory: absolute paths, drive letters, UNC paths or any
 * `..` segment (with `/` or `\` as separator). We never extract, but such a zip is hostile or broken.
 */
export function isUnsafeName(name: string): boolean {
  if (name.includes('\0')) return true;
  if (/^[/\\]/.test(name) || /^[a-zA-Z]:/.test(name)) return true;
  return name.split(/[/\\]/).some((seg) => seg === '..');
}

/** Directories and macOS metadata, skipped without a word. */
function isIgnored(name: string): boolean {
  if (name.endsWith('/') || name.endsWith('\\')) return true;
  const parts = name.split(/[/\\]/);
  const base = parts.at(-1) ?? '';
  return parts[0] === '__MACOSX' || base.startsWith('._') || base === '.DS_Store';
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
