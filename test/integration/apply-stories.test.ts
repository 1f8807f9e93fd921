/**
 * A list ends the same whether its file is a plain CSV or the same CSV zipped, read in one thread or by worker threads:
 * the same contacts with the same hashes, the same opt-out blocks and counts; repeats of a person are merged however
 * far apart they are (past a batch of writes, the most restrictive consent winning); an unchanged file dropped again
 * writes nothing, repeated people included; and a drop whose writes stop midway leaves the list marked as being
 * written (sync does not use it) until the same file makes it whole.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { memoryLogger } from '../../functions/adapters/logger';
import { createRowPool } from '../../functions/app/row-pool';
import { contentHash } from '../../functions/core/contact-content';
import { type IngestReport, ingestExport } from '../../functions/core/ingest';
import { Lease } from '../../functions/core/lease';
import type { ContactRecord } from '../../functions/core/model';
import { sha256Hex } from '../../functions/core/normalize';
import type { ApplyingMarker, BlockEntry, ContactStore, RowPool } from '../../functions/core/ports';
import { type SyncDeps, unsettledLists } from '../../functions/core/sync';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { recordOfWrite } from '../helpers/contact-writes';
import { emptyStore } from '../helpers/empty-store';
import { startStore } from '../helpers/harness';
import { bufferSource } from '../unit/reading/helpers';
import { makeZip } from '../unit/reading/zip-writer';

const pool = createRowPool({ threads: 2 });
afterAll(async () => {
  await pool?.close();
});

/** One list as the table holds it: contacts with their hashes, opt-out blocks, the applying marker. */
function tableStore(failPutAfter = Number.POSITIVE_INFINITY) {
  const rows = new Map<string, { record: ContactRecord; h: string }>();
  const blocks = new Map<string, BlockEntry>();
  let applying: ApplyingMarker | undefined;
  let puts = 0;
  let reads = 0;
  const store: ContactStore = emptyStore({
    listState: async () => (applying ? { applying } : {}),
    markApplying: async (_list, marker) => {
      applying = marker;
    },
    commitSnapshot: async () => {
      applying = undefined;
      return 'committed';
    },
    clearApplying: async () => {
      applying = undefined;
    },
    fingerprints: async function* () {
      for (const { record, h } of rows.values()) yield { cid: record.cid, h, seenAt: record.seenAt };
    },
    contacts: async function* () {
      for (const { record } of rows.values()) yield structuredClone(record);
    },
    getContact: async (_list, cid) => {
      reads++;
      return structuredClone(rows.get(cid)?.record);
    },
    putContacts: async (ws) => {
      if (puts + ws.length > failPutAfter) throw new Error('the table stopped answering');
      for (const w of ws) rows.set(w.cid, { record: recordOfWrite(w), h: w.h });
      puts += ws.length;
      return ws.length;
    },
    removeContacts: async (_list, cids) => {
      for (const c of cids) rows.delete(c);
      return cids.length;
    },
    putBlocks: async (es) => {
      for (const e of es) blocks.set(`${e.hash}|${e.kind}|${e.source}`, e);
    },
    deleteBlocks: async (es) => {
      for (const e of es) for (const k of blocks.keys()) if (k.startsWith(`${e.hash}|`)) blocks.delete(k);
    },
    blocks: async function* () {
      yield* blocks.values();
    },
  });
  return {
    store,
    rows,
    blocks,
    applying: () => applying,
    stats: () => ({ puts, reads }),
    heal: () => {
      failPutAfter = Number.POSITIVE_INFINITY;
    },
  };
}

const config = parseAudienceConfig({ version: 1, destinations: { meta: { platform: 'meta' } } });

