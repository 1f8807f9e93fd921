import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactIndex } from '../../../functions/core/compact-index';
import type { BatchMember, SyncedMember } from '../../../functions/core/ports';
import {
  backoffMs,
  chunk,
  DEFAULT_BATCH_CALL_MS,
  decideReplace,
  diffAudience,
  planReplaceWindow,
  REPLACE_WINDOW_MS,
  throttleDecision,
  toSchemaRows,
} from '../../../functions/core/sync-plan';
import { META_KEYS } from '../../../functions/platforms/meta/keys';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const synced = (entries: Array<[string, Record<string, string>]>): Map<string, SyncedMember> =>
  new Map(entries.map(([cid, keys]) => [cid, { cid, keys }]));

describe('diffAudience', () => {
  it('removes what is no longer desired and stale keys (with the keys that were sent), adds new and changed, counts unchanged', () => {
    const desired = new Map<string, Record<string, string>>([
      ['c-new', { EMAIL: 'e-new' }],
      ['b-changed', { EMAIL: 'e-b', PHONE: 'p-b2' }],
      ['a-same', { EMAIL: 'e-a', PHONE: 'p-a' }],
      ['d-gained-key', { EMAIL: 'e-d', FN: 'fn-d' }],
    ]);
    const state = synced([
      ['a-same', { PHONE: 'p-a', EMAIL: 'e-a' }], // same keys, other insertion order
      ['b-changed', { EMAIL: 'e-b', PHONE: 'p-b1' }],
      ['d-gained-key', { EMAIL: 'e-d' }],
      ['z-gone', { EMAIL: 'e-z', PHONE: 'p-z' }],
      ['y-gone', { EMAIL: 'e-y' }],
    ]);
    expect(diffAudience(desired, state)).toEqual({
      remove: [
        // The old phone may still match someone on the platform: removed with the keys that were sent.
        { cid: 'b-changed', keys: { EMAIL: 'e-b', PHONE: 'p-b1' } },
        { cid: 'y-gone', keys: { EMAIL: 'e-y' } },
        { cid: 'z-gone', keys: { EMAIL: 'e-z', PHONE: 'p-z' } },
      ],
      add: [
        { cid: 'b-changed', keys: { EMAIL: 'e-b', PHONE: 'p-b2' } },
        { cid: 'c-new', keys: { EMAIL: 'e-new' } },
        { cid: 'd-gained-key', keys: { EMAIL: 'e-d', FN: 'fn-d' } },
      ],
      unchanged: 1,
    });
  });

  it('a member who lost a key is removed with the keys that were sent, then re-added with the smaller set', () => {
    const d = diffAudience(new Map([['a', { EMAIL: 'e' }]]), synced([['a', { EMAIL: 'e', PHONE: 'p' }]]));
    expect(d).toEqual({
      remove: [{ cid: 'a', keys: { EMAIL: 'e', PHONE: 'p' } }],
      add: [{ cid: 'a', keys: { EMAIL: 'e' } }],
      unchanged: 0,
    });
  });

  it('a member who only gained a key is just re-added', () => {
    const d = diffAudience(new Map([['a', { EMAIL: 'e', PHONE: 'p' }]]), synced([['a', { EMAIL: 'e' }]]));
    expect(d).toEqual({ remove: [], add: [{ cid: 'a', keys: { EMAIL: 'e', PHONE: 'p' } }], unchanged: 0 });
  });

  it('a member whose batch was never confirmed (pending) is removed when no longer desired, sent again when still desired', () => {
    const state = new Map<string, SyncedMember>([
      ['a-still', { cid: 'a-still', keys: { EMAIL: 'e-a' }, pending: true }],
      ['b-gone', { cid: 'b-gone', keys: { EMAIL: 'e-b' }, pending: true }],
      ['c-changed', { cid: 'c-changed', keys: { EMAIL: 'e-c', PHONE: 'p1' }, pending: true }],
    ]);
    const desired = new Map<string, Record<string, string>>([
      ['a-still', { EMAIL: 'e-a' }],
      ['c-changed', { EMAIL: 'e-c', PHONE: 'p2' }],
    ]);
    expect(diffAudience(desired, state)).toEqual({
      remove: [
        { cid: 'b-gone', keys: { EMAIL: 'e-b' } },
        { cid: 'c-changed', keys: { EMAIL: 'e-c', PHONE: 'p1' } },
      ],
      add: [
        { cid: 'a-still', keys: { EMAIL: 'e-a' } },
        { cid: 'c-changed', keys: { EMAIL: 'e-c', PHONE: 'p2' } },
      ],
      unchanged: 0,
    });
  });

  it('empty desired removes everything; empty synced adds everything', () => {
    expect(diffAudience(new Map(), synced([['a', { EMAIL: 'e' }]]))).toEqual({
      remove: [{ cid: 'a', keys: { EMAIL: 'e' } }],
      add: [],
      unchanged: 0,
    });
    expect(diffAudience(new Map([['a', { EMAIL: 'e' }]]), new Map())).toEqual({
      remove: [],
      add: [{ cid: 'a', keys: { EMAIL: 'e' } }],
      unchanged: 0,
    });
  });

  const keysArb = fc.dictionary(fc.constantFrom('EMAIL', 'PHONE', 'FN', 'LN'), fc.constantFrom('h1', 'h2'), {
    maxKeys: 4,
  });
  const mapArb = fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), keysArb), { maxLength: 40 });

  it('property: partitions desired ∪ synced, sorted by cid, independent of insertion order', () => {
    fc.assert(
      fc.property(mapArb, mapArb, (desiredEntries, syncedEntries) => {
        const desired = new Map(desiredEntries);
        const state = synced(syncedEntries);
        const d = diffAudience(desired, state);
        const removeCids = d.remove.map((m) => m.cid);
        const addCids = d.add.map((m) => m.cid);
        const lostKey = (c: string) => Object.entries(state.get(c)!.keys).some(([k, v]) => desired.get(c)![k] !== v);
        expect(removeCids).toEqual(
          [...state.keys()].filter((c) => !desired.has(c) || lostKey(c)).sort((a, b) => (a < b ? -1 : 1)),
        );
        expect(d.add.length + d.unchanged).toBe(desired.size);
        for (const m of d.add) expect(m.keys).toEqual(desired.get(m.cid));
        for (const m of d.remove) expect(m.keys).toEqual(state.get(m.cid)?.keys);
        expect(addCids).toEqual([...addCids].sort());
        // same content, reversed insertion order → same plan
        const again = diffAudience(new Map([...desired].reverse()), new Map([...state].reverse()));
        expect(again).toEqual(d);
      }),
    );
  });
});

