/**
 * The `audience-sync` command line: local pipeline, file validation, segment preview, on-demand sync, erasure.
 * Local commands run against embedded S3/DynamoDB in a state folder; `--cloud` commands talk to the deployed stack.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile, parseAudienceConfig } from '../functions/adapters/config-file';
import { createLogger } from '../functions/adapters/logger';
import { SecretRedactor } from '../functions/adapters/secret-redactor';
import { parseAsOf } from '../functions/app/clock';
import type { buildRuntime } from '../functions/app/runtime';
import { type AudienceConfig, ConfigError } from '../functions/core/config';
import { DetectionError } from '../functions/core/formats';
import { ingestExport } from '../functions/core/ingest';
import { describeExclusion } from '../functions/core/segments';
import type { SyncReport } from '../functions/core/sync';
import { PLATFORMS } from '../functions/platforms/registry';
import { readExport, UnreadableFileError } from '../functions/reading';
import { CliError, EXIT } from './cli-errors';
import { TerminalProgress } from './progress';

// The AWS SDK, the Meta SDK and the embedded S3/DynamoDB servers are loaded by the commands that use them (dynamic
// imports below), so `validate` starts without them.

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DEFAULT_CONFIG = 'config/audiences.example.yaml';
const COMMANDS = ['local', 'validate', 'preview', 'sync', 'status', 'erase'];
const out = (s: string) => process.stdout.write(`${s}\n`);
/** Usage and input problems: thrown, so that open state is closed on the way out. */
const usage: (s: string) => never = (s) => {
  throw new CliError(s, EXIT.usage);
};

/** A missing config file is named as such (not as an invalid config), before any state is opened. */
function requireConfig(file: string): string {
  if (!existsSync(file))
    usage(
      `config file ${file} does not exist${file === DEFAULT_CONFIG ? ' (the default --config)' : ''}; pass --config <file> (audiences YAML or JSON)`,
    );
  return file;
}

function configOrDefault(file: string | undefined): AudienceConfig {
  if (file) return loadConfigFile(requireConfig(file));
  if (existsSync(DEFAULT_CONFIG)) return loadConfigFile(DEFAULT_CONFIG);
  return parseAudienceConfig({ version: 1 });
}

/** `sync --segment` must name a segment of the config: say which ones there are before any state is opened. */
function checkSegment(configFile: string, segment: string | undefined) {
  if (!segment) return;
  const ids = loadConfigFile(requireConfig(configFile)).segments.map((s) => s.id);
  if (!ids.includes(segment))
    usage(`segment "${segment}" is not in the config (${configFile}); known segments: ${ids.join(', ') || 'none'}`);
}

