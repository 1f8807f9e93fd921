/**
 * Meta's verified behaviour, end to end: the real MetaDestination (facebook-nodejs-business-sdk) against the local
 * Graph API server, which runs on the same test clock as the sync, so its 90-minute replace window passes when a
 * test says so. Each test is one behaviour; the fake's membership and recorded requests are the evidence.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AudienceConfig } from '../../functions/core/config';
import { type Destination, DestinationError } from '../../functions/core/ports';
import { runSync, type SyncOptions } from '../../functions/core/sync';
import { MetaDestination } from '../../functions/platforms/meta/adapter';
import { PLATFORMS } from '../../functions/platforms/registry';
import { type FakeMeta, type MetaGraphServerOptions, startMetaGraphServer } from '../fakes/meta-graph-server';
import {
  contact,
  emailHash,
  memoryLogger,
  metaConfig,
  putAll,
  type StoreHarness,
  startStore,
  testClock,
} from '../helpers/harness';

const MIN = 60_000;
const DAY = 86_400_000;
const DEST = 'meta-main#all';

let fake: FakeMeta;
let h: StoreHarness;
/** The fake's clock: the running test's clock when it sets one. */
let graphNow: () => number = Date.now;
const startFake = (options: MetaGraphServerOptions = {}) =>
  startMetaGraphServer({ quotaPerWindow: 1_000_000, now: () => graphNow(), ...options });

beforeAll(async () => {
  fake = await startFake();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  graphNow = Date.now;
  fake.reset();
  h = await startStore();
});
afterEach(async () => {
  await h.close();
});

/** Runs `body` against a differently configured fake, then puts the default one back. */
async function withFake(options: MetaGraphServerOptions, body: () => Promise<void>) {
  const usual = fake;
  fake = await startFake(options);
  try {
    await body();
  } finally {
    await fake.close();
    fake = usual;
  }
}

const meta = () =>
  new MetaDestination({
    accessToken: 'test-token',
    adAccountId: 'act_123',
    graphUrl: fake.baseUrl,
    timeoutMs: 5_000,
    maxBatchSize: 1_000,
  });

/** A destination whose confirmed calls take `ms` on the test clock (the platform being slow). */
function slow(clock: ReturnType<typeof testClock>, ms: { add?: number; remove?: number; replace?: number }) {
  const dest = meta();
  const add = dest.add.bind(dest);
  const remove = dest.remove.bind(dest);
  const replace = dest.replace.bind(dest);
  dest.add = async (a, b) => {
    const out = await add(a, b);
    clock.advance(ms.add ?? 0);
    return out;
  };
  dest.remove = async (a, b) => {
    const out = await remove(a, b);
    clock.advance(ms.remove ?? 0);
    return out;
  };
  dest.replace = async (a, b, s) => {
    const out = await replace(a, b, s);
    clock.advance(ms.replace ?? 0);
    return out;
  };
  return dest;
}

function sync(
  config: AudienceConfig,
  dest: Destination,
  clock: ReturnType<typeof testClock>,
  opts: SyncOptions = {},
  logger = memoryLogger(),
) {
  return runSync(
    { config, store: h.store, destinations: { 'meta-main': dest }, clock, logger, platforms: PLATFORMS },
    { random: () => 0.5, ...opts },
  );
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const hashes = (indices: number[]) => new Set(indices.map(emailHash));
const leave = (indices: number[]) =>
  putAll(
    h.store,
    indices.map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
  );
const replaceMonthly = () =>
  metaConfig({ destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 30 } } });

async function synced(): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  for await (const m of h.store.syncedMembers(DEST)) out.set(m.cid, m.session);
  return out;
}

