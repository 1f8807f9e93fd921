/**
 * `audience-sync local`: the whole pipeline on this machine. Uploads each input file to incoming/<list-id>/ of an
 * embedded S3, feeds the resulting S3 events through the real ingest handler, then runs the real sync.
 * Without Meta credentials, destinations run dry and write what they would send under OUT/dry-run/.
 */
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createLogger } from '../../functions/adapters/logger';
import { RunMetrics } from '../../functions/adapters/metrics';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import { type ClosableRowPool, createRowPool, POOL_MIN_BYTES, rowThreads } from '../../functions/app/row-pool';
import { buildRuntime, parseAsOf, s3Client } from '../../functions/app/runtime';
import { syncAndReport } from '../../functions/app/sync-run';
import { LEASE_MS } from '../../functions/core/lease';
import { describeExclusion } from '../../functions/core/segments';
import type { SyncReport } from '../../functions/core/sync';
import { handleIngestEvent } from '../../functions/ingest';
import { CliError } from '../cli-errors';
import type { TerminalProgress } from '../progress';
import { asSqsEvent, startEmbeddedAws } from './embedded';

export interface LocalOptions {
  input: string;
  out: string;
  config: string;
  state: string;
  /** Run as of this time (ISO): date rules and ages are evaluated then, not today (the demo pins the samples' date). */
  asOf?: string;
  /** Print lines (stdout by default). */
  print?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Draws progress while files are read and batches sent (the CLI on a terminal only). */
  progress?: TerminalProgress;
}

export interface LocalResult {
  ingested: Array<{ key: string; outcome: ObjectOutcome }>;
  sync: SyncReport;
  dryRun: boolean;
}

const LIST_ID = /^[a-z0-9][a-z0-9-_]{0,62}$/;
/** A folder or file name as a list id: accents dropped, lowercase, anything but letters, digits, - and _ a dash. */
const slug = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9-_]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 63)
    .replace(/-+$/, '') || 'list';

export interface LocalInput {
  list: string;
  path: string;
  /** The object key, unencoded (S3 keys are any UTF-8): incoming/<list>/<path under the list folder>. */
  key: string;
}

/**
 * Files under DIR/<folder>/ belong to the list named after the folder; a file directly in DIR is a list named after
 * the file. Two folders or files that map to one list id (`News Letter/` and `news-letter/`) are an error naming
 * both: one of them would otherwise silently replace the other's snapshot.
 */
export function discoverInputs(dir: string): LocalInput[] {
  if (!existsSync(dir))
    throw new CliError(
      `input folder ${dir} does not exist; pass --input <dir> with exports as <dir>/<list-id>/<file> or <dir>/<file>`,
    );
  if (!statSync(dir).isDirectory())
    throw new CliError(`--input ${dir} is a file, not a folder; pass the folder that holds the exports`);
  const out: LocalInput[] = [];
  const sources = new Map<string, string>();
  const claim = (list: string, source: string) => {
    const other = sources.get(list);
    if (other)
      throw new CliError(
        `input ${other} and ${source} both map to list "${list}"; rename one (list ids are lowercase letters, digits, - and _)`,
      );
    sources.set(list, source);
  };
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name.startsWith('.') || /\.md$/i.test(name)) continue;
    if (statSync(p).isDirectory()) {
      const list = LIST_ID.test(name) ? name : slug(name);
      claim(list, `folder "${name}"`);
      const walk = (d: string) => {
        for (const f of readdirSync(d).sort()) {
          const fp = join(d, f);
          if (f.startsWith('.') || /\.md$/i.test(f)) continue;
          if (statSync(fp).isDirectory()) walk(fp);
          else out.push({ list, path: fp, key: `incoming/${list}/${relative(p, fp).split(sep).join('/')}` });
        }
      };
      walk(p);
    } else {
      const list = slug(name.replace(/\.[^.]+$/, ''));
      claim(list, `file "${name}"`);
      out.push({ list, path: p, key: `incoming/${list}/${name}` });
    }
  }
  return out;
}

