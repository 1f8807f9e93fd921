/**
 * Loggers behind core's Logger port: Powertools for AWS Lambda's Logger in the functions, a JSON-lines writer for the
 * CLI, the local runner and tests. Both turn a record into text through `toLogLine`, the one redaction path:
 *
 * 1. every string value is redacted before JSON escapes it (a secret with a quote, a backslash or a newline, like a
 *    PEM key, is still found): first the exact secrets this process has read (`processSecrets`), then the patterns;
 * 2. the finished line is redacted once more, keys included.
 *
 * The patterns are the last safety net for anything shaped like an email address, a phone number in E.164 form or an
 * access token, even though callers never pass them. Cell values are never logged: callers log ids, counts, reasons.
 */
import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
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

const stdout = (line: string) => {
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

/** Where each logger's lines go. */
const sinks = new WeakMap<object, (line: string) => void>();
/** The sink of the logger being constructed: Powertools' constructor may already print (a warning while it sets up). */
let pendingSink: ((line: string) => void) | undefined;

/**
 * Powertools' Logger with its print step replaced: the record Powertools built (level, message, timestamp, service,
 * cold start, request id, X-Ray trace id, and our fields) goes through `toLogLine` with Powertools' own replacer
 * (Errors, BigInt, cycles), which calls ours first for every value. Log buffering stays off (it would print past
 * this method).
 */
class RedactingLogger extends PowertoolsLogger {
  constructor(options: ConstructorOptions, write: (line: string) => void) {
    pendingSink = write;
    super(options);
    sinks.set(this, write);
    pendingSink = undefined;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    (sinks.get(this) ?? pendingSink ?? stdout)(toLogLine(log.getAttributes(), this.getJsonReplacer()));
  }

  protected override createLogger(options?: ConstructorOptions): PowertoolsLogger {
    return new RedactingLogger(options ?? {}, sinks.get(this) ?? stdout);
  }
}

/** Field names Powertools keeps for itself (it drops them from extra input with a warning). */
const RESERVED = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

export type LambdaLogger = Logger & { readonly powertools: PowertoolsLogger };

/**
 * The functions' logger: Powertools' Logger behind the Logger port. Each line carries `event` (what the metric filters
 * and the tests match; Powertools' `message` holds the same name) and the fields; a field named like one of
 * Powertools' own keys is kept as `field_<name>` (`message` → `field_message`) instead of being dropped.
 */
export function createLambdaLogger(
  opts: { serviceName?: string; write?: (line: string) => void; logLevel?: ConstructorOptions['logLevel'] } = {},
): LambdaLogger {
  const powertools = new RedactingLogger(
    {
      serviceName: opts.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'audience-sync',
      logLevel: opts.logLevel,
      jsonReplacerFn: redactingReplacer,
    },
    opts.write ?? stdout,
  );
  const extra = (event: string, fields?: Record<string, unknown>) => {
    const out: Record<string, unknown> = { event };
    for (const [k, v] of Object.entries(fields ?? {})) out[RESERVED.has(k) ? `field_${k}` : k] = v;
    return out;
  };
  return {
    powertools,
    info: (e, f) => powertools.info(e, extra(e, f)),
    warn: (e, f) => powertools.warn(e, extra(e, f)),
    error: (e, f) => powertools.error(e, extra(e, f)),
  };
}

/** Adds the invocation's request id, function name and cold start to the lines of a Lambda logger (others: no-op). */
export function addLambdaContext(logger: Logger, context: Parameters<PowertoolsLogger['addContext']>[0] | undefined) {
  if (context && 'powertools' in logger) (logger as LambdaLogger).powertools.addContext(context);
}