describe('chunk', () => {
  it.each([
    { items: [1, 2, 3, 4, 5], size: 2, expected: [[1, 2], [3, 4], [5]] },
    {
      items: [1, 2, 3, 4],
      size: 2,
      expected: [
        [1, 2],
        [3, 4],
      ],
    },
    { items: [1, 2, 3], size: 3, expected: [[1, 2, 3]] },
    { items: [1, 2, 3], size: 10_000, expected: [[1, 2, 3]] },
    { items: [1, 2, 3], size: 1, expected: [[1], [2], [3]] },
    { items: [], size: 5, expected: [] },
  ])('$items in batches of $size', ({ items, size, expected }) => {
    expect(chunk(items, size)).toEqual(expected);
  });

  it.each([0, -1, 0.5])('size %s throws', (size) => {
    expect(() => chunk([1, 2], size)).toThrow(/batch size must be at least 1/);
  });

  it('property: concatenation is the input; every batch is full except possibly the last', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (items, size) => {
        const batches = chunk(items, size);
        expect(batches.flat()).toEqual(items);
        expect(batches.length).toBe(Math.ceil(items.length / size));
        batches.forEach((b, i) => {
          if (i < batches.length - 1) expect(b.length).toBe(size);
          else expect(b.length).toBeGreaterThanOrEqual(1);
          expect(b.length).toBeLessThanOrEqual(size);
        });
      }),
    );
  });
});

