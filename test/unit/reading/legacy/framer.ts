import type { Delimiter, RowError } from '../../../../functions/reading/types';

const QUOTE = 0x22;
const LF = 0x0a;

// C0 controls except TAB and LF (CR is normalized away before this runs), DEL, and U+FFFD.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const SUSPECT = /[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_GLOBAL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Thrown when the header record itself is broken or too large. */
export class HeaderFramingError extends Error {
  override name = 'HeaderFramingError';
}

export interface FramerConfig {
  delimiter: Delimiter;
  /** 1-based line of the header record; 0 when there is none (data starts at line 1). */
  headerLine: number;
  maxRecordChars: number;
  maxRecordLines: number;
  controlCharacters: 'strip' | 'reject';
  /** Encoding name for the `undecodable` detail. */
  encodingLabel: string;
  /** Receives the header record's text once; returns the number of header fields. */
  onHeader(text: string): number;
  /** Field count to expect when there is no header record (`headerLine` 0). */
  expectedFields?: number;
}

type Mode = 'preamble' | 'header' | 'data' | 'skip_line';

/**
 * Streaming, quote-aware record splitter with recovery. It cuts decoded text into records, numbering their
 * physical lines, and hands well-formed records on as `<line><delimiter><record>\n` (the line number travels as
 * an extra first field so it cannot drift from the parser's output). Quote rules mirror csv-parse with
 * `relax_quotes`, so every framed record parses to exactly one record.
 *
 * Recovery, so one bad record never swallows its neighbours:
 * - a quoted field that spans lines but closes dirtily (a quote followed by text), leaves the record with the
 *   wrong field count, stays open past `maxRecordLines` / `maxRecordChars`, or reaches the end of the file, is
 *   `broken_quoting` for its first line, and the lines after it are parsed again as fresh records;
 * - a record over `maxRecordChars` on a single line is `row_too_large`; the rest of that line is discarded
 *   without being buffered;
 * - records with U+FFFD are `undecodable`; C0 controls are stripped or reported (`controlCharacters`).
 * Newlines (CRLF, lone CR) are normalized to LF, also inside quoted cells.
 */
export class RecordFramer {
  /** Physical line of the cursor (1-based). */
  line = 1;
  blankRecords = 0;
  controlStripped = 0;
  private mode: Mode;
  private readonly d: number;
  private expected = -1;
  private out: string[] = [];
  private errors: RowError[] = [];
  private pendingCR = false;
  private carry = '';
  // Current record.
  private recPrefix = '';
  private recLine = 1;
  private recLines = 1;
  private firstBreak = -1;
  private inQuotes = false;
  private atFieldStart = true;
  private field = 0;
  private fieldNonEmpty = false;
  private lastNonEmpty = -1;
  private quoteLine = 0;
  private dirty = false;

  constructor(private readonly cfg: FramerConfig) {
    this.d = cfg.delimiter.charCodeAt(0);
    this.mode = cfg.headerLine === 0 ? 'data' : cfg.headerLine === 1 ? 'header' : 'preamble';
    if (cfg.headerLine === 0) this.expected = cfg.expectedFields ?? -1;
  }

  /** True once the header record has been handed to `onHeader` (or when there is none). */
  get headerDone(): boolean {
    return this.mode !== 'preamble' && this.mode !== 'header';
  }

  /** Framed text and errors produced since the last call. */
  take(): { text: string; errors: RowError[] } {
    const text = this.out.join('');
    const errors = this.errors;
    this.out = [];
    this.errors = [];
    return { text, errors };
  }

  /** Feeds decoded text; `final` marks the end of the entry. */
  write(raw: string, final: boolean): void {
    this.scan(this.carry + this.normalize(raw, final), final);
  }

  private normalize(raw: string, final: boolean): string {
    let t = raw;
    if (this.pendingCR) t = `\r${t}`;
    this.pendingCR = !final && t.endsWith('\r');
    if (this.pendingCR) t = t.slice(0, -1);
    return t.includes('\r') ? t.replace(/\r\n?/g, '\n') : t;
  }

