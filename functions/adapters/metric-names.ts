/**
 * The names of the functions' CloudWatch metrics (see metrics.ts for what each counts). No imports: the stack reads
 * them for its dashboard and alarms without loading the functions' libraries.
 */
export const METRIC_NAMESPACE = 'AudienceSync';

/** Metric names; the dashboard and the alarms in lib/constructs/monitoring.ts use these, so change them together. */
export const METRIC = {
  rows: 'Rows',
  accepted: 'Accepted',
  rejected: 'Rejected',
  written: 'Written',
  leftList: 'LeftList',
  added: 'Added',
  removed: 'Removed',
  invalidEntries: 'InvalidEntries',
  desired: 'Desired',
  failed: 'Failed',
  apiErrors: 'ApiErrors',
  syncCompleted: 'SyncCompleted',
  syncDuration: 'SyncDuration',
} as const;

/** Dimensions of each group of metrics, in the order the EMF documents name them. */
export const DIMENSIONS = {
  list: ['List'],
  audience: ['Destination', 'Segment'],
  apiErrors: ['Destination', 'Platform', 'ErrorKind', 'Code'],
  run: ['Segments'],
} as const;

/** The `Segments` value of a full run (every segment), the one the "sync did not run" alarm watches. */
export const ALL_SEGMENTS = 'all';
