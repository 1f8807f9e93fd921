/**
 * Attacks on rows read by worker threads (IngestDeps.rowPool): every file below is read twice, once in the reading
 * thread (the reference) and once with the product's pool of two workers, and must give the same report, the same
 * stored contacts and the same blocks. A drop the pool cannot finish must fail whole, store nothing, say why in one
 * line, and leave the pool able to read the next drop.
 *
 * The files are a few thousand rows, so each is read as several chunks of 512 records: the sample (200 rows) and
 * what is left of its chunk are read in the reading thread, the later chunks by the workers, and the story's people
 * sit on both sides of that boundary.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../functions/adapters/logger';
import { type ClosableRowPool, createRowPool } from '../../functions/app/row-pool';
import { parseConfig } from '../../functions/core/config';
import { type DropKind, type IngestReport, ingestExport } from '../../functions/core/ingest';
import type { ContactRecord } from '../../functions/core/model';
import type { BlockEntry, ContactStore, RowPool, StoredFingerprint } from '../../functions/core/ports';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { productValidateReport } from '../golden/golden';
import { recordOfWrite } from '../helpers/contact-writes';
import { emptyStore } from '../helpers/empty-store';
import { bufferSource } from '../unit/reading/helpers';
import { makeZip } from '../unit/reading/zip-writer';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let pool: ClosableRowPool | undefined;
beforeAll(() => {
  pool = createRowPool({ threads: 2 });
});
afterAll(async () => {
  await pool?.close();
});

/** A pool that counts the chunks its workers read (a story proves the workers read some of it). */
function counting(p: RowPool): RowPool & { chunks: number } {
  const c = {
    chunks: 0,
    split: p.split,
    map: async function* (chunks: Parameters<RowPool['map']>[0], job: Parameters<RowPool['map']>[1]) {
      for await (const out of p.map(chunks, job)) {
        c.chunks++;
        yield out;
      }
    },
  };
  return c;
}

interface Stored {
  records: ContactRecord[];
  hashes: string[];
  blocks: BlockEntry[];
  deleted: Array<Pick<BlockEntry, 'hash' | 'kind' | 'source'>>;
}

/** A store holding `blocks` and `fingerprints` (a list's earlier snapshot), capturing what an ingest writes. */
function captureStore(out: Stored, blocks: BlockEntry[] = [], fingerprints: StoredFingerprint[] = []): ContactStore {
  return emptyStore({
    fingerprints: async function* () {
      yield* fingerprints;
    },
    putContacts: async (ws) => {
      out.records.push(...ws.map(recordOfWrite));
      out.hashes.push(...ws.map((w) => w.h));
      return ws.length;
    },
    putBlocks: async (bs) => {
      out.blocks.push(...bs);
    },
    deleteBlocks: async (bs) => {
      out.deleted.push(...bs);
    },
    blocks: async function* () {
      yield* blocks;
    },
  });
}

const CONFIG = () =>
  parseConfig({ version: 1, defaultCountry: 'US', destinations: { meta: { platform: 'meta' } } }, 'shop', PLATFORMS);

interface Run extends Stored {
  report?: IngestReport;
  error?: string;
}

