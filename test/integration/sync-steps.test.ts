/**
 * The stepped sync (plan → remove per shard group → decide → add per shard group → finish), through the real sync
 * handler as the nightly state machine runs it (test/helpers/sync-machine.ts), against dynalite and a local Graph API
 * server: the same audiences and synced state as one process (`runSync`), removals before additions, a failing
 * group retried alone, the lock held across steps, a replace streamed in cid order in finish.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EmbeddedAws, startEmbeddedAws } from '../../bin/local/embedded';
import { s3Client } from '../../functions/adapters/aws-clients';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { DynamoContactStore, ensureTable } from '../../functions/adapters/dynamo-store';
import { memoryMetrics } from '../../functions/adapters/metrics';
import { S3Bucket } from '../../functions/adapters/s3-bucket';
import type { Runtime } from '../../functions/app/runtime';
import type { AudienceConfig } from '../../functions/core/config';
import { memoryStaging } from '../../functions/core/ingest';
import { Lease } from '../../functions/core/lease';
import type { ContactRecord } from '../../functions/core/model';
import { sha256Hex } from '../../functions/core/normalize';
import type { BlockEntry, SyncedMember } from '../../functions/core/ports';
import { runSync, type SyncReport } from '../../functions/core/sync';
import { STEP_LEASE_MS } from '../../functions/core/sync-steps';
import { MetaDestination } from '../../functions/platforms/meta/adapter';
import { PLATFORMS } from '../../functions/platforms/registry';
import { handleSyncStep } from '../../functions/sync';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { contact, memoryLogger, putAll, testClock } from '../helpers/harness';
import { runSyncMachine } from '../helpers/sync-machine';

let fake: FakeMeta;
let aws: EmbeddedAws;
let client: DynamoDBClient;
let seq = 0;

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  aws = await startEmbeddedAws();
  client = new DynamoDBClient({});
});
afterAll(async () => {
  client.destroy();
  await aws.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const config = (adAccountId: string, replaceEveryDays = 0): AudienceConfig =>
  parseAudienceConfig({
    version: 1,
    destinations: { 'meta-main': { platform: 'meta', adAccountId, replaceEveryDays } },
    segments: [
      {
        id: 'subscribers',
        where: { consent: 'subscribed' },
        destinations: [{ destination: 'meta-main', audienceName: 'Subscribers', minSize: 1 }],
      },
      {
        id: 'us',
        where: { country: 'US' },
        destinations: [{ destination: 'meta-main', audienceName: 'US', minSize: 1 }],
      },
    ],
  });

async function freshStore() {
  const table = `steps-${process.pid}-${++seq}`;
  await ensureTable(client, table);
  return new DynamoContactStore(client, table);
}

function runtimeFor(store: DynamoContactStore, cfg: AudienceConfig, clock = testClock()): Runtime {
  const bucket = new S3Bucket(s3Client(), aws.bucket);
  return {
    chunkBytes: 1 << 20,
    metrics: memoryMetrics(),
    runFiles: (runId) => bucket.runFiles(`staging/ingest/${runId}/`),
    config: cfg,
    platforms: PLATFORMS,
    staging: memoryStaging,
    store,
    runState: store,
    bucket,
    logger: memoryLogger(),
    clock,
  };
}

const env = { META_ACCESS_TOKEN: 'test-token', META_GRAPH_URL: '' };
const machineEnv = () => ({ ...env, META_GRAPH_URL: fake.baseUrl });

/** 1,200 people on two lists: subscribed or not, US or not, some on both lists. */
function people(version: 1 | 2): ContactRecord[] {
  const out: ContactRecord[] = [];
  for (let i = 0; i < 1_200; i++) {
    if (version === 2 && i % 10 === 3) continue; // left the list
    const consent = version === 2 && i % 17 === 0 ? 'unsubscribed' : 'subscribed';
    const c = contact(i, { consent, attrs: { country: i % 3 ? 'US' : 'DE', zone: i % 3 ? 'US' : 'EEA' } });
    // Version 2 changes some people's keys (a new phone): they are removed with the old keys and added again.
    if (version === 2 && i % 23 === 0) c.keys.meta.PHONE = sha256Hex(`1555${i}`);
    out.push(c);
    if (i % 4 === 0) out.push({ ...c, list: 'shop', attrs: { ...c.attrs, tags: ['buyer'] } });
  }
  for (let i = 5_000; version === 2 && i < 5_150; i++) out.push(contact(i)); // joined
  return out;
}

