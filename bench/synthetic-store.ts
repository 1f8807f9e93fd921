/**
 * A fast, synthetic ContactStore for the scale bench: N people generated on demand, per cid range, in cid order
 * (deterministic, nothing held), so sync's memory can be measured at 10 million contacts without a database. Writes
 * (contacts, synced members, blocks) are counted, not kept. It stands in for DynamoDB: its own memory is a few
 * pools of hashes and the handful of small items sync keeps (audience states, locks, run state).
 *
 * People: list `newsletter` holds everyone, `shop` every fourth person (so sync merges two lists). 90 % subscribed,
 * 6 % unsubscribed (each leaves an opt-out block on their email hash), 4 % never subscribed. Meta keys: EMAIL, PHONE
 * (70 %), FN, LN, CT, ST, ZIP, COUNTRY; Google keys alike. With `synced: 'steady'` every audience's synced state is
 * what a previous night sent, off by 1 % (additions) and 1 % (removals); with `synced: 'empty'` a first load.
 */
import { createHash } from 'node:crypto';
import type { ContactRecord } from '../functions/core/model';
import type {
  ApplyingMarker,
  AudienceState,
  BlockEntry,
  ContactStore,
  ContactWrite,
  ListSnapshot,
  ListState,
  LockHolder,
  LockOutcome,
  RunStateStore,
  StoredFingerprint,
  SyncedMember,
} from '../functions/core/ports';

const POS_DIGITS = 13;
const KEY_POOL_SIZE = 1 << 19;
/** The rest of a cid after its 13 ordered digits (uniqueness comes from those). */
const FILLER: string[] = Array.from({ length: 1 << 16 }, (_, i) =>
  `${(Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')}`.repeat(7).slice(0, 64 - 13),
);
const KEY_POOL: string[] = Array.from({ length: KEY_POOL_SIZE }, (_, i) =>
  `${(Math.imul(i, 0x85ebca6b) >>> 0).toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`.repeat(4),
);
const SPAN = 16 ** POS_DIGITS;

export interface SyntheticOptions {
  people: number;
  synced: 'empty' | 'steady';
}

export interface WriteCounts {
  contacts: number;
  syncedAdded: number;
  syncedRemoved: number;
  blocks: number;
  itemReads: number;
  bytesRead: number;
}

export class SyntheticStore implements ContactStore, RunStateStore {
  readonly writes: WriteCounts = {
    contacts: 0,
    syncedAdded: 0,
    syncedRemoved: 0,
    blocks: 0,
    itemReads: 0,
    bytesRead: 0,
  };
  private readonly step: number;
  private readonly states = new Map<string, AudienceState>();
  private readonly locks = new Map<string, LockHolder>();
  private readonly runState = new Map<string, string>();
  private readonly runsKept: Array<{ kind: string; at: string; summary: unknown }> = [];
  private readonly us = createHash('sha256').update('us').digest('hex');
  private readonly de = createHash('sha256').update('de').digest('hex');

  constructor(readonly opts: SyntheticOptions) {
    this.step = SPAN / opts.people;
  }

  /** The cid of person i: 13 hex digits that grow with i (spread over the whole range), then filler. */
  cidOf(i: number): string {
    const pos = Math.floor(i * this.step);
    return pos.toString(16).padStart(POS_DIGITS, '0') + FILLER[i & (FILLER.length - 1)]!;
  }

  /** People whose cid starts with `prefix`: an index range. */
  private range(prefix: string): [number, number] {
    if (prefix === '') return [0, this.opts.people];
    const v = Number.parseInt(prefix, 16);
    const shift = 16 ** (POS_DIGITS - prefix.length);
    const lo = v * shift;
    const hi = (v + 1) * shift;
    let a = Math.max(0, Math.ceil(lo / this.step) - 1);
    while (a < this.opts.people && Math.floor(a * this.step) < lo) a++;
    let b = Math.max(a, Math.ceil(hi / this.step) - 1);
    while (b < this.opts.people && Math.floor(b * this.step) < hi) b++;
    return [a, Math.min(b, this.opts.people)];
  }

  private consentOf(i: number): ContactRecord['consent'] {
    const r = (i * 7919) % 100;
    return r < 90 ? 'subscribed' : r < 96 ? 'unsubscribed' : 'never_subscribed';
  }

  /** Whom the bench's segments want: subscribed people (all zones admit those with an opt-in recorded). */
  desired(i: number): boolean {
    return this.consentOf(i) === 'subscribed';
  }

