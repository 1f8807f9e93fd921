/**
 * Meta's verified behaviour, end to end: the real MetaDestination (facebook-nodejs-business-sdk) against the local
 * Graph API server, which runs on the same test clock as the sync, so its 90-minute replace window passes when a
 * test says so. Each test is one behaviour; the fake's membership and recorded requests are the evidence.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MetaDestination } from '../../functions/adapters/meta-destination';
import type { AudienceConfig } from '../../functions/core/config';
import type { Destination } from '../../functions/core/ports';
import { runSync, type SyncOptions } from '../../functions/core/sync';
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

function sync(
  config: AudienceConfig,
  dest: Destination,
  clock: ReturnType<typeof testClock>,
  opts: SyncOptions = {},
  logger = memoryLogger(),
) {
  return runSync(
    { config, store: h.store, destinations: { 'meta-main': dest }, clock, logger },
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