/** One drop of `data` into list `shop` through the product's ingest (with a capturing store). */
async function ingest(
  data: Buffer | string,
  opts: {
    rowPool?: RowPool;
    kind?: DropKind;
    blocks?: BlockEntry[];
    fingerprints?: StoredFingerprint[];
    exportedAt?: string;
    name?: string;
  } = {},
): Promise<Run> {
  const out: Run = { records: [], hashes: [], blocks: [], deleted: [] };
  try {
    out.report = await ingestExport(
      {
        list: 'shop',
        kind: opts.kind ?? 'snapshot',
        source: 'incoming/shop/f.csv#v1',
        exportedAt: opts.exportedAt ?? '2025-06-01T00:00:00.000Z',
        exportedAtFrom: 'metadata',
        entries: readExport(bufferSource(opts.name ?? 'f.csv', data, 7_777)),
      },
      CONFIG(),
      {
        store: captureStore(out, opts.blocks, opts.fingerprints),
        platforms: PLATFORMS,
        logger: memoryLogger(),
        now: () => new Date('2025-06-02T00:00:00Z'),
        rowPool: opts.rowPool,
      },
    );
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}

/** Ingested with one thread and with the pool: everything equal, and the pool read at least `minChunks` chunks. */
async function bothEqual(data: Buffer | string, opts: Parameters<typeof ingest>[1] = {}, minChunks = 2) {
  const one = await ingest(data, opts);
  const p = counting(pool as RowPool);
  const two = await ingest(data, { ...opts, rowPool: p });
  expect(one.error).toBeUndefined();
  expect(two.error).toBeUndefined();
  expect(two.report).toEqual(one.report);
  expect(two.records).toEqual(one.records);
  expect(two.hashes).toEqual(one.hashes);
  expect(two.blocks).toEqual(one.blocks);
  expect(two.deleted).toEqual(one.deleted);
  expect(p.chunks).toBeGreaterThanOrEqual(minChunks);
  return { one, two };
}

const H = 'Email,First Name,Phone,Country,Status,Signup Date,Last Open';
/** A generic export of `n` people; `f(i)` replaces row i (line i + 2) when it returns a string. */
function rows(n: number, f: (i: number) => string | undefined = () => undefined, header = H): string {
  const out = [header];
  for (let i = 0; i < n; i++)
    out.push(f(i) ?? `p${i}@example.com,Ann${i % 40},,US,subscribed,2024-03-0${(i % 9) + 1},2025-05-01`);
  return `${out.join('\n')}\n`;
}

describe('the validate report of a file read by the pool is the one thread reads (the promise held)', () => {
  // Shapes of files that touch the reader's framing, encodings, warnings and detection, each several chunks long.
  const shapes: Record<string, () => Buffer | string> = {
    'future dates, unreadable and conflicting countries: warning order and counts': () =>
      rows(3_000, (i) =>
        i % 97 === 0
          ? `w${i}@example.com,A,,Germany,subscribed,2031-01-01,2031-05-01`
          : i % 101 === 0
            ? `c${i}@example.com,A,,Narnia,subscribed,2024-01-01,2025-05-01`
            : i === 2_900
              ? `z${i}@example.com,A,,Atlantis,subscribed,2024-01-01,2025-05-01`
              : undefined,
      ),
    'day/month order decided only by the date look-ahead (a day over 12 at row 4,000)': () =>
      rows(5_000, (i) => `d${i}@example.com,A,,US,subscribed,0${(i % 9) + 1}/0${(i % 9) + 1}/2024,05/05/2025`).replace(
        'd4000@example.com,A,,US,subscribed,02/02/2024,05/05/2025',
        'd4000@example.com,A,,US,subscribed,13/02/2024,05/05/2025',
      ),
    'day/month order beyond the look-ahead (ambiguous dates dropped in pooled chunks)': () =>
      rows(22_000, (i) =>
        i === 21_000
          ? `d${i}@example.com,A,,US,subscribed,13/02/2024,05/05/2025`
          : `d${i}@example.com,A,,US,subscribed,0${(i % 9) + 1}/0${(i % 9) + 1}/2024,05/05/2025`,
      ),
    'CR-only newlines': () => rows(3_000).replace(/\n/g, '\r'),
    'UTF-8 BOM and CRLF': () => `\ufeff${rows(3_000).replace(/\n/g, '\r\n')}`,
    'UTF-16LE with accents': () =>
      Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        Buffer.from(
          rows(3_000, (i) => (i % 50 === 0 ? `é${i}@example.com,Zoë,,US,subscribed,2024-01-01,2025-05-01` : undefined)),
          'utf16le',
        ),
      ]),
    'Windows-1252': () =>
      Buffer.from(
        rows(3_000, (i) =>
          i % 50 === 0 ? `x${i}@example.com,José\u0080,,US,subscribed,2024-01-01,2025-05-01` : undefined,
        ),
        'latin1',
      ),
    'quoted newlines, dirty quotes and an unclosed quote': () =>
      rows(3_000, (i) =>
        i % 37 === 0
          ? `q${i}@example.com,"multi\nline\nname",,US,subscribed,2024-01-01,2025-05-01`
          : i === 1_500
            ? `b${i}@example.com,"open,,US,subscribed,2024-01-01,2025-05-01`
            : i % 333 === 0
              ? `x${i}@example.com,"dirty"x,,US,subscribed,2024-01-01,2025-05-01`
              : undefined,
      ),
    'blank lines and blank records': () => rows(3_000, (i) => (i % 7 === 0 ? ',,,,,,' : i % 11 === 0 ? '' : undefined)),
    'control characters': () =>
      rows(3_000, (i) =>
        i % 13 === 0 ? `k${i}@example.com,A\u0001B,,US,subscribed,2024-01-01,2025-05-01` : undefined,
      ),
    'very wide rows (chunks closed by size)': () =>
      rows(600, (i) =>
        i % 5 === 0 ? `w${i}@example.com,${'N'.repeat(60_000)},,US,subscribed,2024-01-01,2025-05-01` : undefined,
      ),
    'more rejected rows than the report lists, every reason': () =>
      rows(6_000, (i) =>
        i % 3 === 0
          ? 'not-an-email,A,,US,subscribed,2024-01-01,2025-05-01'
          : i % 5 === 0
            ? `s${i}@example.com,A`
            : i % 7 === 0
              ? `x${i}@example.com,A,3.12555E+09,US,subscribed,2024-01-01,2025-05-01`
              : i % 11 === 0
                ? ',A,,US,subscribed,2024-01-01,2025-05-01'
                : undefined,
      ),
    'a header-less one-email-per-line file': () =>
      Array.from({ length: 3_000 }, (_, i) => `h${i}@example.com`).join('\n'),
    'a header-less file of several columns (its first line is a person)': () =>
      rows(3_000).replace(`${H}\n`, 'first@example.com,Fi,,US,subscribed,2024-01-01,2025-05-01\n'),
    'a zip of three tables of three formats': () =>
      makeZip([
        { name: 'a.csv', data: rows(2_000) },
        {
          name: 'b.csv',
          data: `Phone,Name\n${Array.from({ length: 2_000 }, (_, i) => `+1 312 555 ${String(1000 + i).slice(-4)},N`).join('\n')}`,
        },
        { name: 'c.csv', data: rows(2_000, (i) => `p${i}@example.com,Ann,,US,unsubscribed,2024-03-01,2025-05-01`) },
      ]),
    'a zip with a table whose format is not detected': () =>
      makeZip([
        { name: 'a.csv', data: rows(2_000) },
        { name: 'b.csv', data: `Foo,Bar\n${Array.from({ length: 2_000 }, (_, i) => `x${i},y`).join('\n')}` },
      ]),
  };
  for (const [name, make] of Object.entries(shapes))
    it(name, async () => {
      const data = make();
      const src = () => bufferSource('f.csv', data, 7_777);
      const p = counting(pool as RowPool);
      const one = await productValidateReport(src).catch((e: Error) => e.message);
      const two = await productValidateReport(src, p).catch((e: Error) => e.message);
      expect(two).toEqual(one);
      if (typeof one !== 'string') expect(one.rows).toBeGreaterThan(500);
    }, 60_000);
});

