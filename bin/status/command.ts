/**
 * `audience-sync status` (local state, or `--cloud` against a deployed stack): per list the last snapshot and its
 * latest drops, per audience the last sync and the next scheduled one, what needs attention first. Exit 0 when
 * nothing needs a person, 4 when something does (README, "The CLI").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dynamoClient, s3Client } from '../../functions/adapters/aws-clients';
import { loadConfigFile } from '../../functions/adapters/config-file';
import { DynamoContactStore } from '../../functions/adapters/dynamo-store';
import { describeRejection, describeStatus, num } from '../../functions/app/report-words';
import { collectStatus, type StatusReport } from '../../functions/app/status';
import type { AudienceConfig } from '../../functions/core/config';
import { CliError, EXIT } from '../cli-errors';
import { startEmbeddedAws } from '../local/embedded';
import { paint } from '../tty';
import { resolveStack, scheduledRun } from './cloud';

export interface StatusOptions {
  config: string;
  configGiven: boolean;
  state: string;
  /** Where `local` copied its reports (local status links them there). */
  out: string;
  json?: boolean;
  cloud?: boolean;
  stack: string;
  table?: string;
  bucket?: string;
  schedule?: string;
  scheduleGroup?: string;
  print: (line: string) => void;
}

/** The config is optional for status: without one, audiences that never synced are simply not listed. */
function configFor(o: StatusOptions): AudienceConfig | undefined {
  if (existsSync(o.config)) return loadConfigFile(o.config);
  if (o.configGiven) throw new CliError(`config file ${o.config} does not exist; pass --config <file> or leave it out`);
  return undefined;
}

export async function runStatus(o: StatusOptions): Promise<number> {
  const config = configFor(o);
  const now = new Date();
  let report: StatusReport;
  if (o.cloud) {
    const places = await resolveStack(o);
    const client = dynamoClient();
    try {
      report = await collectStatus({
        store: new DynamoContactStore(client, places.table),
        config,
        now,
        where: { kind: 'cloud', stack: places.stack, table: places.table, bucket: places.bucket },
        nextRun: (last) => scheduledRun(places.schedule, now, last),
      });
    } finally {
      client.destroy();
    }
    if (places.bucket) await checkReports(report, places.bucket);
  } else {
    if (!existsSync(o.state))
      throw new CliError(
        `no local state in ${o.state}: run audience-sync local (or pass --state <dir>, or --cloud for the deployed stack)`,
      );
    const aws = await startEmbeddedAws(o.state);
    const client = dynamoClient();
    try {
      report = await collectStatus({
        store: new DynamoContactStore(client, aws.table),
        config,
        now,
        where: { kind: 'local', state: o.state, out: o.out },
        nextRun: async () => ({ note: 'nothing is scheduled locally; run audience-sync sync (or local)' }),
      });
    } finally {
      client.destroy();
      await aws.close();
    }
  }
  if (o.json) o.print(JSON.stringify({ ...report, exitCode: exitOf(report) }));
  else for (const line of formatStatus(report)) o.print(line);
  return exitOf(report);
}

const exitOf = (r: StatusReport) => (r.attention.length ? EXIT.attention : EXIT.ok);

/** Report links only to pages that exist: a page that was never written (an old run) is left out. */
async function checkReports(report: StatusReport, bucket: string) {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = s3Client();
  const exists = async (key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      () => true,
      () => false,
    );
  try {
    if (report.lastSync && !(await exists(report.lastSync.report))) report.lastSync.report = '';
    for (const l of report.lists)
      if (l.lastDrop?.report && !(await exists(l.lastDrop.report))) l.lastDrop.report = undefined;
  } finally {
    s3.destroy();
  }
}

const utc = (iso: string | undefined) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '—');