async function load(store: DynamoContactStore, version: 1 | 2) {
  await putAll(store, people(version));
  for (const list of ['newsletter', 'shop']) {
    await store.commitSnapshot({
      list,
      source: `v${version}`,
      exportedAt: `2026-11-1${version}T00:00:00.000Z`,
      exportedAtFrom: 'metadata',
      committedAt: `2026-11-1${version}T00:00:00.000Z`,
      counts: { rows: 1_200, accepted: 1_200, rejected: 0, removed: 0 },
    });
  }
  if (version === 2)
    await store.removeContacts(
      'newsletter',
      people(1)
        .filter((_, i) => i % 10 === 3)
        .map((c) => c.cid),
      '2026-11-12T00:00:00.000Z',
    );
}

async function synced(store: DynamoContactStore, destKey: string) {
  const out = new Map<string, SyncedMember['keys']>();
  for await (const m of store.syncedMembers(destKey)) out.set(m.cid, m.keys);
  return out;
}

const audienceOf = (adAccountId: string, name: string) =>
  fake.audiences().find((a) => a.adAccountId === adAccountId && a.name === name && !a.deleted)!;
const counts = (r: SyncReport) =>
  r.audiences.map((a) => ({
    segment: a.segment,
    status: a.status,
    desired: a.desired,
    planned: a.planned,
    added: a.added,
    removed: a.removed,
  }));

