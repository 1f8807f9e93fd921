/** Why a whole file (or zip) could not be read. */
export type UnreadableReason =
  | 'empty'
  | 'not_text'
  | 'zip_bomb'
  | 'too_many_entries'
  | 'no_csv_in_zip'
  | 'unsafe_entry_name'
  | 'no_header'
  | 'too_large'
  | 'corrupt_archive';

/**
 * The file cannot be read at all, so it should be quarantined. The message is meant for the marketer or
 * operator: it names what was seen (file names, sizes, counts) and never quotes cell values.
 */
export class UnreadableFileError extends Error {
  override name = 'UnreadableFileError';
  readonly reason: UnreadableReason;
  /** Name of the source (the S3 key's basename, the zip). */
  readonly fileName: string;
  /** Entry inside the zip the problem was found in, if any. */
  readonly entryName?: string;

  constructor(reason: UnreadableReason, message: string, fileName: string, entryName?: string) {
    super(message);
    this.reason = reason;
    this.fileName = fileName;
    if (entryName !== undefined) this.entryName = entryName;
  }
}

/** Formats a byte count for a message: `512 B`, `64 KiB`, `4 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const rounded = v >= 10 || u === 0 ? Math.round(v) : Math.round(v * 10) / 10;
  return `${rounded} ${units[u]}`;
}

/** `"name"` or `"entry" in "zip"`, for messages. */
export function describeFile(fileName: string, entryName?: string): string {
  return entryName === undefined ? `"${fileName}"` : `"${entryName}" in "${fileName}"`;
}
