/**
 * Byte-level reading of contact exports: bytes (a CSV, a `;` file in Windows-1252, a zip of CSVs…) in,
 * entries of header + rows of strings out, with every unread record reported. Knows nothing about platforms.
 */
export { type DetectedEncoding, detectEncoding } from './encoding';
export { UnreadableFileError, type UnreadableReason } from './errors';
export { readExport } from './read-export';
export {
  batchEvents,
  forEachEvent,
  isBlank,
  packChunk,
  type RecordChunk,
  type RecordShape,
  recordEvent,
  type SplitResult,
  splitChunk,
  splitRecord,
} from './records';
export { countFields, sniffDelimiter, splitFields } from './sniff';
export {
  type ByteSource,
  type ChunkOptions,
  DEFAULT_LIMITS,
  type Delimiter,
  type Entry,
  type EntryStats,
  type ReadLimits,
  type ReadOptions,
  type RowError,
  type RowErrorReason,
  type RowEvent,
  type RowOk,
  type SkippedEntry,
  type TextEncodingName,
} from './types';
