/**
 * Attack on apply's fast path (plainPutOfLine): a file's rows, ingested as staged, must reach the store exactly as
 * they do when every staged line is parsed (the reference run stages each put line in a form that means the same
 * JSON but that the fast path does not recognise, so apply parses it and rebuilds the content text from the record).
 * Hostile cells, pre-hashed ids in any case, phone/external-id/madid-only rows, repeats and opt-outs, two drops.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { fileStaging } from '../../functions/adapters/file-staging';
import { memoryLogger } from '../../functions/adapters/logger';
import { type IngestReport, ingestExport, memoryStaging } from '../../functions/core/ingest';
import { sha256Hex } from '../../functions/core/normalize';
import type { BlockEntry, ContactStore, ContactWrite, StagingArea } from '../../functions/core/ports';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { recordOfWrite } from '../helpers/contact-writes';
import { emptyStore } from '../helpers/empty-store';
import { ingestCsv } from '../helpers/ingest-csv';
import { bufferSource } from '../unit/reading/helpers';

function tableStore() {
  const rows = new Map<string, ContactWrite>();
  const puts: ContactWrite[] = [];
  const blocks = new Map<string, BlockEntry>();
  const blockKey = (b: Pick<BlockEntry, 'hash' | 'kind' | 'source'>) => `${b.hash}|${b.kind}|${b.source}`;
  const store: ContactStore = emptyStore({
    fingerprints: async function* () {
      for (const w of rows.values()) yield { cid: w.cid, h: w.h, seenAt: w.seenAt };
    },
    getContact: async (_list, cid) => {
      const w = rows.get(cid);
      return w && recordOfWrite(w);
    },
    contacts: async function* () {
      for (const w of [...rows.values()].sort((a, b) => (a.cid < b.cid ? -1 : 1))) yield recordOfWrite(w);
    },
    putContacts: async (ws) => {
      for (const w of ws) {
        puts.push({ ...w });
        rows.set(w.cid, { ...w });
      }
      return ws.length;
    },
    removeContacts: async (_l, cids) => {
      let n = 0;
      for (const c of cids) if (rows.delete(c)) n++;
      return n;
    },
    putBlocks: async (es) => {
      for (const e of es) blocks.set(blockKey(e), { ...e });
    },
    deleteBlocks: async (es) => {
      for (const e of es) blocks.delete(blockKey(e));
    },
    blocks: async function* () {
      yield* [...blocks.values()];
    },
  });
  return { store, rows, puts, blocks };
}

/** Staging whose put lines are rewritten into an equal JSON the fast path does not match: apply parses them all. */
function parsedStaging(inner: () => Promise<StagingArea>): () => Promise<StagingArea> {
  return async () => {
    const s = await inner();
    return {
      write: (lines) => s.write(lines.map((l) => (l.startsWith('{"t":"r",') ? `{"t":"r", ${l.slice(9)}` : l))),
      batches: () => s.batches(),
      dispose: () => s.dispose(),
    };
  };
}

const config = parseAudienceConfig({
  version: 1,
  destinations: { meta: { platform: 'meta' }, google: { platform: 'google' } },
});

function ingest(
  store: ContactStore,
  body: Buffer,
  staging: () => Promise<StagingArea>,
  exportedAt: string,
  kind: 'snapshot' | 'delta' = 'snapshot',
): Promise<IngestReport> {
  return ingestCsv({ config, store, body, staging, exportedAt, now: '2026-06-02T00:00:00Z', kind });
}

const csvCell = (s: string) => `"${s.replace(/"/g, '""')}"`;

