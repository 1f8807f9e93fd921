import iconv from 'iconv-lite';
import { UnreadableFileError } from './errors';
import type { TextEncodingName } from './types';

/** Result of {@link detectEncoding}. */
export interface DetectedEncoding {
  encoding: TextEncodingName;
  /** Bytes of byte-order mark at the start of the data (to skip before decoding). */
  bomLength: number;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;
/** Bytes inspected for the UTF-16 NUL pattern and for binary content. */
const SNIFF_BYTES = 8192;
/** More than this share of non-printable characters in the sample means binary. */
const MAX_NON_PRINTABLE_SHARE = 0.1;

/**
 * Detects the text encoding of the start of a file. Pure: no I/O.
 *
 * BOM first (UTF-8, UTF-16LE/BE); without one, UTF-16 is recognised by its NUL-byte pattern; otherwise the sample
 * is validated as UTF-8 (cut at a character boundary unless `isWholeFile`) and falls back to Windows-1252.
 * Throws `UnreadableFileError` `empty` for no bytes (or a lone BOM) and `not_text` for binary content
 * (NULs in 8-bit text, more than 10 % non-printable characters, or a known binary signature).
 * `label` names the file in error messages (e.g. `"export.csv"`).
 */
export function detectEncoding(sample: Buffer, isWholeFile = false, label = 'The file'): DetectedEncoding {
  const detected = pickEncoding(sample, isWholeFile, label);
  if (sample.length <= detected.bomLength) {
    throw new UnreadableFileError('empty', `${label} is empty (nothing after the byte-order mark).`, label);
  }
  const text = decodeSample(sample, detected, isWholeFile);
  if (nonPrintableShare(text) > MAX_NON_PRINTABLE_SHARE) {
    throw notText(label, 'it is mostly non-printable characters');
  }
  return detected;
}

function pickEncoding(sample: Buffer, isWholeFile: boolean, label: string): DetectedEncoding {
  if (sample.length === 0) throw new UnreadableFileError('empty', `${label} is empty (0 bytes).`, label);
  if (sample[0] === UTF8_BOM[0] && sample[1] === UTF8_BOM[1] && sample[2] === UTF8_BOM[2]) {
    return { encoding: 'utf-8-bom', bomLength: 3 };
  }
  if (sample[0] === 0xff && sample[1] === 0xfe) return { encoding: 'utf-16le', bomLength: 2 };
  if (sample[0] === 0xfe && sample[1] === 0xff) return { encoding: 'utf-16be', bomLength: 2 };

  const kind = binarySignature(sample);
  if (kind !== undefined) throw notText(label, `it looks like ${kind}`);

  const utf16 = sniffUtf16(sample);
  if (utf16 !== undefined) return { encoding: utf16, bomLength: 0 };

  const head = sample.subarray(0, SNIFF_BYTES);
  if (head.includes(0)) throw notText(label, 'it contains NUL bytes (binary data)');

  const toValidate = isWholeFile ? sample : sample.subarray(0, utf8SafeEnd(sample));
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(toValidate);
    return { encoding: 'utf-8', bomLength: 0 };
  } catch {
    return { encoding: 'windows-1252', bomLength: 0 };
  }
}

/**
 * UTF-16 without BOM: ASCII-range text has a NUL in every other byte. LE puts it at odd offsets, BE at even.
 * Demands a clear pattern (≥ 30 % of one parity NUL, ≤ 5 % of the other) so binary files are not mistaken for text.
 */
function sniffUtf16(sample: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  const n = Math.min(sample.length, SNIFF_BYTES) & ~1;
  if (n < 4) return undefined;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i += 2) {
    if (sample[i] === 0) evenNul++;
    if (sample[i + 1] === 0) oddNul++;
  }
  const pairs = n / 2;
  if (oddNul / pairs >= 0.3 && evenNul / pairs <= 0.05) return 'utf-16le';
  if (evenNul / pairs >= 0.3 && oddNul / pairs <= 0.05) return 'utf-16be';
  return undefined;
}

/** Offset where an incomplete trailing UTF-8 sequence (cut by the sample) starts, or `length`. */
export function utf8SafeEnd(buf: Buffer | Uint8Array, end = buf.length): number {
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  let i = end - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && ((buf[i] ?? 0) & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return end;
  const lead = buf[i] ?? 0;
  const need =
    lead >= 0xf0 && lead <= 0xf4 ? 3 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xc2 && lead <= 0xdf ? 1 : 0;
  return need > continuation ? i : end;
}

const SIGNATURES: Array<[bytes: number[], kind: string]> = [
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0xff, 0xd8, 0xff], 'a JPEG image'],
  [[0x47, 0x49, 0x46, 0x38], 'a GIF image'],
  [[0x25, 0x50, 0x44, 0x46, 0x2d], 'a PDF document'],
  [[0x1f, 0x8b], 'a gzip archive'],
  [[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], 'a legacy Excel/Office file (.xls); save it as CSV'],
  [[0x52, 0x61, 0x72, 0x21], 'a RAR archive'],
  [[0x37, 0x7a, 0xbc, 0xaf], 'a 7-Zip archive'],
];