describe('the stepped sync (Step Functions) against one process', () => {
  let one: DynamoContactStore;
  let steps: DynamoContactStore;
  afterEach(() => undefined);

  it('leaves the same audiences and synced state as runSync, with 16 shard groups run 4 at a time', async () => {
    one = await freshStore();
    steps = await freshStore();
    const meta = (act: string) => ({
      'meta-main': new MetaDestination({ accessToken: 'test-token', adAccountId: act, graphUrl: fake.baseUrl }),
    });
    const deps = (store: DynamoContactStore, act: string) => ({
      config: config(act),
      store,
      destinations: meta(act),
      clock: testClock(),
      logger: memoryLogger(),
      platforms: PLATFORMS,
    });
    // Night 1 fills both; night 2 has leavers, opt-outs, changed keys and joiners.
    await load(one, 1);
    await load(steps, 1);
    await runSync(deps(one, 'act_101'), {});
    await runSync(deps(steps, 'act_102'), {});
    await load(one, 2);
    await load(steps, 2);

    const expected = await runSync(deps(one, 'act_101'), { shardDigits: 1 });
    const before = fake.requests.length;
    const rt = runtimeFor(steps, config('act_102'));
    const run = await runSyncMachine(rt, machineEnv(), { trigger: 'test', shardDigits: 1 }, { maxConcurrency: 4 });
    expect(run.failed).toBeUndefined();
    expect(run.final).toMatchObject({ done: true, next: 'done' });
    expect(run.tasks.filter((t) => t.startsWith('RemoveGroup'))).toHaveLength(16);
    expect(run.tasks.filter((t) => t.startsWith('AddGroup'))).toHaveLength(16);
    expect(run.tasks.filter((t) => !/Group/.test(t))).toEqual(['Plan', 'Decide', 'Finish']);

    const report = (await steps.runs('sync', 1))[0]!.summary as SyncReport;
    expect(counts(report)).toEqual(counts(expected));
    expect(report.segments).toEqual(expected.segments);
    expect(expected.audiences.every((a) => a.removed > 0 && a.added > 0)).toBe(true);
    for (const name of ['Subscribers', 'US']) {
      expect(fake.members(audienceOf('act_102', name).id)).toEqual(fake.members(audienceOf('act_101', name).id));
    }
    for (const key of ['meta-main#subscribers', 'meta-main#us'])
      expect(await synced(steps, key)).toEqual(await synced(one, key));

    // Within each audience every removal of every shard group went before the first addition.
    const mine = fake.requests.slice(before).filter((r) => /\/users$/.test(r.path) && r.status === 200);
    for (const name of ['Subscribers', 'US']) {
      const path = `/${audienceOf('act_102', name).id}/users`;
      const methods = mine.filter((r) => r.path === path).map((r) => r.method);
      expect(methods.lastIndexOf('DELETE')).toBeLessThan(methods.indexOf('POST'));
    }
  });

  it('retries a failing shard group alone; a group that has its result is not run again', async () => {
    const store = await freshStore();
    await load(store, 1);
    let failures = 0;
    const flaky = Object.create(store) as DynamoContactStore;
    flaky.syncedMembers = (destKey, prefix) => {
      if (prefix === 'a' && failures++ === 0) throw new Error('DynamoDB throttled the query (simulated)');
      return store.syncedMembers(destKey, prefix);
    };
    const rt = runtimeFor(flaky, config('act_103'));
    const run = await runSyncMachine(rt, machineEnv(), { shardDigits: 1 }, { maxConcurrency: 3 });
    expect(run.failed).toBeUndefined();
    const removes = run.tasks.filter((t) => t.startsWith('RemoveGroup'));
    expect(removes.filter((t) => t === 'RemoveGroup 10')).toHaveLength(2);
    expect(removes).toHaveLength(17);
    // Run the remove step of a finished group again: it has its result, so it does nothing.
    const again = await handleSyncStep(
      { step: 'remove', runId: run.final.runId, iteration: 1, group: 3 },
      rt,
      600_000,
      machineEnv(),
    );
    expect(again).toMatchObject({ done: true });
    // EEA people (a third) have no opt-in recorded, so only the US two thirds are subscribers here.
    expect(fake.members(audienceOf('act_103', 'Subscribers').id).size).toBe(800);
  });

  it('runs a group cut short by the Lambda deadline again, and it finishes what is left', async () => {
    const store = await freshStore();
    await load(store, 1);
    let calls = 0;
    // A clock that moves a millisecond each time it is read, so a deadline of "now" has passed by the first check.
    const clock = testClock();
    const ticking = {
      ...clock,
      now: () => {
        clock.advance(1);
        return clock.now();
      },
    };
    const rt = runtimeFor(store, config('act_104'), ticking);
    // The first invocation of the first group starts with no time left (90 s safety only): it returns done: false.
    const run = await runSyncMachine(
      rt,
      machineEnv(),
      { shardDigits: 1 },
      { maxConcurrency: 1, remainingMs: () => (++calls === 2 ? 90_000 - 1 : 600_000) },
    );
    expect(run.tasks.slice(0, 3)).toEqual(['Plan', 'RemoveGroup 0', 'RemoveGroup 0']);
    expect(run.final).toMatchObject({ done: true });
    expect(fake.members(audienceOf('act_104', 'US').id).size).toBe(800);
  });

  it('holds the sync lock between steps: another run waits; a run whose lock lapsed and was taken stops', async () => {
    const store = await freshStore();
    await load(store, 1);
    const clock = testClock();
    const rt = runtimeFor(store, config('act_105'), clock);
    const plan = (runId?: string) =>
      handleSyncStep({ step: 'plan', run: runId ? { runId } : {} }, rt, 600_000, machineEnv()) as Promise<
        Record<string, unknown>
      >;
    const first = await plan('run-first');
    expect(first).toMatchObject({ next: 'shards', groups: [0], iteration: 1 });
    const second = await plan('run-second');
    expect(second).toMatchObject({ next: 'wait', waitSeconds: 60, done: false });
    // The first run stalls past its lease; the second takes the lock; the first one's next step stops.
    clock.advance(STEP_LEASE_MS + 1_000);
    expect(await plan('run-second')).toMatchObject({ next: 'shards' });
    await expect(
      handleSyncStep({ step: 'remove', runId: 'run-first', iteration: 1, group: 0 }, rt, 600_000, machineEnv()),
    ).rejects.toMatchObject({ name: 'LeaseLost' });
  });

  it('streams a due full replace in finish, after every removal, one session in cid order', async () => {
    const store = await freshStore();
    await load(store, 1);
    const rt = runtimeFor(store, config('act_106', 30));
    await runSyncMachine(rt, machineEnv(), { shardDigits: 1 }, { maxConcurrency: 4 });
    await load(store, 2);
    const before = fake.requests.length;
    const run = await runSyncMachine(rt, machineEnv(), { shardDigits: 1, forceReplace: true }, { maxConcurrency: 4 });
    expect(run.final).toMatchObject({ done: true });
    const report = (await store.runs('sync', 1))[0]!.summary as SyncReport;
    expect(report.audiences.map((a) => [a.segment, a.replaced])).toEqual([
      ['subscribers', true],
      ['us', true],
    ]);
    const mine = fake.requests.slice(before).filter((r) => r.status === 200);
    const lastRemoval = mine.map((r) => r.method === 'DELETE' && /\/users$/.test(r.path)).lastIndexOf(true);
    const firstReplace = mine.findIndex((r) => /\/usersreplace$/.test(r.path));
    expect(firstReplace).toBeGreaterThan(lastRemoval);
    const sub = audienceOf('act_106', 'Subscribers');
    const calls = fake.replaceCalls(sub.id);
    expect(new Set(calls.map((c) => c.sessionId)).size).toBe(1);
    expect(calls.map((c) => c.batchSeq)).toEqual(calls.map((_, i) => i + 1));
    expect(fake.members(sub.id)).toEqual(
      new Set([...(await synced(store, 'meta-main#subscribers')).values()].map((k) => k.EMAIL)),
    );
  });

  it('runs a dry run in the plan step alone: nothing sent, no lock, a dry-run report', async () => {
    const store = await freshStore();
    await load(store, 1);
    const rt = runtimeFor(store, config('act_107'));
    const run = await runSyncMachine(rt, machineEnv(), { dryRun: true }, { maxConcurrency: 4 });
    expect(run.tasks).toEqual(['Plan']);
    expect(run.final).toMatchObject({ done: true, next: 'done', reportKey: expect.stringMatching(/-dry-run\.json$/) });
    expect(fake.requests.filter((r) => /\/users$/.test(r.path))).toEqual([]);
  });
});