describe('low audience size on removal (200/1870047)', () => {
  it('is reported as such, never as a permission alert; the members stay pending and are removed once Meta allows it', async () => {
    await withFake({ minRemovalSize: 5 }, async () => {
      const clock = testClock();
      graphNow = () => clock.now().getTime();
      const config = metaConfig();
      await putAll(
        h.store,
        range(0, 6).map((i) => contact(i)),
      );
      await sync(config, meta(), clock);
      const id = fake.audiences()[0]!.id;
      await leave([0, 1, 2]);

      const logger = memoryLogger();
      const refused = await sync(config, meta(), clock, {}, logger);
      expect(refused.audiences[0]).toMatchObject({ status: 'partial', errorKind: 'low_audience_size', removed: 0 });
      expect(refused.audiences[0]!.message).toMatch(/minimum size.*pending removal.*retried next run/);
      expect(refused.audiences[0]!.message).not.toMatch(/permission denied|ads_management/);
      expect(refused.alerts).toEqual([]);
      expect(logger.lines.join('\n')).not.toContain('destination_alert');
      const deletes = fake.requests.filter((r) => r.method === 'DELETE');
      expect(deletes.map((r) => [r.status, r.errorCode])).toEqual([[400, 200]]);
      // Still pending: the synced state keeps them, Meta still has them.
      expect([...(await synced()).keys()]).toEqual(expect.arrayContaining([0, 1, 2].map(emailHash)));
      expect(fake.members(id).size).toBe(6);

      // Next run: tried again (refused again: removals go first), while newcomers are still added.
      await putAll(
        h.store,
        range(6, 12).map((i) => contact(i)),
      );
      const next = await sync(config, meta(), clock);
      expect(next.audiences[0]).toMatchObject({ errorKind: 'low_audience_size', removed: 0, added: 6 });
      expect(fake.requests.filter((r) => r.method === 'DELETE')).toHaveLength(2);

      // The run after: the audience is big enough now, the removals go through.
      const last = await sync(config, meta(), clock);
      expect(last.audiences[0]).toMatchObject({ status: 'synced', removed: 3 });
      expect(fake.members(id)).toEqual(hashes(range(3, 12)));
    });
  });
});

describe('terms of service not accepted, as code 200 with a subcode', () => {
  it.each([1870034, 1870090] as const)(
    '200/%i alerts "terms" with the ToS link, not "permission denied"',
    async (as) => {
      await withFake({ defaultTosAccepted: false, tosError: as }, async () => {
        await putAll(
          h.store,
          range(0, 3).map((i) => contact(i)),
        );
        const r = await sync(metaConfig(), meta(), testClock());
        expect(r.audiences[0]).toMatchObject({ status: 'failed', errorKind: 'terms' });
        expect(r.alerts).toEqual([
          expect.objectContaining({
            kind: 'terms',
            link: 'https://www.facebook.com/customaudiences/app/tos/?act=123',
          }),
        ]);
        expect(r.alerts[0]!.message).toMatch(/terms of service are not accepted for ad account act_123/);
        expect(r.alerts[0]!.message).not.toMatch(/permission denied/);
        expect(fake.requests.at(-1)).toMatchObject({ errorCode: 200 });
      });
    },
  );
});

/**
 * 2,500 members synced in batches of 1,000 (calls observed to be instant), then a replace day whose first replace
 * batch takes `replaceMs`: the run's 1-second budget is gone after batch 1 (the estimate missed), so the session is
 * left open on Meta with 1,000 members sent. Returns the clock the fake also runs on.
 */
async function replaceInterruptedAfterBatch1(replaceMs: number) {
  const clock = testClock();
  graphNow = () => clock.now().getTime();
  const config = replaceMonthly();
  await putAll(
    h.store,
    range(0, 2_500).map((i) => contact(i)),
  );
  await sync(config, meta(), clock);
  const id = fake.audiences()[0]!.id;
  clock.advance(31 * DAY);
  const first = await sync(config, slow(clock, { replace: replaceMs }), clock, {
    deadline: clock.now().getTime() + 1_000,
  });
  expect(first).toMatchObject({ done: false });
  expect(first.audiences[0]).toMatchObject({ status: 'partial' });
  expect(fake.replaceCalls(id).map((b) => [b.rows, b.batchSeq, b.lastBatch])).toEqual([[1_000, 1, false]]);
  const sent = [...(await synced())].filter(([, session]) => session !== undefined).map(([cid]) => cid);
  expect(sent).toHaveLength(1_000);
  return { config, clock, id, sent: new Set(sent) };
}