async function ingest(
  store: ContactStore,
  csv: string,
  how: 'plain' | 'zip',
  exportedAt: string,
  rowPool?: RowPool,
  kind: 'snapshot' | 'delta' | 'suppress' = 'snapshot',
): Promise<IngestReport> {
  const body = how === 'zip' ? makeZip([{ name: 'members.csv', data: csv }]) : Buffer.from(csv, 'utf8');
  return ingestExport(
    {
      list: 'news',
      kind,
      source: `incoming/news/${kind === 'snapshot' ? '' : `${kind}/`}members.${how === 'zip' ? 'zip' : 'csv'}#${exportedAt}`,
      exportedAt,
      exportedAtFrom: 'metadata',
      entries: readExport(bufferSource(`members.${how === 'zip' ? 'zip' : 'csv'}`, body, 4096)),
    },
    config,
    { store, platforms: PLATFORMS, logger: memoryLogger(), now: () => new Date('2026-03-10T00:00:00Z'), rowPool },
  );
}

/**
 * 3,000 people; every 7th row from row 100 on repeats someone 1, 40, 600 or 2,500 rows back (beyond a batch of
 * writes), some of those repeats unsubscribing or bouncing; `late` changes one far repeat to unsubscribed.
 */
function members(late = false): { csv: string; people: number; repeats: number } {
  const lines = ['Email Address,First Name,TAGS,Status'];
  const seen = new Set<number>();
  let repeats = 0;
  const back = [1, 40, 600, 2500];
  for (let row = 0; row < 3000; row++) {
    const d = back[row % 4] as number;
    const person = row >= 100 && row % 7 === 0 && row >= d ? row - d : row;
    if (seen.has(person)) repeats++;
    seen.add(person);
    const status =
      person !== row && row % 3 === 0 ? 'unsubscribed' : person !== row && row % 5 === 0 ? 'cleaned' : 'subscribed';
    const tag = person === row ? `t${row % 11}` : `again${row % 3}`;
    lines.push(`person${person}@example.com,Ann ${person % 97},${tag},${status}`);
  }
  if (late) lines.push('person1@example.com,Ann 1,late,unsubscribed');
  return { csv: `${lines.join('\n')}\n`, people: seen.size, repeats: repeats + (late ? 1 : 0) };
}

/** What the list holds, but for the name of the file each contact came from (a .csv here, a .zip there). */
const held = (rows: Map<string, { record: ContactRecord; h: string }>) =>
  new Map([...rows].map(([cid, { record, h }]) => [cid, { record: { ...record, source: '' }, h }]));

const counts = (r: IngestReport) => ({
  accepted: r.accepted,
  merged: r.merged,
  written: r.written,
  unchanged: r.unchanged,
  consent: r.consent,
  status: r.status,
});

