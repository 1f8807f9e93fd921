/**
 * Meta sync behaviour, end to end through the real MetaDestination (facebook-nodejs-business-sdk) against a local
 * Graph API server, with the contact store on dynalite. The fake server's recorded requests are the evidence.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REDACTED_SECRET } from '../../functions/adapters/secret-redactor';
import { renderSyncHtml } from '../../functions/app/report-html';
import type { AudienceConfig } from '../../functions/core/config';
import { type Destination, DestinationError } from '../../functions/core/ports';
import { runSync, type SyncOptions } from '../../functions/core/sync';
import { MetaDestination } from '../../functions/platforms/meta/adapter';
import { PLATFORMS } from '../../functions/platforms/registry';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
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

let fake: FakeMeta;
let h: StoreHarness;

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  fake.reset();
  h = await startStore();
});
afterEach(async () => {
  await h.close();
});

const meta = (adAccountId = 'act_123', token = 'test-token', maxBatchSize?: number) =>
  new MetaDestination({ accessToken: token, adAccountId, graphUrl: fake.baseUrl, timeoutMs: 5_000, maxBatchSize });
/** Smaller batches keep dynalite work small; the 10,000 limit itself is exercised by the first test. */
const small = () => ({ 'meta-main': meta('act_123', 'test-token', 1_000) });

function sync(
  config: AudienceConfig,
  destinations: Record<string, Destination | undefined> = { 'meta-main': meta() },
  opts: SyncOptions = {},
  clock = testClock(),
  logger = memoryLogger(),
) {
  return runSync(
    { config, store: h.store, destinations, clock, logger, platforms: PLATFORMS },
    { random: () => 0.5, ...opts },
  );
}

const usersCalls = (method: string) =>
  fake.requests.filter((r) => r.method === method && /\/users$/.test(r.path) && r.status === 200);
const payloadOf = (body: unknown) => {
  const p = (body as { payload: unknown }).payload;
  return (typeof p === 'string' ? JSON.parse(p) : p) as { schema: string[]; data: string[][] };
};
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/**
 * 2,500 members synced in batches of 1,000, then a replace day whose session is interrupted (time budget) after its
 * first batch: the situation every resume test starts from.
 */
async function interruptedReplace() {
  await putAll(
    h.store,
    range(0, 2_500).map((i) => contact(i)),
  );
  const config = metaConfig({
    destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 30 } },
  });
  const clock = testClock();
  await sync(config, small(), {}, clock);
  const id = fake.audiences()[0]!.id;
  clock.advance(31 * 86_400_000);
  const dest = meta('act_123', 'test-token', 1_000);
  const realReplace = dest.replace.bind(dest);
  dest.replace = async (aud, batch, session) => {
    const out = await realReplace(aud, batch, session);
    clock.advance(5_000);
    return out;
  };
  const first = await sync(config, { 'meta-main': dest }, { deadline: clock.now().getTime() + 1_000 }, clock);
  return { config, clock, id, first };
}

