/**
 * One case of the scale bench in a fresh process, so its peak RSS is its own (bench/scale.ts runs them).
 *   node --import tsx bench/scale-worker.ts <case> <people>
 * Cases: sync (runSync, one process, every shard), steps (the Step Functions steps, group by group, timed),
 * first-load (runSync against an empty synced state), ingest-chunk (a chunk worker's read + map + hash + stage),
 * apply-shard (a shard worker's stage + apply against the synthetic store), split (the plan's boundary scan).
 * Prints one JSON line on stdout.
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runLocal } from '../bin/local/run-local';
import { parseAudienceConfig } from '../functions/adapters/config-file';
import { fileStaging } from '../functions/adapters/file-staging';
import { memoryLogger } from '../functions/adapters/logger';
import { CompactIndex } from '../functions/core/compact-index';
import { apply, emptyReport, type OpenedEntry, RowReader, Stager } from '../functions/core/ingest';
import type { StagedRecord } from '../functions/core/ingest-rows';
import { Lease } from '../functions/core/lease';
import { shardOf } from '../functions/core/model';
import type { AudienceRef, BatchMember, Clock, Destination } from '../functions/core/ports';
import { runSync } from '../functions/core/sync';
import { decideStep, finishStep, groupStep, planStep } from '../functions/core/sync-steps';
import { PLATFORMS } from '../functions/platforms/registry';
import { readExport } from '../functions/reading';
import { findChunks } from '../functions/reading/split';
import { KLAVIYO_HEADER, klaviyoExport } from './scale-data';
import { SyntheticStore } from './synthetic-store';

const [, , kase = 'sync', peopleArg = '1000000'] = process.argv;
const people = Number(peopleArg);
const log = (s: string) => process.stderr.write(`  [${kase} ${people}] ${s}\n`);

/** A destination that counts what it is sent (no platform, no latency: the engine's own throughput). */
class CountingDestination implements Destination {
  readonly maxBatchSize = 10_000;
  added = 0;
  removed = 0;
  batches = 0;
  constructor(readonly platform: string) {}
  async ensureAudience(spec: { name: string }) {
    return { ref: { id: `aud-${spec.name}`, name: spec.name }, created: false };
  }
  async add(_a: AudienceRef, batch: BatchMember[]) {
    this.added += batch.length;
    this.batches++;
    return { received: batch.length, invalid: 0 };
  }
  async remove(_a: AudienceRef, batch: BatchMember[]) {
    this.removed += batch.length;
    this.batches++;
    return { received: batch.length, invalid: 0 };
  }
}

export const SCALE_RAW_CONFIG = {
  version: 1,
  destinations: {
    'meta-main': { platform: 'meta', adAccountId: 'act_1', replaceEveryDays: 0 },
    'google-ads': { platform: 'google', operatingAccountId: '123-456-7890', replaceEveryDays: 0 },
  },
  segments: [
    {
      id: 'subscribers',
      where: { consent: 'subscribed' },
      destinations: [
        { destination: 'meta-main', audienceName: 'Subscribers', minSize: 1 },
        { destination: 'google-ads', audienceName: 'Subscribers G', minSize: 1 },
      ],
    },
  ],
};
export const SCALE_CONFIG = parseAudienceConfig(SCALE_RAW_CONFIG);

const clock: Clock = { now: () => new Date(), sleep: async () => undefined };
const mb = (b: number) => Math.round(b / 1024 / 1024);
let sampledPeak = 0;
const timer = setInterval(() => {
  sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
}, 50);
timer.unref();

