/**
 * #9 item 5, as the operator meets it: `audience-sync local` killed with SIGKILL mid-sync and mid-ingest, then run
 * again. The CLI runs as a child process (the bin shim + tsx) against a state folder, Meta is the local Graph API
 * server behind a stand-in that can hold a request so the kill lands exactly between two batches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedAws } from '../../bin/local/embedded';
import { LOCK_FILE } from '../../bin/local/state-lock';
import { DynamoContactStore } from '../../functions/adapters/dynamo-store';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { SAMPLES_AS_OF } from '../helpers/harness';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const BIN = join(process.cwd(), 'bin', 'audience-sync.js');

let fake: FakeMeta;
let standIn: GraphStandIn;

/**
 * In front of the fake Graph API: forwards every request, except that it can hold the n-th member upload (POST
 * …/users) without ever answering it, and says when it does: before Meta saw it, or after Meta applied it.
 */
interface GraphStandIn {
  url: string;
  holdUpload(n: number, when?: 'before' | 'after'): Promise<void>;
  passAll(): void;
  close(): Promise<void>;
}

async function startStandIn(target: string): Promise<GraphStandIn> {
  let uploads = 0;
  let holdAt = 0;
  let holdWhen: 'before' | 'after' = 'before';
  let onHold: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let hold: 'before' | 'after' | undefined;
      if (req.method === 'POST' && /\/users$/.test((req.url ?? '').split('?')[0]!)) {
        uploads++;
        if (uploads === holdAt) hold = holdWhen;
      }
      if (hold === 'before') {
        onHold?.();
        return; // never answered: the caller dies waiting
      }
      const up = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        if (hold === 'after') {
          // Meta applied it; the answer never reaches the caller.
          r.resume();
          r.on('end', () => onHold?.());
          return;
        }
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdUpload: (n, when = 'before') => {
      uploads = 0;
      holdAt = n;
      holdWhen = when;
      return new Promise<void>((r) => {
        onHold = r;
      });
    },
    passAll: () => {
      holdAt = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  standIn = await startStandIn(fake.baseUrl);
});
afterAll(async () => {
  await standIn.close();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  standIn.passAll();
});

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `audience-sync <args>` in `cwd`, talking to Meta through the stand-in. */
function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: {
      ...process.env,
      META_ACCESS_TOKEN: 'test-token',
      META_AD_ACCOUNT_ID: 'act_777',
      META_GRAPH_URL: standIn.url,
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  return {
    child,
    done: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))),
  };
}

async function kill9(run: Run) {
  run.child.kill('SIGKILL');
  const r = await run.done;
  expect(r.signal).toBe('SIGKILL');
}

/** Opens the state folder's store from the test (the killed run's state lock is stale, so it is taken over). */
async function withState<T>(state: string, fn: (store: DynamoContactStore) => Promise<T>): Promise<T> {
  const aws = await startEmbeddedAws(state);
  const client = new DynamoDBClient({});
  try {
    return await fn(new DynamoContactStore(client, aws.table));
  } finally {
    client.destroy();
    await aws.close();
  }
}

const files = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir).flatMap((n) => {
        // A running store compacts its files: one listed a moment ago may be gone (it counts as nothing).
        const st = statSync(join(dir, n), { throwIfNoEntry: false });
        return st === undefined ? [] : st.isDirectory() ? files(join(dir, n)) : [join(dir, n)];
      })
    : [];
const sizeOf = (dir: string) => files(dir).reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);

const membersPerAudience = () => new Map(fake.audiences().map((a) => [a.name, fake.members(a.id)]));
/** Rows each audience received over every accepted add, by name: a row sent twice shows up as more rows than members. */
const addedRows = () =>
  new Map(fake.audiences().map((a) => [a.name, fake.addCalls(a.id).reduce((n, c) => n + c.rows, 0)]));

function workDir(config: string): { dir: string; input: string } {
  const dir = mkdtempSync(join(tmpdir(), 'as-crash-'));
  const input = join(dir, 'in', 'news');
  mkdirSync(input, { recursive: true });
  writeFileSync(join(dir, 'audiences.yaml'), config);
  return { dir, input };
}

const localArgs = ['local', '--input', 'in', '--config', 'audiences.yaml', '--out', 'out', '--state', 'state'];