describe('toSchemaRows', () => {
  it('uses the union of present keys in Meta key order, "" for missing values, rows in batch order', () => {
    const batch: BatchMember[] = [
      { cid: 'z', keys: { PHONE: 'p1', EMAIL: 'e1' } },
      { cid: 'a', keys: { FN: 'f2', EMAIL: 'e2' } },
      { cid: 'm', keys: { COUNTRY: 'c3' } },
    ];
    expect(toSchemaRows(batch, META_KEYS)).toEqual({
      schema: ['EMAIL', 'PHONE', 'FN', 'COUNTRY'],
      data: [
        ['e1', 'p1', '', ''],
        ['e2', '', 'f2', ''],
        ['', '', '', 'c3'],
      ],
    });
  });

  it('a single-key batch has a single-column schema', () => {
    expect(toSchemaRows([{ cid: 'a', keys: { EMAIL: 'e' } }], META_KEYS)).toEqual({ schema: ['EMAIL'], data: [['e']] });
  });

  it('leaves out keys the platform order does not know', () => {
    expect(toSchemaRows([{ cid: 'a', keys: { EMAIL: 'e', email: 'x' } }], META_KEYS)).toEqual({
      schema: ['EMAIL'],
      data: [['e']],
    });
  });

  it('empty batch → empty schema and data', () => {
    expect(toSchemaRows([], META_KEYS)).toEqual({ schema: [], data: [] });
  });
});

describe('backoffMs', () => {
  const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('property: an integer in [0, min(cap, base·2^attempt))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 80 }),
        unit,
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (attempt, r, base, cap) => {
          const ms = backoffMs(attempt, () => r, base, cap);
          expect(Number.isInteger(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
          expect(ms).toBeLessThan(Math.min(cap, base * 2 ** attempt));
        },
      ),
    );
  });

  it('property: with the defaults, never above 30 s and non-decreasing in attempt for the same draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), unit, (attempt, r) => {
        const ms = backoffMs(attempt, () => r);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(30_000);
        expect(backoffMs(attempt + 1, () => r)).toBeGreaterThanOrEqual(ms);
      }),
    );
  });

  it.each([
    { attempt: 0, r: 0, expected: 0 },
    { attempt: 0, r: 0.999999, expected: 499 },
    { attempt: 3, r: 0.5, expected: 2000 },
    { attempt: 10, r: 0.5, expected: 15_000 }, // 500·1024 is capped at 30 000
  ])('attempt $attempt, draw $r → $expected ms', ({ attempt, r, expected }) => {
    expect(backoffMs(attempt, () => r)).toBe(expected);
  });
});

describe('throttleDecision', () => {
  it.each<{ usage: number | undefined; expected: { pauseMs: number } | { stop: true } }>([
    { usage: undefined, expected: { pauseMs: 0 } },
    { usage: 0, expected: { pauseMs: 0 } },
    { usage: 74, expected: { pauseMs: 0 } },
    { usage: 75, expected: { pauseMs: 0 } },
    { usage: 85, expected: { pauseMs: 10_000 } },
    { usage: 94.9, expected: { pauseMs: 19_900 } },
    { usage: 95, expected: { stop: true } },
    { usage: 120, expected: { stop: true } },
  ])('usage $usage % → $expected', ({ usage, expected }) => {
    expect(throttleDecision(usage)).toEqual(expected);
  });
});