describe('diff, not dump', () => {
  it('creates the audience as USER_PROVIDED_ONLY and adds 12,000 members in batches of at most 10,000', async () => {
    await putAll(
      h.store,
      range(0, 12_000).map((i) => contact(i)),
    );
    const report = await sync(metaConfig());

    const created = fake.audiences();
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ name: 'All subscribers', customerFileSource: 'USER_PROVIDED_ONLY' });
    const adds = fake.addCalls(created[0]!.id);
    expect(adds.map((a) => a.rows)).toEqual([10_000, 2_000]);
    expect(fake.members(created[0]!.id).size).toBe(12_000);
    const first = payloadOf(usersCalls('POST')[0]!.body);
    expect(first.schema).toEqual(['EMAIL', 'COUNTRY']);
    expect(first.data[0]![0]).toMatch(/^[0-9a-f]{64}$/);
    expect(report.audiences[0]).toMatchObject({
      status: 'synced',
      added: 12_000,
      removed: 0,
      batches: 2,
      created: true,
    });
    expect(report.audiences[0]!.health?.approximateCountLowerBound).toBeGreaterThan(0);
  });

  it('on the next run sends only changes, removals first, and a removal carries the keys that were added', async () => {
    await putAll(
      h.store,
      range(0, 10).map((i) => contact(i)),
    );
    await sync(metaConfig());
    const id = fake.audiences()[0]!.id;
    fake.reset();
    // Keep the audience: reseed the fake with the same id is not possible, so look at requests only from here on.
    await putAll(h.store, [
      contact(1, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' }),
      contact(2, { consent: 'cleaned', seenAt: '2026-11-20T00:00:00.000Z' }),
      contact(10),
      contact(11),
    ]);
    const fresh = fake.seedAudience({
      adAccountId: 'act_123',
      name: 'All subscribers',
      members: range(0, 10).map(emailHash),
    });
    // Point the stored state at the reseeded audience (the fake forgot the first one).
    const state = (await h.store.audienceState('meta-main#all'))!;
    await h.store.putAudienceState({ ...state, audienceId: fresh });
    expect(id).toBeTruthy();

    const report = await sync(metaConfig());
    const calls = fake.requests.filter((r) => /\/users$/.test(r.path));
    expect(calls.map((c) => c.method)).toEqual(['DELETE', 'POST']);
    const removed = payloadOf(calls[0]!.body);
    expect(removed.schema).toEqual(['EMAIL', 'COUNTRY']);
    expect(removed.data.map((r) => r[0]).sort()).toEqual([emailHash(1), emailHash(2)].sort());
    const added = payloadOf(calls[1]!.body);
    expect(added.data.map((r) => r[0]).sort()).toEqual([emailHash(10), emailHash(11)].sort());
    expect(report.audiences[0]).toMatchObject({ added: 2, removed: 2, planned: { add: 2, remove: 2, unchanged: 8 } });
    expect([...fake.members(fresh)].sort()).toEqual([0, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(emailHash).sort());
    // Third run: nothing to do, nothing sent.
    const before = fake.requests.filter((r) => /\/users$/.test(r.path)).length;
    const third = await sync(metaConfig());
    expect(fake.requests.filter((r) => /\/users$/.test(r.path)).length).toBe(before);
    expect(third.audiences[0]).toMatchObject({ status: 'in_sync', added: 0, removed: 0 });
  });

  it('does not upload a segment below its minimum size, but still sends removals', async () => {
    const config = metaConfig({
      segments: [
        {
          id: 'all',
          where: { consent: 'subscribed' },
          destinations: [{ destination: 'meta-main', audienceName: 'Small' }],
        },
      ],
    });
    await putAll(
      h.store,
      range(0, 150).map((i) => contact(i)),
    );
    await sync(config);
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(150);
    // 60 unsubscribe: 90 left, below Meta's 100.
    await putAll(
      h.store,
      range(0, 60).map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
    );
    await putAll(h.store, [contact(500)]);
    const report = await sync(config);
    expect(report.audiences[0]).toMatchObject({ status: 'below_min_size', removed: 60, added: 0, minSize: 100 });
    expect(fake.members(id).size).toBe(90);
    expect(fake.members(id).has(emailHash(500))).toBe(false);
  });

  it('only one sync changes audiences at a time; a continuation of the same run keeps its lock', async () => {
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    const clock = testClock();
    expect(
      (await h.store.acquireLock('sync', 'nightly', clock.now(), new Date(clock.now().getTime() + 600_000))).acquired,
    ).toBe(true);
    const busy = await sync(metaConfig(), undefined, { runId: 'on-demand' }, clock);
    expect(busy).toMatchObject({ done: false, waitSeconds: 60 });
    expect(busy.alerts[0]).toMatchObject({ kind: 'busy' });
    expect(fake.requests).toHaveLength(0);
    const continued = await sync(metaConfig(), undefined, { runId: 'nightly' }, clock);
    expect(continued.audiences[0]).toMatchObject({ added: 3 });
    // Released at the end: the next run gets it; an expired lease from a crashed run does not block either.
    expect(
      (await h.store.acquireLock('sync', 'crashed', clock.now(), new Date(clock.now().getTime() - 1))).acquired,
    ).toBe(true);
    const after = await sync(metaConfig(), undefined, { runId: 'next' }, clock);
    expect(after.done).toBe(true);
  });

  it('dry run plans and sends nothing', async () => {
    await putAll(
      h.store,
      range(0, 5).map((i) => contact(i)),
    );
    const report = await sync(metaConfig(), undefined, { dryRun: true });
    expect(fake.requests).toHaveLength(0);
    expect(report.audiences[0]).toMatchObject({ status: 'planned', planned: { add: 5, remove: 0 } });
  });
});