const AS_OF_HELP = 'evaluate date rules and ages as of this date (YYYY-MM-DD or ISO time) instead of now';
const asOfOption = () =>
  new Option('--as-of <time>', AS_OF_HELP).argParser((v) => {
    try {
      parseAsOf(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    return v;
  });

const program = new Command()
  .name('audience-sync')
  .description('Contact exports in, consent-checked hashed custom audiences out.')
  .option('--debug', 'on an unexpected error, print its stack trace')
  // Errors are printed by the handler at the end, as one line; commands inherit these two settings.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

program
  .command('local')
  .description(
    'run the whole pipeline on this machine: embedded S3 + DynamoDB, dry-run destinations unless Meta credentials are set',
  )
  .option('--input <dir>', 'folder of exports: <dir>/<list-id>/<file> or <dir>/<file>', 'samples')
  .option('--out <dir>', 'where dry-run payloads, reports and logs go', 'out')
  .option('--config <file>', 'audiences config (YAML or JSON)', DEFAULT_CONFIG)
  .option('--state <dir>', 'state folder for the embedded stores', '.audience-sync')
  .addOption(asOfOption())
  .action(async (o: { input: string; out: string; config: string; state: string; asOf?: string }, cmd: Command) => {
    if (cmd.getOptionValueSource('input') === 'default' && !existsSync(o.input))
      usage(
        `no input folder: --input defaults to ./${o.input}, which does not exist here; pass --input <dir> with exports as <dir>/<list-id>/<file>`,
      );
    requireConfig(o.config);
    const { runLocal } = await import('./local/run-local');
    await runLocal({
      input: o.input,
      out: o.out,
      config: o.config,
      state: o.state,
      asOf: o.asOf,
      progress: TerminalProgress.forTerminal(),
    });
  });

program
  .command('validate <file>')
  .description('read and check an export without storing anything; prints the ingest report')
  .option('--json', 'print the report as one JSON object')
  .option('--list <id>', 'apply this list’s pinned format/columns from the config', 'validate')
  .option('--config <file>', 'audiences config')
  .addOption(asOfOption())
  .action(async (file: string, o: { json?: boolean; list: string; config?: string; asOf?: string }) => {
    if (!existsSync(file)) usage(`${file} does not exist`);
    const config = configOrDefault(o.config);
    const clock = parseAsOf(o.asOf);
    const progress = TerminalProgress.forTerminal();
    const source = { name: basename(file), open: async () => createReadStream(file) as Readable };
    const size = statSync(file).size;
    const { createRowPool, POOL_MIN_BYTES, rowThreads } = await import('../functions/app/row-pool');
    const rowPool = size >= POOL_MIN_BYTES ? createRowPool({ threads: rowThreads() }) : undefined;
    try {
      const report = await ingestExport(
        {
          list: o.list,
          kind: 'snapshot',
          source: resolve(file),
          exportedAt: clock.now().toISOString(),
          exportedAtFrom: 'clock',
          entries: progress ? progress.read(basename(file), source, size) : readExport(source),
        },
        config,
        {
          logger: createLogger({}, () => {}),
          now: () => clock.now(),
          platforms: PLATFORMS,
          // No destination configured: show what every platform would match on.
          allPlatforms: Object.keys(config.destinations).length === 0,
          rowPool,
        },
      );
      progress?.stop();
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
      for (const [platform, coverage] of Object.entries(report.keyCoverage))
        out(
          `  ${platform} key coverage: ${Object.entries(coverage)
            .map(([k, v]) => `${k} ${Math.round(v * 100)}%`)
            .join(', ')}`,
        );
      for (const w of report.warnings) out(`  warning ${w.reason}${w.column ? ` (${w.column})` : ''}: ${w.rows} rows`);
      for (const r of rejectedRows.slice(0, 20))
        out(`  line ${r.line}${r.column ? ` (${r.column})` : ''}: ${r.reason}`);
    } catch (e) {
      progress?.stop();
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
    } finally {
      await rowPool?.close();
    }
  });

/** Opens the local state, runs fn with a runtime, and closes. */
async function withLocalRuntime<T>(
  state: string,
  config: string,
  asOf: string | undefined,
  fn: (rt: ReturnType<typeof buildRuntime>) => Promise<T>,
) {
  requireConfig(config);
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
        (await import('../functions/adapters/metrics')).discardMetrics(),
      ),
    );
  } finally {
    await aws.close();
  }
}