export function formatStatus(r: StatusReport): string[] {
  const out: string[] = [];
  const bang = paint('red', '!');
  const where =
    r.where.kind === 'local'
      ? `local state ${r.where.state}`
      : `stack ${r.where.stack ?? '—'} · table ${r.where.table}${r.where.bucket ? ` · bucket ${r.where.bucket}` : ''}`;
  const w = r.where;
  const bucketOf = (key: string) =>
    w.kind === 'cloud'
      ? w.bucket
        ? `s3://${w.bucket}/${key}`
        : key
      : w.out && existsSync(join(w.out, key))
        ? join(w.out, key)
        : key;
  out.push(paint('bold', `audience-sync status · ${where} · ${utc(r.at)}`));
  out.push('');
  if (r.attention.length) {
    out.push(paint('red', `Needs attention (${r.attention.length})`));
    for (const a of r.attention) out.push(`  ${bang} ${a}`);
  } else out.push(paint('green', 'Nothing needs attention.'));
  out.push('');
  out.push(paint('bold', 'Lists'));
  if (!r.lists.length) out.push('  none yet: drop an export under incoming/<list-id>/');
  for (const l of r.lists) {
    const s = l.snapshot;
    out.push(
      s
        ? `  ${l.list}: snapshot of ${utc(s.exportedAt)} (${s.file}, committed ${utc(s.committedAt)}) · rows ${num(s.rows)}, accepted ${num(s.accepted)}, rejected ${num(s.rejected)}${s.removed ? `, left ${num(s.removed)}` : ''}`
        : `  ${l.list}: no snapshot yet`,
    );
    const d = l.lastDrop;
    if (d && d.status !== 'quarantined') {
      const reasons = Object.entries(d.rejections ?? {})
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${describeRejection(k)}: ${num(n)}`)
        .join(', ');
      out.push(
        paint(
          'dim',
          `      last drop ${utc(d.at)}: ${d.file} (${d.kind ?? 'snapshot'}) ${d.status.replace(/_/g, ' ')}${reasons ? ` · rejected: ${reasons}` : ''}${d.report ? ` · ${bucketOf(d.report)}` : ''}`,
        ),
      );
    }
    for (const q of l.quarantined)
      out.push(
        `      ${bang} quarantined ${utc(q.at)}: ${q.file} — ${q.error ?? q.reason ?? 'unreadable'}${q.report ? paint('dim', ` · ${bucketOf(q.report)}`) : ''}`,
      );
    if (l.applying)
      out.push(
        `      ${bang} ${l.applying.running ? 'being written' : 'stopped midway'}: ${l.applying.file} since ${utc(l.applying.startedAt)}`,
      );
  }
  for (const q of r.unassigned) out.push(`  ${bang} quarantined ${utc(q.at)}: ${q.file} — ${q.error ?? q.reason}`);
  out.push('');
  out.push(paint('bold', 'Audiences'));
  if (!r.audiences.length) out.push('  none yet');
  for (const a of r.audiences) {
    out.push(
      `  ${a.destination} "${a.audienceName}" (segment ${a.segment})${a.retired ? ` · retired ${utc(a.retired.at)} (${a.retired.policy})` : ''}`,
    );
    const s = a.lastSync;
    if (!s) {
      out.push(paint('dim', `      ${a.neverSynced ? 'never synced yet' : 'no sync in the stored runs'}`));
      continue;
    }
    const status = ['failed', 'stopped', 'held'].includes(s.status)
      ? paint('red', describeStatus(s.status))
      : s.status === 'partial' || s.status === 'below_min_size'
        ? paint('yellow', describeStatus(s.status))
        : paint('green', describeStatus(s.status));
    out.push(
      `      last sync ${utc(s.at)}: ${status} · +${num(s.added)} −${num(s.removed)} · invalid ${num(s.invalidEntries)} · desired ${num(s.desired)}${s.desired < s.minSize ? ` (minimum ${num(s.minSize)})` : ''} · platform’s size ${s.platformSize ?? 'not reported'}`,
    );
    if (s.alert)
      out.push(`      ${bang} alert (${s.alert.kind}): ${s.alert.message}`, `        what to do: ${s.alert.action}`);
    else if (s.message) out.push(paint('dim', `      ${s.message}`));
  }
  out.push('');
  const n = r.nextRun;
  out.push(
    `Next scheduled run: ${n.at ? utc(n.at) : (n.note ?? 'unknown')}${n.expression ? paint('dim', ` (${n.expression}${n.timeZone ? `, ${n.timeZone}` : ''}${n.at && n.note ? `; ${n.note}` : ''})`) : ''}`,
  );
  if (r.lastSync)
    out.push(
      `Last sync: ${utc(r.lastSync.at)}${r.lastSync.done ? '' : ' (continues)'}${r.lastSync.report ? ` · report ${bucketOf(r.lastSync.report)}` : ''}`,
    );
  return out;
}
