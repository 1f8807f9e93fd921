/**
 * `npm run bench:scale` (also the last part of `npm run bench`): audience-sync at ten million contacts.
 *
 *   tsx bench/scale.ts [--local-1m] [--quick]
 *     --local-1m  also run `audience-sync local` on a 1,000,000-row export (embedded dynalite on disk; ~10 minutes)
 *     --quick     the memory slope at 100k, 300k and 1M only (a smoke run)
 *
 * Every case runs in a fresh process (bench/scale-worker.ts), two at a time (this machine has two cores), so each peak
 * RSS is its own. Sync runs against a fast synthetic store (bench/synthetic-store.ts: people generated per cid range,
 * writes counted) with its V8 heap capped at 400 MB, as a 512 MB worker would run it. Throughput is per CPU second
 * (a Lambda worker has its vCPU to itself; this build machine is shared). Then the fan-out tests run, and the
 * within-a-night arithmetic and the cost table are printed from the measured figures and written to
 * bench/scale-results.json.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shardDigitsFor, shardPrefixes } from '../functions/core/sync';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const log = (s: string) => process.stderr.write(`${s}\n`);
const out: string[] = [];
const print = (s = '') => {
  out.push(s);
  process.stdout.write(`${s}\n`);
};

/** The heap a 512 MB worker leaves V8 (the rest is code, buffers and the runtime). */
const HEAP_CAP_MB = 400;
const TARGET_RSS_MB = 512;

// biome-ignore lint/suspicious/noExplicitAny: a worker's result is the JSON it printed.
type Result = Record<string, any>;

function worker(kase: string, n: number, heapCap = true): Promise<Result> {
  const nodeArgs = [...(heapCap ? [`--max-old-space-size=${HEAP_CAP_MB}`] : []), '--import', 'tsx'];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bench', 'scale-worker.ts'), kase, String(n)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`${kase} ${n} exited with ${signal ?? code}`));
      const last = text.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(last) as Result;
        log(
          `  ${kase} ${n.toLocaleString('en-US')}: ${((performance.now() - t0) / 1000).toFixed(0)} s, peak RSS ${r.maxRssMB} MB`,
        );
        resolve(r);
      } catch {
        reject(new Error(`${kase} ${n} printed no result`));
      }
    });
  });
}

/** Runs jobs `limit` at a time, keeping their order in the results. */
async function pool<T>(jobs: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const run = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, run));
  return results;
}