function printPlan(report: SyncReport) {
  for (const s of report.segments) {
    const ex = Object.entries(s.excluded)
      .map(([k, v]) => `${describeExclusion(k)}: ${v}`)
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
  .addOption(asOfOption())
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
  .option('--json', 'print the run (segments, audiences, alerts) as one JSON object')
  .addOption(asOfOption())
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
      json?: boolean;
      asOf?: string;
      cloud?: boolean;
      stateMachine?: string;
      function?: string;
    }) => {
      const input = { trigger: 'cli', segment: o.segment, dryRun: o.dryRun, forceReplace: o.forceReplace };
      if (o.cloud) {
        if (o.dryRun) {
          if (!o.function) usage('--cloud --dry-run needs --function <name> (stack output SyncFunctionName)');
          const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
          const res = await new LambdaClient({}).send(
            new InvokeCommand({ FunctionName: o.function, Payload: Buffer.from(JSON.stringify(input)) }),
          );
          out(Buffer.from(res.Payload ?? []).toString());
          return;
        }
        if (!o.stateMachine) usage('--cloud needs --state-machine <arn> (stack output SyncStateMachineArn)');
        const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
        const res = await new SFNClient({}).send(
          new StartExecutionCommand({ stateMachineArn: o.stateMachine, input: JSON.stringify(input) }),
        );
        out(o.json ? JSON.stringify({ executionArn: res.executionArn }) : `started ${res.executionArn}`);
        return;
      }
      checkSegment(o.config, o.segment);
      const progress = TerminalProgress.forTerminal();
      const { syncAndReport } = await import('../functions/app/sync-run');
      const { report } = await withLocalRuntime(o.state, o.config, o.asOf, (rt) =>
        syncAndReport(
          progress ? { ...rt, clock: progress.clock(rt.clock) } : rt,
          { ...process.env, DRY_RUN_DIR: `${o.out}/dry-run` },
          { segment: o.segment, dryRun: o.dryRun, forceReplace: o.forceReplace },
          progress && ((id, d) => progress.destination(id, d)),
        ).finally(() => progress?.stop()),
      );
      if (o.json) {
        out(
          JSON.stringify({
            done: report.done,
            segments: report.segments,
            audiences: report.audiences,
            alerts: report.alerts,
          }),
        );
        return;
      }
      printPlan(report);
      if (!report.done) out(`not finished: continue in ${report.waitSeconds ?? 1} s with the same command`);
    },
  );

program
  .command('status')
  .description(
    'per list the last snapshot and quarantined files, per audience the last sync and the next scheduled run; exit 4 when something needs attention',
  )
  .option('--json', 'print one JSON object (with exitCode)')
  .option('--config <file>', 'audiences config: lists audiences that never synced (optional)', DEFAULT_CONFIG)
  .option('--state <dir>', 'local state folder', '.audience-sync')
  .option('--out <dir>', 'where `local` copied its reports', 'out')
  .option('--cloud', 'read the deployed stack (its table, reports and schedule) with your AWS credentials')
  .option(
    '--stack <name>',
    'stack name (its outputs name the table and bucket)',
    process.env.AUDIENCE_SYNC_STACK ?? 'AudienceSync',
  )
  .option('--table <name>', 'contact table (stack output TableName), instead of reading the stack')
  .option(
    '--bucket <name>',
    'drop bucket (stack output BucketName), for report links',
    process.env.AUDIENCE_SYNC_BUCKET,
  )
  .option('--schedule <name>', 'EventBridge Scheduler schedule of the nightly sync (found in the stack when left out)')
  .option('--schedule-group <name>', 'its schedule group (default: default)')
  .action(
    async (
      o: {
        json?: boolean;
        config: string;
        state: string;
        out: string;
        cloud?: boolean;
        stack: string;
        table?: string;
        bucket?: string;
        schedule?: string;
        scheduleGroup?: string;
      },
      cmd: Command,
    ) => {
      if (!o.cloud && (o.table || cmd.getOptionValueSource('stack') === 'cli'))
        usage('--stack and --table read a deployed stack: add --cloud');
      const { runStatus } = await import('./status/command');
      const code = await runStatus({ ...o, configGiven: cmd.getOptionValueSource('config') === 'cli', print: out });
      process.exitCode = code;
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
      if (!emails.length && !phones.length) usage('give --email and/or --phone');
      if (o.cloud) {
        if (!o.bucket) usage('--cloud needs --bucket <name> (stack output BucketName)');
        const { PutObjectCommand } = await import('@aws-sdk/client-s3');
        const { s3Client } = await import('../functions/adapters/aws-clients');
        const key = `erasure/${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
        await s3Client().send(
          new PutObjectCommand({ Bucket: o.bucket, Key: key, Body: ['identity', ...emails, ...phones].join('\n') }),
        );
        out(
          `erasure request dropped as s3://${o.bucket}/${key}; it is processed within a minute and applied to audiences at the next sync`,
        );
        return;
      }
      const { describeErasure, eraseIdentities } = await import('../functions/app/erase');
      const { syncAndReport } = await import('../functions/app/sync-run');
      await withLocalRuntime(o.state, o.config, undefined, async (rt) => {
        const now = rt.clock.now();
        const r = await eraseIdentities(rt.store, { emails, phones }, { now, logger: rt.logger, config: rt.config });
        // Audit trail: hashes and time only.
        await rt.bucket.putJson(`reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`, {
          ...r,
          at: now.toISOString(),
          via: 'cli',
        });
        out(describeErasure(r));
        if (o.now) {
          const { report } = await syncAndReport(rt, { ...process.env, DRY_RUN_DIR: `${o.out}/dry-run` }, {});
          const busy = report.alerts.find((a) => a.kind === 'busy');
          const removed = report.audiences.reduce((n, a) => n + a.removed, 0);
          if (busy)
            out(
              `not synced now: ${busy.message.replace(/; this one waits.*$/, '')}; the erased person leaves every audience at the next sync (run erase --now again once it has finished)`,
            );
          else out(`synced now: ${removed} removal(s) sent across ${report.audiences.length} audience(s)`);
        } else out('they leave every audience at the next sync (run with --now to sync immediately)');
      });
    },
  );