const H = sha256Hex('hashed@example.com');
const emails = fc.constantFrom(
  '',
  'a@example.com',
  'A@Example.com',
  ' a@example.com ',
  'b@example.com',
  'bad-email',
  H,
  H.toUpperCase(),
  `${H.slice(0, 32).toUpperCase()}${H.slice(32)}`,
  sha256Hex('x'),
  'zoë@exämple.com',
  'quote"d@example.com',
  'back\\slash@example.com',
);
const phones = fc.constantFrom(
  '',
  '+49 151 12345678',
  '+1 512 555 0100',
  sha256Hex('+4915112345678').toUpperCase(),
  'abc',
);
const externalIds = fc.constantFrom('', 'C-1', 'C-1 ', 'c-1', '"q"', '\\u0041', 'ü', '12345');
const madids = fc.constantFrom(
  '',
  '6D92078A-8246-4BA4-AE5B-76104861E7DC',
  '6d92078a-8246-4ba4-ae5b-76104861e7dc',
  'junk',
);
const texts = fc
  .oneof(
    fc.constantFrom(
      '',
      'Zoë 🌍 👩🏽‍💻',
      'line\u2028sep\u2029para',
      'nel\u0085',
      'back\\slash "quoted"',
      '\\"',
      '"]}',
      '","a":[0,',
      '{"t":"r","h":"',
      '\uFEFFbom',
      'tab\there',
      '\uD800lone',
      '\uDC00lone',
    ),
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
  )
  .map((t) => t.replaceAll(String.fromCharCode(0), ''));
const statuses = fc.constantFrom('subscribed', 'unsubscribed', 'cleaned', 'pending', '', 'opted out', 'Subscribed');
const countries = fc.constantFrom('', 'US', 'DE', 'FR', 'xx');
const row = fc.tuple(emails, phones, externalIds, madids, texts, texts, statuses, countries);
const file = fc.array(row, { minLength: 1, maxLength: 25 });