describe('one list, however its file comes', () => {
  it('a plain file and the same file zipped give the same contacts, hashes, blocks and counts, drop after drop', async () => {
    const { csv, people, repeats } = members();
    const plain = tableStore();
    const zipped = tableStore();
    const pooled = tableStore();
    const a = await ingest(plain.store, csv, 'plain', '2026-03-01T00:00:00.000Z');
    const b = await ingest(zipped.store, csv, 'zip', '2026-03-01T00:00:00.000Z');
    const c = await ingest(pooled.store, csv, 'plain', '2026-03-01T00:00:00.000Z', pool);
    expect(counts(a)).toEqual(counts(b));
    expect(counts(c)).toEqual(counts(b));
    expect(a).toMatchObject({ accepted: 3000, merged: repeats, written: people });
    expect(held(plain.rows)).toEqual(held(zipped.rows));
    expect(held(pooled.rows)).toEqual(held(zipped.rows));
    expect(plain.blocks).toEqual(zipped.blocks);
    for (const { record, h } of plain.rows.values()) expect(h).toBe(contentHash(record));
    // A far repeat that unsubscribed wins over the subscribed first row.
    const unsubscribed = [...plain.rows.values()].filter((r) => r.record.consent === 'unsubscribed');
    expect(unsubscribed.length).toBeGreaterThan(20);
    expect(plain.applying()).toBeUndefined();

    // The same file the next night: nothing is written, repeated people included (their rows, merged, are stored).
    for (const [t, how] of [
      [plain, 'plain'],
      [zipped, 'zip'],
    ] as const) {
      const before = t.stats().puts;
      const again = await ingest(t.store, csv, how, '2026-03-02T00:00:00.000Z');
      expect({ written: again.written, unchanged: again.unchanged }, how).toEqual({ written: 0, unchanged: people });
      expect(t.stats().puts, how).toBe(before);
    }

    // A later row unsubscribes someone stored as subscribed, thousands of rows after their first.
    const later = members(true);
    const p3 = await ingest(plain.store, later.csv, 'plain', '2026-03-03T00:00:00.000Z');
    const z3 = await ingest(zipped.store, later.csv, 'zip', '2026-03-03T00:00:00.000Z');
    expect(counts(p3)).toEqual(counts(z3));
    expect(p3.written).toBe(1);
    expect(plain.rows.get(sha256Hex('person1@example.com'))?.record.consent).toBe('unsubscribed');
    expect(held(plain.rows)).toEqual(held(zipped.rows));
    expect(plain.blocks).toEqual(zipped.blocks);
  }, 120_000);

  it('a drop whose writes stop midway leaves the list marked as being written; the same file again makes it whole', async () => {
    const { csv, people } = members();
    const t = tableStore(1200);
    await expect(ingest(t.store, csv, 'plain', '2026-03-01T00:00:00.000Z')).rejects.toThrow(/stopped answering/);
    expect(t.applying()?.source).toMatch(/members\.csv/);
    expect(t.rows.size).toBeGreaterThan(0);
    expect(t.rows.size).toBeLessThan(people);
    t.heal();
    const again = await ingest(t.store, csv, 'plain', '2026-03-01T00:00:00.000Z');
    expect(again.status).toBe('ingested');
    expect(t.applying()).toBeUndefined();
    const whole = tableStore();
    await ingest(whole.store, csv, 'zip', '2026-03-01T00:00:00.000Z');
    expect(held(t.rows)).toEqual(held(whole.rows));
  }, 120_000);

  it('a list a snapshot left half-written stays held through a delta and a suppress drop, until that snapshot is ingested again (DynamoDB)', async () => {
    const h = await startStore();
    try {
      const v1 = members();
      await ingest(h.store, v1.csv, 'plain', '2026-03-01T00:00:00.000Z');
      // The next snapshot stops after 1,000 writes (a Lambda killed, the table throttled for good).
      const failing = Object.create(h.store) as ContactStore;
      let puts = 0;
      failing.putContacts = async (ws) => {
        puts += ws.length;
        if (puts > 1_000) throw new Error('the table stopped answering');
        return h.store.putContacts(ws);
      };
      // Every first name changed (so every person is rewritten), and person 1 unsubscribed further down.
      const v2 = { csv: members(true).csv.replaceAll(',Ann ', ',Anne ') };
      await expect(ingest(failing, v2.csv, 'plain', '2026-03-02T00:00:00.000Z')).rejects.toThrow(/stopped answering/);
      const half = (await h.store.listState('news')).applying?.source;
      expect(half).toMatch(/^incoming\/news\/members\.csv#2026-03-02/);
      // A delta and a suppress drop of the list, each applied in full: the list is still the half-written one.
      const delta = await ingest(
        h.store,
        'Email Address,Status\nnew@example.com,subscribed\n',
        'plain',
        '2026-03-02T06:00:00.000Z',
        undefined,
        'delta',
      );
      expect(delta.status).toBe('ingested');
      expect((await h.store.listState('news')).applying?.source).toBe(half);
      await ingest(h.store, 'email\nperson7@example.com\n', 'plain', '2026-03-02T07:00:00.000Z', undefined, 'suppress');
      expect((await h.store.listState('news')).applying?.source).toBe(half);
      // The snapshot ingested again: the list is whole and committed.
      const again = await ingest(h.store, v2.csv, 'plain', '2026-03-02T00:00:00.000Z');
      expect(again.status).toBe('ingested');
      const state = await h.store.listState('news');
      expect(state.applying).toBeUndefined();
      expect(state.snapshot?.source).toBe(half);
      expect((await h.store.getContact('news', sha256Hex('person1@example.com')))?.consent).toBe('unsubscribed');
      // The delta's person, newer than the snapshot, is kept.
      expect((await h.store.getContact('news', sha256Hex('new@example.com')))?.consent).toBe('subscribed');
    } finally {
      await h.close();
    }
  }, 120_000);

  it('a delta that stopped midway is made whole by its file uploaded again (a new version); a suppression half applied survives a snapshot commit (DynamoDB)', async () => {
    const h = await startStore();
    const NOW = new Date('2026-03-10T00:00:00Z');
    const sync = { store: h.store, clock: { now: () => NOW, wall: () => NOW } } as unknown as SyncDeps;
    try {
      const v1 = members();
      await ingest(h.store, v1.csv, 'plain', '2026-03-01T00:00:00.000Z');
      const stopsAfter = (n: number) => {
        const f = Object.create(h.store) as ContactStore;
        let puts = 0;
        f.putContacts = async (ws) => {
          puts += ws.length;
          if (puts > n) throw new Error('the table stopped answering');
          return h.store.putContacts(ws);
        };
        f.putBlocks = async (es) => {
          if (!es.some((e) => e.kind === 'suppress')) return h.store.putBlocks(es);
          await h.store.putBlocks(es.slice(0, 5));
          throw new Error('the table stopped answering');
        };
        return f;
      };
      const changed = v1.csv.replaceAll(',Ann ', ',Anne ');
      await expect(
        ingest(stopsAfter(600), changed, 'plain', '2026-03-02T00:00:00.000Z', undefined, 'delta'),
      ).rejects.toThrow(/stopped answering/);
      expect((await h.store.listState('news')).applying?.source).toMatch(/^incoming\/news\/delta\/members\.csv#/);
      // While another file's drop holds the list's lock, sync waits for it (and says which file left the list so).
      const lease = new Lease(h.store, 'ingest#news', 'someone-else', () => NOW);
      expect((await lease.tryAcquire()).acquired).toBe(true);
      const busy = await unsettledLists(sync);
      expect(busy).toEqual([expect.objectContaining({ list: 'news', kind: 'list_being_written' })]);
      expect(busy[0]?.message).toMatch(/delta\/members\.csv that stopped midway/);
      await lease.release();
      expect(await unsettledLists(sync)).toEqual([expect.objectContaining({ kind: 'list_ingest_stopped' })]);
      // The operator uploads the file again: a new version of the same object takes the mark over and clears it.
      const again = await ingest(h.store, changed, 'plain', '2026-03-02T00:01:00.000Z', undefined, 'delta');
      expect(again.status).toBe('ingested');
      expect((await h.store.listState('news')).applying).toBeUndefined();
      expect(await unsettledLists(sync)).toEqual([]);

      // A suppress drop that stops after 5 of its 20 blocks: the next snapshot does not make the list whole.
      const suppress = `email\n${Array.from({ length: 20 }, (_, i) => `person${i}@example.com`).join('\n')}\n`;
      await expect(
        ingest(
          stopsAfter(Number.POSITIVE_INFINITY),
          suppress,
          'plain',
          '2026-03-03T00:00:00.000Z',
          undefined,
          'suppress',
        ),
      ).rejects.toThrow(/stopped answering/);
      const half = (await h.store.listState('news')).applying?.source;
      expect(half).toMatch(/^incoming\/news\/suppress\//);
      const snap = await ingest(h.store, changed, 'plain', '2026-03-04T00:00:00.000Z');
      expect(snap.status).toBe('ingested');
      const state = await h.store.listState('news');
      expect(state.snapshot?.source).toMatch(/#2026-03-04/);
      expect(state.applying?.source).toBe(half);
      // The suppress file again: all 20 suppressions, and the list is settled.
      await ingest(h.store, suppress, 'plain', '2026-03-03T00:00:00.000Z', undefined, 'suppress');
      expect((await h.store.listState('news')).applying).toBeUndefined();
      let suppressed = 0;
      for await (const b of h.store.blocks()) if (b.kind === 'suppress') suppressed++;
      expect(suppressed).toBe(20);
    } finally {
      await h.close();
    }
  }, 120_000);
});
