/**
 * JSON-lines logger for Lambda and the CLI. A last safety net redacts anything shaped like an email address,
 * a phone number in E.164 form or an access token, even though callers never pass them.
 */
import type { Logger } from '../core/ports';

const EMAIL = /[^\s@"'<>()[\]{},;:]+@[^\s@"'<>()[\]{},;:]+\.[a-z]{2,}/gi;
const TOKEN = /(access_token=|EAA[A-Za-z0-9]{20,})[^&\s"]*/g;
const PHONE = /\+\d{8,15}\b/g;

export function redact(s: string): string {
  return s.replace(TOKEN, '[redacted-token]').replace(EMAIL, '[redacted-email]').replace(PHONE, '[redacted-phone]');
}

export function createLogger(
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Logger & { lines?: string[] } {
  const emit = (level: string, event: string, fields?: Record<string, unknown>) => {
    write(redact(JSON.stringify({ level, event, time: new Date().toISOString(), ...base, ...fields })));
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