function csv(rows: Array<[string, string, string, string, string, string, string, string]>): Buffer {
  const lines = ['Email,Phone,External ID,MADID,First Name,Tags,Status,Country'];
  for (const r of rows) lines.push(r.map(csvCell).join(','));
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

function checkWrites(puts: ContactWrite[]) {
  for (const w of puts) {
    expect(w.h, w.cid).toBe(sha256Hex(w.text));
    const values = JSON.parse(w.text) as [string[]];
    expect(values[0]).toContain(w.cid);
    expect(w.cid).toMatch(/^[0-9a-f]{64}$/);
  }
}

describe('apply fast path against the parsing path', () => {
  for (const [name, staging] of [
    ['memory', memoryStaging],
    ['file', fileStaging()],
  ] as const)
    it(`writes what parsing every line writes (${name} staging), over two drops`, async () => {
      await fc.assert(
        fc.asyncProperty(file, file, fc.boolean(), async (first, second, delta) => {
          const fast = tableStore();
          const slow = tableStore();
          const b1 = csv(first);
          const b2 = csv([...first.slice(0, 3), ...second]);
          const r1f = await ingest(fast.store, b1, staging, '2026-01-01T00:00:00.000Z');
          const r1s = await ingest(slow.store, b1, parsedStaging(staging), '2026-01-01T00:00:00.000Z');
          expect(r1f).toEqual(r1s);
          expect(fast.puts).toEqual(slow.puts);
          expect([...fast.blocks.values()]).toEqual([...slow.blocks.values()]);
          const kind = delta ? 'delta' : 'snapshot';
          const r2f = await ingest(fast.store, b2, staging, '2026-01-02T00:00:00.000Z', kind);
          const r2s = await ingest(slow.store, b2, parsedStaging(staging), '2026-01-02T00:00:00.000Z', kind);
          expect(r2f).toEqual(r2s);
          expect(fast.puts).toEqual(slow.puts);
          expect([...fast.rows.entries()]).toEqual([...slow.rows.entries()]);
          expect([...fast.blocks.values()]).toEqual([...slow.blocks.values()]);
          checkWrites(fast.puts);
        }),
        { numRuns: 300 },
      );
    }, 300_000);
});

describe('apply fast path against the parsing path, at scale', () => {
  it('a large hostile file with repeats across write batches, through a row pool and on disk', async () => {
    const { createRowPool } = await import('../../functions/app/row-pool');
    const pool = createRowPool({ threads: 2 });
    expect(pool).toBeDefined();
    try {
      const rows = fc.sample(row, { numRuns: 6000, seed: 42 });
      // Many distinct people too, so puts cross WRITE_BATCH between repeats.
      for (let i = 0; i < 6000; i++)
        rows.push([
          `p${i % 4500}@example.com`,
          '',
          '',
          '',
          `n${i}`,
          i % 7 ? 'x' : 'line\u2028"\\',
          i % 5 ? 'subscribed' : 'unsubscribed',
          i % 3 ? 'US' : 'DE',
        ]);
      for (let i = rows.length - 1; i > 0; i--) {
        const j = (i * 7919) % (i + 1);
        [rows[i], rows[j]] = [rows[j] as never, rows[i] as never];
      }
      const body = csv(rows);
      const second = csv(rows.slice(0, 8000).reverse());
      const runs: Array<ReturnType<typeof tableStore>> = [];
      const reports: IngestReport[][] = [];
      for (const [staging, usePool] of [
        [memoryStaging, false],
        [parsedStaging(memoryStaging), false],
        [fileStaging(), true],
        [parsedStaging(fileStaging()), true],
      ] as const) {
        const t = tableStore();
        const rs: IngestReport[] = [];
        for (const [b, at] of [
          [body, '2026-01-01T00:00:00.000Z'],
          [second, '2026-01-02T00:00:00.000Z'],
        ] as const)
          rs.push(
            await ingestExport(
              {
                list: 'news',
                kind: 'snapshot',
                source: `incoming/news/list.csv#${at}`,
                exportedAt: at,
                exportedAtFrom: 'metadata',
                entries: readExport(bufferSource('list.csv', b)),
              },
              config,
              {
                store: t.store,
                staging,
                platforms: PLATFORMS,
                logger: memoryLogger(),
                now: () => new Date('2026-06-02T00:00:00Z'),
                rowPool: usePool ? pool : undefined,
              },
            ),
          );
        runs.push(t);
        reports.push(rs);
      }
      const [ref, ...others] = runs;
      expect(ref!.puts.length).toBeGreaterThan(4000);
      for (const o of others) {
        expect(o.puts).toEqual(ref!.puts);
        expect([...o.rows.entries()]).toEqual([...ref!.rows.entries()]);
        expect([...o.blocks.values()]).toEqual([...ref!.blocks.values()]);
      }
      for (const rs of reports.slice(1)) expect(rs).toEqual(reports[0]);
      checkWrites(ref!.puts);
    } finally {
      await pool?.close();
    }
  }, 300_000);
});

describe('apply fast path against the parsing path, UTF-16 with lone surrogates', () => {
  it('writes the escaped text the line holds, as parsing it does', async () => {
    const lines = ['Email,First Name,Tags,Status'];
    const odd = ['\uD800', '\uDFFF', 'a\uDC00b', '\uD83D', '"\uD800\\', '\uFEFF', '\u2028'];
    for (let i = 0; i < 200; i++)
      lines.push(
        `u${i % 150}@example.com,${csvCell(odd[i % odd.length] as string)},${csvCell(`${odd[(i * 3) % odd.length]}t`)},${i % 4 ? 'subscribed' : 'unsubscribed'}`,
      );
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf16le')]);
    for (const staging of [memoryStaging, fileStaging()]) {
      const fast = tableStore();
      const slow = tableStore();
      const rf = await ingest(fast.store, body, staging, '2026-01-01T00:00:00.000Z');
      const rs = await ingest(slow.store, body, parsedStaging(staging), '2026-01-01T00:00:00.000Z');
      expect(rf).toEqual(rs);
      expect(rf.accepted).toBe(200);
      expect(fast.puts).toEqual(slow.puts);
      checkWrites(fast.puts);
      // The reader decodes a lone surrogate as U+FFFD: the line holds no escape, and the store reads back the text.
      const r = recordOfWrite(fast.rows.get(sha256Hex('u0@example.com'))!);
      expect(JSON.stringify(r.attrs)).toContain('\uFFFD');
    }
  });
});
