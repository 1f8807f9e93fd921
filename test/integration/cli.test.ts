/**
 * The `audience-sync` command as an operator runs it: `npx audience-sync …` after npm ci (the bin shim + tsx).
 */
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedAws } from '../../bin/local/embedded';
import { LOCK_FILE } from '../../bin/local/state-lock';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { SAMPLES_AS_OF } from '../helpers/harness';

const run = promisify(execFile);
const BIN = join(process.cwd(), 'bin', 'audience-sync.js');
const CONFIG = join(process.cwd(), 'config', 'audiences.example.yaml');

async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, META_ACCESS_TOKEN: '', META_AD_ACCOUNT_ID: '', ...env },
      maxBuffer: 32 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** The whole of stderr is one line, and no stack trace. */
function oneLine(stderr: string): string {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  return stderr.trimEnd();
}

let work: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'as-cli-'));
  cpSync(join(process.cwd(), 'samples'), join(work, 'samples'), { recursive: true });
  const r = await cli(
    ['local', '--input', 'samples', '--config', CONFIG, '--out', 'out', '--state', 'state', '--as-of', SAMPLES_AS_OF],
    work,
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}, 120_000);

describe('audience-sync validate', () => {
  it('prints one JSON report with format, rows, accepted, rejected and rejections, storing nothing', async () => {
    const file = join(work, 'messy.csv');
    writeFileSync(file, '\ufeffE-Mail;Vorname;Land\r\nA@Example.com;Ann;DE\r\nnope;Bob;DE\r\n;Cid;DE\r\n');
    const r = await cli(['validate', file, '--json'], work);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      format: 'generic',
      rows: 3,
      accepted: 1,
      rejected: 2,
      status: 'validated',
      rejections: expect.objectContaining({}),
    });
    expect(Object.values(report.rejections as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(2);
    expect(report.entries[0]).toMatchObject({ encoding: 'utf-8-bom', delimiter: ';' });
    expect(r.stdout).not.toMatch(/example\.com|nope|Ann|Bob/i);
  });

  it('exits 2 with a readable reason for a file that cannot be ingested', async () => {
    const file = join(work, 'image.csv');
    writeFileSync(file, Buffer.from('89504e470d0a1a0a0000000d4948445200', 'hex'));
    const r = await cli(['validate', file, '--json'], work);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'quarantined', reason: 'not_text' });
  });

  it('prints a human summary by default', async () => {
    const r = await cli(['validate', join(work, 'samples', 'shop', 'customers_export.csv')], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/shopify/);
    expect(r.stdout).toMatch(/rows 600 = accepted \d+ \+ rejected \d+/);
    expect(r.stdout).toMatch(/meta key coverage: EMAIL 100%/);
  });
});

describe('audience-sync preview and sync', () => {
  it('preview shows segment sizes per destination and exclusion reasons', async () => {
    const r = await cli(['preview', '--config', CONFIG, '--state', 'state', '--json', '--as-of', SAMPLES_AS_OF], work);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as {
      segments: Array<{ id: string; matched: number; eligible: number; excluded: Record<string, number> }>;
      audiences: Array<{ segment: string; desired: number; minSize: number; planned: { add: number } }>;
    };
    const eea = p.segments.find((s) => s.id === 'eea-opt-in')!;
    expect(eea.excluded.no_opt_in_eea).toBeGreaterThan(0);
    expect(eea.eligible).toBeLessThan(eea.matched);
    const prospects = p.segments.find((s) => s.id === 'prospects-us')!;
    expect(prospects.excluded.excluded_by_customers).toBeGreaterThan(0);
    expect(p.audiences.every((a) => a.minSize >= 50)).toBe(true);
    // Already synced by `local`: nothing planned.
    expect(p.audiences.every((a) => a.planned.add === 0)).toBe(true);
    const human = await cli(['preview', '--config', CONFIG, '--state', 'state', '--as-of', SAMPLES_AS_OF], work);
    expect(human.stdout).toMatch(
      /eea-opt-in: \d+ match the rules, \d+ eligible · excluded: .*no opt-in recorded \(EEA\): \d+/,
    );
  });

  it('sync --segment --dry-run prints the plan and changes nothing', async () => {
    const r = await cli(['sync', '--segment', 'customers', '--dry-run', '--config', CONFIG, '--state', 'state'], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^customers: /m);
    expect(r.stdout).not.toMatch(/^engaged-90d/m);
    expect(r.stdout).toMatch(/plan \+0 −0/);
  });

  it('an unknown segment is one line naming the known segments, exit 2', async () => {
    const r = await cli(['sync', '--segment', 'nope', '--dry-run', '--config', CONFIG, '--state', 'state'], work);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(
      /^audience-sync: segment "nope" is not in the config \(.*audiences\.example\.yaml\); known segments: all-subscribers, engaged-90d, .*eea-opt-in$/,
    );
  });

  it('a bad config names the segment, the field and the fix', async () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(
      bad,
      'version: 1\ndestinations: { m: { platform: meta } }\nsegments:\n  - id: hot\n    where: { date: lastOpenAt, within: 30 days }\n    destinations: [{ destination: m, audienceName: Hot }]\n',
    );
    const r = await cli(['preview', '--config', bad, '--state', 'state'], work);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/segment "hot": where.within: write a duration like 30d/);
  });
});