/** Every failure ends here: one line on stderr, an exit code (cli-errors.ts), a stack only with --debug. */
function exitWith(e: unknown): never {
  const debug = process.argv.includes('--debug');
  // Every credential a local run may hold: platform variables and per-destination secrets.
  const secrets = new SecretRedactor(
    Object.entries(process.env)
      .filter(([k]) =>
        /^(META_ACCESS_TOKEN|GOOGLE_SERVICE_ACCOUNT_KEY|GOOGLE_ACCESS_TOKEN|AUDIENCE_SYNC_SECRET_.+)$/.test(k),
      )
      .map(([, v]) => v),
  );
  const line: (s: string, code: number) => never = (s, code) => {
    process.stderr.write(`audience-sync: ${secrets.text(s.replace(/\s*\n\s*/g, ' ').trim())}\n`);
    process.exit(code);
  };
  if (e instanceof CommanderError) {
    // --help and --version have printed what was asked for.
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(e.code)) process.exit(e.exitCode);
    const cmd = process.argv.slice(2).find((a) => COMMANDS.includes(a));
    line(`${e.message.replace(/^error: /, '')}; see audience-sync ${cmd ? `${cmd} ` : ''}--help`, EXIT.usage);
  }
  if (e instanceof CliError) line(e.message, e.exitCode);
  if (e instanceof ConfigError) line(`${e.message.split('\n')[0]} ${e.problems.join('; ')}`, EXIT.usage);
  const err = e instanceof Error ? e : new Error(String(e));
  if (debug) process.stderr.write(`${secrets.text(err.stack ?? String(err))}\n`);
  const what = err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  line(
    `${what || 'unknown error'} (unexpected${debug ? '; stack trace above' : '; re-run with --debug for the stack trace'})`,
    EXIT.failed,
  );
}

// Output piped into a reader that stopped early (`| head`): nothing more to say, and nothing failed.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  exitWith(e);
});
process.on('uncaughtException', exitWith);
process.on('unhandledRejection', exitWith);
// Ctrl-C and kill end through 'exit', which frees a locked state folder.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

if (!process.argv.slice(2).some((a) => !a.startsWith('-')) && !/^(-h|--help|-V|--version)$/.test(process.argv[2] ?? ''))
  exitWith(new CliError(`give a command: ${COMMANDS.join(', ')} (audience-sync --help describes them)`));
program.parseAsync().catch(exitWith);