function vitest(files: string[]): Promise<{ passed: number; failed: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.on('error', reject);
    child.on('close', () => {
      const tests = /Tests\s+(?:(\d+) failed \| )?(\d+) passed/.exec(text);
      const lines = text.split('\n').filter((l) => /^\s+[✓×]/.test(l));
      resolve({ passed: Number(tests?.[2] ?? 0), failed: Number(tests?.[1] ?? 0), lines });
    });
  });
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const table = (head: string[], rows: Array<Array<string | number>>) => {
  print(`| ${head.join(' | ')} |`);
  print(`|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const r of rows) print(`| ${r.join(' | ')} |`);
};

// ---- assumptions the bench cannot measure here (no AWS, no ad platform) -------------------------------------------

/** us-east-1 list prices. */
const PRICE = {
  lambdaGbS: 0.0000133334, // arm64, per GB-second
  lambdaRequest: 0.2 / 1e6,
  ddbWrite: 0.625 / 1e6, // on-demand, per write request unit
  ddbRead: 0.125 / 1e6, // on-demand, per read request unit
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  sfnTransition: 0.025 / 1000,
};
const ASSUME = {
  /** One S3 GET stream into a Lambda, MB/s. */
  s3MBps: 90,
  /** One BatchWriteItem of 25 items, ms (a few in flight per worker: BATCH_CONCURRENCY = 4). */
  batchWriteMs: 25,
  batchWritesInFlight: 4,
  /** One 10,000-member platform call, s: the engine's own planning default (DEFAULT_BATCH_CALL_MS, unverified). */
  platformCallS: 5,
  /** A typical 10,000-member call, s (unverified; Meta publishes no latency figure). */
  platformCallTypicalS: 2,
  /** Share of contacts that change on a steady night (writes, additions, removals). */
  churn: 0.02,
  chunkConcurrency: 40,
  applyConcurrency: 8,
  shardConcurrency: 4,
  groups: 16,
  fanOutChunkBytes: 64 * 1024 * 1024,
  ingestMemGb: 1.769,
  syncMemGb: 1.0,
};

async function main() {
  const t0 = performance.now();
  log(`audience-sync scale bench: node ${process.version}, ${cpus().length} cpu(s)${quick ? ', --quick' : ''}`);
  const slope = quick ? [100_000, 300_000, 1_000_000] : [1_000_000, 3_000_000, 10_000_000];
  log('running cases in fresh processes, two at a time');
  const jobs: Array<() => Promise<Result>> = [
    // The largest first, so the two cores stay busy to the end.
    ...[...slope].reverse().map((n) => () => worker('sync', n)),
    () => worker('steps', 1_000_000),
    () => worker('first-load', 1_000_000),
    () => worker('ingest-chunk', 200_000, false),
    () => worker('apply-shard', 200_000, false),
    () => worker('split', 1_000_000, false),
  ];
  if (args.has('--local-1m')) jobs.push(() => worker('local', 1_000_000, false));
  const results = await pool(jobs, 2);
  const syncs = results.filter((r) => r.case === 'sync').sort((a, b) => a.people - b.people);
  const steps = results.find((r) => r.case === 'steps')!;
  const first = results.find((r) => r.case === 'first-load')!;
  const chunk = results.find((r) => r.case === 'ingest-chunk')!;
  const applied = results.find((r) => r.case === 'apply-shard')!;
  const split = results.find((r) => r.case === 'split')!;
  const local = results.find((r) => r.case === 'local');

  log('running the fan-out tests');
  const tests = await vitest(['test/unit/reading/split.test.ts', 'test/integration/ingest-fanout.test.ts']);

  // ---- memory slope -------------------------------------------------------------------------------------------
  print('');
  print('## Sync memory slope (one process, every shard, synthetic store)');
  print('');
  print(
    `runSync over N people (two lists, two audiences — Meta and Google —, 1 % to add and 1 % to remove), against the synthetic store (people generated per cid range; writes counted, not kept), V8 heap capped at ${HEAP_CAP_MB} MB. Peak RSS is the process maximum (resourceUsage().maxRSS).`,
  );
  print('');
  const shardsOf = (n: number) => shardPrefixes(shardDigitsFor(n)).length;
  table(
    ['people', 'shards', 'people per shard', 'peak RSS MB', `≤ ${TARGET_RSS_MB} MB`, 'CPU s', 'people per CPU s'],
    syncs.map((r) => [
      fmt(r.people),
      shardsOf(r.people),
      fmt(r.people / shardsOf(r.people)),
      r.maxRssMB,
      r.maxRssMB <= TARGET_RSS_MB ? 'yes' : 'NO',
      fmt(r.cpuSeconds, 1),
      fmt(r.people / r.cpuSeconds),
    ]),
  );
  const lo = syncs[0]!;
  const hi = syncs.at(-1)!;
  const slopeMbPerM = (hi.maxRssMB - lo.maxRssMB) / ((hi.people - lo.people) / 1e6);
  print('');
  print(
    `Slope: ${slopeMbPerM >= 0 ? '+' : ''}${slopeMbPerM.toFixed(1)} MB per million people between ${fmt(lo.people)} and ${fmt(hi.people)} (${hi.maxRssMB} vs ${lo.maxRssMB} MB): memory follows the shard, not the number of contacts.`,
  );

  // ---- per-worker throughput ----------------------------------------------------------------------------------
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const removeRate = steps.people / sum(steps.removeGroupCpuSeconds);
  const addRate = steps.people / sum(steps.addGroupCpuSeconds);
  const chunkRate = chunk.rowsPerCpuSecond as number;
  const applyRate = applied.recordsPerCpuSecond as number;
  const scanRate = split.mbPerCpuSecond as number;
  const bytesPerRow = chunk.bytesPerRow as number;
  const itemBytes = applied.itemBytes as number;
  const contactWcu = Math.ceil(itemBytes / 1024);
  print('');
  print('## Measured per-worker throughput (per CPU second: one Lambda vCPU)');
  print('');
  table(
    ['worker', 'measured', 'note'],
    [
      [
        'ingest plan: record-boundary scan',
        `${fmt(scanRate)} MB/s`,
        'functions/reading/split.ts over a Klaviyo export',
      ],
      [
        'ingest chunk: read + map + normalize + hash + stage',
        `${fmt(chunkRate)} rows/s`,
        `Klaviyo export, ${fmt(bytesPerRow)} B/row, Meta and Google keys, 70 % phones`,
      ],
      ['ingest shard: stage + apply (CPU side)', `${fmt(applyRate)} records/s`, `${fmt(itemBytes)} B a contact item`],
      [
        'sync remove pass, one shard group',
        `${fmt(removeRate)} people/s`,
        `${steps.groups} groups of ${fmt(steps.peoplePerGroup)}`,
      ],
      ['sync add pass, one shard group', `${fmt(addRate)} people/s`, 'two audiences, each diffed per shard'],
      [
        'sync first load (one process)',
        `${fmt(first.people / first.cpuSeconds)} people/s`,
        `${fmt(first.added)} members added`,
      ],
    ],
  );

  // ---- within a night -----------------------------------------------------------------------------------------
  const N = 10_000_000;
  const fileBytes = N * bytesPerRow;
  const chunks = Math.ceil(fileBytes / ASSUME.fanOutChunkBytes);
  const rowsPerChunk = N / chunks;
  const tPlan = fileBytes / 1e6 / Math.min(scanRate, ASSUME.s3MBps) + chunks * 2;
  const tChunk = rowsPerChunk / chunkRate + (rowsPerChunk * itemBytes) / 1e6 / ASSUME.s3MBps;
  const tStage = Math.ceil(chunks / ASSUME.chunkConcurrency) * tChunk;
  const perShard = N / 16;
  const writeRatePerWorker = (ASSUME.batchWritesInFlight * 25 * 1000) / ASSUME.batchWriteMs;
  const tShard = perShard / Math.min(applyRate, writeRatePerWorker) + (perShard * itemBytes) / 1e6 / ASSUME.s3MBps;
  const tApply = Math.ceil(16 / ASSUME.applyConcurrency) * tShard;
  const tIngest = tPlan + tStage + tApply + 10;
  const ingestWcuPerS = ASSUME.applyConcurrency * writeRatePerWorker * contactWcu;
  const desired = N * 0.9;
  const audiences = 2;
  const groupsPerWorker = ASSUME.groups / ASSUME.shardConcurrency;
  const tRemovePlan = (N / ASSUME.groups / removeRate) * groupsPerWorker;
  const tAddPlan = (N / ASSUME.groups / addRate) * groupsPerWorker;
  const batchesFirst = audiences * Math.ceil(desired / 10_000) + audiences * ASSUME.groups;
  const tSend = (s: number) => (batchesFirst * s) / ASSUME.shardConcurrency;
  const tSync = (s: number) => tRemovePlan + tAddPlan + tSend(s) + 30;
  const syncedWcuPerS = (audiences * desired) / tSend(ASSUME.platformCallS);
  const contactReadRru = (N * 1.25 * itemBytes) / 4096 / 2;
  const syncRcuPerS = (2 * contactReadRru) / (tRemovePlan + tAddPlan);
  const maxCallS = (3600 - tIngest - tRemovePlan - tAddPlan - 30) / (batchesFirst / ASSUME.shardConcurrency);
  const min = (s: number) => `${fmt(s / 60, 1)} min`;
  print('');
  print('## Within a night: 10,000,000 rows ingested, 10,000,000 contacts synced (first load, the worst night)');
  print('');
  print(
    `Assumed (not measurable here): one S3 GET stream ${ASSUME.s3MBps} MB/s; a BatchWriteItem of 25 in ${ASSUME.batchWriteMs} ms with ${ASSUME.batchWritesInFlight} in flight (${fmt(writeRatePerWorker)} items/s per worker); a 10,000-member platform call ${ASSUME.platformCallS} s (the engine's planning default, unverified) or ${ASSUME.platformCallTypicalS} s (typical, unverified).`,
  );
  print('');
  table(
    ['step', 'arithmetic', 'time'],
    [
      [
        'ingest plan',
        `${fmt(fileBytes / 1e6)} MB ÷ min(${fmt(scanRate)} scan, ${ASSUME.s3MBps} S3) MB/s + ${chunks} chunk probes × 2 s`,
        min(tPlan),
      ],
      [
        'ingest chunks',
        `${chunks} chunks of ${fmt(rowsPerChunk)} rows, ${ASSUME.chunkConcurrency} at once: ${fmt(rowsPerChunk)} ÷ ${fmt(chunkRate)} rows/s + staging upload`,
        min(tStage),
      ],
      [
        'ingest shards',
        `16 shards of ${fmt(perShard)}, ${ASSUME.applyConcurrency} at once: ${fmt(perShard)} ÷ min(${fmt(applyRate)} CPU, ${fmt(writeRatePerWorker)} write) records/s`,
        min(tApply),
      ],
      ['ingest total', 'plan + chunks + shards + commit', min(tIngest)],
      [
        'sync planning',
        `${ASSUME.groups} groups, ${ASSUME.shardConcurrency} at once: ${fmt(N / ASSUME.groups)} people ÷ ${fmt(removeRate)} (remove) and ÷ ${fmt(addRate)} (add) people/s, × ${groupsPerWorker} groups a worker`,
        min(tRemovePlan + tAddPlan),
      ],
      [
        'sync sends',
        `${fmt(batchesFirst)} batches (2 audiences × ${fmt(desired)} ÷ 10,000, + a partial one per group) × ${ASSUME.platformCallS} s ÷ ${ASSUME.shardConcurrency} at once`,
        min(tSend(ASSUME.platformCallS)),
      ],
      [
        'sync total',
        `planning + sends (${ASSUME.platformCallTypicalS} s calls: ${min(tSync(ASSUME.platformCallTypicalS))})`,
        min(tSync(ASSUME.platformCallS)),
      ],
      [
        'night',
        `ingest + sync; within 60 min while a platform call takes ≤ ${fmt(maxCallS, 1)} s`,
        `${min(tIngest + tSync(ASSUME.platformCallS))} (${min(tIngest + tSync(ASSUME.platformCallTypicalS))} at ${ASSUME.platformCallTypicalS} s)`,
      ],
    ],
  );
  print('');
  print(
    'DynamoDB capacity for that night (on-demand; a new table starts at 4,000 WCU/s and 12,000 RCU/s, so pre-warm it — warm throughput — or provision the first load):',
  );
  print('');
  table(
    ['phase', 'arithmetic', 'needs'],
    [
      [
        'ingest shards (writes)',
        `${ASSUME.applyConcurrency} workers × ${fmt(writeRatePerWorker)} items/s × ${contactWcu} WCU (${fmt(itemBytes)} B a contact)`,
        `${fmt(ingestWcuPerS)} WCU/s for ${min(tApply)}`,
      ],
      [
        'sync sends (synced state)',
        `${fmt(audiences * desired)} members ÷ ${min(tSend(ASSUME.platformCallS))}, 1 WCU each`,
        `${fmt(syncedWcuPerS)} WCU/s`,
      ],
      [
        'sync reads',
        `2 passes × ${fmt(N * 1.25)} contact items (two lists) × ${fmt(itemBytes)} B ÷ 4 KB × ½ ÷ planning time`,
        `${fmt(syncRcuPerS)} RCU/s`,
      ],
    ],
  );

  // ---- costs ----------------------------------------------------------------------------------------------------
  const M = 1_000_000;
  const mDesired = M * 0.9;
  const cost = (night: 'first' | 'steady') => {
    const changed = night === 'first' ? 1 : ASSUME.churn;
    const ingestS = M / chunkRate + M / Math.min(applyRate, writeRatePerWorker) + (M * bytesPerRow) / 1e6 / scanRate;
    const sends =
      night === 'first'
        ? audiences * Math.ceil(mDesired / 10_000)
        : audiences * Math.ceil((2 * ASSUME.churn * mDesired) / 10_000);
    const syncS = M / removeRate + M / addRate + sends * ASSUME.platformCallS;
    const gbS = ingestS * ASSUME.ingestMemGb + syncS * ASSUME.syncMemGb;
    // DynamoDB: contact writes (changed only), synced members (added / removed), blocks; reads: ingest fingerprints,
    // sync passes (contacts and synced members, per audience), blocks per group.
    const wru =
      M * changed * contactWcu + audiences * mDesired * (night === 'first' ? 1 : 2 * ASSUME.churn) + M * 0.06 * changed;
    const rru =
      (M * itemBytes) / 4096 / 2 +
      2 * ((M * 1.25 * itemBytes) / 4096 / 2 + (audiences * mDesired * 300) / 4096 / 2) +
      2 * ASSUME.groups * ((M * 0.06 * 250) / 4096 / 2);
    const chunksM = Math.max(1, Math.ceil((M * bytesPerRow) / ASSUME.fanOutChunkBytes));
    const s3Gets = 2 + chunksM * 5 + 16 * (chunksM + 2) + chunksM + 16;
    const s3Puts = chunksM * (16 * 3 + 1) + 16 + 1 + 3 + 2 + 2;
    const transitions = 7 + 2 * ASSUME.groups * 3 + 6 + chunksM + 16;
    return {
      gbS,
      wru,
      rru,
      s3Gets,
      s3Puts,
      transitions,
      dollars:
        gbS * PRICE.lambdaGbS +
        wru * PRICE.ddbWrite +
        rru * PRICE.ddbRead +
        s3Gets * PRICE.s3Get +
        s3Puts * PRICE.s3Put +
        transitions * PRICE.sfnTransition,
    };
  };
  const c1 = cost('first');
  const c2 = cost('steady');
  print('');
  print('## Costs per 1,000,000 contacts and nightly run (us-east-1 list prices)');
  print('');
  table(
    ['item', 'first load', 'steady night (2 % change)', 'price'],
    [
      [
        'Lambda GB-s (ingest 1.769 GB, sync 1 GB; sync waits on the platform)',
        fmt(c1.gbS),
        fmt(c2.gbS),
        '$0.0000133334 / GB-s',
      ],
      ['DynamoDB write request units', fmt(c1.wru), fmt(c2.wru), '$0.625 / million'],
      ['DynamoDB read request units', fmt(c1.rru), fmt(c2.rru), '$0.125 / million'],
      [
        'S3 GET / PUT requests (fan-out path)',
        `${fmt(c1.s3Gets)} / ${fmt(c1.s3Puts)}`,
        `${fmt(c2.s3Gets)} / ${fmt(c2.s3Puts)}`,
        '$0.0004 / $0.005 per 1,000',
      ],
      ['Step Functions state transitions', fmt(c1.transitions), fmt(c2.transitions), '$0.025 / 1,000'],
      ['total', `$${c1.dollars.toFixed(2)}`, `$${c2.dollars.toFixed(2)}`, ''],
    ],
  );
  print('');
  print(
    `Arithmetic: Lambda = (rows ÷ ${fmt(chunkRate)} + records ÷ ${fmt(Math.min(applyRate, writeRatePerWorker))} + bytes ÷ ${fmt(scanRate)} MB/s) × 1.769 GB + (people ÷ ${fmt(removeRate)} + people ÷ ${fmt(addRate)} + batches × ${ASSUME.platformCallS} s) × 1 GB; writes = changed contacts × ${contactWcu} + synced changes × 1 + blocks; reads = fingerprints (1 × ${fmt(itemBytes)} B per contact) + 2 sync passes over contacts (1.25 items each) and synced members + the block index per shard group, ½ RRU per 4 KB.`,
  );

  // ---- local ---------------------------------------------------------------------------------------------------
  if (local) {
    print('');
    print('## `audience-sync local` at 1,000,000 contacts (embedded s3rver and dynalite on disk, in one process)');
    print('');
    print(
      `${fmt(local.people)} rows ingested and synced (destinations dry) in ${fmt(local.seconds)} s; peak RSS ${local.maxRssMB} MB (${local.maxRssMB <= TARGET_RSS_MB ? 'within' : 'ABOVE'} ${TARGET_RSS_MB} MB; heap not capped).`,
    );
  }

  // ---- fan-out tests --------------------------------------------------------------------------------------------
  print('');
  print('## Fan-out tests');
  print('');
  for (const l of tests.lines) print(`- ${l.trim()}`);
  print(`${tests.passed} passed, ${tests.failed} failed`);

  const results_ = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    heapCapMB: HEAP_CAP_MB,
    assumptions: ASSUME,
    prices: PRICE,
    cases: results,
    tests,
    totalSeconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(join(ROOT, 'bench', 'scale-results.json'), `${JSON.stringify(results_, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench', 'scale-results.md'), `${out.join('\n')}\n`);
  log(`wrote bench/scale-results.json and bench/scale-results.md; total ${results_.totalSeconds.toFixed(0)} s`);
  process.exitCode = tests.failed > 0 || syncs.some((r) => r.maxRssMB > TARGET_RSS_MB) ? 1 : 0;
}

main().catch((e) => {
  log(`scale bench crashed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