describe('a list written by an ingest while a stepped sync is between its steps', () => {
  it('uploads nobody from the half-written list: the add step holds and the run waits for the commit', async () => {
    const store = await freshStore();
    await load(store, 1);
    const clock = testClock();
    const rt = runtimeFor(store, config('act_108'), clock);
    const step = (payload: Record<string, unknown>) =>
      handleSyncStep(payload, rt, 600_000, machineEnv()) as Promise<Record<string, unknown>>;
    // The night's run plans and removes; its additions come later, in their own Map.
    const plan = await step({ step: 'plan', run: { runId: 'night', shardDigits: 0 } });
    expect(plan).toMatchObject({ next: 'shards', groups: [0] });
    await step({ step: 'remove', runId: 'night', iteration: 1, group: 0 });
    await step({ step: 'decide', run: plan });
    // Meanwhile a snapshot of the newsletter is being applied shard by shard: X (subscribed) is written, the
    // opt-out on the phone X shares with Y (in a shard not applied yet) is not. Until it commits, the list is not
    // one the sync may use.
    const x = contact(9_001);
    x.keys.meta.PHONE = sha256Hex('15550109999');
    const ingest = new Lease(store, 'ingest#newsletter', 'ingest-9', () => clock.now());
    expect((await ingest.tryAcquire()).acquired).toBe(true);
    await store.markApplying('newsletter', {
      source: 'incoming/newsletter/big.csv#v9',
      startedAt: clock.now().toISOString(),
      owner: 'ingest-9',
    });
    await putAll(store, [x]);

    const add = await step({ step: 'add', runId: 'night', iteration: 1, group: 0 });
    expect(add).toMatchObject({ done: true });
    const finish = await step({ step: 'finish', run: plan });
    expect(fake.members(audienceOf('act_108', 'Subscribers').id).has(x.keys.meta.EMAIL!)).toBe(false);
    expect([...(await synced(store, 'meta-main#subscribers')).keys()]).not.toContain(x.cid);
    // The run is not done: it plans again, and the plan waits (or holds) for the list.
    expect(finish).toMatchObject({ done: false, next: 'wait' });
    const report = (await store.runs('sync', 1))[0]!.summary as SyncReport;
    expect(report.alerts.map((a) => a.kind)).toContain('list_being_written');
    expect(report.audiences.map((a) => a.status)).toEqual(['partial', 'partial']);
    // Once the snapshot has committed, the next iteration sends what the committed list says.
    await store.clearApplying('newsletter', 'incoming/newsletter/big.csv#v9');
    await ingest.release();
    const next = await runSyncMachine(rt, machineEnv(), { runId: 'night', iteration: 2 }, { maxConcurrency: 1 });
    expect(next.final).toMatchObject({ done: true });
    expect(fake.members(audienceOf('act_108', 'Subscribers').id).has(x.keys.meta.EMAIL!)).toBe(true);
  });
});

