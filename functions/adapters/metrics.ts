/**
 * CloudWatch metrics through the Embedded Metric Format: one JSON log line per run, which CloudWatch turns into
 * metrics without an API call. Dimensions are list and destination ids only, never people.
 */
import type { IngestReport } from '../core/ingest';
import type { Logger } from '../core/ports';
import type { SyncReport } from '../core/sync';

export const METRIC_NAMESPACE = 'AudienceSync';

function emf(logger: Logger, dimensions: Record<string, string>, values: Record<string, number>, at: Date) {
  logger.info('metrics', {
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: 'Count' })),
        },
      ],
    },
    ...dimensions,
    ...values,
  });
}

export function ingestMetrics(logger: Logger, r: IngestReport, at: Date) {
  emf(
    logger,
    { List: r.list },
    { Rows: r.rows, Accepted: r.accepted, Rejected: r.rejected, Written: r.written, LeftList: r.removed },
    at,
  );
}

export function syncMetrics(logger: Logger, r: SyncReport, at: Date) {
  for (const a of r.audiences) {
    emf(
      logger,
      { Destination: a.destination, Segment: a.segment },
      {
        Added: a.added,
        Removed: a.removed,
        InvalidEntries: a.invalidEntries,
        Desired: a.desired,
        Failed: a.status === 'failed' ? 1 : 0,
      },
      at,
    );
  }
}
