import type { Readable } from 'node:stream';
import type { RecordChunk } from './records';

/**
 * Safety limits for one export. Every limit protects memory, disk or CPU from a file that is
 * hostile (zip bomb) or broken (a missing newline that turns the whole file into one record).
 */
export interface ReadLimits {
  /** Most entries (files, folders, `__MACOSX` noise included) a zip may list in its central directory. */
  maxZipEntries: number;
  /** Most bytes all entries of one zip may inflate to, counted while inflating (headers are not trusted). */
  maxInflatedBytes: number;
  /** Highest inflated/compressed ratio of one entry; applied once the entry has inflated past 64 KiB. */
  maxCompressionRatio: number;
  /**
   * Longest record, in decoded characters (UTF-16 code units, ≈ bytes for ASCII). A longer record is
   * reported as `row_too_large` and skipped without being buffered whole.
   */
  maxRecordBytes: number;
  /** Most physical lines one quoted field may span before its quote is declared broken. */
  maxRecordLines?: number;
  /** Largest source object (the zip or the CSV as stored), in bytes. Unlimited when absent. */
  maxFileBytes?: number;
}

/** Defaults sized for a nightly Lambda: 50 entries, 4 GiB inflated, ratio 200, 1 MiB per record, 100 lines per quoted field. */
export const DEFAULT_LIMITS: Readonly<ReadLimits> = Object.freeze({
  maxZipEntries: 50,
  maxInflatedBytes: 4 * 1024 ** 3,
  maxCompressionRatio: 200,
  maxRecordBytes: 1024 ** 2,
  maxRecordLines: 100,
});

/** Where the bytes come from: an S3 `GetObject` body, `fs.createReadStream`, a buffer in a test. */
export interface ByteSource {
  /** Shown in error messages and used as the entry name of a plain (non-zip) file, e.g. the S3 key's basename. */
  name: string;
  /** Size in bytes when known (S3 `ContentLength`); lets `maxFileBytes` reject before reading. */
  size?: number;
  /** Opens a fresh stream of the bytes. Called once per `readExport` call. */
  open(): Promise<NodeJS.ReadableStream | Readable>;
}

/** Text encodings the reader can detect. `utf-8-bom` is UTF-8 that started with a byte-order mark. */
export type TextEncodingName = 'utf-8' | 'utf-8-bom' | 'utf-16le' | 'utf-16be' | 'windows-1252';

/** Field delimiters the reader can detect. */
export type Delimiter = ',' | ';' | '\t' | '|';

/** Why a single record was not turned into a row. */
export type RowErrorReason =
  | 'broken_quoting'
  | 'column_count_mismatch'
  | 'row_too_large'
  | 'control_characters'
  | 'undecodable';

/** A record read successfully: `cells` is positional, aligned with `Entry.header`. */
export interface RowOk {
  kind: 'row';
  /** 1-based physical line where the record starts in its (decoded) entry. */
  line: number;
  cells: string[];
}

/** A record that was not read. `detail` never contains cell values (no PII), only counts and positions. */
export interface RowError {
  kind: 'error';
  /** 1-based physical line where the record starts in its (decoded) entry. */
  line: number;
  reason: RowErrorReason;
  detail?: string;
}

/** One record of an entry: either a row or the reason it was not read. */
export type RowEvent = RowOk | RowError;

/** Why a zip entry was not read. Directories, `__MACOSX/`, `._*` and `.DS_Store` are skipped silently and not listed. */
export interface SkippedEntry {
  name: string;
  reason: 'not_csv';
}

/**
 * Counters of one entry. `rows` and `errors` are live while `rows` is iterated; the others are filled in when the
 * iteration ends (exhausted or abandoned). Every non-blank record after the header is in exactly one of
 * `rows` or `errors`.
 */
export interface EntryStats {
  /** Row events emitted. */
  rows: number;
  /** Error events emitted. */
  errors: number;
  /** Records after the header that were empty or held only blank cells (e.g. Excel's `,,,,`), skipped silently. */
  blankRecords: number;
  /** Rows from which C0 control characters were stripped (`controlCharacters: 'strip'`). */
  rowsWithControlCharactersStripped: number;
  /** Bytes that were not valid UTF-8 in a UTF-8 entry and were decoded as Windows-1252 instead. */
  bytesDecodedAsWindows1252: number;
}