function binarySignature(sample: Buffer): string | undefined {
  for (const [bytes, kind] of SIGNATURES) {
    if (bytes.every((b, i) => sample[i] === b)) return kind;
  }
  return undefined;
}

function notText(label: string, why: string): UnreadableFileError {
  return new UnreadableFileError(
    'not_text',
    `${label} is not a text/CSV export: ${why}. Export the contacts as CSV and drop that file instead.`,
    label,
  );
}

function decodeSample(sample: Buffer, detected: DetectedEncoding, isWholeFile: boolean): string {
  const decoder = createTextDecoder(detected.encoding);
  const text = decoder.write(sample.subarray(detected.bomLength, Math.min(sample.length, SNIFF_BYTES)));
  return isWholeFile && sample.length <= SNIFF_BYTES ? text + decoder.end() : text;
}

/** Share of characters that no text export contains: C0 controls other than TAB/LF/CR/FF, and U+FFFD. */
function nonPrintableShare(text: string): number {
  if (text.length === 0) return 0;
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0xfffd) bad++;
  }
  return bad / text.length;
}

/** A streaming bytes→text decoder. */
export interface StreamingTextDecoder {
  write(chunk: Buffer): string;
  end(): string;
  /** Invalid UTF-8 bytes decoded as Windows-1252 so far (UTF-8 decoders only). */
  readonly repairedBytes: number;
}

/**
 * Creates a streaming decoder for a detected encoding (the BOM must already be skipped).
 *
 * UTF-8 is decoded strictly, but a byte that is not valid UTF-8 (a Windows-1252 `ü` appended by an Excel edit
 * far below the sample) is decoded as Windows-1252 instead of becoming U+FFFD, and counted in `repairedBytes`.
 * Windows-1252 bytes with no character (0x81, 0x8D, 0x8F, 0x90, 0x9D) decode to U+FFFD.
 */
export function createTextDecoder(encoding: TextEncodingName): StreamingTextDecoder {
  switch (encoding) {
    case 'utf-8':
    case 'utf-8-bom':
      return new TolerantUtf8Decoder();
    case 'utf-16le':
    case 'utf-16be':
    case 'windows-1252': {
      const d = iconv.getDecoder(encoding, { stripBOM: false });
      return { write: (c) => d.write(c), end: () => d.end() ?? '', repairedBytes: 0 };
    }
  }
}

let cp1252Table: string[] | undefined;
function cp1252(byte: number): string {
  if (cp1252Table === undefined) {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    cp1252Table = [...iconv.decode(all, 'windows-1252')];
  }
  return cp1252Table[byte] ?? '\ufffd';
}

class TolerantUtf8Decoder implements StreamingTextDecoder {
  // The caller skips the file's BOM: each decode() is a stream of its own, and must keep a U+FEFF that a chunk of
  // the middle of the file happens to start with.
  private readonly fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private readonly lenient = new TextDecoder('utf-8', { ignoreBOM: true });
  private carry: Buffer = Buffer.alloc(0);
  repairedBytes = 0;

  write(chunk: Buffer): string {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const cut = utf8SafeEnd(data);
    this.carry = Buffer.from(data.subarray(cut));
    return this.decode(data.subarray(0, cut));
  }

  end(): string {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    return this.decode(rest);
  }

  private decode(bytes: Buffer): string {
    if (bytes.length === 0) return '';
    try {
      return this.fatal.decode(bytes);
    } catch {
      return this.slowDecode(bytes);
    }
  }

  /** Valid runs decode as UTF-8; every byte that does not start a valid sequence decodes as Windows-1252. */
  private slowDecode(b: Buffer): string {
    const out: string[] = [];
    let runStart = 0;
    let i = 0;
    while (i < b.length) {
      const len = validSequenceLength(b, i);
      if (len > 0) {
        i += len;
        continue;
      }
      if (i > runStart) out.push(this.lenient.decode(b.subarray(runStart, i)));
      out.push(cp1252(b[i] ?? 0));
      this.repairedBytes++;
      i++;
      runStart = i;
    }
    if (i > runStart) out.push(this.lenient.decode(b.subarray(runStart, i)));
    return out.join('');
  }
}

/** Length of the well-formed UTF-8 sequence at `i` (WHATWG rules: no overlongs, no surrogates), 0 if none. */
function validSequenceLength(b: Buffer, i: number): number {
  const b0 = b[i] ?? 0;
  if (b0 < 0x80) return 1;
  const b1 = b[i + 1] ?? -1;
  const cont = (x: number) => x >= 0x80 && x <= 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(b1) ? 2 : 0;
  const b2 = b[i + 2] ?? -1;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return b1 >= lo && b1 <= hi && cont(b2) ? 3 : 0;
  }
  const b3 = b[i + 3] ?? -1;
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return b1 >= lo && b1 <= hi && cont(b2) && cont(b3) ? 4 : 0;
  }
  return 0;
}
