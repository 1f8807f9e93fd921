/**
 * A ContactStore that keeps nothing, for measuring the ingest's own compute: every list is empty (no snapshot, no
 * fingerprints, no blocks), the ingest lock is always free, and writes are counted, not kept. What an ingest into it
 * costs beyond validate is what ingest adds before any write leaves the process (staging, content hashes, the apply
 * pass), with none of an SDK's or a database's work.
 */
import type { ContactRecord } from '../functions/core/model';
import type {
  AudienceState,
  BlockEntry,
  ContactStore,
  ContactWrite,
  ListSnapshot,
  ListState,
  LockHolder,
  LockOutcome,
  StoredFingerprint,
  SyncedMember,
} from '../functions/core/ports';

export class NullStore implements ContactStore {
  readonly writes = { contacts: 0, removed: 0, blocks: 0, snapshots: 0 };

  async getSnapshot(): Promise<ListSnapshot | undefined> {
    return undefined;
  }
  async listState(): Promise<ListState> {
    return {};
  }
  async markApplying(): Promise<void> {}
  async commitSnapshot(): Promise<'committed'> {
    this.writes.snapshots++;
    return 'committed';
  }
  async clearApplying(): Promise<void> {}
  async *fingerprints(): AsyncIterable<StoredFingerprint> {}
  async getContact(): Promise<ContactRecord | undefined> {
    return undefined;
  }
  async putContacts(writes: ContactWrite[]): Promise<number> {
    this.writes.contacts += writes.length;
    return writes.length;
  }
  async removeContacts(_list: string, cids: string[]): Promise<number> {
    this.writes.removed += cids.length;
    return cids.length;
  }
  async listIds(): Promise<string[]> {
    return [];
  }
  async *contacts(): AsyncIterable<ContactRecord> {}
  async putBlocks(entries: BlockEntry[]): Promise<void> {
    this.writes.blocks += entries.length;
  }
  async deleteBlocks(entries: Array<Pick<BlockEntry, 'hash'>>): Promise<void> {
    this.writes.blocks += entries.length;
  }
  async *blocks(): AsyncIterable<BlockEntry> {}
  async audienceState(): Promise<AudienceState | undefined> {
    return undefined;
  }
  async putAudienceState(): Promise<void> {}
  async *audienceStates(): AsyncIterable<AudienceState> {}
  async *syncedMembers(): AsyncIterable<SyncedMember> {}
  async recordSynced(): Promise<void> {}
  async replaceSynced(): Promise<void> {}
  async pruneSynced(): Promise<number> {
    return 0;
  }
  async moveAudience(): Promise<void> {}
  async putRun(): Promise<void> {}
  async runs(): Promise<Array<{ at: string; summary: unknown }>> {
    return [];
  }
  async acquireLock(_name: string, owner: string, _now: Date, until: Date): Promise<LockOutcome> {
    this.holder = { owner, until: until.toISOString() };
    return { acquired: true };
  }
  async releaseLock(): Promise<void> {
    this.holder = undefined;
  }
  async lockHolder(): Promise<LockHolder | undefined> {
    return this.holder;
  }
  private holder: LockHolder | undefined;
}