describe('#9 item 5: kill -9 during local', () => {
  it('After `kill -9` during `local`, the rerun waits out the dead run’s lease saying "another sync is running" while nothing runs → the rerun takes over the sync lock within about a minute, says a crashed run held it, and every member is sent exactly once', async () => {
    const { dir, input } = workDir(`version: 1
destinations:
  meta-main: { platform: meta, replaceEveryDays: 0 }
segments:
${['a', 'b', 'c']
  .map(
    (t) =>
      `  - { id: seg-${t}, where: { tag: ${t} }, destinations: [{ destination: meta-main, audienceName: "Tag ${t}", minSize: 1 }] }`,
  )
  .join('\n')}
`);
    const people = Array.from({ length: 300 }, (_, i) => ({ email: `p${i}@example.com`, tag: 'abc'[i % 3]! }));
    writeFileSync(join(input, 'list.csv'), `email,tags\n${people.map((p) => `${p.email},${p.tag}`).join('\n')}\n`);
    const expected = new Map(
      ['a', 'b', 'c'].map((t) => [`Tag ${t}`, new Set(people.filter((p) => p.tag === t).map((p) => sha(p.email)))]),
    );

    // The demo's way of running (`npm start`): with --as-of, so "now" is pinned to the samples' day.
    const args = [...localArgs, '--as-of', SAMPLES_AS_OF];
    const held = standIn.holdUpload(2);
    const first = cli(args, dir);
    await held;
    // Audience "Tag a" is confirmed; "Tag b"'s upload is in flight: the run dies between two batches.
    await kill9(first);
    expect(existsSync(join(dir, 'state', LOCK_FILE))).toBe(true);
    const confirmed = membersPerAudience();
    expect([...confirmed.values()].map((m) => m.size)).toEqual([100, 0, 0]);
    standIn.passAll();

    const started = Date.now();
    const rerun = await cli(args, dir).done;
    const took = Date.now() - started;
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    expect(took).toBeLessThan(75_000);
    expect(rerun.stdout).toMatch(/the sync lock is held by .+, a run that is gone/);
    expect(rerun.stdout).toMatch(/took over the sync lock from .+, which stopped renewing it at .+ \(a crashed run\)/);
    expect(rerun.stdout).not.toMatch(/this one waits and continues/);

    // Exact, and nobody sent twice: the confirmed batch was not sent again.
    expect(membersPerAudience()).toEqual(expected);
    expect(addedRows()).toEqual(new Map([...expected].map(([k, v]) => [k, v.size])));
    const syncReports = files(join(dir, 'out', 'reports', 'sync')).filter((f) => f.endsWith('.json'));
    const last = JSON.parse(readFileSync(syncReports.sort().at(-1)!, 'utf8')) as { alerts: Array<{ kind: string }> };
    expect(last.alerts.map((a) => a.kind)).toEqual(['lock_taken_over']);
    // The folder's lock is free again.
    expect(existsSync(join(dir, 'state', LOCK_FILE))).toBe(false);
  }, 110_000);
});