describe('planReplaceWindow', () => {
  const MIN = 60_000;

  it('a million members in 10,000-row batches at the default call time fit easily', () => {
    const p = planReplaceWindow({ members: 1_000_000, batchSize: 10_000 });
    // 100 batches × 5 s × 1.5 = 12.5 min, against 90 − 10 (reserve) = 80 min.
    expect(p).toMatchObject({ batches: 100, perBatchMs: DEFAULT_BATCH_CALL_MS, neededMs: 750_000 });
    expect(p).toMatchObject({ windowLeftMs: 80 * MIN, batchesThatFit: 100, fitsWindow: true, fitsBudget: true });
    expect(p.reason).toBeUndefined();
  });

  it('ten million do not: the plan says how many batches would fit and why not', () => {
    const p = planReplaceWindow({ members: 10_000_000, batchSize: 10_000 });
    // 1,000 × 7.5 s = 125 min > 80 min; 80 min / 7.5 s = 640 batches.
    expect(p).toMatchObject({ batches: 1_000, neededMs: 125 * MIN, fitsWindow: false, batchesThatFit: 640 });
    expect(p.reason).toMatch(
      /10000000 members \(1000 batches at about 5 s each.*125 min.*80 min left of Meta's 90 min/,
    );
  });

  it('observed call latency replaces the default', () => {
    expect(planReplaceWindow({ members: 30_000, batchSize: 10_000, callMs: 30 * MIN }).fitsWindow).toBe(false);
    expect(planReplaceWindow({ members: 30_000, batchSize: 10_000, callMs: 0 })).toMatchObject({
      neededMs: 0,
      batchesThatFit: 3,
      fitsWindow: true,
    });
  });

  it('rate-limit pauses count, twice per batch; usage at the stop threshold fits nothing', () => {
    // 85 % → 10 s pause before each call and after each batch: (5 + 20) s × 1.5 per batch.
    const paced = planReplaceWindow({ members: 1_000_000, batchSize: 10_000, usagePercent: 85 });
    expect(paced).toMatchObject({ perBatchMs: 25_000, neededMs: 100 * 37_500, fitsWindow: true });
    expect(
      planReplaceWindow({ members: 1_000_000, batchSize: 10_000, usagePercent: 85, pausesPerBatch: 1 }).perBatchMs,
    ).toBe(15_000);
    const stopped = planReplaceWindow({ members: 10, batchSize: 10_000, usagePercent: 96 });
    expect(stopped).toMatchObject({ fitsWindow: false, batchesThatFit: 0 });
    expect(stopped.reason).toMatch(/rate-limit usage is at 96%/);
  });

  it('a session already open has only the rest of its window', () => {
    const fresh = planReplaceWindow({ members: 200_000, batchSize: 10_000, callMs: 60_000 }); // 20 × 90 s = 30 min
    expect(fresh.fitsWindow).toBe(true);
    const late = planReplaceWindow({ members: 200_000, batchSize: 10_000, callMs: 60_000, elapsedMs: 60 * MIN });
    expect(late).toMatchObject({ windowLeftMs: 20 * MIN, fitsWindow: false, batchesThatFit: 13 });
    const over = planReplaceWindow({ members: 1, batchSize: 10_000, elapsedMs: REPLACE_WINDOW_MS });
    expect(over).toMatchObject({ windowLeftMs: 0, batchesThatFit: 0, fitsWindow: false });
  });

  it('the run slice budget is checked on its own', () => {
    const p = planReplaceWindow({ members: 100_000, batchSize: 10_000, budgetMs: 60_000 }); // 10 × 7.5 s = 75 s
    expect(p).toMatchObject({ fitsWindow: true, fitsBudget: false });
    expect(p.reason).toMatch(/75 s.*more than the 60 s left in this run slice/);
    expect(planReplaceWindow({ members: 100_000, batchSize: 10_000, budgetMs: 75_000 }).fitsBudget).toBe(true);
  });

  it('nothing to send fits; a bad batch size is refused', () => {
    expect(planReplaceWindow({ members: 0, batchSize: 10 })).toMatchObject({ batches: 0, fitsWindow: true });
    expect(() => planReplaceWindow({ members: 1, batchSize: 0 })).toThrow(/batch size/);
  });

  it('property: fitsWindow exactly when every batch fits; more members or more usage never fit better', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 5_000_000 }),
        fc.nat({ max: 5_000_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.option(fc.nat({ max: 120_000 }), { nil: undefined }),
        fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
        fc.nat({ max: 2 * REPLACE_WINDOW_MS }),
        (a, b, batchSize, callMs, usagePercent, elapsedMs) => {
          const [small, large] = a <= b ? [a, b] : [b, a];
          const p = planReplaceWindow({ members: small, batchSize, callMs, usagePercent, elapsedMs });
          const q = planReplaceWindow({ members: large, batchSize, callMs, usagePercent, elapsedMs });
          expect(p.fitsWindow).toBe(p.batchesThatFit === p.batches);
          expect(p.batchesThatFit).toBeLessThanOrEqual(p.batches);
          if (q.fitsWindow) expect(p.fitsWindow).toBe(true);
          const busier = planReplaceWindow({
            members: small,
            batchSize,
            callMs,
            usagePercent: Math.min(100, (usagePercent ?? 0) + 10),
            elapsedMs,
          });
          expect(busier.neededMs).toBeGreaterThanOrEqual(p.neededMs);
        },
      ),
    );
  });
});