describe('what a drop read by the pool stores is what one thread stores (the promise held)', () => {
  const erasedHash = sha('erased@example.com');
  const heldHash = sha('held@example.com');
  const blocks: BlockEntry[] = [
    { hash: erasedHash, kind: 'erasure', at: '2025-01-01T00:00:00.000Z', source: 'erasure' },
    { hash: heldHash, kind: 'suppress', at: '2025-01-01T00:00:00.000Z', source: 'suppress:shop' },
    // An opt-out of this list's that the file lifts (the person subscribed again, in a pooled chunk).
    { hash: sha('back@example.com'), kind: 'optout', at: '2025-01-01T00:00:00.000Z', source: 'list:shop' },
  ];
  // One person's rows on each side of the sample / leftover / pool boundaries (rows 0-199 / 200-511 / 512-).
  const story: Record<number, string> = {
    50: 'twice@example.com,Tom,,US,subscribed,2024-01-02,2025-05-01',
    2900: 'TWICE@example.com ,Tom,,US,unsubscribed,2024-01-02,2025-05-01',
    60: 'undo@example.com,Una,,US,unsubscribed,2024-01-02,2025-05-01',
    1700: 'undo@example.com,Una,,US,subscribed,2024-01-02,2025-05-01',
    // Cleaned (bounced) in the leftover: only the address is blocked; the same phone subscribed later.
    300: 'bounce@example.com,Bo,+1 312 555 0101,US,cleaned,2024-01-02,2025-05-01',
    1100: 'other@example.com,Bo,+1 312 555 0101,US,subscribed,2024-01-02,2025-05-01',
    400: 'left@example.com,Le,,US,subscribed,2024-01-02,2025-05-01',
    513: 'left@example.com,Le,,US,unsubscribed,2024-01-02,2025-05-01',
    1200: 'erased@example.com,Eve,,US,subscribed,2024-01-02,2025-05-01',
    1536: 'held@example.com,Hal,+1 312 555 0199,US,subscribed,2024-01-02,2025-05-01',
    1537: 'back@example.com,Bac,,US,subscribed,2024-01-02,2025-05-01',
    2000: 'erased@example.com ,Eve,,DE,unsubscribed,2024-01-02,2031-05-01',
  };
  const file = (f: (i: number) => string | undefined = () => undefined) => rows(3_000, (i) => story[i] ?? f(i));

  it('a snapshot: duplicates across the boundaries, erased, suppressed and lifted people in pooled chunks', async () => {
    const { two } = await bothEqual(file(), { blocks });
    const r = two.report as IngestReport;
    expect(r.rejections.erased).toBe(2);
    expect(r.heldBySuppression).toBe(1);
    expect(r.merged).toBe(3);
    const cids = new Set(two.records.map((c) => c.cid));
    expect(cids.has(erasedHash)).toBe(false);
    const blocked = new Set(two.blocks.map((b) => b.hash));
    // The opt-out wins a duplicate whatever the order of its rows (undo@ unsubscribed first, subscribed later).
    for (const e of ['twice@example.com', 'left@example.com', 'bounce@example.com', 'undo@example.com'])
      expect(blocked.has(sha(e)), e).toBe(true);
    // A bounced address blocks the address only, not the phone its row shares with a subscribed person.
    expect(two.records.find((c) => c.cid === sha('bounce@example.com'))?.ids).toContain(sha('13125550101'));
    expect(blocked.has(sha('13125550101'))).toBe(false);
    expect(two.deleted.map((b) => b.hash)).toContain(sha('back@example.com'));
  });

  it('a second snapshot against the first: merged, unchanged and stale rows counted as one thread counts them', async () => {
    const first = await ingest(file());
    const at = '2025-06-01T00:00:00.000Z';
    // Contacts a newer export wrote (their rows are stale), and the rest as the first snapshot stored them.
    const newer = new Set(['p700@example.com', 'p5@example.com', 'p2500@example.com'].map(sha));
    const fingerprints = first.records.map((c, k) => ({
      cid: c.cid,
      h: first.hashes[k] as string,
      seenAt: newer.has(c.cid) ? '2025-06-01T12:00:00.000Z' : at,
    }));
    const { two } = await bothEqual(
      file((i) => (i % 250 === 0 ? `p${i}@example.com,Changed,,US,subscribed,2024-03-01,2025-05-01` : undefined)),
      { fingerprints, exportedAt: '2025-06-01T06:00:00.000Z' },
    );
    const r = two.report as IngestReport;
    expect(r.unchanged).toBeGreaterThan(2_000);
    expect(r.staleRows).toBe(3);
  });

  for (const kind of ['delta', 'suppress', 'unsuppress'] as const)
    it(`a ${kind} drop`, async () => {
      await bothEqual(file(), { blocks, kind });
    });
});