describe('audience-sync erase', () => {
  it('erases a person locally and, with --now, removes them from every audience right away', async () => {
    const r = await cli(
      [
        'erase',
        '--email',
        'Shop2.Wen.Smith@example.net',
        '--now',
        '--config',
        CONFIG,
        '--state',
        'state',
        '--out',
        'out',
      ],
      work,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/erased: 1 of 1 identities blocked, [1-9]\d* contact records deleted/);
    expect(r.stdout).toMatch(/synced now: [1-9]\d* removal\(s\)/);
    const files = readdirSync(join(work, 'out', 'dry-run', 'meta'));
    const ops = files.flatMap((f) =>
      readFileSync(join(work, 'out', 'dry-run', 'meta', f), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).op),
    );
    expect(ops).toContain('remove');
  });
});

describe('audience-sync local against Meta', () => {
  let meta: FakeMeta;
  beforeAll(async () => {
    meta = await startMetaGraphServer({ quotaPerWindow: 1_000_000 });
  });
  afterAll(() => meta.close());
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));

  it('a Graph error that repeats the access token never shows it on stdout, in the reports or in the logs', async () => {
    // Not shaped like a Meta token (EAA…), so the logger's pattern net cannot be what catches it.
    const token = 'Sup3rSecret/Tok+en=9';
    meta.tokens.add(token);
    meta.inject({
      kind: 'graphError',
      code: 100,
      message: `(#100) Invalid parameter: request signed with ${token} (as ${encodeURIComponent(token)}) refused`,
      times: 1_000,
    });
    const dir = mkdtempSync(join(tmpdir(), 'as-cli-token-'));
    mkdirSync(join(dir, 'in', 'shop'), { recursive: true });
    cpSync(join(process.cwd(), 'samples', 'shop'), join(dir, 'in', 'shop'), { recursive: true });
    const r = await cli(
      ['local', '--input', 'in', '--config', CONFIG, '--out', 'out', '--state', 'state', '--as-of', SAMPLES_AS_OF],
      dir,
      { META_ACCESS_TOKEN: token, META_AD_ACCOUNT_ID: 'act_42', META_GRAPH_URL: meta.baseUrl },
    );
    expect(r.stdout).toMatch(/failed — Meta .* failed \(code 100\): .*request signed with \[redacted-secret\]/);
    const written = files(join(dir, 'out'));
    expect(written.some((f) => /reports\/sync\/.*\.json$/.test(f))).toBe(true);
    expect(written.some((f) => /reports\/sync\/.*\.html$/.test(f))).toBe(true);
    expect(written.some((f) => f.endsWith('local.jsonl'))).toBe(true);
    for (const [where, text] of [
      ['stdout', r.stdout],
      ['stderr', r.stderr],
      ...written.map((f) => [f, readFileSync(f, 'utf8')]),
    ])
      expect({ where, leaked: text!.includes('Sup3rSecret') }).toEqual({ where, leaked: false });
  }, 60_000);
});