describe('decideReplace', () => {
  const MIN = 60_000;
  const plan = (input: Partial<Parameters<typeof planReplaceWindow>[0]>) =>
    planReplaceWindow({ members: 30_000, batchSize: 10_000, ...input });

  it('a new session is all or nothing: it must fit the window and the run slice', () => {
    expect(decideReplace(false, 0, plan({}))).toEqual({ action: 'send', batches: 3, closesEarly: false });
    expect(decideReplace(false, 0, plan({ callMs: 30 * MIN }))).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/replace window/),
    });
    expect(decideReplace(false, 0, plan({ budgetMs: 1_000 }))).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/run slice/),
    });
  });

  it('an open session ignores the slice budget, and past its window it has been applied', () => {
    const p = plan({ elapsedMs: 5 * MIN });
    expect(decideReplace(true, 5 * MIN, p)).toEqual({ action: 'send', batches: 3, closesEarly: false });
    expect(decideReplace(true, REPLACE_WINDOW_MS, plan({ elapsedMs: REPLACE_WINDOW_MS }))).toEqual({
      action: 'assume_applied',
    });
  });

  it('an open session that cannot finish sends what fits (at least one batch) and closes early', () => {
    // 20 min left after the reserve, 15 min a batch with margin: one batch fits.
    const tight = plan({ callMs: 10 * MIN, elapsedMs: 60 * MIN });
    expect(decideReplace(true, 60 * MIN, tight)).toMatchObject({ action: 'send', batches: 1, closesEarly: true });
    // Nothing fits any more: one batch still closes the session now instead of leaving it to time out.
    const none = plan({ callMs: 10 * MIN, elapsedMs: 85 * MIN });
    expect(decideReplace(true, 85 * MIN, none)).toMatchObject({ action: 'send', batches: 1, closesEarly: true });
  });
});

describe('CompactIndex', () => {
  /** A uniformly random 64-hex id (no small-value bias, as real SHA-256 digests). */
  const hexId = fc
    .noBias(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 8, maxLength: 8 }))
    .map((words) => words.map((w) => w.toString(16).padStart(8, '0')).join(''));
  const u32 = fc.integer({ min: 0, max: 0xffffffff });

  it('property: add/has/get agree with a Map<string, number>, size is right, growth keeps everything', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(hexId, u32), { selector: ([id]) => id, minLength: 0, maxLength: 2500 }),
        fc.array(fc.nat(), { maxLength: 200 }), // indexes of ids added a second time with a new value
        fc.array(hexId, { maxLength: 50 }), // probes, almost surely absent
        fc.integer({ min: 0, max: 3000 }), // initial capacity
        (entries, again, probes, capacity) => {
          const index = new CompactIndex(capacity);
          const model = new Map<string, number>();
          for (const [id, value] of entries) {
            expect(index.add(id, value)).toBe(!model.has(id));
            model.set(id, value);
          }
          for (const i of again) {
            if (entries.length === 0) break;
            const [id] = entries[i % entries.length]!;
            const value = (i * 7919) >>> 0;
            expect(index.add(id, value)).toBe(false);
            model.set(id, value);
          }
          expect(index.size).toBe(model.size);
          for (const [id, value] of model) {
            expect(index.has(id)).toBe(true);
            expect(index.get(id)).toBe(value);
          }
          for (const id of probes) {
            expect(index.has(id)).toBe(model.has(id));
            expect(index.get(id)).toBe(model.get(id));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('grows far beyond its initial capacity (10 000 SHA-256 ids from capacity 1)', () => {
    const index = new CompactIndex(1);
    const ids = Array.from({ length: 10_000 }, (_, i) => sha(`person-${i}@example.com`));
    ids.forEach((id, i) => {
      expect(index.add(id, i)).toBe(true);
    });
    expect(index.size).toBe(10_000);
    ids.forEach((id, i) => {
      expect(index.get(id)).toBe(i);
    });
    expect(index.has(sha('someone-else@example.com'))).toBe(false);
    expect(index.get(sha('someone-else@example.com'))).toBeUndefined();
  });

  it('stores values as unsigned 32-bit and defaults them to 0', () => {
    const index = new CompactIndex();
    index.add(sha('a'));
    index.add(sha('b'), -1);
    expect(index.get(sha('a'))).toBe(0);
    expect(index.get(sha('b'))).toBe(0xffffffff);
  });
});
