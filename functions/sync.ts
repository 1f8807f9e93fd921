/**
 * Sync Lambda. Invoked by the nightly state machine one step at a time (`{ step, run }` or a shard group item, see
 * lib/constructs/sync-schedule.ts): plan, remove (per shard group), decide, add (per shard group), finish. Without a
 * step (the CLI, an on-demand invoke) it runs every pass in this one invocation until its time budget is nearly used,
 * then returns `done: false` to be invoked again; either way the checkpoints in DynamoDB make a continuation resume.
 */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { addLambdaContext } from './adapters/lambda-logger';
import { buildRuntime, type Runtime, readEnv } from './app/runtime';
import { type DestinationEnv, runSyncStep, type SyncStepOutcome, syncAndReport } from './app/sync-run';
import type { SyncReport } from './core/sync';

export const syncInputSchema = z.object({
  trigger: z.string().optional(),
  segment: z.string().optional(),
  dryRun: z.boolean().optional(),
  forceReplace: z.boolean().optional(),
  iteration: z.number().int().nonnegative().optional(),
  /** Set on the first invocation and carried through continuations: the lock owner. */
  runId: z.string().optional(),
  /** Hex digits of the shard prefixes (0–3); by default from the number of people (≤ 50,000 a shard). */
  shardDigits: z.number().int().min(0).max(3).optional(),
});
export type SyncInput = z.infer<typeof syncInputSchema>;

/** The state machine's state between steps: what started the run, its id and iteration, the shard groups. */
const runStateSchema = syncInputSchema.extend({
  groups: z.array(z.number().int().nonnegative()).optional(),
  next: z.string().optional(),
  done: z.boolean().optional(),
  waitSeconds: z.number().optional(),
  reportKey: z.string().optional(),
  summary: z.unknown().optional(),
});

const stepSchema = z.discriminatedUnion('step', [
  z.object({ step: z.enum(['plan', 'decide', 'finish', 'abort']), run: runStateSchema }),
  z.object({
    step: z.enum(['remove', 'add']),
    runId: z.string().min(1),
    iteration: z.number().int().positive(),
    group: z.number().int().nonnegative(),
  }),
]);

const destEnv = z.looseObject({
  /** destination id → Secrets Manager secret id, set by the stack. */
  DESTINATION_SECRETS: z.string().optional(),
});

/** Leave this much of the Lambda's time for the checkpoint and the report. */
const SAFETY_MS = 90_000;
const MAX_ITERATIONS = 200;

let runtime: Runtime | undefined;

const summaryOf = (report: SyncReport) =>
  report.audiences.map((a) => ({
    segment: a.segment,
    destination: a.destination,
    status: a.status,
    added: a.added,
    removed: a.removed,
  }));

const newRunId = (rt: Runtime) => `sync-${rt.clock.now().toISOString()}-${Math.random().toString(36).slice(2, 8)}`;

/** One step of the state machine's sync; returns the state for the next one. */
export async function handleSyncStep(input: unknown, rt: Runtime, remainingMs: number, env = process.env) {
  const parsed = stepSchema.safeParse(input);
  if (!parsed.success)
    throw new Error(`sync step input is not valid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const i = parsed.data;
  const destinations = readEnv(destEnv, env) as DestinationEnv;
  const deadline = rt.clock.now().getTime() + Math.max(0, remainingMs - SAFETY_MS);
  if (i.step === 'remove' || i.step === 'add') {
    const out = await runSyncStep(rt, destinations, { ...i, deadline });
    return { step: i.step, runId: i.runId, iteration: i.iteration, group: i.group, done: out.done === true };
  }
  const { run } = i as Extract<typeof i, { run: unknown }>;
  const runId = run.runId ?? newRunId(rt);
  const iteration = run.iteration ?? 1;
  const base = {
    trigger: run.trigger,
    segment: run.segment,
    dryRun: run.dryRun,
    forceReplace: run.forceReplace,
    shardDigits: run.shardDigits,
  };
  let out: SyncStepOutcome;
  if (i.step === 'plan' && run.dryRun) {
    // A dry run sends nothing and takes no lock: one invocation plans every audience (and checks a sample).
    const { report, reportKey } = await syncAndReport(rt, destinations, { runId, segment: run.segment, dryRun: true });
    out = { next: 'done', done: true, report, reportKey };
  } else if (i.step === 'plan')
    out = await runSyncStep(rt, destinations, {
      step: 'plan',
      runId,
      iteration,
      segment: run.segment,
      forceReplace: iteration === 1 ? run.forceReplace : false,
      shardDigits: run.shardDigits,
    });
  else if (i.step === 'finish')
    out = await runSyncStep(rt, destinations, { step: 'finish', runId, iteration, deadline });
  else out = await runSyncStep(rt, destinations, { step: i.step, runId, iteration });
  // After finish, a run that is not done starts its next iteration (planned again) once the wait is over.
  const nextIteration = i.step === 'finish' && !out.done ? iteration + 1 : iteration;
  const stop = nextIteration > MAX_ITERATIONS;
  return {
    ...base,
    runId,
    iteration: nextIteration,
    next: stop ? 'done' : out.next,
    groups: out.groups ?? run.groups,
    done: stop || out.done === true,
    // Step Functions' Wait state needs whole seconds.
    waitSeconds:
      out.next === 'wait' && !stop ? Math.min(3600, Math.max(1, Math.ceil(out.waitSeconds ?? 1))) : undefined,
    reportKey: out.reportKey ?? run.reportKey,
    summary: out.report ? summaryOf(out.report) : run.summary,
  };
}

export async function handleSync(input: unknown, rt: Runtime, remainingMs: number, env = process.env) {
  const parsed = syncInputSchema.safeParse(input ?? {});
  if (!parsed.success)
    throw new Error(`sync input is not valid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const i = parsed.data;
  const iteration = (i.iteration ?? 0) + 1;
  const runId = i.runId ?? newRunId(rt);
  const { report, reportKey } = await syncAndReport(rt, readEnv(destEnv, env) as DestinationEnv, {
    runId,
    segment: i.segment,
    dryRun: i.dryRun,
    forceReplace: iteration === 1 ? i.forceReplace : false,
    deadline: rt.clock.now().getTime() + Math.max(0, remainingMs - SAFETY_MS),
  });
  const done = report.done || iteration >= MAX_ITERATIONS;
  return {
    ...i,
    runId,
    iteration,
    done,
    // Step Functions' Wait state needs whole seconds.
    waitSeconds: done ? undefined : Math.min(3600, Math.max(1, Math.ceil(report.waitSeconds ?? 1))),
    reportKey,
    summary: summaryOf(report),
  };
}

export const handler = async (input: unknown, context?: Context) => {
  runtime ??= buildRuntime();
  addLambdaContext(runtime.logger, context);
  const remaining = context?.getRemainingTimeInMillis?.() ?? 14 * 60_000;
  if (input && typeof input === 'object' && 'step' in input) return handleSyncStep(input, runtime, remaining);
  return handleSync(input, runtime, remaining);
};
