/**
 * `npm run bench`: throughput and peak memory of reading and validating contact exports, against csv-parse
 * parse-only and a naive pipeline measured in the same run, plus ingest into a store that keeps nothing (the
 * ingest's own compute against validate's) and into dynalite, CLI start-up and the phone fast path's proof.
 *
 *   tsx bench/run.ts [--rounds N] [--full] [--quick] [--no-phones] [--profile]
 *     --rounds N   interleaved rounds of the ratio cases on the 1M Shopify file (default 3; medians are reported)
 *     --full       also: the product's validate at 5M rows, and ingest of the 1M file into dynalite (slow)
 *     --quick      100k-row files, one round, no 5M, no store, no phones (for trying changes; ~1 minute)
 *     --no-phones  skip the million-number phone proof (~1 minute)
 *     --profile    write a V8 CPU profile per case to bench/.data/profiles/
 *
 * Every case runs in a fresh process (bench/worker.ts, bundled by esbuild as a deployment would bundle the product)
 * so its peak RSS is its own. The machine's free cores are measured before each round (two spinning threads against
 * one) and printed, because a busy machine makes the two-thread wall clock meaningless. Prints a table on stdout,
 * progress on stderr, one `BENCH {json}` summary line last, and writes bench/results.json. Exits non-zero only when
 * a case crashes, never on slow numbers.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bundleBench } from './bundle-workers';
import { ensureMetaExport, ensureShopifyExport, metaExportText } from './generate';
import type { Phase } from './worker';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, 'bench', '.data');
const argv = process.argv.slice(2);
const flag = (f: string) => argv.includes(f);
const quick = flag('--quick');
const full = flag('--full');
const profile = flag('--profile');
const phones = !flag('--no-phones') && !quick;
const rounds = quick ? 1 : Number(argv[argv.indexOf('--rounds') + 1] || 3) || 3;
const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * Old-space cap of the validate processes (MB), as the ingest Lambda and the CLI should run (NODE_OPTIONS): their
 * live heap is a few chunks and the report, so the cap only stops V8 from keeping ~50 MB of garbage around at 5M
 * rows; it costs no measurable CPU (47.7 → 47.0 s CPU for validate on two threads at 5M).
 */
const VALIDATE_OLD_SPACE_MB = 128;

interface WorkerResult {
  case: string;
  file: string;
  phases: Phase[];
  baselineRssMB: number;
  maxRssMB: number;
  sidecarMaxRssMB?: number;
}

interface Run {
  case: string;
  input: string;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  baselineRssMB: number;
  /** Free cores measured just before (1 = one core's worth). */
  freeCores?: number;
  loadavg: number;
  extra?: Record<string, unknown>;
  sidecarPeakRssMB?: number;
}