  /**
   * A 64-hex key of person i: distinct strings for the people of any one shard (a pool of 2^19, about 45 MB of this
   * store's own memory, counted in the bench's RSS), as DynamoDB hands back one string per value — a small pool of
   * shared strings would under-count sync's memory.
   */
  private key(i: number, kind: number): string {
    return KEY_POOL[(i * 9 + kind) & (KEY_POOL_SIZE - 1)]!;
  }

  private keysOf(i: number, cid: string) {
    const meta: Record<string, string> = {
      EMAIL: cid,
      FN: this.key(i, 1),
      LN: this.key(i, 2),
      CT: this.key(i, 3),
      ST: this.key(i, 4),
      ZIP: this.key(i, 5),
      COUNTRY: i % 5 === 0 ? this.de : this.us,
    };
    if (i % 10 < 7) meta.PHONE = this.key(i, 6);
    const google: Record<string, string> = {
      email: cid,
      firstName: this.key(i, 7),
      lastName: this.key(i, 8),
      countryCode: i % 5 === 0 ? 'DE' : 'US',
      postalCode: String(10000 + (i % 89999)),
    };
    if (meta.PHONE) google.phone = this.key(i, 9);
    return { meta, google };
  }

  record(i: number, list: string): ContactRecord {
    const cid = this.cidOf(i);
    const keys = this.keysOf(i, cid);
    const ids = keys.meta.PHONE ? [cid, keys.meta.PHONE] : [cid];
    return {
      cid,
      list,
      ids,
      emails: 1,
      keys,
      consent: this.consentOf(i),
      optIn: true,
      explicitOptIn: true,
      attrs: {
        country: i % 5 === 0 ? 'DE' : 'US',
        zone: i % 5 === 0 ? 'EEA' : 'US',
        tags: list === 'shop' ? ['buyer'] : ['newsletter'],
        rating: i % 6,
        lastOpenAt: '2026-10-01T00:00:00.000Z',
        orders: list === 'shop' ? i % 5 : undefined,
        signupAt: '2024-05-01T00:00:00.000Z',
      },
      seenAt: '2026-11-19T00:00:00.000Z',
      source: `${list}.csv#v1`,
    };
  }

  /** Counts an item read; its size (for the read-capacity arithmetic) is sampled every 512th item. */
  private count(item: unknown) {
    if (this.writes.itemReads++ % 512 === 0) this.writes.bytesRead += 512 * JSON.stringify(item).length;
  }

  // ---- lists and contacts -------------------------------------------------------------------------------------

  async listIds(): Promise<string[]> {
    return ['newsletter', 'shop'];
  }

  async getSnapshot(list: string): Promise<ListSnapshot | undefined> {
    const n = list === 'shop' ? Math.ceil(this.opts.people / 4) : this.opts.people;
    return {
      list,
      source: `${list}.csv#v1`,
      exportedAt: '2026-11-19T00:00:00.000Z',
      exportedAtFrom: 'metadata',
      committedAt: '2026-11-19T00:10:00.000Z',
      counts: { rows: n, accepted: list === 'shop' ? 0 : n, rejected: 0, removed: 0 },
    };
  }

  async listState(list: string): Promise<ListState> {
    return { snapshot: await this.getSnapshot(list) };
  }

  async markApplying(_list: string, _marker: ApplyingMarker): Promise<void> {}
  async commitSnapshot(): Promise<'committed'> {
    return 'committed';
  }
  async clearApplying(): Promise<void> {}

  async *fingerprints(list: string, shard?: string): AsyncIterable<StoredFingerprint> {
    for await (const c of this.contacts(list, shard ?? '')) yield { cid: c.cid, h: 'synthetic', seenAt: c.seenAt };
  }

  async getContact(list: string, cid: string): Promise<ContactRecord | undefined> {
    for await (const c of this.contacts(list, cid.slice(0, 6))) if (c.cid === cid) return c;
    return undefined;
  }

  async putContacts(writes: ContactWrite[]): Promise<number> {
    this.writes.contacts += writes.length;
    return writes.length;
  }

  async removeContacts(_list: string, cids: string[]): Promise<number> {
    this.writes.contacts += cids.length;
    return cids.length;
  }