describe('steps out of order', () => {
  it('refuses an add step before decide and a finish before decide: nothing is sent ahead of the removals', async () => {
    const store = await freshStore();
    await load(store, 1);
    const rt = runtimeFor(store, config('act_109'));
    const step = (payload: Record<string, unknown>) =>
      handleSyncStep(payload, rt, 600_000, machineEnv()) as Promise<Record<string, unknown>>;
    const plan = await step({ step: 'plan', run: { runId: 'redriven', shardDigits: 0 } });
    expect(plan).toMatchObject({ next: 'shards', groups: [0] });
    // A redrive or a replayed event starts the add Map before the removals were done and decided.
    await expect(step({ step: 'add', runId: 'redriven', iteration: 1, group: 0 })).rejects.toThrow(/before decide/);
    await expect(step({ step: 'finish', run: plan })).rejects.toThrow(/before decide/);
    expect(fake.requests.filter((r) => /\/users(replace)?$/.test(r.path))).toEqual([]);
    // In order, the same run goes through.
    await step({ step: 'remove', runId: 'redriven', iteration: 1, group: 0 });
    await step({ step: 'decide', run: plan });
    await expect(step({ step: 'remove', runId: 'redriven', iteration: 1, group: 0 })).resolves.toMatchObject({
      done: true,
    });
    await step({ step: 'add', runId: 'redriven', iteration: 1, group: 0 });
    expect(await step({ step: 'finish', run: plan })).toMatchObject({ done: true });
    expect(fake.members(audienceOf('act_109', 'US').id).size).toBe(800);
  });
});

describe('an erasure in the stepped sync', () => {
  it('takes the erased out of an audience whose segment was renamed (kept as an orphan) and out of the new one', async () => {
    const store = await freshStore();
    await load(store, 1);
    const rt = runtimeFor(store, config('act_110'));
    await runSyncMachine(rt, machineEnv(), { shardDigits: 1 }, { maxConcurrency: 4 });
    const us = audienceOf('act_110', 'US').id;
    const erased = contact(1).keys.meta.EMAIL!;
    expect(fake.members(us).has(erased)).toBe(true);
    // The "us" segment is renamed "usa" (a new audience); the old one is kept as it is, as the config says.
    const renamed = parseAudienceConfig({
      version: 1,
      orphanedAudiences: 'keep',
      destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_110', replaceEveryDays: 0 } },
      segments: [
        {
          id: 'usa',
          where: { country: 'US' },
          destinations: [{ destination: 'meta-main', audienceName: 'USA', minSize: 1 }],
        },
      ],
    });
    const { eraseIdentities } = await import('../../functions/app/erase');
    await eraseIdentities(
      store,
      { emails: ['person1@example.com'], phones: [] },
      { now: new Date('2026-11-20T03:00:00Z'), logger: memoryLogger(), config: renamed },
    );
    const run = await runSyncMachine(
      runtimeFor(store, renamed),
      machineEnv(),
      { shardDigits: 1 },
      { maxConcurrency: 4 },
    );
    expect(run.failed).toBeUndefined();
    expect(fake.members(us).has(erased)).toBe(false);
    expect(fake.members(us).size).toBe(799);
    expect(fake.members(audienceOf('act_110', 'USA').id).has(erased)).toBe(false);
    expect(fake.members(audienceOf('act_110', 'USA').id).size).toBe(799);
  });
});