describe('every failure is one line and an exit code', () => {
  const busyLine = (state: string, pid: number) =>
    `audience-sync: state folder ${state} is in use by another audience-sync run (pid ${pid}); wait for it or use another --state`;

  it('a second run on a state folder that a run holds says so and exits 3, changing nothing', async () => {
    const state = join(work, 'held-state');
    const aws = await startEmbeddedAws(state);
    try {
      const r = await cli(['preview', '--config', CONFIG, '--state', 'held-state'], work);
      expect(r.code).toBe(3);
      expect(oneLine(r.stderr)).toBe(busyLine('held-state', process.pid));
      expect(r.stdout).toBe('');
    } finally {
      await aws.close();
    }
    expect(existsSync(join(state, LOCK_FILE))).toBe(false);
  });

  it('a second local run while the first is mid-sync on the same state folder exits 3 at once', async () => {
    // The first run talks to a Graph API stand-in that holds its first request until the second run has ended,
    // so the two runs overlap for sure; then every Graph call is refused and the first run finishes.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let reached!: () => void;
    const inSync = new Promise<void>((r) => {
      reached = r;
    });
    const graph = createServer(async (_req, res) => {
      reached();
      await released;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'refused', type: 'OAuthException', code: 100 } }));
    });
    await new Promise<void>((r) => graph.listen(0, '127.0.0.1', r));
    const graphUrl = `http://127.0.0.1:${(graph.address() as AddressInfo).port}`;
    try {
      const args = [
        'local',
        '--input',
        'samples',
        '--config',
        CONFIG,
        '--state',
        'race-state',
        '--as-of',
        SAMPLES_AS_OF,
      ];
      const first = cli([...args, '--out', 'race-a'], work, {
        META_ACCESS_TOKEN: 'race-token',
        META_AD_ACCOUNT_ID: 'act_1',
        META_GRAPH_URL: graphUrl,
      });
      await inSync;
      const second = await cli([...args, '--out', 'race-b'], work);
      release();
      expect(second.code).toBe(3);
      expect(oneLine(second.stderr)).toMatch(
        /^audience-sync: state folder race-state is in use by another audience-sync run \(pid \d+\); wait for it or use another --state$/,
      );
      const done = await first;
      expect(done.stderr).toBe('');
      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(/failed — Meta .* \(code 100\): refused/);
    } finally {
      release();
      graph.closeAllConnections();
      await new Promise((r) => graph.close(r));
    }
  }, 120_000);

  it('a lock left by a run that is gone is stale: the next run takes it over and frees it when done', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => child.on('exit', r));
    const state = join(work, 'stale-state');
    mkdirSync(state, { recursive: true });
    writeFileSync(
      join(state, LOCK_FILE),
      JSON.stringify({ pid: child.pid, host: hostname(), since: '2026-01-01T00:00:00Z', id: 'crashed-run' }),
    );
    const r = await cli(['preview', '--config', CONFIG, '--state', 'stale-state', '--json'], work);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('segments');
    expect(existsSync(join(state, LOCK_FILE))).toBe(false);
  });

  it('local without --input where there is no samples folder says so, exit 2', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'as-cli-empty-'));
    const [r, named] = await Promise.all([
      cli(['local', '--config', CONFIG], empty),
      cli(['local', '--input', 'exports', '--config', CONFIG], empty),
    ]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      'audience-sync: no input folder: --input defaults to ./samples, which does not exist here; pass --input <dir> with exports as <dir>/<list-id>/<file>',
    );
    expect(named.code).toBe(2);
    expect(oneLine(named.stderr)).toMatch(/^audience-sync: input folder exports does not exist; pass --input <dir>/);
    // Nothing was created for a run that could not start.
    expect(readdirSync(empty)).toEqual([]);
  });

  it('two input folders that become one list id are one line naming both, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'as-cli-clash-'));
    for (const f of ['in/News Letter', 'in/news-letter']) {
      mkdirSync(join(dir, f), { recursive: true });
      writeFileSync(join(dir, f, 'a.csv'), 'email\na@example.com\n');
    }
    const r = await cli(['local', '--input', 'in', '--config', CONFIG, '--state', 'state'], dir);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(
      /^audience-sync: input folder "News Letter" and folder "news-letter" both map to list "news-letter"; rename one/,
    );
  });

  it('usage mistakes are one line with a pointer to --help, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /^audience-sync: give a command: local, validate, preview, sync, status, erase/],
      [['nope'], /^audience-sync: unknown command 'nope'; see audience-sync --help$/],
      [['sync', '--segmnt', 'x'], /^audience-sync: unknown option '--segmnt'.*; see audience-sync sync --help$/],
      [['preview', '--as-of', 'soon'], /--as-of "soon" is not a date; write it as YYYY-MM-DD or an ISO timestamp/],
      [
        ['preview', '--config', 'missing.yaml'],
        /^audience-sync: config file missing\.yaml does not exist; pass --config/,
      ],
      [['erase', '--config', CONFIG], /^audience-sync: give --email and\/or --phone$/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args, work)));
    cases.forEach(([args, expected], i) => {
      expect({ args, code: results[i]!.code }).toEqual({ args, code: 2 });
      expect(oneLine(results[i]!.stderr)).toMatch(expected);
    });
  });

  it('an unexpected error is one line with a hint to re-run with --debug, which shows the stack; exit 1', async () => {
    // A state folder whose database is a file: dynalite cannot open it.
    const broken = ['broken-a', 'broken-b'];
    for (const b of broken) {
      mkdirSync(join(work, b), { recursive: true });
      writeFileSync(join(work, b, 'dynamo'), 'not a database folder');
    }
    const [r, debug] = await Promise.all([
      cli(['preview', '--config', CONFIG, '--state', 'broken-a'], work),
      cli(['preview', '--config', CONFIG, '--state', 'broken-b', '--debug'], work),
    ]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^audience-sync: .+ \(unexpected; re-run with --debug for the stack trace\)$/);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^\s+at /m);
    expect(debug.stderr.trimEnd().split('\n').at(-1)).toMatch(/\(unexpected; stack trace above\)$/);
    for (const b of broken) expect(existsSync(join(work, b, LOCK_FILE))).toBe(false);
  });
});