describe('what the pooled path got wrong', () => {
  it('a cleaned person with 260 email addresses has every address blocked, not 260 mod 256', async () => {
    // The Meta template repeats `email` columns by design. The outcome of a pooled chunk carried each record's email
    // count in a Uint8Array: 260 became 4, so a bounced person's other 256 addresses were not blocked (and another
    // list could upload them) when the pool read the row, while one thread blocks all 260.
    const N = 260;
    const header = [...Array.from({ length: N }, () => 'email'), 'fn', 'ln', 'status'].join(',');
    const lines = [header];
    for (let i = 0; i < 1_500; i++) {
      const emails = Array.from({ length: N }, (_, k) => (k === 0 || i === 1_200 ? `e${i}x${k}@ex.io` : ''));
      lines.push([...emails, 'A', 'B', i === 1_200 ? 'cleaned' : 'subscribed'].join(','));
    }
    const { two } = await bothEqual(`${lines.join('\n')}\n`);
    expect(two.report?.entries[0]?.format).toBe('meta_template');
    expect(two.blocks).toHaveLength(N);
  });

  it('a file whose first 200 rows are wide is read by the pool as one thread reads it', async () => {
    // Each row up to the reader's 1 MiB limit. The job handed to every worker carried the 200-row sample (for the
    // mapper's day/month sniff): 200 × 560 KB did not fit a worker's 96 MB heap, the workers died of
    // ERR_WORKER_OUT_OF_MEMORY and the drop failed, while one thread read the file. The workers need only the
    // day/month order the sample gives.
    const note = 'n'.repeat(560_000);
    const data = `${rows(
      1_200,
      (i) => `w${i}@example.com,${i < 200 ? note : 'Ann'},,US,subscribed,0${(i % 9) + 1}/0${(i % 9) + 1}/2024,`,
    )}`;
    const own = createRowPool({ threads: 2 }) as ClosableRowPool;
    try {
      const one = await ingest(data);
      const two = await ingest(data, { rowPool: own });
      expect(two.error).toBeUndefined();
      expect(two.report).toEqual(one.report);
      expect(two.records).toEqual(one.records);
    } finally {
      await own.close();
    }
  }, 120_000);
});