function done(result: Record<string, unknown>) {
  const ru = process.resourceUsage();
  const out = {
    case: kase,
    people,
    maxRssMB: Math.round(ru.maxRSS / 1024),
    sampledPeakRssMB: mb(sampledPeak),
    cpuSeconds: (ru.userCPUTime + ru.systemCPUTime) / 1e6,
    ...result,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function syncDeps(store: SyntheticStore) {
  const destinations = {
    'meta-main': new CountingDestination('meta'),
    'google-ads': new CountingDestination('google'),
  };
  return {
    deps: { config: SCALE_CONFIG, store, destinations, clock, logger: memoryLogger(), platforms: PLATFORMS },
    destinations,
  };
}

/** CPU seconds of this process so far (a Lambda worker has its vCPU to itself; this machine may be shared). */
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const sent = (d: Record<string, CountingDestination>) => ({
  added: Object.values(d).reduce((n, x) => n + x.added, 0),
  removed: Object.values(d).reduce((n, x) => n + x.removed, 0),
  batches: Object.values(d).reduce((n, x) => n + x.batches, 0),
});

async function main() {
  if (kase === 'sync' || kase === 'first-load') {
    const store = new SyntheticStore({ people, synced: kase === 'sync' ? 'steady' : 'empty' });
    const { deps, destinations } = syncDeps(store);
    const t0 = performance.now();
    const report = await runSync(deps, { runId: 'bench' });
    const seconds = (performance.now() - t0) / 1000;
    log(`${seconds.toFixed(1)} s`);
    return done({
      seconds,
      status: report.audiences.map((a) => a.status),
      ...sent(destinations),
      writes: store.writes,
      itemBytes: store.writes.bytesRead / Math.max(1, store.writes.itemReads),
    });
  }
  if (kase === 'steps') {
    const store = new SyntheticStore({ people, synced: 'steady' });
    const { deps, destinations } = syncDeps(store);
    const stepDeps = { ...deps, runState: store };
    const t0 = performance.now();
    const plan = await planStep(stepDeps, { runId: 'bench', iteration: 1 });
    if (plan.next !== 'shards') throw new Error(`plan said ${plan.next}`);
    const groups = plan.state.groups;
    // CPU seconds per group: this machine may be shared, and a Lambda worker has its vCPU to itself.
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const timed = async (pass: 'remove' | 'add') => {
      const out: number[] = [];
      for (let g = 0; g < groups.length; g++) {
        const c0 = cpu();
        await groupStep(stepDeps, pass, { runId: 'bench', iteration: 1, group: g });
        out.push(cpu() - c0);
      }
      return out;
    };
    const remove = await timed('remove');
    await decideStep(stepDeps, { runId: 'bench', iteration: 1 });
    const add = await timed('add');
    const f0 = cpu();
    const report = await finishStep(stepDeps, { runId: 'bench', iteration: 1 });
    const finish = cpu() - f0;
    const seconds = (performance.now() - t0) / 1000;
    const perGroup = people / groups.length;
    return done({
      seconds,
      groups: groups.length,
      peoplePerGroup: Math.round(perGroup),
      removeGroupCpuSeconds: remove,
      addGroupCpuSeconds: add,
      finishCpuSeconds: finish,
      removePeoplePerSecond: people / remove.reduce((a, b) => a + b, 0),
      addPeoplePerSecond: people / add.reduce((a, b) => a + b, 0),
      status: report.audiences.map((a) => a.status),
      ...sent(destinations),
      writes: store.writes,
    });
  }
  if (kase === 'ingest-chunk') {
    // A chunk worker: the product's reader, mapper and hashing over a Klaviyo export, records staged by cid shard.
    const text = klaviyoExport(people);
    const bytes = Buffer.from(text, 'utf8');
    const reader = new RowReader(
      {
        list: 'crm',
        kind: 'snapshot',
        source: 'bench',
        exportedAt: '2026-11-19T00:00:00.000Z',
        exportedAtFrom: 'metadata',
      },
      SCALE_CONFIG,
      { platforms: PLATFORMS, logger: memoryLogger(), now: () => new Date('2026-11-20T00:00:00Z') },
      { erased: new CompactIndex(16), suppressed: new CompactIndex(16) },
      'ingested',
    );
    const dir = mkdtempSync(join(tmpdir(), 'scale-chunk-'));
    const files = new Map<string, ReturnType<typeof createWriteStream>>();
    const t0 = performance.now();
    const c0 = cpuNow();
    const source = {
      name: 'chunk.csv',
      open: async () =>
        Readable.from(
          (function* () {
            for (let i = 0; i < bytes.length; i += 64 * 1024) yield bytes.subarray(i, i + 64 * 1024);
          })(),
        ),
    };
    let staged = 0;
    for await (const entry of readExport(source)) {
      const opened: OpenedEntry = await reader.openEntry(entry);
      const handle = async (ev: Parameters<RowReader['row']>[1]) => {
        const r = await reader.row(opened, ev);
        if (!r) return;
        const s = shardOf(r.cid);
        let f = files.get(s);
        if (!f) {
          f = createWriteStream(join(dir, `shard-${s}.jsonl`));
          files.set(s, f);
        }
        if (!f.write(`${JSON.stringify({ c: r.cid, r })}\n`))
          await new Promise<void>((ok) => f!.once('drain', () => ok()));
        staged++;
      };
      for (const ev of opened.sample) await handle(ev);
      for (let n = await opened.rest.next(); !n.done; n = await opened.rest.next()) await handle(n.value);
    }
    await Promise.all([...files.values()].map((f) => new Promise<void>((ok) => f.end(() => ok()))));
    const seconds = (performance.now() - t0) / 1000;
    const measuredCpu = cpuNow() - c0;
    rmSync(dir, { recursive: true, force: true });
    return done({
      seconds,
      measuredCpu,
      rowsPerCpuSecond: reader.report.rows / measuredCpu,
      rows: reader.report.rows,
      accepted: reader.report.accepted,
      staged,
      bytes: bytes.length,
      bytesPerRow: bytes.length / people,
      rowsPerSecond: reader.report.rows / seconds,
      rejections: reader.report.rejections,
    });
  }
  if (kase === 'apply-shard') {
    // A shard worker's CPU: the whole-file stager and apply over its staged records (writes counted, not sent).
    const store = new SyntheticStore({ people: 1, synced: 'empty' });
    const input = {
      list: 'crm',
      kind: 'snapshot' as const,
      source: 'bench',
      exportedAt: '2026-11-19T00:00:00.000Z',
      exportedAtFrom: 'metadata' as const,
    };
    const records: StagedRecord[] = [];
    const gen = new SyntheticStore({ people, synced: 'empty' });
    for (let i = 0; i < people; i++) {
      const { list: _l, seenAt: _s, source: _src, ...r } = gen.record(i, 'crm');
      records.push(r);
    }
    const lines = records.map((r) => JSON.stringify({ c: r.cid, r }));
    records.length = 0;
    const report = emptyReport(input, 'ingested');
    const staging = await fileStaging()();
    const lease = new Lease(store, 'ingest#crm', 'bench', () => new Date());
    await lease.tryAcquire();
    const t0 = performance.now();
    const c0 = cpuNow();
    const stager = new Stager(
      'snapshot',
      report,
      new CompactIndex(),
      new CompactIndex(16),
      new CompactIndex(16),
      staging,
    );
    for (const l of lines) await stager.stage((JSON.parse(l) as { r: StagedRecord }).r);
    await apply(input, report, {
      store,
      staging,
      lease,
      deps: { now: () => new Date() },
      existing: new CompactIndex(),
      untrustedAfter: new Date(Date.now() + 5 * 60_000).toISOString(),
      seen: stager.seen,
      duplicates: stager.duplicates,
      ownOptOuts: new CompactIndex(16),
      parseDamaged: 0,
      shard: { id: '0', marker: { source: 'bench', startedAt: new Date().toISOString(), owner: 'bench' } },
    });
    const seconds = (performance.now() - t0) / 1000;
    const measuredCpu = cpuNow() - c0;
    await staging.dispose();
    const itemBytes = lines.slice(0, 1000).reduce((n, l) => n + l.length, 0) / Math.min(1000, lines.length);
    return done({
      seconds,
      measuredCpu,
      written: report.written,
      recordsPerCpuSecond: report.written / measuredCpu,
      itemBytes,
    });
  }
  if (kase === 'split') {
    const text = klaviyoExport(people);
    const bytes = Buffer.from(text, 'utf8');
    const t0 = performance.now();
    const c0 = cpuNow();
    const out = findChunks(bytes, {
      delimiter: ',',
      headerLine: 1,
      expectedFields: KLAVIYO_HEADER.split(',').length,
      maxRecordChars: 1 << 20,
      maxRecordLines: 100,
      chunkBytes: 64 * 1024 * 1024,
      bomLength: 0,
    });
    const seconds = (performance.now() - t0) / 1000;
    const measuredCpu = cpuNow() - c0;
    if ('whole' in out) throw new Error(out.whole);
    return done({
      seconds,
      measuredCpu,
      bytes: bytes.length,
      mbPerCpuSecond: bytes.length / 1e6 / measuredCpu,
      chunks: out.plan.chunks.length,
    });
  }
  if (kase === 'local') {
    // `audience-sync local` as a person runs it on a laptop: embedded s3rver and dynalite (on disk, in this process),
    // the real ingest and sync handlers, destinations dry (their requests written to files).
    const root = mkdtempSync(join(tmpdir(), 'scale-local-'));
    const input = join(root, 'in');
    mkdirSync(join(input, 'crm'), { recursive: true });
    writeFileSync(join(input, 'crm', 'profiles.csv'), klaviyoExport(people));
    const config = join(root, 'audiences.json');
    writeFileSync(config, JSON.stringify(SCALE_RAW_CONFIG));
    const t0 = performance.now();
    const result = await runLocal({
      input,
      out: join(root, 'out'),
      config,
      state: join(root, 'state'),
      print: () => undefined,
      env: {},
    });
    const seconds = (performance.now() - t0) / 1000;
    rmSync(root, { recursive: true, force: true });
    return done({
      seconds,
      ingested: result.ingested.map((i) => i.outcome.kind),
      audiences: result.sync.audiences.map((a) => ({ status: a.status, added: a.added })),
    });
  }
  throw new Error(`unknown case ${kase}`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
