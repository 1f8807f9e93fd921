/**
 * `npm run bench`: throughput and peak memory of reading, validating and ingesting Shopify-style exports.
 *
 *   tsx bench/run.ts [--full-1m] [--profile]
 *     --full-1m   also ingest the 1,000,000-row file into dynalite (several minutes)
 *     --profile   write a V8 CPU profile per case to bench/.data/profiles/
 *
 * Each case runs in a fresh child process (bench/worker.ts) so its peak RSS is its own. Prints a table on stdout,
 * progress on stderr, and writes bench/results.json. Exits non-zero only when a case crashes, never on slow numbers.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureShopifyExport } from './generate';
import type { Phase } from './worker';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, 'bench', '.data');
const args = new Set(process.argv.slice(2));
const full1m = args.has('--full-1m');
const profile = args.has('--profile');
const log = (s: string) => process.stderr.write(`${s}\n`);

interface WorkerResult {
  case: string;
  file: string;
  phases: Phase[];
  baselineRssMB: number;
  maxRssMB: number;
  sidecarMaxRssMB?: number;
}

interface Row {
  case: string;
  rows: number;
  seconds: number;
  rowsPerSec: number;
  /** Process peak (`resourceUsage().maxRSS`) of the child that ran this case. */
  peakRssMB: number;
  /** Peak of the 100 ms `memoryUsage().rss` samples during this phase. */
  sampledPeakRssMB: number;
  /** CPU seconds (user + system) of the worker during the phase; the dynalite sidecar's CPU is not included. */
  cpuSeconds: number;
  /** Peak RSS of the dynalite/s3rver sidecar process (store cases only). */
  sidecarPeakRssMB?: number;
  note: string;
  extra?: Record<string, unknown>;
}

const file = (rows: number) => join(DATA, `shopify-${rows}.csv`);

function runWorker(kase: string, path: string, timeoutMs: number): Promise<WorkerResult> {
  const nodeArgs = ['--import', 'tsx'];
  if (profile) {
    const dir = join(DATA, 'profiles');
    mkdirSync(dir, { recursive: true });
    nodeArgs.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      dir,
      '--cpu-prof-name',
      `${kase}-${path.match(/(\d+)\.csv$/)?.[1]}.cpuprofile`,
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bench', 'worker.ts'), kase, path], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`worker ${kase} exited with ${signal ?? code}`));
      try {
        resolve(JSON.parse(last) as WorkerResult);
      } catch {
        reject(new Error(`worker ${kase} printed no result`));
      }
    });
  });
}

const CASE_NOTES: Record<string, string> = {
  read: 'readExport only, rows counted',
  validate: 'ingestExport, no store: read+detect+map+normalize+hash',
  ingest: 'into dynalite (in memory, sidecar process)',
  're-ingest': 'same rows, new object version: should write 0',
  'same-version': 'same object version: short-circuit',
  sync: 'runSync → MetaDestination → local Graph API server (in the worker): every member added',
  're-sync': 'runSync again: nothing changed, nothing sent',
};

