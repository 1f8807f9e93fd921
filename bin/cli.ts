/**
 * The `audience-sync` command line: local pipeline, file validation, segment preview, on-demand sync, erasure.
 * Local commands run against embedded S3/DynamoDB in a state folder; `--cloud` commands talk to the deployed stack.
 */
import { createReadStream, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfigFile } from '../functions/adapters/config-file';
import { createLogger } from '../functions/adapters/logger';
import { parseAsOf } from '../functions/app/clock';
import type { buildRuntime } from '../functions/app/runtime';
import { type AudienceConfig, ConfigError, parseConfig } from '../functions/core/config';
import { DetectionError } from '../functions/core/formats';
import { ingestExport } from '../functions/core/ingest';
import type { SyncReport } from '../functions/core/sync';
import { readExport, UnreadableFileError } from '../functions/reading';

// The AWS SDK, the Meta SDK and the embedded S3/DynamoDB servers are loaded by the commands that use them (dynamic
// imports below), so `validate` starts without them.

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DEFAULT_CONFIG = 'config/audiences.example.yaml';
const out = (s: string) => process.stdout.write(`${s}\n`);
const fail = (s: string, code = 1): never => {
  process.stderr.write(`audience-sync: ${s}\n`);
  process.exit(code);
};

function configOrDefault(file: string | undefined): AudienceConfig {
  if (file) return loadConfigFile(file);
  if (existsSync(DEFAULT_CONFIG)) return loadConfigFile(DEFAULT_CONFIG);
  return parseConfig({ version: 1 });
}

const AS_OF_FLAG = '--as-of <time>';
const AS_OF_HELP = 'evaluate date rules and ages as of this date (YYYY-MM-DD or ISO time) instead of now';

const program = new Command()
  .name('audience-sync')
  .description('Contact exports in, consent-checked hashed custom audiences out.')
  .showHelpAfterError();

program
  .command('local')
  .description(
    'run the whole pipeline on this machine: embedded S3 + DynamoDB, dry-run destinations unless Meta credentials are set',
  )
  .option('--input <dir>', 'folder of exports: <dir>/<list-id>/<file> or <dir>/<file>', 'samples')
  .option('--out <dir>', 'where dry-run payloads, reports and logs go', 'out')
  .option('--config <file>', 'audiences config (YAML or JSON)', DEFAULT_CONFIG)
  .option('--state <dir>', 'state folder for the embedded stores', '.audience-sync')
  .option(AS_OF_FLAG, AS_OF_HELP)
  .action(async (o: { input: string; out: string; config: string; state: string; asOf?: string }) => {
    const { runLocal } = await import('./local/run-local');
    await runLocal({ input: o.input, out: o.out, config: o.config, state: o.state, asOf: o.asOf });
  });

