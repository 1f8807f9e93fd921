/**
 * Staging writes each record's staged form and content hash, made from one serialization: the hash must be
 * contentHash's (a different one would make every stored contact look changed) and the staged form must read back as
 * the record, as JSON.stringify would have carried it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contentHash,
  contentText,
  recordOfContent,
  recordOfStaged,
  serializeRecord,
} from '../../../functions/core/contact-content';
import { createRowMapper, detectFormat } from '../../../functions/core/formats';
import { contentOfLine, plainPutOfLine, putLine } from '../../../functions/core/ingest';
import { processMapped } from '../../../functions/core/ingest-rows';
import { CONSENT_STATES } from '../../../functions/core/model';
import { PLATFORMS } from '../../../functions/platforms/registry';

const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', '"', '\\', '\n', '\u2028'));
const iso = fc
  .date({ min: new Date('1990-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
  .map((d) => d.toISOString());
const record = fc.record(
  {
    cid: hex,
    ids: fc.array(hex, { minLength: 1, maxLength: 4 }),
    emails: fc.integer({ min: 1, max: 300 }),
    keys: fc.dictionary(
      fc.constantFrom('meta', 'google'),
      fc.dictionary(fc.constantFrom('EMAIL', 'PHONE', 'FN', 'ZIP', 'EXTERN_ID'), text),
    ),
    consent: fc.constantFrom(...CONSENT_STATES),
    optIn: fc.boolean(),
    explicitOptIn: fc.boolean(),
    adsPermission: fc.boolean(),
    optInAt: iso,
    optOutAt: iso,
    attrs: fc.record(
      {
        country: fc.constantFrom('US', 'DE'),
        zone: fc.constantFrom('US', 'EEA', 'UNKNOWN'),
        tags: fc.array(text, { maxLength: 3 }),
        spend: fc.double({ noNaN: true, noDefaultInfinity: true }),
        orders: fc.nat(),
        paid: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['cid', 'ids', 'keys', 'consent', 'attrs'] },
);
/** Half of them with the cid as their first id, as every record a row makes has it (staged as 0). */
const anyRecord = fc
  .tuple(record, fc.boolean())
  .map(([r, first]) => (first && r.ids[0] !== undefined ? { ...r, cid: r.ids[0] } : r));

/** The record back from its staged JSON. */
const back = (json: string) => recordOfStaged(JSON.parse(json));

describe('serializeRecord', () => {
  it('gives contentHash and a staged form that reads back as the record, for any record', () => {
    fc.assert(
      fc.property(anyRecord, (r) => {
        const { json, hash } = serializeRecord(r as never);
        expect(hash).toBe(contentHash(r as never));
        expect(back(json)).toEqual(JSON.parse(JSON.stringify(r)));
        // Read back, it serializes to the same text and hash: a staged record is stable.
        expect(serializeRecord(back(json))).toEqual({ json, hash });
      }),
      { numRuns: 3000 },
    );
  });

  it('stages a put whose content text is read off its line as the record has it, and the store reads that text back as the record', () => {
    fc.assert(
      fc.property(anyRecord, (r) => {
        const { json, hash } = serializeRecord(r as never);
        const line = putLine(hash, json);
        // Read off the line only when it is the form every record a row makes has (its cid its first id).
        expect(contentOfLine(line)).toBe(r.cid === r.ids[0] ? contentText(r as never) : undefined);
        const fields = { cid: r.cid, list: 'news', seenAt: '2026-03-01T00:00:00.000Z', source: 'incoming/a.csv#v1' };
        expect(recordOfContent(fields, contentText(r as never))).toEqual({
          ...JSON.parse(JSON.stringify(r)),
          ...fields,
        });
      }),
      { numRuns: 3000 },
    );
    for (const other of ['{"t":"r","a":[0,[]]}', '{"t":"b","c":"x","ids":[]}', '{"t":"s","ids":[]}'])
      expect(contentOfLine(other)).toBeUndefined();
  });

  it('writes a plain put unparsed: the cid, hash and text read off its line are what parsing the line gives', () => {
    // Ids as any string (a hash in clear, an escape): a line is read off only when parsing it could not differ.
    const oddIds = fc.tuple(anyRecord, fc.array(fc.oneof(hex, text), { minLength: 1, maxLength: 3 }), fc.boolean());
    fc.assert(
      fc.property(oddIds, ([r, ids, first]) => {
        const rec = first ? { ...r, ids, cid: ids[0] as string } : { ...r, ids };
        const { json, hash } = serializeRecord(rec as never);
        const line = putLine(hash, json);
        const plain = plainPutOfLine(line);
        const parsed = JSON.parse(line) as { h: string; a: never };
        if (plain === undefined) {
          // Left to the parse: the cid is not its first id, or that id is not a 64-hex hash.
          expect(rec.cid === ids[0] && /^[0-9a-fA-F]{64}$/.test(ids[0] as string)).toBe(false);
          return;
        }
        expect(plain).toEqual({ cid: recordOfStaged(parsed.a).cid, h: parsed.h, text: contentText(rec as never) });
      }),
      { numRuns: 3000 },
    );
  });

  it('treats values without a JSON form as JSON.stringify does (an attribute left out, an element written null)', () => {
    const base = { cid: 'a'.repeat(64), ids: ['a'.repeat(64)], keys: {}, consent: 'subscribed', attrs: {} };
    const odd = [
      { ...base, consent: Object },
      { ...base, consent: undefined },
      { ...base, optIn: undefined, attrs: { tags: ['x'], f: () => 1, n: undefined } },
      { ...base, attrs: { at: new Date('2026-01-02T00:00:00Z') } },
    ];
    for (const r of odd) {
      const { json, hash } = serializeRecord(r as never);
      expect(hash).toBe(contentHash(r as never));
      // The consent is an element of the staged array: without a JSON form it is null there, as in the hash's text.
      const consent = JSON.stringify(r.consent) === undefined ? null : r.consent;
      expect(back(json)).toEqual(JSON.parse(JSON.stringify({ ...r, consent })));
    }
  });

  it('does so for the records a real export makes (every field the mapper sets)', () => {
    const header = ['Email', 'Phone', 'First Name', 'Last Name', 'City', 'Zip', 'Country', 'Tags', 'Signup Date'];
    const rows = [
      ['ana@example.com', '+49 151 12345678', 'Ana', 'Groß', 'Köln', '50667', 'DE', 'vip, b2b', '2024-01-02'],
      ['bo@example.com', '', 'Bo', '', 'Austin', '73301', 'US', '', ''],
    ];
    const det = detectFormat(header, rows);
    const map = createRowMapper(det, { now: '2026-12-01T00:00:00.000Z' });
    const env = {
      platforms: [PLATFORMS.meta, PLATFORMS.google].filter((p) => p !== undefined),
      exportedAt: '2026-12-01T00:00:00.000Z',
      currentYear: 2026,
    };
    for (const row of rows) {
      const mapped = map(row);
      if ('reject' in mapped) throw new Error(mapped.reject);
      const out = processMapped(mapped, env);
      if (!out.ok) throw new Error(out.reason);
      const { json, hash } = serializeRecord(out.record);
      expect(hash).toBe(contentHash(out.record));
      expect(back(json)).toEqual(JSON.parse(JSON.stringify(out.record)));
    }
  });
});
