import type { Delimiter, RowError } from './types';

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

/**
 * What the framer produced since the last `take()`: well-formed records (their text, without the newline, and the
 * line they start on) and the records it could not read, both in line order. `errorAt[k]` is the number of records
 * that came before `errors[k]`, so merging the two lists restores file order.
 */
export interface FramedBatch {
  texts: string[];
  lines: number[];
  errors: RowError[];
  errorAt: number[];
}

type Mode = 'preamble' | 'header' | 'data' | 'skip_line';

/**
 * Streaming, quote-aware record splitter with recovery. It cuts decoded text into records, numbering their
 * physical lines, and hands well-formed records on as text with their first line (see {@link FramedBatch}); the
 * cells are split afterwards by `splitRecord` (records.ts), which applies the same quote rules (those of csv-parse
 * with `relax_quotes`), so every framed record is exactly one record.
 *
 * Recovery, so one bad record never swallows its neighbours:
 * - a quoted field that spans lines but closes dirtily (a quote followed by text), leaves the record with the
 *   wrong field count, stays open past `maxRecordLines` / `maxRecordChars`, or reaches the end of the file, is
 *   `broken_quoting` for its first line, and the lines after it are parsed again as fresh records;
 * - a record over `maxRecordChars` on a single line is `row_too_large`; the rest of that line is discarded
 *   without being buffered;
 * - records with U+FFFD are `undecodable`; C0 controls are stripped or reported (`controlCharacters`).
 * Newlines (CRLF, lone CR) are normalized to LF, also inside quoted cells.
 *
 * Speed: a line that is a whole record is found with `indexOf` and handed on as one slice; a line with quotes is
 * checked by jumping from quote to quote. Only records whose quoted fields span lines (and the header) are walked
 * character by character.
 */