program
  .command('validate <file>')
  .description('read and check an export without storing anything; prints the ingest report')
  .option('--json', 'print the report as one JSON object')
  .option('--list <id>', 'apply this list’s pinned format/columns from the config', 'validate')
  .option('--config <file>', 'audiences config')
  .option(AS_OF_FLAG, AS_OF_HELP)
  .action(async (file: string, o: { json?: boolean; list: string; config?: string; asOf?: string }) => {
    if (!existsSync(file)) fail(`${file} does not exist`, 2);
    const config = configOrDefault(o.config);
    const clock = parseAsOf(o.asOf);
    try {
      const report = await ingestExport(
        {
          list: o.list,
          kind: 'snapshot',
          source: resolve(file),
          exportedAt: clock.now().toISOString(),
          exportedAtFrom: 'clock',
          entries: readExport({ name: basename(file), open: async () => createReadStream(file) }),
        },
        config,
        { logger: createLogger({}, () => {}), now: () => clock.now() },
      );
      const { rejectedRows, ...summary } = report;
      if (o.json) {
        out(JSON.stringify({ ...summary, rejectedRowsSample: rejectedRows.slice(0, 100) }));
        return;
      }
      out(`${file}: ${report.format ?? 'unknown format'}`);
      for (const e of report.entries)
        out(
          `  entry ${e.name}: ${e.format ?? e.error} · ${e.encoding}, delimiter ${JSON.stringify(e.delimiter)}, rows ${e.rows}`,
        );
      out(`  rows ${report.rows} = accepted ${report.accepted} + rejected ${report.rejected}`);
      for (const [k, v] of Object.entries(report.rejections)) out(`    rejected ${k}: ${v}`);
      for (const [k, v] of Object.entries(report.consent)) if (v) out(`  consent ${k}: ${v}`);
      out(
        `  key coverage: ${Object.entries(report.keyCoverage)
          .map(([k, v]) => `${k} ${Math.round((v ?? 0) * 100)}%`)
          .join(', ')}`,
      );
      for (const r of rejectedRows.slice(0, 20))
        out(`  line ${r.line}${r.column ? ` (${r.column})` : ''}: ${r.reason}`);
    } catch (e) {
      if (e instanceof UnreadableFileError || e instanceof DetectionError) {
        if (o.json)
          out(
            JSON.stringify({
              status: 'quarantined',
              reason: (e as { reason?: string }).reason ?? 'format_not_detected',
              error: e.message,
            }),
          );
        else process.stderr.write(`${file}: cannot be ingested: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
  });

/** Opens the local state, runs fn with a runtime, and closes. */
async function withLocalRuntime<T>(
  state: string,
  config: string,
  asOf: string | undefined,
  fn: (rt: ReturnType<typeof buildRuntime>) => Promise<T>,
) {
  const clock = parseAsOf(asOf);
  const { startEmbeddedAws } = await import('./local/embedded');
  const { buildRuntime } = await import('../functions/app/runtime');
  const aws = await startEmbeddedAws(state);
  try {
    return await fn(
      buildRuntime(
        { ...process.env, AUDIENCE_CONFIG_FILE: config },
        createLogger({}, () => {}),
        clock,
      ),
    );
  } finally {
    await aws.close();
  }
}

function printPlan(report: SyncReport) {
  for (const s of report.segments) {
    const ex = Object.entries(s.excluded)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out(`${s.id}: ${s.matched} match the rules, ${s.eligible} eligible${ex ? ` · excluded: ${ex}` : ''}`);
    for (const a of report.audiences.filter((x) => x.segment === s.id)) {
      const size = a.desired >= a.minSize ? `${a.desired}` : `${a.desired} (below minimum ${a.minSize}: not uploaded)`;
      out(
        `  → ${a.destination} "${a.audienceName}": size ${size} · plan +${a.planned.add} −${a.planned.remove} (${a.planned.unchanged} unchanged)${a.status !== 'planned' ? ` · ${a.status}: added ${a.added}, removed ${a.removed}` : ''}${a.message && a.status !== 'planned' ? ` — ${a.message}` : ''}`,
      );
    }
  }
  for (const a of report.alerts) out(`! ${a.destination}: ${a.message}`);
}

program
  .command('preview')
  .description(
    'each segment’s size, its size per destination after consent and minimum-size rules, and why people were excluded',
  )
  .option('--config <file>', 'audiences config', DEFAULT_CONFIG)
  .option('--state <dir>', 'local state folder', '.audience-sync')
  .option('--json', 'print one JSON object')
  .option(AS_OF_FLAG, AS_OF_HELP)
  .action(async (o: { config: string; state: string; json?: boolean; asOf?: string }) => {
    const report = await withLocalRuntime(o.state, o.config, o.asOf, async (rt) => {
      const { runSync } = await import('../functions/core/sync');
      return runSync({ ...rt, destinations: {} }, { dryRun: true });
    });
    if (o.json) out(JSON.stringify({ segments: report.segments, audiences: report.audiences }));
    else printPlan(report);
  });

program
  .command('sync')
  .description('sync now: locally against the state folder, or in the cloud with --cloud')
  .option('--segment <id>', 'only this segment')
  .option('--dry-run', 'print the planned adds/removes without sending')
  .option('--force-replace', 'run a full replace now (Meta usersreplace)')
  .option('--config <file>', 'audiences config', DEFAULT_CONFIG)
  .option('--state <dir>', 'local state folder', '.audience-sync')
  .option('--out <dir>', 'where dry-run destination payloads go when no Meta credentials are set', 'out')
  .option(AS_OF_FLAG, AS_OF_HELP)
  .addOption(
    new Option('--cloud', 'start the deployed sync (state machine); --dry-run invokes the sync Lambda directly'),
  )
  .option(
    '--state-machine <arn>',
    'sync state machine ARN (stack output SyncStateMachineArn)',
    process.env.AUDIENCE_SYNC_STATE_MACHINE_ARN,
  )
  .option(
    '--function <name>',
    'sync function name (stack output SyncFunctionName)',
    process.env.AUDIENCE_SYNC_FUNCTION_NAME,
  )
  .action(
    async (o: {
      segment?: string;
      dryRun?: boolean;
      forceReplace?: boolean;
      config: string;
      state: string;
      out: string;
      asOf?: string;
      cloud?: boolean;
      stateMachine?: string;
      function?: string;
    }) => {
      const input = { trigger: 'cli', segment: o.segment, dryRun: o.dryRun, forceReplace: o.forceReplace };
      if (o.cloud) {
        if (o.dryRun) {
          if (!o.function) fail('--cloud --dry-run needs --function <name> (stack output SyncFunctionName)', 2);
          const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
          const res = await new LambdaClient({}).send(
            new InvokeCommand({ FunctionName: o.function, Payload: Buffer.from(JSON.stringify(input)) }),
          );
          out(Buffer.from(res.Payload ?? []).toString());
          return;
        }
        if (!o.stateMachine) fail('--cloud needs --state-machine <arn> (stack output SyncStateMachineArn)', 2);
        const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
        const res = await new SFNClient({}).send(
          new StartExecutionCommand({ stateMachineArn: o.stateMachine, input: JSON.stringify(input) }),
        );
        out(`started ${res.executionArn}`);
        return;
      }
      const { syncAndReport } = await import('../functions/app/sync-run');
      const { report } = await withLocalRuntime(o.state, o.config, o.asOf, (rt) =>
        syncAndReport(
          rt,
          {
            META_ACCESS_TOKEN: process.env.META_ACCESS_TOKEN,
            META_AD_ACCOUNT_ID: process.env.META_AD_ACCOUNT_ID,
            META_GRAPH_URL: process.env.META_GRAPH_URL,
            DRY_RUN_DIR: process.env.META_ACCESS_TOKEN ? undefined : `${o.out}/dry-run`,
          },
          { segment: o.segment, dryRun: o.dryRun, forceReplace: o.forceReplace },
        ),
      );
      printPlan(report);
      if (!report.done) out(`not finished: continue in ${report.waitSeconds ?? 1} s with the same command`);
    },
  );

program
  .command('erase')
  .description(
    'right to erasure: suppress and delete a person everywhere; removed from every audience at the next sync (or now)',
  )
  .option('--email <email...>', 'email address(es)')
  .option('--phone <phone...>', 'phone number(s), international form preferred')
  .option('--now', 'sync right away instead of at the next scheduled run')
  .option('--config <file>', 'audiences config', DEFAULT_CONFIG)
  .option('--state <dir>', 'local state folder', '.audience-sync')
  .option('--out <dir>', 'where dry-run destination payloads go', 'out')
  .option('--cloud', 'drop an erasure file into the deployed bucket (erasure/) instead')
  .option('--bucket <name>', 'drop bucket (stack output BucketName)', process.env.AUDIENCE_SYNC_BUCKET)
  .action(
    async (o: {
      email?: string[];
      phone?: string[];
      now?: boolean;
      config: string;
      state: string;
      out: string;
      cloud?: boolean;
      bucket?: string;
    }) => {
      const emails = o.email ?? [];
      const phones = o.phone ?? [];
      if (!emails.length && !phones.length) fail('give --email and/or --phone', 2);
      if (o.cloud) {
        if (!o.bucket) fail('--cloud needs --bucket <name> (stack output BucketName)', 2);
        const { PutObjectCommand } = await import('@aws-sdk/client-s3');
        const { s3Client } = await import('../functions/app/runtime');
        const key = `erasure/${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
        await s3Client().send(
          new PutObjectCommand({ Bucket: o.bucket, Key: key, Body: ['identity', ...emails, ...phones].join('\n') }),
        );
        out(
          `erasure request dropped as s3://${o.bucket}/${key}; it is processed within a minute and applied to audiences at the next sync`,
        );
        return;
      }
      const { eraseIdentities } = await import('../functions/app/erase');
      const { syncAndReport } = await import('../functions/app/sync-run');
      await withLocalRuntime(o.state, o.config, undefined, async (rt) => {
        const now = rt.clock.now();
        const r = await eraseIdentities(
          rt.store,
          { emails, phones },
          {
            now,
            logger: rt.logger,
            defaultCountry: rt.config.defaultCountry,
          },
        );
        // Audit trail: hashes and time only.
        await rt.bucket.putJson(`reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`, {
          ...r,
          at: now.toISOString(),
          via: 'cli',
        });
        out(
          `erased: ${r.hashed} identities hashed and suppressed, ${r.contactsDeleted} contact records deleted${r.invalid ? `, ${r.invalid} not recognizable` : ''}`,
        );
        if (o.now) {
          const { report } = await syncAndReport(
            rt,
            {
              META_ACCESS_TOKEN: process.env.META_ACCESS_TOKEN,
              META_AD_ACCOUNT_ID: process.env.META_AD_ACCOUNT_ID,
              META_GRAPH_URL: process.env.META_GRAPH_URL,
              DRY_RUN_DIR: process.env.META_ACCESS_TOKEN ? undefined : `${o.out}/dry-run`,
            },
            {},
          );
          const removed = report.audiences.reduce((n, a) => n + a.removed, 0);
          out(`synced now: ${removed} removal(s) sent across ${report.audiences.length} audience(s)`);
        } else out('they leave every audience at the next sync (run with --now to sync immediately)');
      });
    },
  );

program.parseAsync().catch((e: unknown) => {
  if (e instanceof ConfigError) fail(e.message, 2);
  fail((e as Error).stack ?? String(e));
});
