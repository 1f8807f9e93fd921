/**
 * The narrow interfaces core needs from the outside world. Adapters implement them; tests hand in real ones
 * pointed at local protocol servers.
 */
import type { Platform } from './config';
import type { ConsentState, ContactRecord } from './model';

/** What a list's latest committed snapshot was. */
export interface ListSnapshot {
  list: string;
  /** Source object identity: `<key>#<version or etag>`. */
  source: string;
  exportedAt: string;
  /** Where exportedAt came from: object metadata `exported-at`, or the object's LastModified. */
  exportedAtFrom: 'metadata' | 'last-modified' | 'clock';
  committedAt: string;
  counts: { rows: number; accepted: number; rejected: number; removed: number };
}

/** The compact per-contact fingerprint ingest compares against to write only what changed. */
export interface StoredFingerprint {
  cid: string;
  /** Content hash of keys + consent + attributes. */
  h: string;
  seenAt: string;
}

/** Members a destination audience was last confirmed to hold, with the exact keys that were sent. */
export interface SyncedMember {
  cid: string;
  keys: Record<string, string>;
  /** The replace session that last sent this member, when it was sent by one. */
  session?: number;
}

/** Per-audience state kept between runs. */
export interface AudienceState {
  destKey: string;
  audienceId?: string;
  audienceName: string;
  lastReplaceAt?: string;
  lookalikeId?: string;
  /**
   * A full replace in progress. Once batch 1 is confirmed the session is open on the platform, which closes it
   * 90 minutes after that batch and applies what it received: it is resumed only if it can still finish in time.
   */
  replace?: {
    sessionId: number;
    nextSeq: number;
    startedAt: string;
    sentCids: number;
    lastCid?: string;
    /** The last member sent, to close the session when nobody after it remains. */
    lastMember?: BatchMember;
  };
  /**
   * Mean time of one batch call (add, remove or replace; platform latency without our own pauses) in the latest run
   * that made one. Feeds the replace-window estimate.
   */
  batchCallMs?: number;
  updatedAt: string;
}

export interface SuppressionEntry {
  cid: string;
  at: string;
  reason: 'erasure' | 'global_opt_out';
}

export interface ContactStore {
  getSnapshot(list: string): Promise<ListSnapshot | undefined>;
  /** Conditional: only replaces a snapshot with an older exportedAt (or the same source, idempotently). */
  commitSnapshot(snap: ListSnapshot): Promise<'committed' | 'stale'>;
  fingerprints(list: string): AsyncIterable<StoredFingerprint>;
  /**
   * Writes records in batches. The caller holds the list's ingest lock and has already skipped contacts that a newer
   * export wrote, so these writes need no per-item condition. Returns how many were written.
   */
  putContacts(records: ContactRecord[], hashes: string[]): Promise<number>;
  /** Deletes contacts of a list last seen at or before `before` (members the snapshot being committed no longer contains). */
  removeContacts(list: string, cids: string[], before: string): Promise<number>;
  /** Sets consent on existing contacts of a list (suppress drops). */
  setConsent(list: string, cids: string[], consent: ConsentState, at: string): Promise<number>;
  listIds(): Promise<string[]>;
  contacts(list: string): AsyncIterable<ContactRecord>;

  suppress(entries: SuppressionEntry[]): Promise<void>;
  suppressed(): Promise<Set<string>>;

  audienceState(destKey: string): Promise<AudienceState | undefined>;
  putAudienceState(state: AudienceState): Promise<void>;
  syncedMembers(destKey: string): AsyncIterable<SyncedMember>;
  /** Checkpoint after a confirmed batch. */
  recordSynced(destKey: string, added: SyncedMember[], removedCids: string[]): Promise<void>;
  replaceSynced(destKey: string, members: SyncedMember[]): Promise<void>;
  /** After a completed replace session: drop synced members that the session did not send. */
  pruneSynced(destKey: string, session: number): Promise<number>;

  putRun(kind: 'ingest' | 'sync' | 'erasure', at: string, summary: unknown): Promise<void>;

  /** A leased lock (conditional write): true if `owner` now holds it until `until`. */
  acquireLock(name: string, owner: string, now: Date, until: Date): Promise<boolean>;
  releaseLock(name: string, owner: string): Promise<void>;
}

/** Where reports and quarantined files go. */
export interface ReportSink {
  putJson(key: string, value: unknown): Promise<void>;
  putText(key: string, body: string, contentType: string): Promise<void>;
}

export interface AudienceRef {
  id: string;
  name: string;
}

export interface BatchMember {
  cid: string;
  /** Platform keys as sent (Meta: EMAIL, PHONE, …). */
  keys: Record<string, string>;
}

export interface BatchOutcome {
  received: number;
  invalid: number;
  /** Field names that the platform reported as invalid in its samples (never values). */
  invalidFields?: string[];
  /** Highest business-use-case usage the platform reported, in percent. */
  usagePercent?: number;
  regainAccessMinutes?: number;
}

export interface ReplaceSession {
  sessionId: number;
  batchSeq: number;
  last: boolean;
  estimatedTotal: number;
}

export interface AudienceHealth {
  approximateCountLowerBound?: number;
  approximateCountUpperBound?: number;
  operationStatus?: { code?: number; description?: string };
  deliveryStatus?: { code?: number; description?: string };
}

export type DestinationErrorKind =
  | 'throttled' // back off and resume later; nothing lost
  | 'transient' // 5xx, timeouts, connection resets: retry with backoff
  | 'auth' // token invalid or expired
  | 'terms' // terms of service not accepted
  | 'config' // permissions, audience not shared, restricted audience
  | 'deleted' // the audience was deleted on the platform
  | 'low_audience_size' // a removal would bring the audience below the platform minimum
  | 'replace_in_progress' // another update (a replace session) holds the audience: leave it, retry later
  | 'replace_timed_out' // the platform closed a replace session and applied only the part it had received
  | 'replace_restart' // the platform does not know the session (no batch 1) or it already finished: start over
  | 'permanent';

/** A platform error mapped to what sync should do about it. Messages never carry tokens or PII. */
export class DestinationError extends Error {
  constructor(
    readonly kind: DestinationErrorKind,
    message: string,
    readonly details: {
      code?: number;
      subcode?: number;
      status?: number;
      retryAfterSeconds?: number;
      link?: string;
      /** A replace session was closed by the platform and applied with what it had received (not a full replace). */
      sessionApplied?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'DestinationError';
  }
}

/** A narrow destination: formats and sends. Diffing, batching and retry policy live in core. */
export interface Destination {
  readonly platform: Platform;
  readonly maxBatchSize: number;
  /** The platform's latest reported rate-limit usage, from any call; core paces on it before every call. */
  usage?(): { usagePercent?: number; regainAccessMinutes?: number };
  /** Finds the audience by stored id or by name, or creates it. */
  ensureAudience(spec: { name: string; description: string; knownId?: string }): Promise<{
    ref: AudienceRef;
    created: boolean;
  }>;
  add(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome>;
  remove(audience: AudienceRef, batch: BatchMember[]): Promise<BatchOutcome>;
  replace?(audience: AudienceRef, batch: BatchMember[], session: ReplaceSession): Promise<BatchOutcome>;
  health?(audience: AudienceRef): Promise<AudienceHealth>;
  createLookalike?(
    audience: AudienceRef,
    spec: { name: string; country: string; ratio: number },
  ): Promise<{ id: string }>;
}

/** Time, injectable so tests control "now" and sleeping. */
export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

/** Structured logger: fields must never contain PII or tokens. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}
