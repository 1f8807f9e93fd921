/** A ContactStore that holds nothing and keeps nothing (an empty list, no blocks, locks always free): tests override what they watch. */
import type { ContactStore } from '../../functions/core/ports';

export function emptyStore(overrides: Partial<ContactStore> = {}): ContactStore {
  const none = async function* () {};
  return {
    getSnapshot: async () => undefined,
    listState: async () => ({}),
    markApplying: async () => {},
    commitSnapshot: async () => 'committed',
    clearApplying: async () => {},
    fingerprints: none,
    getContact: async () => undefined,
    putContacts: async (ws) => ws.length,
    removeContacts: async () => 0,
    listIds: async () => [],
    contacts: none,
    putBlocks: async () => {},
    deleteBlocks: async () => {},
    blocks: none,
    audienceState: async () => undefined,
    putAudienceState: async () => {},
    audienceStates: none,
    syncedMembers: none,
    recordSynced: async () => {},
    replaceSynced: async () => {},
    pruneSynced: async () => 0,
    moveAudience: async () => {},
    putRun: async () => {},
    runs: async () => [],
    acquireLock: async () => ({ acquired: true }),
    releaseLock: async () => {},
    lockHolder: async () => undefined,
    ...overrides,
  };
}