const shopify = (n: number) => join(DATA, `shopify-${n}.csv`);
const meta = (n: number) => join(DATA, `meta-keys-${n}.csv`);
const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1000}k`);

let runner = '';
let runnerEnv: Record<string, string> = {};

function runWorker(kase: string, path: string, timeoutMs: number): Promise<WorkerResult> {
  const nodeArgs: string[] = kase.startsWith('validate') ? [`--max-old-space-size=${VALIDATE_OLD_SPACE_MB}`] : [];
  if (profile) {
    const dir = join(DATA, 'profiles');
    mkdirSync(dir, { recursive: true });
    const name = `${kase}-${path.match(/([\w-]+)\.csv$/)?.[1]}-${Date.now()}.cpuprofile`;
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', name);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, runner, kase, path], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        ...runnerEnv,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
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

/** Free cores now: iterations of two spinning threads over those of one, each for `ms`. */
async function freeCores(ms = 700): Promise<number> {
  const code = `const t=Date.now();let x=0;while(Date.now()-t<${ms})x++;require('node:worker_threads').parentPort.postMessage(x);`;
  const spin = () =>
    new Promise<number>((res, rej) => new Worker(code, { eval: true }).once('message', res).once('error', rej));
  const one = await spin();
  const two = await Promise.all([spin(), spin()]);
  return Math.round(((two[0]! + two[1]!) / one) * 100) / 100;
}

const runs: Run[] = [];
const crashes: string[] = [];

async function run(kase: string, path: string, input: string, timeoutMs: number, cores?: number): Promise<Run[]> {
  log(`running ${kase} on ${input} (fresh process)`);
  const load = loadavg()[0] ?? 0;
  try {
    const res = await runWorker(kase, path, timeoutMs);
    const out = res.phases.map(
      (ph): Run => ({
        case: ph.name,
        input,
        rows: ph.rows,
        seconds: ph.seconds,
        cpuSeconds: ph.cpuSeconds,
        peakRssMB: res.maxRssMB,
        baselineRssMB: res.baselineRssMB,
        freeCores: cores,
        loadavg: Math.round(load * 100) / 100,
        extra: ph.extra,
        sidecarPeakRssMB: res.sidecarMaxRssMB,
      }),
    );
    runs.push(...out);
    return out;
  } catch (e) {
    crashes.push(`${kase} ${input}: ${(e as Error).message}`);
    log(`  CRASH ${kase} ${input}: ${(e as Error).message}`);
    return [];
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};

/** Median over the runs of one case on one input. */
function summary(kase: string, input: string) {
  const rs = runs.filter((r) => r.case === kase && r.input === input);
  if (rs.length === 0) return undefined;
  const seconds = median(rs.map((r) => r.seconds));
  const cpu = median(rs.map((r) => r.cpuSeconds));
  const rows = rs[0]!.rows;
  return {
    case: kase,
    input,
    runs: rs.length,
    rows,
    seconds,
    cpuSeconds: cpu,
    rowsPerSec: rows / seconds,
    rowsPerCpuSec: rows / cpu,
    peakRssMB: Math.max(...rs.map((r) => r.peakRssMB)),
    freeCores: rs.some((r) => r.freeCores !== undefined) ? median(rs.map((r) => r.freeCores ?? 0)) : undefined,
    extra: rs[0]!.extra,
  };
}

/** CLI start-up: `audience-sync validate` on a ten-row file, median of three; wall seconds and peak RSS. */
async function cliStartup(): Promise<{ seconds: number; peakRssMB: number } | undefined> {
  const tiny = join(DATA, 'tiny.csv');
  writeFileSync(tiny, metaExportText(10, 0));
  const one = () =>
    new Promise<{ seconds: number; peakRssMB: number }>((resolve, reject) => {
      execFile(
        '/usr/bin/time',
        ['-f', 'TIME %e %M', process.execPath, join(ROOT, 'bin', 'audience-sync.js'), 'validate', tiny, '--json'],
        { cwd: ROOT, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
        (err, _stdout, stderr) => {
          const m = /TIME ([\d.]+) (\d+)/.exec(stderr);
          if (err || !m) return reject(err ?? new Error('no timing'));
          resolve({ seconds: Number(m[1]), peakRssMB: Number(m[2]) / 1024 });
        },
      );
    });
  try {
    const rs = [await one(), await one(), await one()];
    return { seconds: median(rs.map((r) => r.seconds)), peakRssMB: median(rs.map((r) => r.peakRssMB)) };
  } catch (e) {
    crashes.push(`cli startup: ${(e as Error).message}`);
    return undefined;
  }
}

/** The phone proof on a million numbers (scripts/prove-phones.ts); its PHONES summary. */
function phoneProof(): Promise<Record<string, number> | undefined> {
  log('running the phone proof on 1,000,000 generated numbers (scripts/prove-phones.ts)');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts', 'prove-phones.ts'), '1000000'],
      { cwd: ROOT, maxBuffer: 1 << 24 },
      (err, stdout) => {
        const line = stdout.split('\n').find((l) => l.startsWith('PHONES '));
        if (!line) {
          crashes.push(`phone proof: ${err?.message ?? 'no PHONES line'}`);
          return resolve(undefined);
        }
        log(stdout.split('\n').slice(0, 12).join('\n'));
        resolve(JSON.parse(line.slice(7)) as Record<string, number>);
      },
    );
  });
}

async function main() {
  const t0 = performance.now();
  log(
    `audience-sync bench: node ${process.version}, ${cpus().length} cpu(s), ${rounds} round(s)${full ? ', --full' : ''}`,
  );
  const big = quick ? 100_000 : 1_000_000;
  log('generating inputs (cached in bench/.data/)');
  for (const n of quick ? [100_000] : [100_000, 1_000_000, 5_000_000]) await ensureShopifyExport(shopify(n), n, log);
  await ensureMetaExport(meta(big), big, log);
  log('bundling the bench (esbuild)');
  const build = await bundleBench();
  runner = build.runner;
  runnerEnv = build.env;

  const S = `shopify ${label(big)}`;
  const M = `meta-keys ${label(big)}`;
  const ratioCases = ['parse-only', 'naive', 'read', 'validate', 'validate-2'];
  for (let r = 0; r < rounds; r++) {
    const cores = await freeCores();
    log(`round ${r + 1}/${rounds}: ${cores} free core(s)`);
    for (const k of ratioCases) await run(k, shopify(big), S, 15 * 60_000);
  }
  {
    const cores = await freeCores();
    for (const k of ['parse-only', 'read', 'validate', 'validate-2']) await run(k, meta(big), M, 15 * 60_000, cores);
  }
  await run('read-rows', shopify(big), S, 5 * 60_000);
  // The ingest's own compute per row (a store that keeps nothing), against the rounds' validate on the same file.
  await run('ingest-null', shopify(big), S, 15 * 60_000);
  if (!quick) {
    const cores = await freeCores();
    await run('validate', shopify(5_000_000), 'shopify 5M', 60 * 60_000, cores);
    await run('validate-2', shopify(5_000_000), 'shopify 5M', 60 * 60_000, cores);
    await run('validate', shopify(100_000), 'shopify 100k', 5 * 60_000);
    await run('store', shopify(100_000), 'shopify 100k', 10 * 60_000);
    if (full) await run('store', shopify(1_000_000), 'shopify 1M', 60 * 60_000);
  }
  const cli = await cliStartup();
  const phoneSummary = phones ? await phoneProof() : undefined;

  // Table of every run.
  const print = (s: string) => process.stdout.write(`${s}\n`);
  const head = ['case', 'input', 'rows', 'seconds', 'rows/s', 'cpu s', 'rows/cpu-s', 'peak RSS MB', 'free cores'];
  const body = runs.map((r) => [
    r.case,
    r.input,
    r.rows.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    Math.round(r.rows / r.seconds).toLocaleString('en-US'),
    r.cpuSeconds.toFixed(2),
    Math.round(r.rows / Math.max(1e-9, r.cpuSeconds)).toLocaleString('en-US'),
    r.peakRssMB.toFixed(0),
    r.freeCores === undefined ? '' : r.freeCores.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  print('');
  print(line(head));
  print(line(widths.map((w) => '-'.repeat(w))));
  for (const b of body) print(line(b));
  print(
    'cpu s = process CPU (all threads) in the case; peak RSS = maxRSS of the fresh process (worker threads included).',
  );
  print('free cores = what two spinning threads got just before the round, in cores (2.00 = an idle 2-core machine).');
  print(
    `validate cases run with --max-old-space-size=${VALIDATE_OLD_SPACE_MB}; the row pool's workers with old/young heap limits 96/16 MB (functions/app/row-pool.ts).`,
  );

  // Ratios against csv-parse parse-only, medians of the same run.
  const ratios: Record<string, Record<string, { wall: number; cpu: number; rowsPerSec: number }>> = {};
  for (const input of [S, M]) {
    const base = summary('parse-only', input);
    if (!base) continue;
    print('');
    print(`${input}: × csv-parse parse-only (${Math.round(base.rowsPerSec).toLocaleString('en-US')} rows/s), medians`);
    ratios[input] = {};
    for (const k of ['parse-only', 'naive', 'read', 'read-rows', 'validate', 'validate-2']) {
      const s = summary(k, input);
      if (!s) continue;
      const wall = s.rowsPerSec / base.rowsPerSec;
      const cpu = s.rowsPerCpuSec / base.rowsPerCpuSec;
      ratios[input][k] = { wall: round2(wall), cpu: round2(cpu), rowsPerSec: Math.round(s.rowsPerSec) };
      print(
        `  ${k.padEnd(11)} ${Math.round(s.rowsPerSec).toLocaleString('en-US').padStart(9)} rows/s  ${wall.toFixed(2)}× wall  ${cpu.toFixed(2)}× per CPU-second  peak ${s.peakRssMB.toFixed(0)} MB${s.freeCores !== undefined ? `  (${s.freeCores.toFixed(2)} free cores)` : ''}`,
      );
    }
  }
  print(
    '  parse-only = csv-parse 7.0.3, rows as arrays; naive = csv-parse + trim/lowercase + libphonenumber + createHash ×4;',
  );
  print('  read = readExport (decode, sniff, frame, split) in batches; read-rows = the same, entry.rows one by one;');
  print('  validate = the product (ingestExport without a store, every Meta key normalized and hashed), one thread;');
  print(
    "  validate-2 = the same on two threads: its row pool's worker and this thread share the rows (this one also frames).",
  );

  // Memory.
  const mem: Record<string, number> = {};
  print('');
  for (const input of [S, 'shopify 5M', M]) {
    for (const k of ['validate', 'validate-2']) {
      const s = summary(k, input);
      if (!s) continue;
      mem[`${k} ${input}`] = Math.round(s.peakRssMB);
      const idx = s.extra?.duplicateIndexMB as number | undefined;
      print(
        `peak RSS ${k} ${input}: ${s.peakRssMB.toFixed(0)} MB${idx !== undefined ? ` (duplicate index ${idx.toFixed(1)} MB)` : ''}`,
      );
    }
  }

  // Ingest vs validate compute per row (100k).
  const v100 = summary('validate', 'shopify 100k');
  const i100 = summary('ingest', 'shopify 100k');
  let perRow: { validateUs: number; ingestUs: number } | undefined;
  if (v100 && i100) {
    perRow = {
      validateUs: Math.round((v100.cpuSeconds / v100.rows) * 1e7) / 10,
      ingestUs: Math.round((i100.cpuSeconds / i100.rows) * 1e7) / 10,
    };
    print('');
    print(
      `compute per row, 100k: validate ${perRow.validateUs} µs, ingest into dynalite ${perRow.ingestUs} µs (process CPU; dynalite runs in a sidecar)`,
    );
    for (const r of runs.filter((x) => x.input === 'shopify 100k' && x.extra?.status !== undefined)) {
      const x = r.extra ?? {};
      print(
        `  ${r.case}: status=${x.status} written=${x.written ?? '-'} unchanged=${x.unchanged ?? '-'} accepted=${x.accepted ?? '-'} rejected=${x.rejected ?? '-'} added=${x.added ?? '-'}`,
      );
    }
  }
  const vBig = summary('validate', S);
  const nBig = summary('ingest-null', S);
  let ingestOwn: { validateUs: number; ingestUs: number; addedUs: number } | undefined;
  if (vBig && nBig) {
    const us = (x: { cpuSeconds: number; rows: number }) => Math.round((x.cpuSeconds / x.rows) * 1e7) / 10;
    ingestOwn = { validateUs: us(vBig), ingestUs: us(nBig), addedUs: Math.round((us(nBig) - us(vBig)) * 10) / 10 };
    print(
      `compute per row, ${S}: validate ${ingestOwn.validateUs} µs (median), ingest into a store that keeps nothing ${ingestOwn.ingestUs} µs: ingest adds ${ingestOwn.addedUs} µs (staging on disk, content hashes, the apply pass) before the store's own writes`,
    );
  }
  if (cli)
    print(
      `\nCLI start-up (validate on 10 rows, median of 3): ${cli.seconds.toFixed(2)} s, peak RSS ${cli.peakRssMB.toFixed(0)} MB`,
    );
  if (phoneSummary)
    print(
      `phones: ${phoneSummary.cases?.toLocaleString('en-US')} generated numbers, ${phoneSummary.planDisagreements} disagreements with libphonenumber, ${phoneSummary.normalizeDisagreements} with the previous normalizePhone; the compiled plans decided ${((100 * (phoneSummary.decided ?? 0)) / Math.max(1, phoneSummary.clean ?? 1)).toFixed(1)} % of clean digit strings`,
    );
  if (crashes.length) {
    print('');
    for (const c of crashes) print(`CRASH ${c}`);
  }

  const v1 = ratios[S]?.validate;
  const v2 = ratios[S]?.['validate-2'];
  const targets = {
    // One core: validate per CPU-second against parse-only per CPU-second (wall printed too).
    oneCore: v1 ? { ratio: v1.cpu, wall: v1.wall, target: 0.6, met: v1.cpu >= 0.6 } : undefined,
    // Two cores: the pooled validate's wall clock against parse-only's (one thread).
    twoCores: v2
      ? { ratio: v2.wall, target: 1.0, met: v2.wall >= 1.0, measured: true }
      : { target: 1.0, measured: false },
    peakRss: {
      target: 256,
      values: mem,
      met: Object.entries(mem)
        .filter(([k]) => k.startsWith('validate'))
        .every(([, v]) => v <= 256),
    },
  };
  const results = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    rounds,
    full,
    inputs: runs
      .map((r) => r.input)
      .filter((x, i, a) => a.indexOf(x) === i)
      .map((input) => ({ input })),
    files: [shopify(100_000), shopify(big), meta(big), ...(quick ? [] : [shopify(5_000_000)])].map((p) => ({
      path: relative(ROOT, p),
      bytes: statSync(p).size,
    })),
    runs,
    ratios,
    peakRssMB: mem,
    perRow,
    cli,
    phones: phoneSummary,
    targets,
    crashes,
    totalSeconds: Math.round((performance.now() - t0) / 1000),
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  print('');
  print(
    `BENCH ${JSON.stringify({ node: process.version, cpus: cpus().length, rounds, ratios, peakRssMB: mem, perRow, ingestOwn, cli, phones: phoneSummary && { cases: phoneSummary.cases, disagreements: (phoneSummary.planDisagreements ?? 0) + (phoneSummary.normalizeDisagreements ?? 0) }, targets, crashes: crashes.length, totalSeconds: results.totalSeconds })}`,
  );
  log(`wrote bench/results.json; total ${results.totalSeconds} s`);
  process.exitCode = crashes.length ? 1 : 0;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

main().catch((e) => {
  log(`bench crashed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