/** One CSV-like table: a plain file, or one `.csv`/`.txt`/`.tsv` entry of a zip. */
export interface Entry {
  /** Source name for a plain file; path inside the zip for an entry (e.g. `subscribed_members_export_ba473dc14f.csv`). */
  name: string;
  /** Set when the entry came out of a zip: the zip's source name. */
  archiveName?: string;
  encoding: TextEncodingName;
  delimiter: Delimiter;
  /**
   * Header cells, positional; duplicates kept as they are (map columns by index). Trimmed, with BOM,
   * zero-width and control characters removed.
   */
  header: string[];
  /** 1-based line of the header; 0 when the header was synthesized (`headerSynthesized`). */
  headerLine: number;
  /** Physical lines before the header (title rows, LinkedIn's notes, blank lines). */
  preambleLines: number;
  /** True for a header-less one-email-per-line file: the header is `['email']` and line 1 is data. */
  headerSynthesized: boolean;
  /** Zip entries that were not read (same list on every entry of one zip; empty for a plain file). */
  skippedEntries: readonly SkippedEntry[];
  /** Live counters, see {@link EntryStats}. */
  stats: EntryStats;
  /**
   * The records after the header, in file order. Iterable once. Iterate it before asking for the next entry:
   * moving on abandons the unread rest. Throws `UnreadableFileError` if a zip limit is hit mid-entry.
   */
  rows: AsyncIterable<RowEvent>;
  /**
   * The same events as `rows`, handed on in arrays (one per chunk of bytes read, in file order; never empty), so a
   * consumer pays one await per few hundred rows instead of one per row. `stats.rows` / `stats.errors` grow by a
   * whole batch before it is handed on. Iterable once, and instead of `rows` (not as well).
   */
  batches(): AsyncIterable<RowEvent[]>;
  /**
   * The records unsplit, in record-aligned chunks of `records` records (default 512) or `chars` characters of text
   * (default 48 Ki), whichever comes first (the last may be smaller), for processing in worker threads: `splitChunk(chunk)` (pure) turns one into exactly the events
   * `rows` would have yielded for it. The reading thread only frames (quotes, recovery, line numbers); cell
   * splitting, blank records and the column-count rule happen where `splitChunk` runs, so with `chunks()`
   * `stats.rows` stays 0, `stats.errors` counts the framing errors only, and `stats.blankRecords` only blank lines:
   * add the counts `splitChunk` returns. Iterable once, and instead of `rows` / `batches()`.
   */
  chunks(options?: ChunkOptions): AsyncIterable<RecordChunk>;
}

/** Options of {@link Entry.chunks}. */
export interface ChunkOptions {
  /** Records (and framing errors) per chunk. */
  records?: number;
  /** Characters of record text after which a chunk closes early (wide rows). */
  chars?: number;
}

/** Options that are not limits. */
export interface ReadOptions {
  /**
   * What to do with C0 control characters other than tab and newlines (and DEL) found in a record:
   * `strip` (default) removes them and keeps the row (counted in `stats`); `reject` reports the record as
   * `control_characters`.
   */
  controlCharacters?: 'strip' | 'reject';
  /** Directory for the temporary copy of a zip (yauzl needs random access). Defaults to `os.tmpdir()`. */
  tmpDir?: string;
}

/** Limits after defaults are applied and validated. */
export type ResolvedLimits = Required<Omit<ReadLimits, 'maxFileBytes'>> & Pick<ReadLimits, 'maxFileBytes'>;

/** Merges `limits` over {@link DEFAULT_LIMITS}; throws `RangeError` on a non-positive or non-finite limit. */
export function resolveLimits(limits: Partial<ReadLimits> = {}): ResolvedLimits {
  const merged = { ...DEFAULT_LIMITS, ...stripUndefined(limits) } as ResolvedLimits;
  for (const [key, value] of Object.entries(merged)) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`read limit ${key} must be a positive number, got ${String(value)}`);
    }
  }
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
