/**
 * The `audience-sync` command as an operator runs it: `npx audience-sync …` after npm ci (the bin shim + tsx).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    expect(r.stdout).toMatch(/key coverage: EMAIL 100%/);
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
    expect(eea.excluded.no_explicit_opt_in_eea).toBeGreaterThan(0);
    expect(eea.eligible).toBeLessThan(eea.matched);
    const prospects = p.segments.find((s) => s.id === 'prospects-us')!;
    expect(prospects.excluded.excluded_by_customers).toBeGreaterThan(0);
    expect(p.audiences.every((a) => a.minSize >= 50)).toBe(true);
    // Already synced by `local`: nothing planned.
    expect(p.audiences.every((a) => a.planned.add === 0)).toBe(true);
    const human = await cli(['preview', '--config', CONFIG, '--state', 'state', '--as-of', SAMPLES_AS_OF], work);
    expect(human.stdout).toMatch(/eea-opt-in: \d+ match the rules, \d+ eligible · excluded: .*no_explicit_opt_in_eea/);
  });

  it('sync --segment --dry-run prints the plan and changes nothing', async () => {
    const r = await cli(['sync', '--segment', 'customers', '--dry-run', '--config', CONFIG, '--state', 'state'], work);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^customers: /m);
    expect(r.stdout).not.toMatch(/^engaged-90d/m);
    expect(r.stdout).toMatch(/plan \+0 −0/);
  });

  it('an unknown segment is a clear error', async () => {
    const r = await cli(['sync', '--segment', 'nope', '--dry-run', '--config', CONFIG, '--state', 'state'], work);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/segment "nope" is not in the config/);
  });

  it('a bad config names the segment, the field and the fix', async () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(
      bad,
      'version: 1\ndestinations: { m: { platform: meta } }\nsegments:\n  - id: hot\n    where: { date: lastOpenAt, within: 30 days }\n    destinations: [{ destination: m, audienceName: Hot }]\n',
    );
    const r = await cli(['preview', '--config', bad, '--state', 'state'], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/segment "hot": where.within: write a duration like 30d/);
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
    expect(r.stdout).toMatch(/erased: 1 identities hashed and suppressed, [1-9]\d* contact records deleted/);
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