describe('a drop the pool cannot finish fails whole and leaves the pool usable', () => {
  const failing = () =>
    createRowPool({
      threads: 2,
      module: new URL('./row-pool-attack-processor.ts', import.meta.url),
      // Every chunk to the workers (the failing processor runs there; the reading thread's help runs the real one).
      helpInline: false,
    }) as ClosableRowPool;
  const clean = rows(3_000);
  /** Rejects when `p` has not settled within `ms` (a hung pool). */
  const within = <T>(p: Promise<T>, ms: number) =>
    Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer in ${ms} ms`)), ms))]);

  it('a processor exception mid-file: nothing stored, a one-line error, and the next drop is read', async () => {
    const own = failing();
    try {
      const bad = await ingest(
        rows(3_000, (i) => (i === 2_000 ? 'THROW-IN-WORKER@example.com,A,,US,subscribed,2024-01-01,' : undefined)),
        { rowPool: own },
      );
      expect(bad.error).toBe('processor failed on a chunk');
      expect(bad.records).toEqual([]);
      expect(bad.blocks).toEqual([]);
      const next = await within(ingest(clean, { rowPool: own }), 20_000);
      expect(next.error).toBeUndefined();
      expect(next.report).toEqual((await ingest(clean)).report);
    } finally {
      await own.close();
    }
  }, 60_000);

  it('a worker that dies mid-file: nothing stored, one line, and the pool reads the next drop', async () => {
    // The ingest function keeps its pool for the container's life. A worker that exited (a crash, an out-of-memory
    // kill) stayed in the pool: chunks handed to it were never answered and the next drops hung until the Lambda
    // timed out. The pool must replace it.
    const own = failing();
    try {
      const bad = await ingest(
        rows(3_000, (i) => (i === 2_000 ? 'EXIT-THIS-WORKER@example.com,A,,US,subscribed,2024-01-01,' : undefined)),
        { rowPool: own },
      );
      expect(bad.error).toBe('a pool worker exited with code 7');
      expect(bad.records).toEqual([]);
      for (let k = 0; k < 3; k++) {
        const next = await within(ingest(clean, { rowPool: own }), 20_000);
        expect(next.error).toBeUndefined();
        expect(next.report?.accepted).toBe(3_000);
      }
    } finally {
      await own.close();
    }
  }, 120_000);

  it('a pool closed while a drop is read: nothing stored, one line', async () => {
    const own = createRowPool({ threads: 2 }) as ClosableRowPool;
    let n = 0;
    const closing: RowPool = {
      split: own.split,
      map: async function* (chunks, job) {
        for await (const out of own.map(chunks, job)) {
          if (++n === 2) await own.close();
          yield out;
        }
      },
    };
    const bad = await ingest(rows(6_000), { rowPool: closing });
    expect(bad.error).toBe('the pool was closed');
    expect(bad.error).not.toContain('\n');
    expect(bad.records).toEqual([]);
    expect(bad.blocks).toEqual([]);
  });
});