async function main() {
  const t0 = performance.now();
  log(`audience-sync bench: node ${process.version}, ${cpus().length} cpu(s)${full1m ? ', --full-1m' : ''}`);
  log('generating inputs (cached in bench/.data/)');
  for (const n of [100_000, 1_000_000]) await ensureShopifyExport(file(n), n, log);

  const plan: Array<{ kase: string; rows: number; timeoutMs: number }> = [
    { kase: 'read', rows: 100_000, timeoutMs: 5 * 60_000 },
    { kase: 'read', rows: 1_000_000, timeoutMs: 10 * 60_000 },
    { kase: 'validate', rows: 100_000, timeoutMs: 5 * 60_000 },
    { kase: 'validate', rows: 1_000_000, timeoutMs: 15 * 60_000 },
    { kase: 'store', rows: 100_000, timeoutMs: 10 * 60_000 },
  ];
  if (full1m) plan.push({ kase: 'store', rows: 1_000_000, timeoutMs: 60 * 60_000 });

  const rows: Row[] = [];
  const crashes: string[] = [];
  for (const p of plan) {
    const label = `${p.kase} ${p.rows.toLocaleString('en-US')}`;
    log(`running ${label} (fresh process)`);
    try {
      const res = await runWorker(p.kase, file(p.rows), p.timeoutMs);
      for (const ph of res.phases) {
        rows.push({
          case: `${ph.name} ${p.rows >= 1e6 ? '1M' : `${p.rows / 1000}k`}`,
          rows: ph.rows,
          seconds: ph.seconds,
          rowsPerSec: ph.seconds > 0 ? ph.rows / ph.seconds : 0,
          peakRssMB: res.maxRssMB,
          sampledPeakRssMB: ph.sampledPeakRssMB,
          cpuSeconds: ph.cpuSeconds,
          sidecarPeakRssMB: res.sidecarMaxRssMB,
          note: CASE_NOTES[ph.name] ?? '',
          extra: ph.extra,
        });
      }
    } catch (e) {
      crashes.push(`${label}: ${(e as Error).message}`);
      log(`  CRASH ${label}: ${(e as Error).message}`);
    }
  }

  // Table.
  const head = ['case', 'rows', 'seconds', 'rows/s', 'peak RSS MB', 'phase RSS MB*', 'cpu s'];
  const body = rows.map((r) => [
    r.case,
    r.rows.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    Math.round(r.rowsPerSec).toLocaleString('en-US'),
    r.peakRssMB.toFixed(0),
    r.sampledPeakRssMB.toFixed(0),
    r.cpuSeconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const print = (s: string) => process.stdout.write(`${s}\n`);
  print('');
  print(line(head));
  print(line(widths.map((w) => '-'.repeat(w))));
  for (const b of body) print(line(b));
  print(
    'peak RSS = maxRSS of the fresh worker process; the store worker runs ingest, re-ingest, same-version, sync and re-sync in turn.',
  );
  print('* phase RSS = highest 100 ms rss sample during that phase. cpu s = worker CPU in the phase.');
  for (const r of rows.filter((x) => x.case.startsWith('ingest ') && x.sidecarPeakRssMB !== undefined))
    print(
      `${r.case}: dynalite runs in a sidecar process (not counted above); its peak RSS was ${r.sidecarPeakRssMB!.toFixed(0)} MB.`,
    );

  for (const r of rows) {
    const x = r.extra ?? {};
    if (r.case.startsWith('ingest') || r.case.startsWith('re-ingest') || r.case.startsWith('same-version'))
      print(
        `${r.case}: status=${x.status} written=${x.written} unchanged=${x.unchanged} removed=${x.removed} accepted=${x.accepted} rejected=${x.rejected}`,
      );
  }
  for (const r of rows.filter((x) => x.case.startsWith('sync') || x.case.startsWith('re-sync'))) {
    const x = r.extra ?? {};
    print(`${r.case}: status=${x.status} added=${x.added} removed=${x.removed} batches=${x.batches}`);
  }
  const v100 = rows.find((r) => r.case === 'validate 100k');
  const v1m = rows.find((r) => r.case === 'validate 1M');
  if (v100?.extra)
    print(
      `validate 100k rejections: ${JSON.stringify(v100.extra.rejections)}; phone coverage ${v100.extra.phoneCoverage}`,
    );

  let memory: { ratio: number; within: boolean; verdict: string } | undefined;
  if (v100 && v1m) {
    const ratio = v1m.peakRssMB / v100.peakRssMB;
    const within = ratio <= 1.5;
    memory = {
      ratio,
      within,
      verdict: within
        ? `memory does not grow with file size: validate peak RSS 1M/100k = ${ratio.toFixed(2)}x (${v1m.peakRssMB.toFixed(0)} vs ${v100.peakRssMB.toFixed(0)} MB, within 1.5x)`
        : `memory GROWS with file size: validate peak RSS 1M/100k = ${ratio.toFixed(2)}x (${v1m.peakRssMB.toFixed(0)} vs ${v100.peakRssMB.toFixed(0)} MB, over 1.5x)`,
    };
    print('');
    print(memory.verdict);
  }
  if (crashes.length) {
    print('');
    for (const c of crashes) print(`CRASH ${c}`);
  }

  const results = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    full1m,
    inputs: [100_000, 1_000_000].map((n) => ({
      rows: n,
      path: relative(ROOT, file(n)),
      bytes: statSync(file(n)).size,
    })),
    cases: rows,
    memory,
    crashes,
    totalSeconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote bench/results.json; total ${results.totalSeconds.toFixed(0)} s`);
  process.exitCode = crashes.length ? 1 : 0;
}

main().catch((e) => {
  log(`bench crashed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
