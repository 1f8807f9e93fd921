/**
 * CloudWatch metrics through Powertools for AWS Lambda's Metrics, which builds and validates the Embedded Metric
 * Format documents (one JSON log line per set of dimensions, turned into metrics without an API call). Values are
 * buffered during an invocation and flushed once at its end (`flush()`, called by the ingest handler and by the sync
 * run). Dimensions are list, destination, segment and error ids only, never people; the number of series is bounded
 * by the config (lists × destinations × segments) and by the platforms' error codes.
 *
 * | metric                                           | unit         | dimensions                                  |
 * |--------------------------------------------------|--------------|---------------------------------------------|
 * | Rows, Accepted, Rejected, Written, LeftList      | Count        | List                                        |
 * | Added, Removed, InvalidEntries, Desired, Failed  | Count        | Destination, Segment                        |
 * | ApiErrors                                        | Count        | Destination, Platform, ErrorKind, Code      |
 * | SyncCompleted (a run that finished, not dry)      | Count        | Segments (`all`, or the one segment run)    |
 * | SyncDuration (one invocation of the sync)        | Milliseconds | Segments                                    |
 *
 * The stack's dashboard and its "sync did not run" alarm read these names (lib/constructs/monitoring.ts).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { IngestReport } from '../core/ingest';
import { type Destination, DestinationError } from '../core/ports';
import type { SyncReport } from '../core/sync';
import { ALL_SEGMENTS, METRIC, METRIC_NAMESPACE } from './metric-names';

export { METRIC, METRIC_NAMESPACE };

const stdout = (line: string) => {
  process.stdout.write(`${line}\n`);
};

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * One invocation's metrics. Each distinct set of dimensions is its own Powertools `Metrics` (an EMF document shares
 * one set of dimension values, so two audiences cannot share a document). `flush()` writes every document that has
 * values as one line and empties the buffers.
 *
 * Powertools' `publishStoredMetrics()` prints through a console of its own on stdout; here the document Powertools
 * serialized is written by `write` instead (stdout in the functions, exactly as Powertools would print it; the local
 * log file for `audience-sync local`; memory in tests), so the same code path is checked in tests.
 */
export class RunMetrics {
  private readonly groups = new Map<string, Metrics>();
  /** Every line written (kept only by `memoryMetrics()`). */
  readonly lines: string[] = [];

  constructor(
    private readonly write: (line: string) => void = stdout,
    private readonly namespace: string = METRIC_NAMESPACE,
  ) {}

  /** Buffers counts (or another unit) under one set of dimensions. */
  add(dimensions: Record<string, string>, values: Record<string, number>, unit: Unit = MetricUnit.Count): void {
    const key = JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b)));
    let m = this.groups.get(key);
    if (!m) {
      m = new Metrics({ namespace: this.namespace });
      // Powertools adds a `service` dimension by default; the metrics keep the dimensions they always had.
      m.clearDefaultDimensions();
      m.setDefaultDimensions(dimensions);
      this.groups.set(key, m);
    }
    for (const [name, value] of Object.entries(values)) m.addMetric(name, unit, value);
  }

  /** Writes what this invocation buffered, one EMF line per set of dimensions, and starts empty again. */
  flush(): void {
    for (const m of this.groups.values()) {
      if (!m.hasStoredMetrics()) continue;
      this.write(JSON.stringify(m.serializeMetrics()));
      m.clearMetrics();
    }
    this.groups.clear();
  }
}

/** Metrics that keep their EMF lines in `lines` (tests read them). */
export function memoryMetrics(): RunMetrics {
  const m: RunMetrics = new RunMetrics((l) => m.lines.push(l));
  return m;
}

/** Metrics that go nowhere (CLI commands that only read). */
export const discardMetrics = () => new RunMetrics(() => {});

export function ingestMetrics(metrics: RunMetrics, r: IngestReport) {
  metrics.add(
    { List: r.list },
    {
      [METRIC.rows]: r.rows,
      [METRIC.accepted]: r.accepted,
      [METRIC.rejected]: r.rejected,
      [METRIC.written]: r.written,
      [METRIC.leftList]: r.removed,
    },
  );
}

export function syncMetrics(metrics: RunMetrics, r: SyncReport, opts: { segment?: string } = {}) {
  for (const a of r.audiences) {
    metrics.add(
      { Destination: a.destination, Segment: a.segment },
      {
        [METRIC.added]: a.added,
        [METRIC.removed]: a.removed,
        [METRIC.invalidEntries]: a.invalidEntries,
        [METRIC.desired]: a.desired,
        [METRIC.failed]: a.status === 'failed' ? 1 : 0,
      },
    );
  }
  const run = { Segments: opts.segment ?? ALL_SEGMENTS };
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  if (Number.isFinite(ms) && ms >= 0) metrics.add(run, { [METRIC.syncDuration]: ms }, MetricUnit.Milliseconds);
  // The "sync did not run" alarm watches this: only a run that got to the end counts, not a slice that continues.
  if (r.done) metrics.add(run, { [METRIC.syncCompleted]: 1 });
}

/** The error's code as a dimension value: the platform's error code, else the HTTP status, else `none`. */
function codeOf(e: unknown): string {
  if (!(e instanceof DestinationError)) return 'none';
  return String(e.details.code ?? e.details.status ?? 'none');
}

/**
 * The destination with every error its calls throw counted as `ApiErrors` (by destination, platform, kind and code),
 * including errors sync retries and recovers from. Calls, results and errors pass through unchanged; methods a
 * destination lacks stay absent (core checks for them).
 */
export function meteredDestination(
  destinationId: string,
  destination: Destination | undefined,
  metrics: RunMetrics,
): Destination | undefined {
  if (!destination) return destination;
  const count = (e: unknown) => {
    metrics.add(
      {
        Destination: destinationId,
        Platform: destination.platform,
        ErrorKind: e instanceof DestinationError ? e.kind : 'unexpected',
        Code: codeOf(e),
      },
      { [METRIC.apiErrors]: 1 },
    );
  };
  return new Proxy(destination, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        let out: unknown;
        try {
          out = value.apply(target, args);
        } catch (e) {
          count(e);
          throw e;
        }
        if (out instanceof Promise)
          return out.catch((e: unknown) => {
            count(e);
            throw e;
          });
        return out;
      };
    },
  });
}