  private scan(input: string, final: boolean): void {
    let s = input;
    this.carry = '';
    let i = 0;
    let recStart = 0;
    const d = this.d;
    for (;;) {
      const n = s.length;
      if (this.mode === 'preamble' || this.mode === 'skip_line') {
        if (this.mode === 'preamble' && this.line >= this.cfg.headerLine) {
          this.mode = 'header';
          this.resetRecord();
          recStart = i;
          continue;
        }
        const nl = s.indexOf('\n', i);
        if (nl === -1) return;
        i = nl + 1;
        this.line++;
        if (this.mode === 'skip_line') {
          this.mode = 'data';
          this.resetRecord();
          recStart = i;
        }
        continue;
      }

      let restart = false;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (this.inQuotes) {
          if (c === QUOTE) {
            if (i + 1 >= n) {
              if (!final) break; // need the next character to tell `""` from a closing quote
              this.inQuotes = false;
              continue;
            }
            const next = s.charCodeAt(i + 1);
            if (next === QUOTE) {
              i++;
              continue;
            }
            this.inQuotes = false;
            if (this.quoteLine < this.line && next !== d && next !== LF) this.dirty = true;
            continue;
          }
          if (c === LF) {
            this.line++;
            this.recLines++;
            const size = this.recPrefix.length + (i + 1 - recStart);
            if (this.firstBreak < 0) this.firstBreak = size;
            if (this.recLines > this.cfg.maxRecordLines || size > this.cfg.maxRecordChars) {
              const text = this.recPrefix + s.slice(recStart, i + 1);
              s = this.broken(text, `a quoted field is still open after ${this.recLines - 1} lines`) + s.slice(i + 1);
              i = 0;
              recStart = 0;
              restart = true;
              break;
            }
          }
          continue;
        }
        if (c === d) {
          if (this.fieldNonEmpty) this.lastNonEmpty = this.field;
          this.field++;
          this.fieldNonEmpty = false;
          this.atFieldStart = true;
          continue;
        }
        if (c === LF) {
          const text = this.recPrefix + s.slice(recStart, i);
          const refeed = this.endRecord(text);
          if (refeed !== undefined) {
            s = refeed + s.slice(i);
            i = 0;
            recStart = 0;
            restart = true;
            break;
          }
          this.line++;
          this.resetRecord();
          recStart = i + 1;
          if (this.mode !== 'data') {
            i++;
            restart = true;
            break;
          }
          continue;
        }
        if (c === QUOTE && this.atFieldStart) {
          this.inQuotes = true;
          this.quoteLine = this.line;
        }
        this.atFieldStart = false;
        this.fieldNonEmpty = true;
      }
      if (restart) continue;

      // End of the available text.
      if (i < n) {
        // Stopped on a quote that needs look-ahead.
        this.carry = s.slice(i);
      }
      this.recPrefix += s.slice(recStart, i);
      recStart = 0;
      if (!final) {
        if (this.recPrefix.length > this.cfg.maxRecordChars) {
          if (this.recLines === 1) {
            this.tooLarge();
            this.carry = '';
            this.mode = 'skip_line';
            return;
          }
          s = this.broken(this.recPrefix, `a quoted field is still open after ${this.recLines - 1} lines`) + this.carry;
          this.carry = '';
          i = 0;
          continue;
        }
        return;
      }
      // End of the entry.
      if (this.inQuotes) {
        if (this.recLines > 1) {
          s = this.broken(this.recPrefix, 'a quoted field is not closed before the end of the file');
          i = 0;
          continue;
        }
        if (this.mode === 'header') throw new HeaderFramingError('the header has a quote that is never closed');
        this.pushError('broken_quoting', 'a quoted field is not closed before the end of the file');
        this.resetRecord();
        return;
      }
      if (this.recPrefix.length > 0 || this.field > 0) {
        const refeed = this.endRecord(this.recPrefix);
        if (refeed !== undefined) {
          s = refeed;
          i = 0;
          continue;
        }
        this.resetRecord();
      }
      return;
    }
  }

  /**
   * Handles a complete record (without its newline). Returns text to parse again when the record turned out to
   * be a broken multi-line quote, otherwise `undefined`.
   */
  private endRecord(text: string): string | undefined {
    if (this.fieldNonEmpty) this.lastNonEmpty = this.field;
    const fields = this.field + 1;
    if (this.recLines > 1) {
      const countOk =
        this.expected < 0 || fields === this.expected || (fields > this.expected && this.lastNonEmpty < this.expected);
      if (this.dirty || !countOk) {
        return this.broken(
          text,
          this.dirty
            ? 'a quoted field spanning lines closes in the middle of a value'
            : `a quoted field spanning lines leaves ${fields} fields where ${this.expected} were expected`,
        );
      }
    }
    if (text.length > this.cfg.maxRecordChars) {
      this.tooLarge();
      return undefined;
    }
    if (this.mode === 'header') {
      if (text.trim() === '') return undefined;
      this.expected = this.cfg.onHeader(text);
      this.mode = 'data';
      return undefined;
    }
    if (text.length === 0) {
      this.blankRecords++;
      return undefined;
    }
    let record = text;
    if (SUSPECT.test(record)) {
      if (record.includes('\ufffd')) {
        this.pushError('undecodable', `contains bytes that are not valid ${this.cfg.encodingLabel}`);
        return undefined;
      }
      if (this.cfg.controlCharacters === 'reject') {
        const cp = record.match(CONTROL_GLOBAL)?.[0]?.charCodeAt(0) ?? 0;
        this.pushError(
          'control_characters',
          `contains control character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`,
        );
        return undefined;
      }
      record = record.replace(CONTROL_GLOBAL, '');
      this.controlStripped++;
    }
    this.out.push(`${this.recLine}${this.cfg.delimiter}${record}\n`);
    return undefined;
  }

  /** Reports the record's first line as broken and returns the text after that line, to be parsed again. */
  private broken(text: string, detail: string): string {
    if (this.mode === 'header') throw new HeaderFramingError(`the header has broken quoting: ${detail}`);
    this.pushError('broken_quoting', detail);
    const rest = this.firstBreak >= 0 ? text.slice(this.firstBreak) : '';
    this.line = this.recLine + 1;
    this.resetRecord();
    return rest;
  }

  private tooLarge(): void {
    if (this.mode === 'header') {
      throw new HeaderFramingError(`the header is longer than ${this.cfg.maxRecordChars} characters`);
    }
    this.pushError('row_too_large', `record is longer than ${this.cfg.maxRecordChars} characters`);
    this.resetRecord();
  }

  private pushError(reason: RowError['reason'], detail: string): void {
    this.errors.push({ kind: 'error', line: this.recLine, reason, detail });
  }

  private resetRecord(): void {
    this.recPrefix = '';
    this.recLine = this.line;
    this.recLines = 1;
    this.firstBreak = -1;
    this.inQuotes = false;
    this.atFieldStart = true;
    this.field = 0;
    this.fieldNonEmpty = false;
    this.lastNonEmpty = -1;
    this.quoteLine = 0;
    this.dirty = false;
  }
}
