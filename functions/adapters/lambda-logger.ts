/**
 * The functions' logger: Powertools for AWS Lambda's Logger behind core's Logger port, printing through the same
 * redaction path as the JSON-lines logger (`toLogLine` in logger.ts). Its own file so the CLI, which loads logger.ts
 * at start-up, does not load Powertools.
 */
import type { LogItem } from '@aws-lambda-powertools/logger';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { Logger } from '../core/ports';
import { redactingReplacer, stdout, toLogLine } from './logger';

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
