/**
 * The narrow interfaces core needs from the outside world. Adapters implement them; tests hand in real ones
 * pointed at local protocol servers.
 */
import type { ContactRecord, Zone } from './model';
import type { ChunkOutcome, ChunkRowEvent, RowJob } from './row-chunks';

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

/** A drop whose changes are being written to the list (or stopped while being written): the list is not committed. */
export interface ApplyingMarker {
  source: string;
  startedAt: string;
  /** Lock owner of the ingest that writes it, to tell a running ingest from a crashed one. */
  owner: string;
}

/** A list's committed snapshot and, while a drop is being written, the marker that says so. */
export interface ListState {
  snapshot?: ListSnapshot;
  applying?: ApplyingMarker;
}

/** The compact per-contact fingerprint ingest compares against to write only what changed. */
export interface StoredFingerprint {
  cid: string;
  /** Content hash of ids + keys + consent + attributes. */
  h: string;
  seenAt: string;
}

/** Members a destination audience was last confirmed to hold, with the exact keys that were sent. */
export interface SyncedMember {
  cid: string;
  keys: Record<string, string>;
  /** The replace session that last sent this member, when it was sent by one. */
  session?: number;
  /**
   * Sent in a batch whose answer never came (the run died waiting): the platform may hold them or not. Removed if no
   * longer desired, sent again if still desired.
   */
  pending?: boolean;
}

/** Per-audience state kept between runs. */
export interface AudienceState {
  destKey: string;
  /** Destination and segment ids the audience was created for (to find it when either leaves the config). */
  destination?: string;
  segment?: string;
  audienceId?: string;
  audienceName: string;
  lastReplaceAt?: string;
  lookalikeId?: string;
  /** An orphaned audience that was emptied, deleted or kept under the orphan policy. */
  retired?: { at: string; policy: string };
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

/**
 * Why an identity hash is blocked from every upload, whatever any list says:
 * - `erasure`: right to erasure; never lifted by an export.
 * - `suppress`: a suppress drop; lifted by the operator, or by an opt-in recorded after it.
 * - `optout`: an opt-out recorded in a list (unsubscribed, cleaned address, deletion request), kept after the record
 *   leaves the list; lifted when that list records them subscribed again, or by an opt-in recorded after it.
 */
export type BlockKind = 'erasure' | 'suppress' | 'optout';

export interface BlockEntry {
  hash: string;
  kind: BlockKind;
  /** When the block was recorded (the export time, or the opt-out time the source gives). */
  at: string;
  /** `list:<id>`, `suppress:<list>`, `erasure` — who put it there. */
  source: string;
}

export interface LockHolder {
  owner: string;
  /** The lease ends here unless the owner renews it (its heartbeat). */
  until: string;
  heartbeatAt?: string;
}

export type LockOutcome = { acquired: true; tookOverFrom?: LockHolder } | { acquired: false; holder?: LockHolder };

/**
 * One contact to write: who, in which list, from which drop, and its values as one text (core's `contentText`, which
 * `recordOfContent` reads back as the record) with the content hash of that text. A store keeps the text as it is:
 * ingest hands on the text its staging holds, without building the record in between.
 */
export interface ContactWrite {
  cid: string;
  list: string;
  seenAt: string;
  source: string;
  /** Content hash: SHA-256 of `text`. */
  h: string;
  text: string;
}

export interface ContactStore {
  getSnapshot(list: string): Promise<ListSnapshot | undefined>;
  listState(list: string): Promise<ListState>;
  /**
   * Records that a drop is being written to the list; the list counts as not committed until commitSnapshot. A marker
   * another file left (it stopped midway: the list's ingest lock is held by one drop at a time) stays: the list is
   * half-written until that file (any version of its object) is ingested again or a snapshot commits, whatever a
   * delta or suppress drop of another file does.
   */
  markApplying(list: string, marker: ApplyingMarker): Promise<void>;
  /**
   * Conditional: only replaces a snapshot with an older exportedAt (or the same source, idempotently). Clears the
   * marker, or leaves `keep` (another drop's, which this snapshot does not make whole) in its place, at once.
   */
  commitSnapshot(snap: ListSnapshot, keep?: ApplyingMarker): Promise<'committed' | 'stale'>;
  /** Commits a delta or suppress drop: clears its own marker (not another drop's) without changing the snapshot. */
  clearApplying(list: string, source: string): Promise<void>;
  /** A list's content fingerprints; with `shard`, only those of cids starting with that hex digit. */
  fingerprints(list: string, shard?: string): AsyncIterable<StoredFingerprint>;
  getContact(list: string, cid: string): Promise<ContactRecord | undefined>;
  /**
   * Writes contacts in batches, each as its content text (see {@link ContactWrite}). The caller holds the list's
   * ingest lock and has already skipped contacts that a newer export wrote, so these writes need no per-item
   * condition. Returns how many were written.
   */
  putContacts(writes: ContactWrite[]): Promise<number>;
  /**
   * Deletes contacts of a list last seen at or before `before` (members the snapshot being committed no longer
   * contains), and those last seen after `untrustedAfter` (a time in the future: written under a broken clock).
   */
  removeContacts(list: string, cids: string[], before: string, untrustedAfter?: string): Promise<number>;
  listIds(): Promise<string[]>;
  /** A list's contacts in cid order; with `prefix`, only cids starting with those hex digits (a sync shard). */
  contacts(list: string, prefix?: string): AsyncIterable<ContactRecord>;

