/**
 * Loggers behind core's Logger port: Powertools for AWS Lambda's Logger in the functions (lambda-logger.ts), a
 * JSON-lines writer here for the CLI, the local runner and tests. Both turn a record into text through `toLogLine`,
 * the one redaction path:
 *
 * 1. every string value is redacted before JSON escapes it (a secret with a quote, a backslash or a newline, like a
 *    PEM key, is still found): first the exact secrets this process has read (`processSecrets`), then the patterns;
 * 2. the finished line is redacted once more, keys included.
 *
 * The patterns are the last safety net for anything shaped like an email address, a phone number in E.164 form or an
 * access token, even though callers never pass them. Cell values are never logged: callers log ids, counts, reasons.
 */
import type { Logger } from '../core/ports';
import { processSecrets } from './secret-redactor';

const EMAIL = /[^\s@"'<>()[\]{},;:]+@[^\s@"'<>()[\]{},;:]+\.[a-z]{2,}/gi;
const TOKEN = /(access_token=|EAA[A-Za-z0-9]{20,})[^&\s"]*/g;
const PHONE = /\+\d{8,15}\b/g;

export function redact(s: string): string {
  return processSecrets
    .text(s)
    .replace(TOKEN, '[redacted-token]')
    .replace(EMAIL, '[redacted-email]')
    .replace(PHONE, '[redacted-phone]');
}

/** JSON.stringify replacer that redacts each string value before it is escaped into the line. */
export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? redact(value) : value;
}

/** The one way a log record becomes a line: values redacted one by one, then the whole line (keys too). */
export function toLogLine(
  record: unknown,
  replacer: (key: string, value: unknown) => unknown = redactingReplacer,
): string {
  return redact(JSON.stringify(record, replacer));
}

/** Error objects as log fields: name, message and stack (redacted like everything else), never the raw object. */
function plainErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return redactingReplacer(_key, value);
}

export const stdout = (line: string) => {
  process.stdout.write(`${line}\n`);
};

/** JSON-lines logger: `{ level, event, time, ...base, ...fields }` per line, written by `write`. */
export function createLogger(
  base: Record<string, unknown> = {},
  write: (line: string) => void = stdout,
): Logger & { lines?: string[] } {
  const emit = (level: string, event: string, fields?: Record<string, unknown>) => {
    write(toLogLine({ level, event, time: new Date().toISOString(), ...base, ...fields }, plainErrors));
  };
  return {
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

/** A logger that keeps lines in memory (tests scan them for PII). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = createLogger({}, (line) => lines.push(line));
  return Object.assign(l, { lines });
}
