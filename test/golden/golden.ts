/**
 * Golden values of a generated export: what the ingest decided (counts per reason, consent, key coverage) and a digest
 * of the multiset of Meta match-key hashes of the accepted contacts. Recorded once from the code before the
 * performance work (test/fixtures/golden/*.json); every faster path must reproduce them exactly.
 */
import { createHash } from 'node:crypto';
import { memoryLogger } from '../../functions/adapters/logger';
import { parseConfig } from '../../functions/core/config';
import { type IngestReport, ingestExport } from '../../functions/core/ingest';
import type { ContactRecord } from '../../functions/core/model';
import type { ContactStore, RowPool } from '../../functions/core/ports';
import { PLATFORMS } from '../../functions/platforms/registry';
import { type ByteSource, readExport } from '../../functions/reading';
import { recordOfWrite } from '../helpers/contact-writes';
import { emptyStore } from '../helpers/empty-store';

export interface Golden {
  rows: number;
  accepted: number;
  rejected: number;
  rejections: Record<string, number>;
  consent: Record<string, number>;
  keyCoverage: Record<string, Record<string, number>>;
  /** How many key values (identity hashes and the cid included) the accepted contacts carry. */
  hashes: number;
  /** SHA-256 of the sorted `PLATFORM.KEY:value` lines (`CID:`, `ID:` for the identities): equal digests, equal multisets. */
  digest: string;
}

export const GOLDEN_NOW = new Date('2025-06-02T03:00:00Z');
/** Both live platforms configured, so every key of each is computed. */
export const goldenConfig = () =>
  parseConfig(
    { version: 1, destinations: { meta: { platform: 'meta' }, google: { platform: 'google' } } },
    'golden',
    PLATFORMS,
  );

/** Digest of a multiset of `KEY:value` lines, independent of order. */
export function multisetDigest(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of [...lines].sort()) h.update(`${l}\n`);
  return h.digest('hex');
}

/** The lines a contact contributes to the digest: its cid, its identity hashes and every key of every platform. */
export function keyLines(r: Pick<ContactRecord, 'cid' | 'ids' | 'keys'>): string[] {
  const out = [`CID:${r.cid}`, ...r.ids.map((h) => `ID:${h}`)];
  for (const [platform, keys] of Object.entries(r.keys))
    for (const [k, v] of Object.entries(keys ?? {})) if (v !== undefined) out.push(`${platform}.${k}:${v}`);
  return out;
}

export function reportPart(
  r: Pick<IngestReport, 'rows' | 'accepted' | 'rejected' | 'rejections' | 'consent' | 'keyCoverage'>,
): Omit<Golden, 'hashes' | 'digest'> {
  return {
    rows: r.rows,
    accepted: r.accepted,
    rejected: r.rejected,
    rejections: sortKeys(r.rejections),
    consent: sortKeys(Object.fromEntries(Object.entries(r.consent).filter(([, v]) => v > 0))),
    keyCoverage: sortKeys(
      Object.fromEntries(
        Object.entries(r.keyCoverage as Record<string, Record<string, number>>).map(([p, c]) => [p, sortKeys(c)]),
      ),
    ),
  };
}

export function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A store that keeps nothing but the records handed to it (an empty list, no blocks, locks always free). */
/** A store that keeps the contacts handed to it (a copy each, as a database would), the latest per person. */
function keepingStore(kept: Map<string, ContactRecord>): ContactStore {
  return emptyStore({
    putContacts: async (ws) => {
      for (const w of ws) kept.set(w.cid, recordOfWrite(w));
      return ws.length;
    },
    getContact: async (_list, cid) => {
      const r = kept.get(cid);
      return r && structuredClone(r);
    },
  });
}

/** Runs the product's ingest on `source` into a store that keeps the records handed to it: its report and what it holds. */
export async function productIngest(
  source: () => ByteSource,
  rowPool?: RowPool,
): Promise<{ report: IngestReport; records: ContactRecord[] }> {
  const kept = new Map<string, ContactRecord>();
  const report = await ingestExport(
    {
      list: 'golden',
      kind: 'snapshot',
      source: 'incoming/golden/file.csv#v1',
      exportedAt: '2025-06-01T00:00:00.000Z',
      exportedAtFrom: 'metadata',
      entries: readExport(source()),
    },
    goldenConfig(),
    { store: keepingStore(kept), platforms: PLATFORMS, logger: memoryLogger(), now: () => GOLDEN_NOW, rowPool },
  );
  return { report, records: [...kept.values()] };
}

/** Runs the product's ingest on `source` (with a capturing store) and returns its golden values. */
export async function productGolden(source: () => ByteSource, rowPool?: RowPool): Promise<Golden> {
  const { report, records } = await productIngest(source, rowPool);
  const lines = records.flatMap(keyLines);
  return { ...reportPart(report), hashes: lines.length, digest: multisetDigest(lines) };
}

/** The validate report (no store) of the product on `source`, as golden counts. */
export async function productValidate(
  source: () => ByteSource,
  rowPool?: RowPool,
): Promise<Omit<Golden, 'hashes' | 'digest'>> {
  return reportPart(await productValidateReport(source, rowPool));
}

/** The whole validate report (no store) of the product on `source`. */
export async function productValidateReport(source: () => ByteSource, rowPool?: RowPool): Promise<IngestReport> {
  return ingestExport(
    {
      list: 'golden',
      kind: 'snapshot',
      source: 'incoming/golden/file.csv#v1',
      exportedAt: '2025-06-01T00:00:00.000Z',
      exportedAtFrom: 'metadata',
      entries: readExport(source()),
    },
    goldenConfig(),
    { platforms: PLATFORMS, logger: memoryLogger(), now: () => GOLDEN_NOW, rowPool },
  );
}