describe('faults', () => {
  it('a sync killed between batches resumes: every add is sent exactly once and the platform ends exact', async () => {
    await putAll(
      h.store,
      range(0, 2_500).map((i) => contact(i)),
    );
    // The "kill": the time budget runs out after the first confirmed batch.
    const clock = testClock();
    const deadline = clock.now().getTime() + 1_000;
    const slowDest = meta('act_123', 'test-token', 1_000);
    const realAdd = slowDest.add.bind(slowDest);
    slowDest.add = async (aud, batch) => {
      const out = await realAdd(aud, batch);
      clock.advance(5_000);
      return out;
    };
    const first = await sync(metaConfig(), { 'meta-main': slowDest }, { deadline }, clock);
    expect(first.done).toBe(false);
    expect(first.audiences[0]).toMatchObject({ status: 'partial', added: 1_000 });
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(1_000);

    const second = await sync(metaConfig(), small());
    expect(second.done).toBe(true);
    expect(second.audiences[0]).toMatchObject({ added: 1_500 });
    const rows = fake.addCalls(id).map((a) => a.rows);
    expect(rows).toEqual([1_000, 1_000, 500]);
    expect(rows.reduce((a, b) => a + b, 0)).toBe(2_500);
    expect(fake.members(id).size).toBe(2_500);
  });

  it('retries 5xx and connection resets with jittered backoff, then succeeds without duplicates', async () => {
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    fake.inject({ kind: 'html', status: 503, method: 'POST', path: /\/users$/ });
    fake.inject({ kind: 'reset', method: 'POST', path: /\/users$/ });
    const clock = testClock();
    const report = await sync(metaConfig(), undefined, {}, clock);
    expect(report.audiences[0]).toMatchObject({ status: 'synced', added: 3 });
    expect(clock.sleeps.length).toBeGreaterThanOrEqual(2);
    expect(fake.addCalls(fake.audiences()[0]!.id)).toHaveLength(1);
  });

  it('gives up on a destination after a bounded number of 5xx retries', async () => {
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    fake.inject({ kind: 'html', status: 500, method: 'POST', path: /\/users$/, times: 10 });
    const report = await sync(metaConfig(), undefined, { maxAttempts: 3 });
    expect(report.audiences[0]).toMatchObject({ status: 'failed', errorKind: 'transient', added: 0 });
    expect(fake.requests.filter((r) => r.method === 'POST' && /\/users$/.test(r.path))).toHaveLength(3);
  });

  it.each([
    [80003, undefined],
    [17, 2446079],
    [613, 1487742],
    [4, undefined],
  ])('rate limit %i backs off, asks to continue later, and resumes without resending', async (code, subcode) => {
    await putAll(
      h.store,
      range(0, 1_200).map((i) => contact(i)),
    );
    const first0 = await sync(metaConfig(), small());
    expect(first0.done).toBe(true);
    // New members arrive; the platform throttles the first add batch of this run.
    await putAll(
      h.store,
      range(1_200, 2_400).map((i) => contact(i)),
    );
    const id = fake.audiences()[0]!.id;
    fake.inject({ kind: 'graphError', code, subcode, method: 'POST', path: /\/users$/ });
    const r = await sync(metaConfig(), small());
    expect(r.done).toBe(false);
    expect(r.waitSeconds).toBeGreaterThan(0);
    expect(r.audiences[0]).toMatchObject({ status: 'partial', errorKind: 'throttled' });
    const again = await sync(metaConfig(), small());
    expect(again.done).toBe(true);
    expect(fake.addCalls(id).map((a) => a.rows)).toEqual([1_000, 200, 1_000, 200]);
    expect(fake.members(id).size).toBe(2_400);
  });

  it('slows down as X-Business-Use-Case-Usage climbs and stops before 100%', async () => {
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 10 });
    await putAll(
      h.store,
      range(0, 30).map((i) => contact(i)),
    );
    const config = metaConfig({
      segments: range(0, 5).map((s) => ({
        id: `s${s}`,
        where: { number: 'rating', gte: 0 },
        destinations: [{ destination: 'meta-main', audienceName: `Seg ${s}`, minSize: 1 }],
      })),
    });
    await putAll(
      h.store,
      range(0, 30).map((i) => contact(i, { attrs: { country: 'US', zone: 'US', rating: i % 5 } })),
    );
    const clock = testClock();
    const r = await sync(config, { 'meta-main': meta() }, {}, clock);
    expect(clock.sleeps.some((ms) => ms > 0)).toBe(true);
    expect(r.done).toBe(false);
    expect(r.audiences.some((a) => a.errorKind === 'throttled')).toBe(true);
    expect(fake.requests.some((q) => q.errorCode === 80003)).toBe(false);
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  });

  it('an expired token stops only this destination, alerts, and never logs the token', async () => {
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    const config = metaConfig({
      destinations: {
        'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 0 },
        'meta-eu': { platform: 'meta', adAccountId: 'act_456', replaceEveryDays: 0 },
      },
      segments: [
        {
          id: 'all',
          where: { consent: 'subscribed' },
          destinations: [
            { destination: 'meta-main', audienceName: 'Main', minSize: 1 },
            { destination: 'meta-eu', audienceName: 'EU', minSize: 1 },
          ],
        },
      ],
    });
    const logger = memoryLogger();
    const r = await sync(
      config,
      { 'meta-main': meta('act_123', 'EAAexpiredtokenvalue1234567890'), 'meta-eu': meta('act_456') },
      {},
      testClock(),
      logger,
    );
    expect(r.audiences.find((a) => a.destination === 'meta-main')).toMatchObject({
      status: 'failed',
      errorKind: 'auth',
    });
    expect(r.audiences.find((a) => a.destination === 'meta-eu')).toMatchObject({ status: 'synced', added: 3 });
    expect(r.alerts).toEqual([expect.objectContaining({ destination: 'meta-main', kind: 'auth' })]);
    const logs = logger.lines.join('\n');
    expect(logs).toContain('"event":"destination_alert"');
    expect(logs).not.toContain('EAAexpiredtokenvalue1234567890');
    expect(JSON.stringify(r)).not.toContain('EAAexpiredtokenvalue1234567890');
  });

  it('terms of service not accepted: alert carries the link, other destinations go on', async () => {
    fake.setTosAccepted('act_123', false);
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    const r = await sync(metaConfig());
    expect(r.audiences[0]).toMatchObject({ status: 'failed', errorKind: 'terms' });
    expect(r.alerts[0]!.link).toMatch(/tos/);
    expect(r.alerts[0]!.message).toContain('act_123');
  });

  it('low audience size on removal is reported once, not retried forever', async () => {
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000, minRemovalSize: 5 });
    await putAll(
      h.store,
      range(0, 6).map((i) => contact(i)),
    );
    await sync(metaConfig());
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
    );
    const r = await sync(metaConfig());
    expect(r.audiences[0]).toMatchObject({ status: 'partial', errorKind: 'low_audience_size', removed: 0 });
    expect(fake.requests.filter((q) => q.method === 'DELETE')).toHaveLength(1);
    // Still pending: the next run tries again.
    const again = await sync(metaConfig());
    expect(again.audiences[0]!.planned.remove).toBe(3);
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  });

  it('one invalid row never fails a batch: invalid entries are counted in the report', async () => {
    const bad = contact(99);
    bad.keys.meta.EMAIL = 'not-a-hash';
    bad.cid = 'f'.repeat(64);
    await putAll(h.store, [...range(0, 4).map((i) => contact(i)), bad]);
    const r = await sync(metaConfig());
    expect(r.audiences[0]).toMatchObject({ status: 'synced', added: 5, invalidEntries: 1 });
  });

  it('an audience deleted in Ads Manager is recreated and refilled', async () => {
    await putAll(
      h.store,
      range(0, 4).map((i) => contact(i)),
    );
    await sync(metaConfig());
    const old = fake.audiences()[0]!.id;
    const del = await fetch(`${fake.baseUrl}/v24.0/${old}?access_token=test-token`, { method: 'DELETE' });
    expect(del.ok).toBe(true);
    await putAll(h.store, [contact(4)]);
    const r = await sync(metaConfig());
    const live = fake.audiences().filter((a) => !a.deleted);
    expect(live).toHaveLength(1);
    expect(live[0]!.id).not.toBe(old);
    expect(fake.members(live[0]!.id).size).toBe(5);
    expect(r.audiences[0]!.message).toMatch(/recreated/);
  });
});