describe('#9 item 5: kill -9 mid-ingest', () => {
  it('after a kill mid-ingest, the rerun fails the file and then syncs the half-ingested list anyway → a list left `applying` is not used by sync (alert list_ingest_stopped, no audience changes) until the file is ingested again, after which everything is exact', async () => {
    const { dir, input } = workDir(`version: 1
destinations:
  meta-main: { platform: meta, replaceEveryDays: 0 }
segments:
  - { id: all, where: { consent: subscribed }, destinations: [{ destination: meta-main, audienceName: "All", minSize: 1 }] }
`);
    // Pinned to the samples' day like `npm start`; leases still run on real time.
    const args = [...localArgs, '--as-of', SAMPLES_AS_OF];
    const staging = join(dir, 'tmp');
    mkdirSync(staging);
    const env = { TMPDIR: staging };
    const v1 = Array.from({ length: 20 }, (_, i) => `s${i}@example.com`);
    writeFileSync(join(input, 'list.csv'), `email,status\n${v1.map((e) => `${e},subscribed`).join('\n')}\n`);
    const base = await cli(args, dir, env).done;
    expect(base.code, base.stderr).toBe(0);
    const all = () => fake.members(fake.audiences()[0]!.id);
    expect(all().size).toBe(20);

    // The next export: s0–s9 left, s10 unsubscribed, 12,000 people joined. The run is killed while it writes them.
    const joined = Array.from({ length: 12_000 }, (_, i) => `n${i}@example.com`);
    const v2 = [
      ...v1.slice(10).map((e, i) => `${e},${i === 0 ? 'unsubscribed' : 'subscribed'}`),
      ...joined.map((e) => `${e},subscribed`),
    ];
    writeFileSync(join(input, 'list.csv'), `email,status\n${v2.join('\n')}\n`);
    const before = sizeOf(join(dir, 'state', 'dynamo'));
    const requestsBefore = fake.requests.length;
    const killed = cli(args, dir, env);
    for (let t = Date.now(); sizeOf(join(dir, 'state', 'dynamo')) < before + 1_500_000; ) {
      expect(Date.now() - t, 'the ingest started writing').toBeLessThan(30_000);
      await new Promise((r) => setTimeout(r, 25));
    }
    await kill9(killed);
    expect(fake.requests.length).toBe(requestsBefore);
    const halfWritten = await withState(join(dir, 'state'), async (store) => {
      const state = await store.listState('news');
      let n = 0;
      for await (const _ of store.contacts('news')) n++;
      return { state, n };
    });
    expect(halfWritten.state.applying?.source).toMatch(/^incoming\/news\/list\.csv#/);
    expect(halfWritten.state.snapshot?.counts.rows).toBe(20);
    expect(halfWritten.n).toBeGreaterThan(20);
    expect(halfWritten.n).toBeLessThan(20 + 12_000);
    // What the killed run left in its temp folder is hashes, never addresses.
    for (const f of files(staging)) expect(readFileSync(f, 'utf8'), f).not.toMatch(/@example\.com/);

    // `sync` right away: the ingest's lease has not run out, so the list counts as being written; nothing is sent.
    const syncArgs = [
      'sync',
      '--config',
      'audiences.yaml',
      '--state',
      'state',
      '--out',
      'out',
      '--as-of',
      SAMPLES_AS_OF,
    ];
    const early = await cli(syncArgs, dir, env).done;
    expect(early.code, early.stderr).toBe(0);
    expect(early.stdout).toMatch(/list news is being written by an ingest \(incoming\/news\/list\.csv\)/);
    expect(early.stdout).toMatch(/not finished: continue in 60 s/);
    // Once its lease has lapsed (written so, instead of waiting a minute), the list is held: still nothing is sent.
    await withState(join(dir, 'state'), async (store) => {
      const holder = await store.lockHolder('ingest#news');
      expect(holder).toBeDefined();
      const past = Date.now() - 10 * 60_000;
      expect(
        (await store.acquireLock('ingest#news', holder!.owner, new Date(past), new Date(past + 60_000))).acquired,
      ).toBe(true);
    });
    const held = await cli(syncArgs, dir, env).done;
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toMatch(
      /the ingest of incoming\/news\/list\.csv into list news stopped midway at .+; no audience changes until the file is ingested again/,
    );
    expect(fake.requests.slice(requestsBefore).filter((r) => /\/users/.test(r.path))).toEqual([]);
    expect(all().size).toBe(20);
    const syncReports = files(join(dir, 'out', 'reports', 'sync')).filter((f) => f.endsWith('.json'));
    expect(syncReports.length).toBeGreaterThan(0);

    // The file ingested again: the list commits, and the audience becomes exactly the export's subscribers.
    const rerun = await cli(args, dir, env).done;
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(
      /news · list\.csv \[generic\]: rows 12010, accepted 12010, rejected 0 · written \d+, unchanged \d+, left 10/,
    );
    const expected = new Set([...v1.slice(11), ...joined].map(sha));
    expect(all()).toEqual(expected);
    // Nobody was sent twice: 20 adds in the first run, the joined in the last, and s0–s10 removed once.
    expect(addedRows().get('All')).toBe(20 + 12_000);
    expect(fake.removeCalls(fake.audiences()[0]!.id).reduce((n, c) => n + c.rows, 0)).toBe(11);
    // The raw export is gone from the state folder's bucket once it is ingested; the table, the reports and the logs
    // never held an address, killed run or not.
    for (const f of [...files(join(dir, 'state')), ...files(join(dir, 'out'))])
      expect(readFileSync(f, 'latin1'), f).not.toContain('@example.com');
  }, 110_000);
});

describe('#9 item 5 attack: killed after Meta applied a batch, before its answer arrived', () => {
  it('someone in that batch who unsubscribes before the rerun is removed by it, and the audience ends exact', async () => {
    const { dir, input } = workDir(`version: 1
destinations:
  meta-main: { platform: meta, replaceEveryDays: 0 }
segments:
  - { id: all, where: { consent: subscribed }, destinations: [{ destination: meta-main, audienceName: "All", minSize: 1 }] }
`);
    const people = Array.from({ length: 50 }, (_, i) => `q${i}@example.com`);
    writeFileSync(join(input, 'list.csv'), `email,status\n${people.map((e) => `${e},subscribed`).join('\n')}\n`);
    const applied = standIn.holdUpload(1, 'after');
    const first = cli(localArgs, dir);
    await applied;
    await kill9(first);
    const id = fake.audiences()[0]!.id;
    expect(fake.members(id).size).toBe(50);
    standIn.passAll();

    // Before the rerun, q7 unsubscribes. The killed run's lease is written as lapsed instead of waiting it out.
    writeFileSync(
      join(input, 'list.csv'),
      `email,status\n${people.map((e) => `${e},${e === 'q7@example.com' ? 'unsubscribed' : 'subscribed'}`).join('\n')}\n`,
    );
    await withState(join(dir, 'state'), async (store) => {
      const holder = (await store.lockHolder('sync'))!;
      const past = Date.now() - 10 * 60_000;
      await store.acquireLock('sync', holder.owner, new Date(past), new Date(past + 60_000));
    });
    const rerun = await cli(localArgs, dir).done;
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(fake.members(id)).toEqual(new Set(people.filter((e) => e !== 'q7@example.com').map(sha)));
  }, 60_000);
});
