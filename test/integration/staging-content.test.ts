/**
 * What a file's rows become in the store does not depend on where they were staged: through staging on disk (lines
 * encoded into one reused buffer, read back a megabyte at a time) every record arrives as it left the row, byte for
 * byte in every attribute, with the hash contentHash gives it; a second drop of the same file writes nothing.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { fileStaging } from '../../functions/adapters/file-staging';
import { createRowPool } from '../../functions/app/row-pool';
import { contentHash } from '../../functions/core/contact-content';
import { type IngestReport, memoryStaging } from '../../functions/core/ingest';
import type { ContactRecord } from '../../functions/core/model';
import { sha256Hex } from '../../functions/core/normalize';
import type { ContactStore, RowPool, StagingArea } from '../../functions/core/ports';
import { recordOfWrite } from '../helpers/contact-writes';
import { emptyStore } from '../helpers/empty-store';
import { ingestCsv } from '../helpers/ingest-csv';

let dir: string | undefined;
const pool = createRowPool({ threads: 2 });
afterAll(async () => {
  await pool?.close();
});
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A list's contacts in memory, with their content hashes, as the table holds them. */
function tableStore() {
  const rows = new Map<string, { record: ContactRecord; h: string }>();
  const puts: Array<{ record: ContactRecord; h: string }> = [];
  const store: ContactStore = emptyStore({
    fingerprints: async function* () {
      for (const { record, h } of rows.values()) yield { cid: record.cid, h, seenAt: record.seenAt };
    },
    getContact: async (_list, cid) => structuredClone(rows.get(cid)?.record),
    putContacts: async (ws) => {
      for (const w of ws) {
        const put = { record: recordOfWrite(w), h: w.h };
        puts.push(put);
        rows.set(w.cid, put);
      }
      return ws.length;
    },
  });
  return { store, rows, puts };
}

const config = parseAudienceConfig({ version: 1, destinations: { meta: { platform: 'meta' } } });

function ingest(
  store: ContactStore,
  body: Buffer,
  staging: () => Promise<StagingArea>,
  exportedAt = '2026-01-01T00:00:00.000Z',
  rowPool?: RowPool,
): Promise<IngestReport> {
  return ingestCsv({ config, store, body, staging, exportedAt, now: '2026-01-02T00:00:00Z', rowPool });
}

const csvCell = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Tags no one would type, each one tag (no comma or semicolon), that JSON and UTF-8 carry in every way they can. */
const HOSTILE = [
  'Zoë 🌍 👩🏽‍💻',
  'line\u2028sep\u2029para',
  'nel\u0085',
  'back\\slash "quoted"',
  '한국어 中文 العربية',
  'e\u0301 combining',
  '\u{10FFFF}\u{1F600}',
];

describe('rows staged on disk reach the store as they left the row', () => {
  it('with hostile attributes, lines across every buffer and read boundary, and repeated people', async () => {
    dir = mkdtempSync(join(tmpdir(), 'staging-content-'));
    const lines = ['Email,Tags,Status'];
    const expectedTags = new Map<string, string[]>();
    // Lines of every size around the buffer (3 bytes a unit fill 1 MiB at 349,525 units): tags of 3-, 4-, 2- and
    // 1-byte characters, some of them more than a megabyte of UTF-8.
    const sizes = [1, 100, 10_000, 120_000, 349_000, 349_300, 349_525, 349_526, 400_000, 700_000];
    let n = 0;
    for (let round = 0; round < 3; round++)
      for (const size of sizes)
        for (const unit of ['€', '🌍', 'é', 'a']) {
          const tag = `${unit.repeat(Math.max(1, Math.floor(size / unit.length)))}${HOSTILE[n % HOSTILE.length]}`;
          const email = `p${n}@example.com`;
          lines.push(`${email},${csvCell(tag)},subscribed`);
          expectedTags.set(sha256Hex(email), [tag]);
          n++;
          // Small rows between the big ones, so the big ones start anywhere in the buffer.
          for (let k = 0; k < (n * 37) % 300; k++) {
            const small = `s${n}-${k}@example.com`;
            const t = HOSTILE[(n + k) % HOSTILE.length] as string;
            lines.push(`${small},${csvCell(t)},subscribed`);
            expectedTags.set(sha256Hex(small), [t]);
          }
        }
    // A person repeated: subscribed first, unsubscribed later in the file; the repeat must not hide them.
    lines.push('twice@example.com,first,subscribed', 'twice@example.com,second,unsubscribed');
    const body = Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');

    const mem = tableStore();
    const memReport = await ingest(mem.store, body, memoryStaging);
    const disk = tableStore();
    const diskReport = await ingest(disk.store, body, fileStaging(dir));
    expect(readdirSync(dir)).toEqual([]);

    expect(diskReport).toEqual(memReport);
    expect(diskReport.rejected).toBe(0);
    expect(disk.rows.size).toBe(expectedTags.size + 1);
    expect(disk.puts).toEqual(mem.puts);
    // Read by worker threads (the records serialized there, staged here), the same.
    const pooled = tableStore();
    let mapped = 0;
    const counting: RowPool | undefined = pool && {
      ...pool,
      map: (cs, job) => {
        mapped++;
        return pool.map(cs, job);
      },
    };
    expect(await ingest(pooled.store, body, fileStaging(dir), undefined, counting)).toEqual(memReport);
    expect(mapped).toBe(1);
    expect(pooled.puts).toEqual(mem.puts);
    for (const { record, h } of disk.rows.values()) {
      expect(h, record.cid).toBe(contentHash(record));
      const tags = expectedTags.get(record.cid);
      if (tags) expect(record.attrs.tags, record.cid).toEqual(tags);
    }
    const twice = disk.rows.get(sha256Hex('twice@example.com'))?.record;
    expect(twice?.consent).toBe('unsubscribed');

    // The same file again, later: every hash matches the stored one, so nothing is written.
    const again = await ingest(disk.store, body, fileStaging(dir), '2026-01-01T12:00:00.000Z');
    expect(again.written).toBe(0);
    expect(again.unchanged).toBe(disk.rows.size);

    // Again with one more row for a person already stored unchanged: the repeat, staged without its hash, is merged
    // with the stored record, and the unsubscribe wins.
    const more = Buffer.concat([body, Buffer.from('p0@example.com,late,unsubscribed\r\n')]);
    const third = await ingest(disk.store, more, fileStaging(dir), '2026-01-01T18:00:00.000Z');
    expect(third.written).toBe(1);
    expect(disk.rows.get(sha256Hex('p0@example.com'))?.record.consent).toBe('unsubscribed');
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});
