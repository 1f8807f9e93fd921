/**
 * One benchmark case in a fresh process, so peak RSS belongs to this case alone.
 *   node --import tsx bench/worker.ts <case> <file>
 * Cases: parse-only (csv-parse 7, rows as arrays), naive (csv-parse + trim/lowercase + libphonenumber + createHash
 * ×4), read (readExport, rows in batches), read-rows (readExport, entry.rows one by one), validate (the product's ingestExport without
 * a store, computing every Meta key), validate-2 (the same on two threads: the product's RowPool, one worker and this thread sharing the rows),
 * ingest-null (ingest into a store that keeps nothing, staging on disk: the ingest's own compute),
 * store (ingest into dynalite, re-ingest, same-version, sync, re-sync).
 * Prints one JSON line on stdout: { phases: [...], maxRssMB, baselineRssMB, sidecarMaxRssMB? }. Progress goes to stderr.
 */

import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseAudienceConfig as parseConfig } from '../functions/adapters/config-file';
import { createLogger } from '../functions/adapters/logger';
import { type IngestInput, type IngestReport, ingestExport } from '../functions/core/ingest';
import type { ContactStore } from '../functions/core/ports';
import { PLATFORMS } from '../functions/platforms/registry';
import { readExport } from '../functions/reading';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// bench/run.ts runs this file bundled (bench/.data/build/): paths of the other bench files come from the environment.
const sidecarScript = process.env.BENCH_SIDECAR ?? fileURLToPath(new URL('./aws-sidecar.ts', import.meta.url));

const [, , kase, fileArg] = process.argv;
if (!kase || !fileArg) {
  process.stderr.write('usage: worker.ts <read|validate|store> <file>\n');
  process.exit(2);
}
const file: string = fileArg;

const MB = 1024 * 1024;
/** Bytes per read of the file (createReadStream's default is 64 KiB; S3 bodies arrive in 16–64 KiB chunks). */
const HWM = Number(process.env.BENCH_HWM ?? 64 * 1024);
let sampledPeak = 0;
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss > sampledPeak) sampledPeak = rss;
};
const timer = setInterval(sample, 100);
timer.unref();

export interface Phase {
  name: string;
  rows: number;
  seconds: number;
  /** Peak of the 100 ms RSS samples taken during this phase (MB). */
  sampledPeakRssMB: number;
  /** CPU time (user + system) this process spent in the phase, seconds. */
  cpuSeconds: number;
  extra?: Record<string, unknown>;
}
const phases: Phase[] = [];

async function phase(name: string, fn: () => Promise<{ rows: number; extra?: Record<string, unknown> }>) {
  sample();
  sampledPeak = process.memoryUsage.rss();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { rows, extra } = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  sample();
  phases.push({
    name,
    rows,
    seconds,
    sampledPeakRssMB: sampledPeak / MB,
    cpuSeconds: (c.user + c.system) / 1e6,
    extra,
  });
  process.stderr.write(
    `    ${name}: ${rows} rows in ${seconds.toFixed(2)} s (${((c.user + c.system) / 1e6).toFixed(2)} s CPU)\n`,
  );
}

const source = () => ({
  name: basename(file),
  size: statSync(file).size,
  open: async () => createReadStream(file, { highWaterMark: HWM }),
});

// One Meta destination: validate computes and hashes every Meta key, as the baseline defines it.
const config = parseConfig({ version: 1, destinations: { meta: { platform: 'meta' } } });
const logger = createLogger({}, () => {});
const fixedNow = new Date('2025-06-02T03:00:00Z');

function input(version: string, exportedAt: string): IngestInput {
  return {
    list: 'bench',
    kind: 'snapshot',
    source: `incoming/bench/${basename(file)}#${version}`,
    exportedAt,
    exportedAtFrom: 'metadata',
    entries: readExport(source()),
  };
}

const summary = (r: IngestReport) => ({
  status: r.status,
  format: r.format,
  accepted: r.accepted,
  rejected: r.rejected,
  rejections: r.rejections,
  written: r.written,
  unchanged: r.unchanged,
  removed: r.removed,
  phoneCoverage: r.keyCoverage.meta?.PHONE,
});

const baselineRssMB = process.memoryUsage.rss() / MB;
let sidecarMaxRssMB: number | undefined;