describe('deleted audiences without recreation', () => {
  it('are reported and alerted, and the other audiences of the destination still sync', async () => {
    const config = metaConfig({
      destinations: {
        'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 0, recreateDeleted: false },
      },
      segments: [
        {
          id: 'a',
          where: { consent: 'subscribed' },
          destinations: [{ destination: 'meta-main', audienceName: 'A', minSize: 1 }],
        },
        {
          id: 'b',
          where: { consent: 'subscribed' },
          destinations: [{ destination: 'meta-main', audienceName: 'B', minSize: 1 }],
        },
      ],
    });
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    await sync(config);
    const a = fake.audiences().find((x) => x.name === 'A')!;
    await fetch(`${fake.baseUrl}/v24.0/${a.id}?access_token=test-token`, { method: 'DELETE' });
    await putAll(h.store, [contact(3)]);
    const r = await sync(config);
    expect(r.audiences.find((x) => x.segment === 'a')).toMatchObject({ status: 'failed', errorKind: 'deleted' });
    expect(r.audiences.find((x) => x.segment === 'b')).toMatchObject({ status: 'synced', added: 1 });
    expect(r.alerts).toEqual([expect.objectContaining({ kind: 'deleted', destination: 'meta-main' })]);
    expect(fake.audiences().filter((x) => !x.deleted)).toHaveLength(1);
  });
});