  putBlocks(entries: BlockEntry[]): Promise<void>;
  deleteBlocks(entries: Array<Pick<BlockEntry, 'hash' | 'kind' | 'source'>>): Promise<void>;
  blocks(): AsyncIterable<BlockEntry>;

  audienceState(destKey: string): Promise<AudienceState | undefined>;
  putAudienceState(state: AudienceState): Promise<void>;
  /** Every audience state ever written (live and orphaned). */
  audienceStates(): AsyncIterable<AudienceState>;
  /** Members in cid order; with `prefix`, only cids starting with those hex digits (a sync shard). */
  syncedMembers(destKey: string, prefix?: string): AsyncIterable<SyncedMember>;
  /** Checkpoint after a confirmed batch. */
  recordSynced(destKey: string, added: SyncedMember[], removedCids: string[]): Promise<void>;
  replaceSynced(destKey: string, members: SyncedMember[]): Promise<void>;
  /** After a completed replace session: drop synced members that the session did not send. */
  pruneSynced(destKey: string, session: number): Promise<number>;
  /** Moves the synced state and audience state of one audience to another key (a renamed segment). */
  moveAudience(fromKey: string, to: AudienceState): Promise<void>;

  putRun(kind: 'ingest' | 'sync' | 'erasure', at: string, summary: unknown): Promise<void>;
  /** The newest runs of a kind, newest first. */
  runs(kind: 'ingest' | 'sync' | 'erasure', limit: number): Promise<Array<{ at: string; summary: unknown }>>;

  /**
   * A leased lock (conditional write): acquired when free, expired (its owner stopped renewing: a crashed run), or
   * already `owner`'s (a renewal, or a continuation of the same run). `until` is the new end of the lease.
   */
  acquireLock(name: string, owner: string, now: Date, until: Date): Promise<LockOutcome>;
  releaseLock(name: string, owner: string): Promise<void>;
  /** Who holds a lock now (even when their lease ran out), or undefined. */
  lockHolder(name: string): Promise<LockHolder | undefined>;
}

/**
 * State a run keeps between the steps of a Step Functions execution (the sync's plan, its shard groups' results):
 * JSON values under a run id and a key, expiring a few days after the run.
 */
export interface RunStateStore {
  putRunState(runId: string, key: string, value: unknown): Promise<void>;
  getRunState<T>(runId: string, key: string): Promise<T | undefined>;
  /** Values whose key starts with `prefix`, in key order. */
  runStates<T>(runId: string, prefix: string): AsyncIterable<{ key: string; value: T }>;
}

/**
 * Files one stepped run keeps between its steps (S3 `staging/<run>/` in the cloud, expiring after a day): hashes,
 * counts and row numbers only, as the table holds.
 */
export interface RunFiles {
  writeLines(key: string, lines: AsyncIterable<string>): Promise<void>;
  /** The lines of a file; none when it does not exist. */
  readLines(key: string): AsyncIterable<string>;
  putJson(key: string, value: unknown): Promise<void>;
  getJson<T>(key: string): Promise<T | undefined>;
  putBytes(key: string, bytes: Uint8Array): Promise<void>;
  getBytes(key: string): Promise<Uint8Array | undefined>;
  delete(keys: string[]): Promise<void>;
}

/** Staged work of one ingest, written while the file is read and applied once it was read in full. */
export interface StagingArea {
  /** Appends lines, in order (a batch of rows' at a time: one await per batch, not per line). */
  write(lines: readonly string[]): Promise<void>;
  /** Ends writing and reads the lines back in order, some at a time. */
  batches(): AsyncIterable<readonly string[]>;
  dispose(): Promise<void>;
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
  /** Platforms that take consent per member: the person's zone, and the consent the sync derived for them. */
  zone?: Zone;
  consent?: {
    adUserData: 'CONSENT_GRANTED' | 'CONSENT_DENIED';
    adPersonalization: 'CONSENT_GRANTED' | 'CONSENT_DENIED';
  };
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
  /** When the session started (a resumed session keeps it): platforms that replace by time (Google removeAll) need it. */
  startedAt?: string;
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
  readonly platform: string;
  readonly maxBatchSize: number;
  /** Built for a dry run: the platform checks what add/remove send and changes nothing (Google validateOnly). */
  readonly validateOnly?: boolean;
  /** Deletes the audience on the platform (orphaned audiences under the `delete` policy). */
  deleteAudience?(audience: AudienceRef): Promise<void>;
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
  /**
   * Real time, for leases other runs read. A clock that pins "now" (`local --as-of`) still leases in real time: every
   * run of it starts at the same pinned time, so a lease a killed run left would look fresh to each rerun, forever.
   * Default: now().
   */
  wall?(): Date;
}

/** Structured logger: fields must never contain PII or tokens. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** One record-aligned chunk of an entry, not yet split (the reader's RecordChunk; opaque here). */
export interface RecordChunkLike {
  readonly seq: number;
}

/** Worker threads that read an entry's rows: the chunks go out, one outcome per chunk comes back, in order. */
export interface RowPool {
  /** One chunk's events, split in this thread exactly as a worker splits it (for the sample). */
  split(chunk: RecordChunkLike): ChunkRowEvent[];
  /** Every chunk read by the workers with `job`; the outcomes in chunk order. */
  map(chunks: AsyncIterable<RecordChunkLike>, job: RowJob): AsyncIterable<ChunkOutcome>;
}