  async *contacts(list: string, prefix = ''): AsyncIterable<ContactRecord> {
    const [a, b] = this.range(prefix);
    for (let i = a; i < b; i++) {
      if (list === 'shop' && i % 4 !== 0) continue;
      const r = this.record(i, list);
      this.count(r);
      yield r;
    }
  }

  // ---- blocks ------------------------------------------------------------------------------------------------

  async putBlocks(entries: BlockEntry[]): Promise<void> {
    this.writes.blocks += entries.length;
  }
  async deleteBlocks(entries: Array<Pick<BlockEntry, 'hash'>>): Promise<void> {
    this.writes.blocks += entries.length;
  }

  /** One opt-out block per unsubscribed person, on their email hash. */
  async *blocks(): AsyncIterable<BlockEntry> {
    for (let i = 0; i < this.opts.people; i++) {
      if (this.consentOf(i) !== 'unsubscribed') continue;
      const b: BlockEntry = {
        hash: this.cidOf(i),
        kind: 'optout',
        at: '2026-10-01T00:00:00.000Z',
        source: 'list:newsletter',
      };
      this.count(b);
      yield b;
    }
  }

  // ---- audiences ---------------------------------------------------------------------------------------------

  async audienceState(destKey: string): Promise<AudienceState | undefined> {
    return this.states.get(destKey);
  }
  async putAudienceState(state: AudienceState): Promise<void> {
    this.states.set(state.destKey, structuredClone(state));
  }
  async *audienceStates(): AsyncIterable<AudienceState> {
    yield* this.states.values();
  }

  /** A previous night's members (steady), off by 1 % each way; none on a first load. */
  async *syncedMembers(destKey: string, prefix = ''): AsyncIterable<SyncedMember> {
    if (this.opts.synced === 'empty') return;
    const platform = destKey.startsWith('google') ? 'google' : 'meta';
    const [a, b] = this.range(prefix);
    for (let i = a; i < b; i++) {
      // About 1 % of the people wanted are not there yet (additions), 1 % of the others still are (removals).
      const there = this.desired(i) ? i % 90 !== 7 : i % 10 === 3;
      if (!there) continue;
      const cid = this.cidOf(i);
      const m: SyncedMember = { cid, keys: this.keysOf(i, cid)[platform] };
      this.count(m);
      yield m;
    }
  }

  async recordSynced(_destKey: string, added: SyncedMember[], removedCids: string[]): Promise<void> {
    this.writes.syncedAdded += added.length;
    this.writes.syncedRemoved += removedCids.length;
  }
  async replaceSynced(): Promise<void> {}
  async pruneSynced(): Promise<number> {
    return 0;
  }
  async moveAudience(): Promise<void> {}

  // ---- runs, locks, run state --------------------------------------------------------------------------------

  async putRun(kind: 'ingest' | 'sync' | 'erasure', at: string, summary: unknown): Promise<void> {
    this.runsKept.push({ kind, at, summary });
  }
  async runs(kind: 'ingest' | 'sync' | 'erasure', limit: number) {
    return this.runsKept
      .filter((r) => r.kind === kind)
      .slice(-limit)
      .reverse();
  }

  async acquireLock(name: string, owner: string, now: Date, until: Date): Promise<LockOutcome> {
    const held = this.locks.get(name);
    if (held && held.owner !== owner && Date.parse(held.until) >= now.getTime())
      return { acquired: false, holder: held };
    this.locks.set(name, { owner, until: until.toISOString(), heartbeatAt: now.toISOString() });
    return held && held.owner !== owner ? { acquired: true, tookOverFrom: held } : { acquired: true };
  }
  async releaseLock(name: string, owner: string): Promise<void> {
    if (this.locks.get(name)?.owner === owner) this.locks.delete(name);
  }
  async lockHolder(name: string): Promise<LockHolder | undefined> {
    return this.locks.get(name);
  }

  async putRunState(runId: string, key: string, value: unknown): Promise<void> {
    this.runState.set(`${runId}\u0000${key}`, JSON.stringify(value));
  }
  async getRunState<T>(runId: string, key: string): Promise<T | undefined> {
    const v = this.runState.get(`${runId}\u0000${key}`);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async *runStates<T>(runId: string, prefix: string): AsyncIterable<{ key: string; value: T }> {
    const head = `${runId}\u0000${prefix}`;
    for (const [k, v] of [...this.runState].sort(([a], [b]) => (a < b ? -1 : 1)))
      if (k.startsWith(head)) yield { key: k.slice(runId.length + 1), value: JSON.parse(v) as T };
  }
}