describe('replace and lookalikes', () => {
  it('a periodic full replace runs a usersreplace session and heals drift', async () => {
    await putAll(
      h.store,
      range(0, 1_200).map((i) => contact(i)),
    );
    const config = metaConfig({
      destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 30 } },
    });
    const clock = testClock();
    await sync(config, small(), {}, clock);
    const id = fake.audiences()[0]!.id;
    // Drift: someone added a stranger by hand in Ads Manager.
    await fetch(`${fake.baseUrl}/v24.0/${id}/users?access_token=test-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { schema: ['EMAIL'], data: [['a'.repeat(64)]] } }),
    });
    clock.advance(31 * 86_400_000);
    const r = await sync(config, small(), {}, clock);
    expect(r.audiences[0]).toMatchObject({ replaced: true, status: 'synced' });
    const batches = fake.replaceCalls(id);
    expect(batches.map((b) => [b.rows, b.batchSeq, b.lastBatch])).toEqual([
      [1_000, 1, false],
      [200, 2, true],
    ]);
    expect(fake.members(id).size).toBe(1_200);
    expect(fake.members(id).has('a'.repeat(64))).toBe(false);
  });

  it('a replace interrupted between batches resumes the same session, not a new one', async () => {
    const { config, clock, id, first } = await interruptedReplace();
    expect(first).toMatchObject({ done: false });
    const second = await sync(config, small(), {}, clock);
    expect(second.audiences[0]).toMatchObject({ replaced: true });
    const batches = fake.replaceCalls(id);
    expect(batches.map((b) => [b.batchSeq, b.lastBatch])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    expect(new Set(batches.map((b) => b.sessionId)).size).toBe(1);
    expect(fake.members(id).size).toBe(2_500);
  });

  it('members who change while a replace is interrupted are neither lost nor kept: the next diff settles them', async () => {
    const { config, clock, id } = await interruptedReplace();
    // Meanwhile: someone already sent in the session unsubscribes, and a newcomer sorts into the sent range.
    const sent = [
      ...(await (async () => {
        const out: string[] = [];
        for await (const m of h.store.syncedMembers('meta-main#all')) if (m.session) out.push(m.cid);
        return out;
      })()),
    ].sort();
    const leaverIndex = range(0, 2_500).find((i) => emailHash(i) === sent[0])!;
    await putAll(h.store, [contact(leaverIndex, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })]);
    const newcomer = range(10_000, 20_000).find((i) => emailHash(i) < sent[sent.length - 1]!)!;
    await putAll(h.store, [contact(newcomer)]);
    const resumed = await sync(config, small(), {}, clock);
    expect(resumed.audiences[0]).toMatchObject({ replaced: true });
    expect(new Set(fake.replaceCalls(id).map((b) => b.sessionId)).size).toBe(1);
    const settle = await sync(config, small(), {}, clock);
    expect(settle.audiences[0]).toMatchObject({ removed: 1, added: 1 });
    const expected = new Set(
      range(0, 2_500)
        .filter((i) => i !== leaverIndex)
        .map(emailHash),
    );
    expected.add(emailHash(newcomer));
    expect(fake.members(id)).toEqual(expected);
  });

  it('an emptied segment on a replace day still sends its removals', async () => {
    const config = metaConfig({
      destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 30 } },
      segments: [
        {
          id: 'all',
          where: { consent: 'subscribed' },
          destinations: [{ destination: 'meta-main', audienceName: 'All', minSize: 0 }],
        },
      ],
    });
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    const clock = testClock();
    await sync(config, undefined, {}, clock);
    const id = fake.audiences()[0]!.id;
    clock.advance(31 * 86_400_000);
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
    );
    const r = await sync(config, undefined, {}, clock);
    expect(r.audiences[0]).toMatchObject({ removed: 3 });
    expect(fake.members(id).size).toBe(0);
    expect(fake.requests.filter((q) => q.method === 'DELETE' && /\/users$/.test(q.path))).toHaveLength(1);
  });

  it('a replace session that sent nothing yet is dropped when the segment empties, and the removals still go out', async () => {
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i)),
    );
    const config = metaConfig({
      destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 30 } },
      segments: [
        {
          id: 'all',
          where: { consent: 'subscribed' },
          destinations: [{ destination: 'meta-main', audienceName: 'All', minSize: 0 }],
        },
      ],
    });
    const clock = testClock();
    await sync(config, undefined, {}, clock);
    const id = fake.audiences()[0]!.id;
    clock.advance(31 * 86_400_000);
    fake.inject({ kind: 'graphError', code: 80003, method: 'POST', path: /usersreplace$/ });
    const throttled = await sync(config, undefined, {}, clock);
    expect(throttled.done).toBe(false);
    await putAll(
      h.store,
      range(0, 3).map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
    );
    const r = await sync(config, undefined, {}, clock);
    expect(r.audiences[0]).toMatchObject({ removed: 3 });
    expect(fake.members(id).size).toBe(0);
  });

  it('a resumed replace whose remaining members all left closes its session with the last member sent', async () => {
    const { config, clock, id } = await interruptedReplace();
    const sent = new Set<string>();
    for await (const m of h.store.syncedMembers('meta-main#all')) if (m.session) sent.add(m.cid);
    const leavers = range(0, 2_500).filter((i) => !sent.has(emailHash(i)));
    await putAll(
      h.store,
      leavers.map((i) => contact(i, { consent: 'unsubscribed', seenAt: '2026-11-20T00:00:00.000Z' })),
    );
    const resumed = await sync(config, small(), {}, clock);
    expect(resumed.audiences[0]).toMatchObject({ replaced: true });
    expect(fake.replaceCalls(id).at(-1)).toMatchObject({ rows: 1, lastBatch: true });
    expect(fake.members(id).size).toBe(1_000);
    expect(new Set([...fake.members(id)])).toEqual(sent);
  });

  it('a changed key whose removal is refused stays pending: the re-add waits, the old keys are kept', async () => {
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000, minRemovalSize: 5 });
    await putAll(
      h.store,
      range(0, 5).map((i) => contact(i)),
    );
    await sync(metaConfig());
    const changed = contact(0, { seenAt: '2026-11-20T00:00:00.000Z' });
    changed.keys.meta.PHONE = 'b'.repeat(64);
    changed.keys.meta.COUNTRY = 'c'.repeat(64);
    await putAll(h.store, [changed]);
    const r = await sync(metaConfig());
    expect(r.audiences[0]).toMatchObject({ errorKind: 'low_audience_size', added: 0, removed: 0 });
    const kept = [];
    for await (const m of h.store.syncedMembers('meta-main#all')) if (m.cid === changed.cid) kept.push(m.keys);
    expect(kept[0]!.PHONE).toBeUndefined();
    const again = await sync(metaConfig());
    expect(again.audiences[0]!.planned).toMatchObject({ remove: 1, add: 1 });
    await fake.close();
    fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  });

  it('creates a lookalike once the seed is big enough, and only once', async () => {
    const config = metaConfig({
      segments: [
        {
          id: 'customers',
          where: { number: 'orders', gte: 1 },
          destinations: [
            {
              destination: 'meta-main',
              audienceName: 'Customers',
              minSize: 1,
              lookalike: { country: 'DE', ratio: 0.02, minSeedSize: 3 },
            },
          ],
        },
      ],
    });
    await putAll(
      h.store,
      range(0, 2).map((i) => contact(i, { attrs: { orders: 2 } })),
    );
    await sync(config);
    expect(fake.audiences().filter((a) => a.subtype === 'LOOKALIKE')).toHaveLength(0);
    await putAll(
      h.store,
      range(2, 5).map((i) => contact(i, { attrs: { orders: 1 } })),
    );
    const r = await sync(config);
    const lal = fake.audiences().filter((a) => a.subtype === 'LOOKALIKE');
    expect(lal).toHaveLength(1);
    expect(lal[0]).toMatchObject({ lookalikeSpec: expect.objectContaining({ country: 'DE', ratio: 0.02 }) });
    expect(r.audiences[0]!.lookalikeId).toBe(lal[0]!.id);
    await sync(config);
    expect(fake.audiences().filter((a) => a.subtype === 'LOOKALIKE')).toHaveLength(1);
  });
});

describe('the access token never leaves the adapter', () => {
  // Not shaped like a Meta token (EAA…), so only the adapter's own redaction can catch it.
  const TOKEN = 'Sup3rSecret/Tok+en=9';
  const echo = `(#100) Invalid parameter: request signed with ${TOKEN} (as ${encodeURIComponent(TOKEN)}) refused`;
  const leaks = (s: string) => s.includes('Sup3rSecret');
  const failure = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(DestinationError);
    return e as DestinationError;
  };
  const member = { cid: 'c1', keys: { EMAIL: emailHash(1) } };

  it('is removed from DestinationErrors built from SDK errors, Graph error bodies and fetch errors', async () => {
    fake.tokens.add(TOKEN);
    const dest = meta('act_123', TOKEN);
    const { ref } = await dest.ensureAudience({ name: 'Leak check', description: 'x' });
    const errors: DestinationError[] = [];
    fake.inject({ kind: 'graphError', code: 100, message: echo, method: 'GET' });
    errors.push(await failure(dest.ensureAudience({ name: 'Other', description: 'x' })));
    fake.inject({ kind: 'graphError', code: 200, message: echo, method: 'POST', path: /\/users$/ });
    errors.push(await failure(dest.add(ref, [member])));
    fake.inject({ kind: 'graphError', code: 2650, message: echo, userMsg: echo, method: 'DELETE', path: /\/users$/ });
    errors.push(await failure(dest.remove(ref, [member])));
    fake.inject({ kind: 'graphError', code: 2655, message: `${echo} https://x.test/tos?t=${TOKEN}`, method: 'POST' });
    errors.push(await failure(dest.add(ref, [member])));
    fake.inject({ kind: 'reset', method: 'DELETE' });
    errors.push(await failure(dest.remove(ref, [member])));

    expect(errors.map((e) => e.kind)).toEqual(['permanent', 'config', 'transient', 'terms', 'transient']);
    for (const e of errors) {
      expect(leaks(`${e.message} ${e.stack} ${JSON.stringify(e.details)}`)).toBe(false);
    }
    // The rest of Meta's message is still there for the operator.
    expect(errors[0]!.message).toContain(`request signed with ${REDACTED_SECRET} (as ${REDACTED_SECRET}) refused`);
    expect(errors[3]!.details.link).toBe(`https://x.test/tos?t=${REDACTED_SECRET}`);
  });

  it('is not in the sync report, its HTML page or the logs when Meta repeats it', async () => {
    fake.tokens.add(TOKEN);
    await putAll(
      h.store,
      range(0, 5).map((i) => contact(i)),
    );
    fake.inject({ kind: 'graphError', code: 100, message: echo, times: 100 });
    const logger = memoryLogger();
    const report = await sync(metaConfig(), { 'meta-main': meta('act_123', TOKEN) }, {}, testClock(), logger);
    expect(report.audiences[0]!.status).toBe('failed');
    const json = JSON.stringify(report);
    expect(json).toContain(REDACTED_SECRET);
    expect(leaks(json)).toBe(false);
    expect(leaks(renderSyncHtml(report))).toBe(false);
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(leaks(logger.lines.join('\n'))).toBe(false);
  });
});