export async function runLocal(opts: LocalOptions): Promise<LocalResult> {
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const env = opts.env ?? process.env;
  // Before the state is opened: a bad input folder changes nothing.
  const inputs = discoverInputs(opts.input);
  const aws = await startEmbeddedAws(opts.state);
  mkdirSync(join(opts.out, 'logs'), { recursive: true });
  const logFile = createWriteStream(join(opts.out, 'logs', 'local.jsonl'), { flags: 'a' });
  let rowPool: ClosableRowPool | undefined;
  try {
    const dryRunDir = join(opts.out, 'dry-run');
    rmSync(dryRunDir, { recursive: true, force: true });
    const built = buildRuntime(
      { ...process.env, AUDIENCE_CONFIG_FILE: opts.config },
      createLogger({ run: 'local' }, (l) => logFile.write(`${l}\n`)),
      parseAsOf(opts.asOf),
      // The EMF lines the functions would print go to the run's log, beside its other lines.
      new RunMetrics((l) => logFile.write(`${l}\n`)),
    );
    const { progress } = opts;
    // Big inputs are read on every core (worker threads and this one), as the ingest function reads on two vCPUs.
    const inputBytes = inputs.reduce((n, f) => n + statSync(f.path).size, 0);
    rowPool = inputBytes >= POOL_MIN_BYTES ? createRowPool({ threads: rowThreads(env) }) : undefined;
    built.rowPool = rowPool;
    const rt = progress
      ? {
          ...built,
          store: progress.store(built.store),
          clock: progress.clock(built.clock),
          read: (source: { name: string; open(): Promise<import('node:stream').Readable> }, size?: number) =>
            progress.read(source.name, source, size),
        }
      : built;
    const s3 = s3Client();
    for (const f of inputs) {
      await s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: f.key, Body: readFileSync(f.path) }));
    }
    const events = aws.drainEvents().filter((e) => e.eventName.startsWith('ObjectCreated'));
    const ingested: LocalResult['ingested'] = [];
    const res = await handleIngestEvent(asSqsEvent(events), rt, (key, outcome) => ingested.push({ key, outcome }));
    if (res.batchItemFailures.length)
      print(`! ${res.batchItemFailures.length} file(s) failed to ingest; see ${join(opts.out, 'logs', 'local.jsonl')}`);

    // Destinations with credentials in the environment send; the others run dry into OUT/dry-run. The run id is
    // this process's own, so a rerun never mistakes the lease of a run that was killed for its own.
    const syncOnce = () =>
      syncAndReport(
        rt,
        { ...env, DRY_RUN_DIR: dryRunDir },
        { runId: `local-${new Date().toISOString()}-${process.pid}` },
        progress && ((id, d) => progress.destination(id, d)),
      );
    let { report, reportKey, dryRun } = await syncOnce();
    for (let attempt = 0; attempt < 3 && report.alerts.some((a) => a.kind === 'busy'); attempt++) {
      // This run holds the state folder, so whoever holds the sync lock is a run that is gone (killed, crashed): its
      // lease ends within a minute of its last heartbeat, and then this run takes over from its last confirmed batch.
      const holder = await rt.store.lockHolder('sync');
      const waitMs = holder ? Math.min(LEASE_MS, Math.max(0, Date.parse(holder.until) - Date.now())) + 1_000 : 1_000;
      print(
        `! the sync lock is held by ${holder?.owner ?? 'another run'}, a run that is gone (it left this state folder without finishing); taking over when its lease ends, in ${Math.ceil(waitMs / 1000)} s`,
      );
      await new Promise((r) => setTimeout(r, waitMs));
      ({ report, reportKey, dryRun } = await syncOnce());
    }
    progress?.stop();
    // Copy this run's reports out of the embedded bucket so they can be opened.
    const reportKeys = [
      ...ingested.flatMap((i) => ('reportKey' in i.outcome ? [i.outcome.reportKey] : [])),
      reportKey,
    ].flatMap((k) => [k, k.replace(/\.json$/, '.html'), k.replace(/\.json$/, '.rejected.csv')]);
    for (const key of reportKeys) {
      const obj = await s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key })).catch((e: unknown) => {
        // Not every report has a page or a rejected-rows CSV (erasures, files without rejections).
        if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
        throw e;
      });
      if (!obj) continue;
      const target = join(opts.out, key);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, await obj.Body!.transformToString());
    }
    s3.destroy();
    const target = dryRun.length
      ? `dry run (${dryRun.join(', ')}) → ${dryRunDir}${dryRun.length < Object.keys(rt.config.destinations).length ? '; the others live' : ''}`
      : 'live';
    printSummary(print, ingested, report, target, opts);
    return { ingested, sync: report, dryRun: dryRun.length > 0 };
  } finally {
    opts.progress?.stop();
    await rowPool?.close();
    await new Promise((r) => logFile.end(r));
    await aws.close();
  }
}

function printSummary(
  print: (l: string) => void,
  ingested: LocalResult['ingested'],
  report: SyncReport,
  target: string,
  opts: LocalOptions,
) {
  print(
    `audience-sync local · state ${opts.state} · destinations: ${target}${opts.asOf ? ` · as of ${opts.asOf}` : ''}`,
  );
  print('');
  print('Lists');
  for (const { key, outcome } of ingested) {
    const file = basename(key);
    const list = key.split('/')[1];
    if (outcome.kind === 'ingested') {
      const r = outcome.report;
      const reasons = Object.entries(r.rejections)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      const extra =
        r.status === 'ingested'
          ? `written ${r.written}, unchanged ${r.unchanged}, left ${r.removed}`
          : r.status.replace('_', ' ');
      print(
        `  ${list} · ${file} [${r.format ?? '?'}]: rows ${r.rows}, accepted ${r.accepted}, rejected ${r.rejected}${reasons ? ` (${reasons})` : ''} · ${extra}`,
      );
    } else if (outcome.kind === 'quarantined') print(`  ${list} · ${file}: QUARANTINED — ${outcome.reason}`);
    else if (outcome.kind === 'ignored') print(`  ${list} · ${file}: ignored — ${outcome.reason}`);
  }
  print('');
  print('Segments → audiences');
  for (const s of report.segments) {
    const excluded = Object.entries(s.excluded)
      .map(([k, v]) => `${describeExclusion(k)}: ${v}`)
      .join(', ');
    print(`  ${s.id}: matched ${s.matched}, eligible ${s.eligible}${excluded ? ` (excluded: ${excluded})` : ''}`);
    for (const a of report.audiences.filter((x) => x.segment === s.id)) {
      print(
        `    → ${a.destination} "${a.audienceName}": added ${a.added}, removed ${a.removed} · ${a.status}${a.message ? ` — ${a.message}` : ''}`,
      );
    }
  }
  for (const a of report.alerts) print(`! ${a.destination}: ${a.message}`);
  print('');
  print(`Reports: ${join(opts.out, 'reports')}  ·  logs: ${join(opts.out, 'logs', 'local.jsonl')}`);
}
