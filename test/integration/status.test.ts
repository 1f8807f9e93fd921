/**
 * `audience-sync status` as an operator runs it: against the local state after `local`, and with `--cloud` against
 * a deployed stack's outputs (embedded S3 + DynamoDB standing in for the account, a local CloudFormation and
 * Scheduler fake for DescribeStacks, ListStackResources and GetSchedule). Exit 0 when all is well, 4 when something
 * needs a person. Plus the store-level cases: alerts, lists held mid-ingest, history beyond one DynamoDB page.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedAws } from '../../bin/local/embedded';
import { formatStatus } from '../../bin/status/command';
import { collectStatus } from '../../functions/app/status';
import { type FakeStackServer, startStackServer } from '../fakes/stack-server';
import { metaConfig, SAMPLES_AS_OF, type StoreHarness, startStore } from '../helpers/harness';
import { nightlyRuns } from '../helpers/report-fixtures';

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

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const local = (work: string, input: string, asOf = SAMPLES_AS_OF) =>
  cli(['local', '--input', input, '--config', CONFIG, '--out', 'out', '--state', 'state', '--as-of', asOf], work);

describe('status against the local state', () => {
  let work: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'as-status-'));
    cpSync(join(process.cwd(), 'samples'), join(work, 'samples'), { recursive: true });
    const r = await local(work, 'samples');
    expect(r.code).toBe(0);
  }, 120_000);

  it('prints every list’s snapshot and every audience’s last sync, exit 0 when all is well', async () => {
    const r = await cli(['status', '--state', 'state', '--config', CONFIG], work);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Nothing needs attention.');
    expect(r.stdout).toMatch(/newsletter: snapshot of .* rows 15, accepted 15, rejected 0/);
    expect(r.stdout).toMatch(/meta-main "AS · All consenting subscribers" \(segment all-subscribers\)/);
    expect(r.stdout).toMatch(/last sync .*: synced · \+1,070 −0 · invalid 0 · desired 1,070/);
    expect(r.stdout).toContain('Next scheduled run: nothing is scheduled locally');
    expect(r.stdout).toMatch(/Last sync: .* report out\/reports\/sync\/.*\.html/);
    // Piped: plain text, no colours.
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('--json is one object with the exit code', async () => {
    const r = await cli(['status', '--state', 'state', '--json'], work);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ exitCode: 0, attention: [], where: { kind: 'local' } });
    expect(s.lists.map((l: { list: string }) => l.list)).toEqual(
      expect.arrayContaining(['crm', 'eu-newsletter', 'newsletter', 'shop', 'substack']),
    );
    const all = s.audiences.find((a: { segment: string }) => a.segment === 'all-subscribers');
    expect(all.lastSync).toMatchObject({ status: 'synced', added: 1070, removed: 0, invalidEntries: 0 });
    expect(r.stdout).not.toMatch(/@/);
  });

  it('a quarantined latest file needs attention: exit 4, naming the file and the reason', async () => {
    const input = join(work, 'with-bad');
    cpSync(join(work, 'samples'), input, { recursive: true });
    writeFileSync(join(input, 'newsletter', 'logo.csv'), PNG);
    // The next day (run records are keyed by time: a second run as of the same moment would overwrite them).
    expect((await local(work, 'with-bad', '2026-11-21T12:00:00Z')).code).toBe(0);
    const r = await cli(['status', '--state', 'state'], work);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/Needs attention \(1\)/);
    expect(r.stdout).toMatch(/list newsletter: logo\.csv was quarantined at .* — /);
    expect(r.stdout).toMatch(/! quarantined .*: logo\.csv — .* · out\/reports\/ingest\/newsletter\/.*\.html/);
    const json = JSON.parse((await cli(['status', '--state', 'state', '--json'], work)).stdout);
    expect(json.exitCode).toBe(4);
    expect(json.lists.find((l: { list: string }) => l.list === 'newsletter').quarantined[0]).toMatchObject({
      file: 'logo.csv',
      status: 'quarantined',
    });
  });

  it('says what to do when there is no state, and refuses cloud options without --cloud', async () => {
    const r = await cli(['status', '--state', 'nowhere'], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no local state in nowhere: run audience-sync local/);
    expect((await cli(['status', '--table', 't'], work)).code).toBe(2);
  });

  describe('--cloud against a deployed stack', () => {
    let fake: FakeStackServer;
    let env: NodeJS.ProcessEnv;
    let aws: Awaited<ReturnType<typeof startEmbeddedAws>>;
    beforeAll(async () => {
      // The state folder stands in for the account: its table and bucket, served as the stack's.
      aws = await startEmbeddedAws(join(work, 'state'));
      fake = await startStackServer(
        [
          {
            name: 'AudienceSync',
            outputs: { TableName: aws.table, BucketName: aws.bucket, SyncStateMachineArn: 'arn:aws:states:::x' },
            resources: {
              'AWS::DynamoDB::Table': aws.table,
              'AWS::Scheduler::Schedule': 'AudienceSync-SyncScheduleA1B2C3',
            },
          },
        ],
        [{ name: 'AudienceSync-SyncScheduleA1B2C3', expression: 'cron(0 3 * * ? *)', timeZone: 'Europe/Berlin' }],
      );
      env = {
        ...aws.env,
        AWS_ENDPOINT_URL_CLOUDFORMATION: fake.endpoint,
        AWS_ENDPOINT_URL_SCHEDULER: fake.endpoint,
        TABLE_NAME: '',
        BUCKET_NAME: '',
      };
    }, 60_000);
    afterAll(async () => {
      await fake?.close();
      await aws?.close();
    });

    it('reads the table and bucket from the stack outputs and the next run from its schedule', async () => {
      const r = await cli(['status', '--cloud', '--config', CONFIG], work, env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(4);
      expect(fake.requests).toEqual(
        expect.arrayContaining([
          'CloudFormation.DescribeStacks',
          'CloudFormation.ListStackResources',
          'Scheduler.GetSchedule AudienceSync-SyncScheduleA1B2C3',
        ]),
      );
      expect(r.stdout).toContain(`stack AudienceSync · table ${aws.table} · bucket ${aws.bucket}`);
      expect(r.stdout).toMatch(/list newsletter: logo\.csv was quarantined at /);
      expect(r.stdout).toMatch(/meta-main "AS · Customers" \(segment customers\)/);
      // Nightly at 03:00 Berlin time: 02:00 UTC in winter, 01:00 UTC in summer.
      expect(r.stdout).toMatch(
        /Next scheduled run: \d{4}-\d{2}-\d{2} 0[12]:00 UTC \(cron\(0 3 \* \* \? \*\), Europe\/Berlin\)/,
      );
      expect(r.stdout).toMatch(new RegExp(`Last sync: .* report s3://${aws.bucket}/reports/sync/.*\\.html`));
      const json = JSON.parse((await cli(['status', '--cloud', '--json'], work, env)).stdout);
      expect(json.where).toMatchObject({ kind: 'cloud', stack: 'AudienceSync', table: aws.table });
      expect(json.nextRun).toMatchObject({
        expression: 'cron(0 3 * * ? *)',
        timeZone: 'Europe/Berlin',
        state: 'ENABLED',
      });
      expect(Date.parse(json.nextRun.at)).toBeGreaterThan(Date.now());
      expect(Date.parse(json.nextRun.at) - Date.now()).toBeLessThanOrEqual(86_400_000);
    });

    it('takes --table and --schedule directly, without reading the stack', async () => {
      const before = fake.requests.length;
      const r = await cli(
        ['status', '--cloud', '--table', aws.table, '--schedule', 'AudienceSync-SyncScheduleA1B2C3', '--json'],
        work,
        env,
      );
      expect(r.code).toBe(4);
      expect(fake.requests.slice(before)).toEqual(['Scheduler.GetSchedule AudienceSync-SyncScheduleA1B2C3']);
      expect(JSON.parse(r.stdout).nextRun.at).toBeTruthy();
    });

    it('a stack that does not exist is one line and exit 2', async () => {
      const r = await cli(['status', '--cloud', '--stack', 'Nope'], work, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/stack Nope was not found in region us-east-1; pass --stack <name>/);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
  });
});

describe('status from the store', () => {
  let h: StoreHarness;
  beforeAll(async () => {
    h = await startStore();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('an alert in an audience’s last run needs attention, with the action to take', async () => {
    for (const r of nightlyRuns(5)) await h.store.putRun('sync', r.startedAt, r);
    const s = await collectStatus({
      store: h.store,
      now: new Date('2026-11-20T12:00:00Z'),
      where: { kind: 'local', state: 'x' },
    });
    const google = s.audiences.find((a) => a.destination === 'google-ads')!;
    expect(google.lastSync).toMatchObject({ status: 'failed', alert: { kind: 'auth' } });
    expect(google.lastSync!.alert!.action).toMatch(/Renew the credentials/);
    const meta = s.audiences.find((a) => a.destination === 'meta-main')!;
    expect(meta.lastSync).toMatchObject({ status: 'synced', invalidEntries: 3 });
    expect(meta.lastSync!.platformSize).toMatch(/^\d,\d{3}–\d,\d{3}$/);
    expect(meta.attention).toEqual([]);
    expect(s.attention).toEqual([
      expect.stringMatching(/^google-ads "AS · Customers": Google rejected the access token/),
    ]);
    const text = formatStatus(s).join('\n');
    expect(text).toMatch(/! alert \(auth\): Google rejected/);
    expect(text).toMatch(/what to do: Renew the credentials/);
  });

  it('a list held mid-ingest needs attention: stopped midway, or being written', async () => {
    await h.store.markApplying('crm', {
      source: 'incoming/crm/profiles.csv#v7',
      startedAt: '2026-11-20T02:00:00.000Z',
      owner: 'gone',
    });
    const s = await collectStatus({
      store: h.store,
      config: metaConfig(),
      now: new Date('2026-11-20T12:00:00Z'),
      where: { kind: 'local', state: 'x' },
    });
    const crm = s.lists.find((l) => l.list === 'crm')!;
    expect(crm.applying).toEqual({ file: 'profiles.csv', startedAt: '2026-11-20T02:00:00.000Z', running: false });
    expect(s.attention).toContainEqual(
      expect.stringMatching(/the ingest of profiles\.csv into list crm stopped midway/),
    );
    // An audience of the config that never ran is listed as such.
    expect(s.audiences.find((a) => a.segment === 'all')).toMatchObject({ neverSynced: true });
  });

  it('reads the history past one DynamoDB page (1 MB) of whole sync reports', async () => {
    const big = nightlyRuns(12, '2026-10-01T03:00:00.000Z').map((r) => ({ ...r, padding: 'x'.repeat(150_000) }));
    const h2 = await startStore();
    try {
      for (const r of big) await h2.store.putRun('sync', r.startedAt, r);
      const runs = await h2.store.runs('sync', 10);
      expect(runs).toHaveLength(10);
      expect(runs[0]!.at).toBe(big.at(-1)!.startedAt);
      expect(runs.map((r) => r.at)).toEqual([...runs.map((r) => r.at)].sort().reverse());
    } finally {
      await h2.close();
    }
  });
});