describe('a step that ran and is run again', () => {
  it('a finish run a second time (its answer lost) sends nothing and reports the run as the first one did', async () => {
    const store = await freshStore();
    await load(store, 1);
    const rt = runtimeFor(store, config('act_111', 30));
    await runSyncMachine(rt, machineEnv(), { shardDigits: 0 }, { maxConcurrency: 1 });
    await load(store, 2);
    const step = (payload: Record<string, unknown>) =>
      handleSyncStep(payload, rt, 600_000, machineEnv()) as Promise<Record<string, unknown>>;
    const plan = await step({ step: 'plan', run: { runId: 'twice', shardDigits: 0, forceReplace: true } });
    await step({ step: 'remove', runId: 'twice', iteration: 1, group: 0 });
    await step({ step: 'decide', run: plan });
    await step({ step: 'add', runId: 'twice', iteration: 1, group: 0 });
    const first = await step({ step: 'finish', run: plan });
    expect(first).toMatchObject({ done: true });
    const reported = (await store.runs('sync', 1))[0]!.summary as SyncReport;
    expect(reported.audiences.map((a) => [a.status, a.replaced])).toEqual([
      ['synced', true],
      ['synced', true],
    ]);
    const before = fake.requests.length;
    const again = await step({ step: 'finish', run: plan });
    expect(again).toMatchObject({ done: true });
    expect(fake.requests.slice(before).filter((r) => /\/users(replace)?$/.test(r.path))).toEqual([]);
    const after = (await store.runs('sync', 1))[0]!.summary as SyncReport;
    expect(counts(after)).toEqual(counts(reported));
  });
});

describe('blocks loaded while an ingest writes its opt-outs', () => {
  it('a run whose blocks were read mid-ingest does not use them on the list the ingest then committed', async () => {
    const store = await freshStore();
    await load(store, 1);
    const clock = testClock();
    const rt = runtimeFor(store, config('act_112'), clock);
    await runSyncMachine(rt, machineEnv(), { shardDigits: 0 }, { maxConcurrency: 1 });
    const phone = sha256Hex('14155552671');
    const x = contact(9_002);
    x.keys.meta.PHONE = phone;
    x.ids.push(phone);
    let armed = true;
    const racing = Object.create(store) as DynamoContactStore;
    racing.blocks = () => {
      const inner = store.blocks();
      if (!armed) return inner;
      armed = false;
      return (async function* (): AsyncGenerator<BlockEntry> {
        const before: BlockEntry[] = [];
        for await (const b of inner) before.push(b);
        // While the run reads the blocks, a snapshot of the newsletter is applied and commits: X subscribed with a
        // phone that Y, further down the file, unsubscribed with (her opt-out block lands after the run's read).
        await putAll(store, [x]);
        await store.putBlocks([
          { hash: phone, kind: 'optout', at: '2026-11-19T12:00:00.000Z', source: 'list:newsletter' },
        ]);
        await store.commitSnapshot({
          list: 'newsletter',
          source: 'v1b',
          exportedAt: '2026-11-19T12:00:00.000Z',
          exportedAtFrom: 'metadata',
          committedAt: clock.now().toISOString(),
          counts: { rows: 1, accepted: 1, rejected: 0, removed: 0 },
        });
        yield* before;
      })();
    };
    const report = await runSync(
      {
        config: config('act_112'),
        store: racing,
        destinations: {
          'meta-main': new MetaDestination({
            accessToken: 'test-token',
            adAccountId: 'act_112',
            graphUrl: fake.baseUrl,
          }),
        },
        clock,
        logger: memoryLogger(),
        platforms: PLATFORMS,
      },
      { shardDigits: 0 },
    );
    expect(fake.members(audienceOf('act_112', 'Subscribers').id).has(x.keys.meta.EMAIL!)).toBe(false);
    expect(report.done).toBe(false);
    // The next run reads the blocks afresh: the phone's opt-out keeps X out.
    await runSyncMachine(rt, machineEnv(), { shardDigits: 0 }, { maxConcurrency: 1 });
    expect(fake.members(audienceOf('act_112', 'Subscribers').id).has(x.keys.meta.EMAIL!)).toBe(false);
  });
});