describe('replace window: never start a replace that cannot finish in 90 minutes', () => {
  it('too big for the window at the observed pace: not started, healed by diff, the audience ends exact', async () => {
    const clock = testClock();
    graphNow = () => clock.now().getTime();
    const config = replaceMonthly();
    await putAll(
      h.store,
      range(0, 2_500).map((i) => contact(i)),
    );
    // Meta answers slowly: 30 minutes a batch call, so 3 replace batches would need 135 min with margin.
    const slowMeta = slow(clock, { add: 30 * MIN, remove: 30 * MIN, replace: 30 * MIN });
    await sync(config, slowMeta, clock);
    const id = fake.audiences()[0]!.id;
    await leave(range(0, 100));
    await putAll(
      h.store,
      range(5_000, 5_200).map((i) => contact(i)),
    );
    clock.advance(31 * DAY);

    const r = await sync(config, slowMeta, clock);
    expect(r.audiences[0]).toMatchObject({ status: 'synced', added: 200, removed: 100 });
    expect(r.audiences[0]!.replaced).toBeUndefined();
    expect(r.audiences[0]!.healedByDiff).toMatch(
      /full replace not started: a replace of 2600 members \(3 batches.*more than the 80 min left of Meta's 90 min replace window; healed by diff instead/,
    );
    expect(r.audiences[0]!.message).toContain('healed by diff');
    expect(fake.replaceCalls(id)).toEqual([]);
    expect(fake.members(id)).toEqual(hashes([...range(100, 2_500), ...range(5_000, 5_200)]));
    expect((await h.store.audienceState(DEST))?.replace).toBeUndefined();
  });

  it('a replace this run slice cannot finish is not started (it must not depend on a continuation); a run with time does it', async () => {
    const clock = testClock();
    graphNow = () => clock.now().getTime();
    const config = replaceMonthly();
    await putAll(
      h.store,
      range(0, 2_500).map((i) => contact(i)),
    );
    const slowMeta = slow(clock, { add: 20_000, replace: 20_000 }); // 3 batches × 20 s × 1.5 = 90 s
    await sync(config, slowMeta, clock);
    const id = fake.audiences()[0]!.id;
    clock.advance(31 * DAY);

    const short = await sync(config, slowMeta, clock, { deadline: clock.now().getTime() + 60_000 });
    expect(short.done).toBe(true);
    expect(short.audiences[0]!.healedByDiff).toMatch(/90 s, more than the 60 s left in this run slice/);
    expect(fake.replaceCalls(id)).toEqual([]);

    const roomy = await sync(config, slowMeta, clock, { deadline: clock.now().getTime() + 10 * MIN });
    expect(roomy.audiences[0]).toMatchObject({ replaced: true });
    expect(roomy.audiences[0]!.healedByDiff).toBeUndefined();
    expect(fake.replaceCalls(id).map((b) => b.lastBatch)).toEqual([false, false, true]);
    expect(fake.members(id)).toEqual(hashes(range(0, 2_500)));
  });
});

describe('an abandoned replace session is applied by Meta', () => {
  it('interrupted, then timed out on Meta: the next run assumes only what the session sent and re-adds the rest', async () => {
    const { config, clock, id, sent } = await replaceInterruptedAfterBatch1(5_000);
    // Meanwhile one person the session sent and one it did not leave.
    const indices = range(0, 2_500);
    const sentLeaver = indices.find((i) => sent.has(emailHash(i)))!;
    const unsentLeaver = indices.find((i) => !sent.has(emailHash(i)))!;
    await leave([sentLeaver, unsentLeaver]);
    // Nobody resumes the session for 91 minutes: Meta closes it and the live audience shrinks to batch 1.
    clock.advance(91 * MIN);
    expect(fake.members(id)).toEqual(sent);

    const next = await sync(config, meta(), clock);
    const desired = hashes(indices.filter((i) => i !== sentLeaver && i !== unsentLeaver));
    expect(next.audiences[0]).toMatchObject({ status: 'synced', removed: 1, added: 1_499 });
    expect(next.audiences[0]!.replaced).toBeUndefined();
    expect(next.audiences[0]!.healedByDiff).toMatch(
      /outlived Meta’s 90-minute window.*holds only the 1000 members that session sent.*re-added by diff/,
    );
    // No batch went to the dead session, and no new session was started in the same run.
    expect(fake.replaceCalls(id)).toHaveLength(1);
    expect(fake.members(id)).toEqual(desired);
    expect((await h.store.audienceState(DEST))?.replace).toBeUndefined();

    // The replace is still due; the next run does it, and the audience stays exact.
    const after = await sync(config, meta(), clock);
    expect(after.audiences[0]).toMatchObject({ replaced: true });
    expect(fake.members(id)).toEqual(desired);
  });

  it('Meta reporting the session as timed out (2650/1870158) is handled the same way', async () => {
    // Meta's view of the window ends before ours (clocks, or a first batch Meta counted earlier).
    await withFake({ replaceSessionTimeoutMs: 20 * MIN }, async () => {
      const { config, clock, id, sent } = await replaceInterruptedAfterBatch1(5_000);
      clock.advance(30 * MIN);
      const next = await sync(config, meta(), clock);
      const refused = fake.requests.filter((r) => /usersreplace$/.test(r.path) && r.status !== 200);
      expect(refused.map((r) => r.errorCode)).toEqual([2650]);
      expect(next.audiences[0]).toMatchObject({ status: 'synced', added: 1_500 });
      expect(next.audiences[0]!.healedByDiff).toMatch(/timed out.*holds only the 1000 members/);
      expect(fake.replaceCalls(id)).toHaveLength(1);
      expect([...fake.members(id)].filter((m) => sent.has(m))).toHaveLength(1_000);
      expect(fake.members(id)).toEqual(hashes(range(0, 2_500)));
    });
  });

  it('an open session resumed too late to finish sends what still fits, closes, and adds the rest by diff', async () => {
    // Replace batches take 10 minutes each; the session is picked up again 60 minutes after it opened, so only one
    // more batch fits in what is left of the window (90 − 60 − 10 reserve = 20 min, 15 min a batch with margin).
    const { config, clock, id } = await replaceInterruptedAfterBatch1(10 * MIN);
    clock.advance(50 * MIN);
    const next = await sync(config, slow(clock, { replace: 10 * MIN }), clock);
    expect(fake.replaceCalls(id).map((b) => [b.rows, b.batchSeq, b.lastBatch])).toEqual([
      [1_000, 1, false],
      [1_000, 2, true],
    ]);
    expect(next.audiences[0]!.healedByDiff).toMatch(
      /could not finish inside Meta’s 90-minute window.*closed after 2000 members and the rest is added by diff/,
    );
    expect(next.audiences[0]).toMatchObject({ status: 'synced', added: 500 });
    expect(next.audiences[0]!.replaced).toBeUndefined();
    expect(fake.members(id)).toEqual(hashes(range(0, 2_500)));
  });

  it('a young interrupted session still resumes where it stopped, within its window', async () => {
    const { config, clock, id } = await replaceInterruptedAfterBatch1(5_000);
    clock.advance(30 * MIN);
    const next = await sync(config, meta(), clock);
    expect(next.audiences[0]).toMatchObject({ replaced: true });
    expect(next.audiences[0]!.healedByDiff).toBeUndefined();
    expect(new Set(fake.replaceCalls(id).map((b) => b.sessionId)).size).toBe(1);
    expect(fake.members(id)).toEqual(hashes(range(0, 2_500)));
  });
});

describe('a replace session Meta already finished (2650/1870159)', () => {
  it('the reply to our last batch is lost; the retry hears "already finished": only what was confirmed is assumed, a new session restarts and ends exact', async () => {
    const clock = testClock();
    graphNow = () => clock.now().getTime();
    const config = replaceMonthly();
    await putAll(
      h.store,
      range(0, 2_500).map((i) => contact(i)),
    );
    await sync(config, meta(), clock);
    const id = fake.audiences()[0]!.id;
    await leave([2_499]);
    clock.advance(31 * DAY);
    const dest = meta();
    const replace = dest.replace.bind(dest);
    let lost = false;
    dest.replace = async (a, b, session) => {
      const out = await replace(a, b, session);
      if (session.last && !lost) {
        lost = true; // Meta applied the last batch, but its reply never arrived.
        throw new DestinationError('transient', 'Meta replace users timed out after 5000 ms');
      }
      return out;
    };
    const r = await sync(config, dest, clock);
    const sessions = [...new Set(fake.replaceCalls(id).map((b) => b.sessionId))];
    expect(sessions).toHaveLength(2);
    expect(fake.requests.filter((q) => /usersreplace$/.test(q.path) && q.errorCode === 2650)).toHaveLength(1);
    expect(r.audiences[0]).toMatchObject({ replaced: true, status: 'synced' });
    expect(r.audiences[0]!.message).toMatch(
      /already finished: the audience holds only the 2000 members.*a new replace session is started/,
    );
    expect(r.audiences[0]!.healedByDiff).toBeUndefined();
    expect(fake.members(id)).toEqual(hashes(range(0, 2_499)));
    const state = [...(await synced()).values()];
    expect(new Set(state)).toEqual(new Set([Number(sessions[1])]));
  });
});

describe('another replace in progress (2650/1870145)', () => {
  /** Someone else (Ads Manager, another tool) opens a replace session with one stranger and walks away. */
  async function foreignSession(id: string) {
    const res = await fetch(`${fake.baseUrl}/v24.0/${id}/usersreplace?access_token=test-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        payload: { schema: ['EMAIL'], data: [['a'.repeat(64)]] },
        session: { session_id: 4242, batch_seq: 1, last_batch_flag: false },
      }),
    });
    expect(res.status).toBe(200);
  }

  it('a second replace is refused: reported, retried later, not a crash; once Meta closes the other one ours runs', async () => {
    const clock = testClock();
    graphNow = () => clock.now().getTime();
    const config = replaceMonthly();
    await putAll(
      h.store,
      range(0, 1_200).map((i) => contact(i)),
    );
    await sync(config, meta(), clock);
    const id = fake.audiences()[0]!.id;
    clock.advance(31 * DAY);
    await foreignSession(id);

    const logger = memoryLogger();
    const busy = await sync(config, meta(), clock, {}, logger);
    expect(busy).toMatchObject({ done: false, waitSeconds: 600 });
    expect(busy.audiences[0]).toMatchObject({ status: 'partial', errorKind: 'replace_in_progress' });
    expect(busy.audiences[0]!.message).toMatch(/in progress.*retries later/);
    expect(busy.alerts).toEqual([]);
    expect(logger.lines.join('\n')).not.toContain('sync_audience_failed');
    // Refused once, not hammered with retries; our session never opened, so nothing of it is kept.
    const refused = fake.requests.filter((r) => /usersreplace$/.test(r.path) && r.errorCode === 2650);
    expect(refused).toHaveLength(1);
    expect((await h.store.audienceState(DEST))?.replace).toBeUndefined();

    // Still busy on the continuation 10 minutes later.
    clock.advance(busy.waitSeconds! * 1_000);
    expect((await sync(config, meta(), clock)).audiences[0]).toMatchObject({ errorKind: 'replace_in_progress' });

    // Meta closes the foreign session 90 minutes after it opened and applies it: the audience is one stranger.
    clock.advance(90 * MIN);
    expect(fake.members(id)).toEqual(new Set(['a'.repeat(64)]));
    const later = await sync(config, meta(), clock);
    expect(later).toMatchObject({ done: true });
    expect(later.audiences[0]).toMatchObject({ replaced: true, status: 'synced' });
    expect(fake.members(id)).toEqual(hashes(range(0, 1_200)));
  });

  it('while another session holds the audience, additions wait and go out later', async () => {
    const clock = testClock();
    graphNow = () => clock.now().getTime();
    const config = metaConfig();
    await putAll(
      h.store,
      range(0, 10).map((i) => contact(i)),
    );
    await sync(config, meta(), clock);
    const id = fake.audiences()[0]!.id;
    await foreignSession(id);
    await putAll(
      h.store,
      range(10, 15).map((i) => contact(i)),
    );
    const busy = await sync(config, meta(), clock);
    expect(busy).toMatchObject({ done: false });
    expect(busy.audiences[0]).toMatchObject({ status: 'partial', errorKind: 'replace_in_progress', added: 0 });
    clock.advance(91 * MIN);
    const later = await sync(config, meta(), clock);
    expect(later.audiences[0]).toMatchObject({ status: 'synced', added: 5 });
    // The foreign session replaced the audience with its stranger; the diff cannot know that (no replace is
    // configured here), so only what sync sent is asserted.
    for (const i of range(10, 15)) expect(fake.members(id).has(emailHash(i))).toBe(true);
  });
});