export class RecordFramer {
  /** Physical line of the cursor (1-based). */
  line = 1;
  blankRecords = 0;
  controlStripped = 0;
  private mode: Mode;
  private readonly d: number;
  private readonly maxChars: number;
  private readonly maxLines: number;
  private expected = -1;
  private texts: string[] = [];
  private lines: number[] = [];
  private errors: RowError[] = [];
  private errorAt: number[] = [];
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
    this.maxChars = cfg.maxRecordChars;
    this.maxLines = cfg.maxRecordLines;
    this.mode = cfg.headerLine === 0 ? 'data' : cfg.headerLine === 1 ? 'header' : 'preamble';
    if (cfg.headerLine === 0) this.expected = cfg.expectedFields ?? -1;
  }

  /** True once the header record has been handed to `onHeader` (or when there is none). */
  get headerDone(): boolean {
    return this.mode !== 'preamble' && this.mode !== 'header';
  }

  /** Records and errors produced since the last call. */
  take(): FramedBatch {
    const batch: FramedBatch = { texts: this.texts, lines: this.lines, errors: this.errors, errorAt: this.errorAt };
    this.texts = [];
    this.lines = [];
    this.errors = [];
    this.errorAt = [];
    return batch;
  }

  /** Feeds decoded text; `final` marks the end of the entry. */
  write(raw: string, final: boolean): void {
    const text = this.normalize(raw, final);
    this.scan(this.carry === '' ? text : this.carry + text, final);
  }

  private normalize(raw: string, final: boolean): string {
    let t = raw;
    if (this.pendingCR) t = `\r${t}`;
    this.pendingCR = !final && t.endsWith('\r');
    if (this.pendingCR) t = t.slice(0, -1);
    return t.includes('\r') ? t.replace(/\r\n?/g, '\n') : t;
  }

  /** True when no character of the current record has been consumed yet. */
  private atRecordStart(): boolean {
    return this.recPrefix.length === 0 && this.field === 0 && this.atFieldStart && !this.inQuotes;
  }

  private scan(input: string, final: boolean): void {
    let s = input;
    // One test of the whole text for what emit looks for: a record cut from a text without any such character
    // needs no test of its own (a text made again from a refed record is tested record by record).
    let sClean = !SUSPECT.test(s);
    this.carry = '';
    let i = 0;
    let recStart = 0;
    const d = this.d;
    // Position of the next `"` at or after `i` (s.length when none): lines before it need no quote tracking.
    let nextQuote = -1;
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

      // Fast path: whole lines at the start of a record that leave no quoted field open.
      if (this.mode === 'data' && i === recStart && this.atRecordStart()) {
        for (;;) {
          const nl = s.indexOf('\n', i);
          if (nl === -1) break;
          if (nextQuote < i) {
            nextQuote = s.indexOf('"', i);
            if (nextQuote === -1) nextQuote = n;
          }
          // A line with quotes is still one whole record when every quoted field it opens closes on it.
          if (nextQuote < nl && !closesOnLine(s, i, nextQuote, nl, d)) break;
          this.recLine = this.line;
          this.simpleRecord(s.slice(i, nl), sClean);
          this.line++;
          i = nl + 1;
        }
        recStart = i;
        this.recLine = this.line;
      }

      let restart = false;
      // The character walk, with the record's state in locals (written back before anything else reads it).
      let inQuotes = this.inQuotes;
      let atFieldStart = this.atFieldStart;
      let field = this.field;
      let fieldNonEmpty = this.fieldNonEmpty;
      let lastNonEmpty = this.lastNonEmpty;
      let dirty = this.dirty;
      const save = () => {
        this.inQuotes = inQuotes;
        this.atFieldStart = atFieldStart;
        this.field = field;
        this.fieldNonEmpty = fieldNonEmpty;
        this.lastNonEmpty = lastNonEmpty;
        this.dirty = dirty;
      };
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (inQuotes) {
          if (c === QUOTE) {
            if (i + 1 >= n) {
              if (!final) break; // need the next character to tell `""` from a closing quote
              inQuotes = false;
              continue;
            }
            const next = s.charCodeAt(i + 1);
            if (next === QUOTE) {
              i++;
              continue;
            }
            inQuotes = false;
            if (this.quoteLine < this.line && next !== d && next !== LF) dirty = true;
            continue;
          }
          if (c === LF) {
            this.line++;
            this.recLines++;
            const size = this.recPrefix.length + (i + 1 - recStart);
            if (this.firstBreak < 0) this.firstBreak = size;
            if (this.recLines > this.maxLines || size > this.maxChars) {
              save();
              const text = this.recPrefix + s.slice(recStart, i + 1);
              s = this.broken(text, `a quoted field is still open after ${this.recLines - 1} lines`) + s.slice(i + 1);
              sClean = false;
              i = 0;
              recStart = 0;
              nextQuote = -1;
              restart = true;
              break;
            }
          }
          continue;
        }
        if (c === d) {
          if (fieldNonEmpty) lastNonEmpty = field;
          field++;
          fieldNonEmpty = false;
          atFieldStart = true;
          continue;
        }
        if (c === LF) {
          save();
          const whole = this.recPrefix.length === 0;
          const text = whole ? s.slice(recStart, i) : this.recPrefix + s.slice(recStart, i);
          const refeed = this.endRecord(text, whole && sClean);
          if (refeed !== undefined) {
            s = refeed + s.slice(i);
            sClean = false;
            i = 0;
            recStart = 0;
            nextQuote = -1;
            restart = true;
            break;
          }
          this.line++;
          this.resetRecord();
          i++;
          recStart = i;
          // Back to the outer loop: the next record may take the fast path (or the mode changed).
          restart = true;
          break;
        }
        if (c === QUOTE && atFieldStart) {
          inQuotes = true;
          this.quoteLine = this.line;
        }
        atFieldStart = false;
        fieldNonEmpty = true;
      }
      if (restart) continue;
      save();

      // End of the available text.
      if (i < n) {
        // Stopped on a quote that needs look-ahead.
        this.carry = s.slice(i);
      }
      this.recPrefix += s.slice(recStart, i);
      recStart = 0;
      if (!final) {
        if (this.recPrefix.length > this.maxChars) {
          if (this.recLines === 1) {
            this.tooLarge();
            this.carry = '';
            this.mode = 'skip_line';
            return;
          }
          s = this.broken(this.recPrefix, `a quoted field is still open after ${this.recLines - 1} lines`) + this.carry;
          sClean = false;
          this.carry = '';
          i = 0;
          nextQuote = -1;
          continue;
        }
        return;
      }
      // End of the entry.
      if (this.inQuotes) {
        if (this.recLines > 1) {
          s = this.broken(this.recPrefix, 'a quoted field is not closed before the end of the file');
          sClean = false;
          i = 0;
          nextQuote = -1;
          continue;
        }
        if (this.mode === 'header') throw new HeaderFramingError('the header has a quote that is never closed');
        this.pushError('broken_quoting', 'a quoted field is not closed before the end of the file');
        this.resetRecord();
        return;
      }
      if (this.recPrefix.length > 0 || this.field > 0) {
        const refeed = this.endRecord(this.recPrefix, false);
        if (refeed !== undefined) {
          s = refeed;
          sClean = false;
          i = 0;
          nextQuote = -1;
          continue;
        }
        this.resetRecord();
      }
      return;
    }
  }

  /**
   * A complete single-line record in data mode (what {@link endRecord} does when `recLines` is 1); `clean` when it
   * is known to hold no character {@link emit} looks for.
   */
  private simpleRecord(text: string, clean: boolean): void {
    if (text.length > this.maxChars) {
      this.pushError('row_too_large', `record is longer than ${this.maxChars} characters`);
      return;
    }
    if (text.length === 0) {
      this.blankRecords++;
      return;
    }
    this.emit(text, clean);
  }

  /**
   * Handles a complete record (without its newline). Returns text to parse again when the record turned out to
   * be a broken multi-line quote, otherwise `undefined`. `clean`: the text holds no character {@link emit} looks for.
   */
  private endRecord(text: string, clean: boolean): string | undefined {
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
    if (text.length > this.maxChars) {
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
    this.emit(text, clean);
    return undefined;
  }

  /**
   * Hands on a well-formed data record, after the undecodable and control-character checks (none when `clean`: the
   * text it was cut from had none of those characters).
   */
  private emit(text: string, clean: boolean): void {
    let record = text;
    if (!clean && SUSPECT.test(record)) {
      if (record.includes('\ufffd')) {
        this.pushError('undecodable', `contains bytes that are not valid ${this.cfg.encodingLabel}`);
        return;
      }
      if (this.cfg.controlCharacters === 'reject') {
        const cp = record.match(CONTROL_GLOBAL)?.[0]?.charCodeAt(0) ?? 0;
        this.pushError(
          'control_characters',
          `contains control character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`,
        );
        return;
      }
      record = record.replace(CONTROL_GLOBAL, '');
      this.controlStripped++;
    }
    this.texts.push(record);
    this.lines.push(this.recLine);
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
      throw new HeaderFramingError(`the header is longer than ${this.maxChars} characters`);
    }
    this.pushError('row_too_large', `record is longer than ${this.maxChars} characters`);
    this.resetRecord();
  }

  private pushError(reason: RowError['reason'], detail: string): void {
    this.errors.push({ kind: 'error', line: this.recLine, reason, detail });
    this.errorAt.push(this.texts.length);
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

/**
 * True when the line `s[start, nl)` (the start of a record, `nl` its newline, `q` its first quote) is one whole
 * record by the walk's rules: a quote opens a quoted field only at the start of a field (the record's start or
 * after a delimiter), `""` inside one is a quote, and any other quote closes it (a dirty close makes the rest of the
 * field literal, so a later quote in it opens nothing). Jumps from quote to quote; false when a quoted field is
 * still open at the newline (a field spanning lines: the character walk decides what it is).
 */
function closesOnLine(s: string, start: number, q: number, nl: number, d: number): boolean {
  let at = q;
  while (at !== -1 && at < nl) {
    if (at === start || s.charCodeAt(at - 1) === d) {
      // Opens a quoted field: its closing quote, past any doubled ones.
      let close = s.indexOf('"', at + 1);
      while (close !== -1 && close < nl && s.charCodeAt(close + 1) === QUOTE) close = s.indexOf('"', close + 2);
      if (close === -1 || close > nl) return false;
      at = s.indexOf('"', close + 1);
    } else at = s.indexOf('"', at + 1);
  }
  return true;
}