async function startSidecar(): Promise<{ env: Record<string, string>; stop(): Promise<number | undefined> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', sidecarScript, 'bench-contacts'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new Error('aws sidecar exited before it was ready');
  const { env } = JSON.parse(first.value) as { env: Record<string, string> };
  return {
    env,
    async stop() {
      child.stdin!.end();
      const last = await it.next();
      if (last.done) return undefined;
      const r = JSON.parse(last.value) as { maxRssMB: number; cpuSeconds: number };
      process.stderr.write(
        `    aws sidecar: ${r.cpuSeconds.toFixed(1)} s CPU in total, peak RSS ${r.maxRssMB.toFixed(0)} MB\n`,
      );
      return r.maxRssMB;
    },
  };
}

if (kase === 'parse-only') {
  // The baseline: csv-parse parsing the bytes into arrays, nothing else (same quote options as the old reader).
  const { parse } = await import('csv-parse');
  await phase('parse-only', async () => {
    let rows = 0;
    const parser = createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(
      parse({ relax_quotes: true, relax_column_count: true, from_line: 2 }),
    );
    for await (const _ of parser as AsyncIterable<string[]>) rows++;
    return { rows };
  });
} else if (kase === 'naive') {
  // What an engineer writes in an afternoon: csv-parse, trim/lowercase, libphonenumber's E.164, createHash ×4.
  const { parse } = await import('csv-parse');
  const { createHash } = await import('node:crypto');
  const { parsePhoneNumberFromString } = await import('libphonenumber-js');
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  await phase('naive', async () => {
    let rows = 0;
    let hashed = 0;
    let header: string[] | undefined;
    const col = (names: string[]) => names.map((n) => header!.indexOf(n));
    let ix: number[] = [];
    const parser = createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(
      parse({ relax_quotes: true, relax_column_count: true }),
    );
    for await (const r of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = r;
        const shopify = col(['Email', 'Phone', 'First Name', 'Last Name', 'Default Address Country Code']);
        ix = shopify[0]! >= 0 ? shopify : col(['email', 'phone', 'fn', 'ln', 'country']);
        continue;
      }
      rows++;
      const [e, p, f, l, c] = ix.map((i) => (r[i] ?? '').trim());
      const out: string[] = [];
      if (e) out.push(sha(e.toLowerCase()));
      if (p) {
        const n = parsePhoneNumberFromString(p.replace(/^'/, ''), { defaultCountry: (c || undefined) as never });
        if (n) out.push(sha(n.number.slice(1)));
      }
      if (f) out.push(sha(f.toLowerCase()));
      if (l) out.push(sha(l.toLowerCase()));
      hashed += out.length;
    }
    return { rows, extra: { hashed } };
  });
} else if (kase === 'read' || kase === 'read-rows') {
  await phase(kase, async () => {
    let rows = 0;
    let errors = 0;
    for await (const entry of readExport(source())) {
      if (kase === 'read') {
        for await (const batch of entry.batches())
          for (const ev of batch) {
            if (ev.kind === 'row') rows++;
            else errors++;
          }
      } else {
        for await (const ev of entry.rows) {
          if (ev.kind === 'row') rows++;
          else errors++;
        }
      }
    }
    return { rows: rows + errors, extra: { errors } };
  });
} else if (kase === 'validate' || kase === 'validate-2') {
  // validate-2: the product's row pool on two cores (one worker and this thread), started from the bundled processor as a deployment
  // starts it (the pool is made before the phase: a Lambda keeps it across invocations).
  const { createRowPool } = await import('../functions/app/row-pool');
  const rowPool =
    kase === 'validate-2'
      ? createRowPool({
          // Two cores: one worker, and this thread reads rows too while it waits (the product's default there).
          threads: Number(process.env.BENCH_THREADS ?? 1),
          helpInline: process.env.BENCH_HELP !== '0',
          module: process.env.BENCH_ROW_PROCESSOR ? new URL(process.env.BENCH_ROW_PROCESSOR) : undefined,
          workerScript: process.env.BENCH_POOL_WORKER ? new URL(process.env.BENCH_POOL_WORKER) : undefined,
        })
      : undefined;
  await phase(kase, async () => {
    const r = await ingestExport(input('v1', '2025-06-01T00:00:00.000Z'), config, {
      logger,
      now: () => fixedNow,
      platforms: PLATFORMS,
      rowPool,
    });
    return { rows: r.rows, extra: { ...summary(r), threads: rowPool?.threads ?? 0 } };
  });
  await rowPool?.close();
} else if (kase === 'ingest-null') {
  // The ingest's own compute per row: the file ingested into a store that keeps nothing (an empty list: no snapshot,
  // no blocks, no fingerprints; writes are counted, not kept), staging in a temporary directory as the Lambda stages
  // in /tmp. Against validate on the same file, what is left is what ingest adds before any write leaves the process.
  const { NullStore } = await import('./null-store');
  const { fileStaging } = await import('../functions/adapters/file-staging');
  const store = new NullStore();
  const dir = mkdtempSync(join(tmpdir(), 'bench-staging-'));
  try {
    await phase('ingest-null', async () => {
      const r = await ingestExport(input('v1', '2025-06-01T00:00:00.000Z'), config, {
        store,
        logger,
        now: () => fixedNow,
        platforms: PLATFORMS,
        staging: fileStaging(dir),
      });
      return { rows: r.rows, extra: { ...summary(r), contactsWritten: store.writes.contacts } };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else if (kase === 'store') {
  // dynalite (in memory, via startEmbeddedAws) runs in a sidecar process: this process's RSS and CPU are the
  // ingest's own, as against the real DynamoDB. The sidecar's peak RSS is reported separately.
  const sidecar = await startSidecar();
  Object.assign(process.env, sidecar.env);
  const { DynamoContactStore } = await import('../functions/adapters/dynamo-store');
  // The client the functions build (functions/adapters/aws-clients.ts), as deployed.
  const { dynamoClient } = await import('../functions/adapters/aws-clients');
  const client = dynamoClient();
  const store: ContactStore = new DynamoContactStore(client, sidecar.env.TABLE_NAME!);
  const deps = { store, logger, now: () => fixedNow, platforms: PLATFORMS };
  try {
    await phase('ingest', async () => {
      const r = await ingestExport(input('v1', '2025-06-01T00:00:00.000Z'), config, deps);
      return { rows: r.rows, extra: summary(r) };
    });
    // The same bytes uploaded again (new object version, a day later): every contact is unchanged.
    await phase('re-ingest', async () => {
      const r = await ingestExport(input('v2', '2025-06-02T00:00:00.000Z'), config, deps);
      return { rows: r.rows, extra: summary(r) };
    });
    // The very same object version again: short-circuits on the snapshot's source.
    await phase('same-version', async () => {
      const r = await ingestExport(input('v2', '2025-06-02T00:00:00.000Z'), config, deps);
      return { rows: r.rows, extra: summary(r) };
    });
    // Sync to a local Graph API server through the real Meta adapter (the server runs in this process, so its
    // CPU and memory are counted here too): first every member is added, then nothing changed.
    const { startMetaGraphServer } = await import('../test/fakes/meta-graph-server');
    const { MetaDestination } = await import('../functions/platforms/meta/adapter');
    const { runSync } = await import('../functions/core/sync');
    const fake = await startMetaGraphServer({ quotaPerWindow: 10_000_000 });
    const syncConfig = parseConfig({
      version: 1,
      consent: { UK: 'not_opted_out', EEA: 'not_opted_out', US: 'not_opted_out', UNKNOWN: 'not_opted_out' },
      destinations: { meta: { platform: 'meta', adAccountId: 'act_1', replaceEveryDays: 0 } },
      segments: [{ id: 'all', destinations: [{ destination: 'meta', audienceName: 'All', minSize: 1 }] }],
    });
    const syncDeps = {
      config: syncConfig,
      store,
      destinations: {
        meta: new MetaDestination({ accessToken: 'test-token', adAccountId: 'act_1', graphUrl: fake.baseUrl }),
      },
      clock: { now: () => new Date(), sleep: async () => {} },
      logger,
      platforms: PLATFORMS,
    };
    try {
      for (const name of ['sync', 're-sync']) {
        await phase(name, async () => {
          const r = await runSync(syncDeps);
          const a = r.audiences[0]!;
          return {
            rows: a.desired,
            extra: { added: a.added, removed: a.removed, batches: a.batches, status: a.status },
          };
        });
      }
    } finally {
      await fake.close();
    }
  } finally {
    client.destroy();
    sidecarMaxRssMB = await sidecar.stop();
  }
} else {
  process.stderr.write(`unknown case ${kase}\n`);
  process.exit(2);
}

clearInterval(timer);
// Worker threads share this process: maxRSS and the CPU counted per phase include them.
process.stdout.write(
  `${JSON.stringify({ case: kase, file, phases, baselineRssMB, maxRssMB: process.resourceUsage().maxRSS / 1024, sidecarMaxRssMB })}\n`,
);
