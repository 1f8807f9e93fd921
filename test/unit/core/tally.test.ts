/**
 * The report's key coverage counts every accepted row's keys. Rows whose key table gave a mask are counted by it and
 * added in later; rows without one key by key. Either way, and however the rows are split into chunks, the counts and
 * the order keys first appeared in are those of counting every row key by key.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StagedRecord } from '../../../functions/core/ingest-rows';
import { CONSENT_STATES } from '../../../functions/core/model';
import { addTally, settleTally, type Tally, tallyRecord } from '../../../functions/core/row-chunks';

const META = Object.freeze(['EMAIL', 'PHONE', 'FN', 'LN', 'ZIP', 'COUNTRY']);
const GOOGLE = Object.freeze(['emailAddress', 'phoneNumber', 'postalCode']);

const emptyTally = (): Tally => ({
  keyCounts: {},
  consent: Object.fromEntries(CONSENT_STATES.map((c) => [c, 0])) as Tally['consent'],
  suppressed: {},
});

/** A row: for each platform, which of its table's keys it has. */
const rowArb = fc.record({ meta: fc.integer({ min: 0, max: 63 }), google: fc.integer({ min: 0, max: 7 }) });
type Row = { meta: number; google: number };

function recordOf(row: Row): StagedRecord {
  const keys: Record<string, Record<string, string>> = {};
  for (const [platform, names, mask] of [
    ['meta', META, row.meta],
    ['google', GOOGLE, row.google],
  ] as const) {
    const k: Record<string, string> = {};
    names.forEach((n, i) => {
      if ((mask & (1 << i)) !== 0) k[n] = 'x';
    });
    if (Object.keys(k).length) keys[platform] = k;
  }
  return { cid: 'c', ids: ['c'], keys, consent: 'subscribed', attrs: {} };
}

function shapesOf(row: Row) {
  const shapes: Array<[string, { names: readonly string[]; mask: number }]> = [];
  if (row.meta) shapes.push(['meta', { names: META, mask: row.meta }]);
  if (row.google) shapes.push(['google', { names: GOOGLE, mask: row.google }]);
  return shapes.length ? shapes : undefined;
}

/** The counts as a list of [platform, key, n] in object order: order matters as much as the numbers. */
function ordered(t: Tally) {
  settleTally(t);
  return Object.entries(t.keyCounts).map(([p, c]) => [p, Object.entries(c)]);
}

describe('the key tally', () => {
  it('counts rows by mask exactly as key by key, in the same first-seen order, in any chunking and mix', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(rowArb, fc.boolean(), fc.integer({ min: 0, max: 3 })), { maxLength: 40 }),
        (rows) => {
          const plain = emptyTally();
          for (const [row] of rows) tallyRecord(plain, recordOf(row));
          // The same rows, some with their masks and some without, in chunks added to a reading thread's tally.
          const into = emptyTally();
          let chunk = emptyTally();
          for (const [row, withMask, cut] of rows) {
            // In file order, as the reader takes them: a row read in this thread after the chunks before it.
            if (cut === 0) {
              addTally(into, chunk);
              chunk = emptyTally();
            }
            tallyRecord(cut === 0 ? into : chunk, recordOf(row), withMask ? shapesOf(row) : undefined);
            if (cut === 1) {
              addTally(into, chunk);
              chunk = emptyTally();
            }
          }
          addTally(into, chunk);
          expect(ordered(into)).toEqual(ordered(plain));
          expect(into.consent.subscribed).toBe(rows.length);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('survives being copied to another thread before it is settled (structured clone)', () => {
    const t = emptyTally();
    tallyRecord(t, recordOf({ meta: 0b101, google: 0 }), shapesOf({ meta: 0b101, google: 0 }));
    tallyRecord(t, recordOf({ meta: 0b011, google: 1 }), shapesOf({ meta: 0b011, google: 1 }));
    const into = emptyTally();
    addTally(into, structuredClone(t));
    expect(ordered(into)).toEqual([
      [
        'meta',
        [
          ['EMAIL', 2],
          ['FN', 1],
          ['PHONE', 1],
        ],
      ],
      ['google', [['emailAddress', 1]]],
    ]);
  });
});
