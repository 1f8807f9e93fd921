/**
 * Sync Lambda: invoked by the Step Functions loop (nightly schedule) or on demand. Runs until its time budget is
 * nearly used, then returns `done: false` so the state machine invokes it again; the checkpoint in DynamoDB makes
 * the next invocation continue, never restart.
 */
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { addLambdaContext } from './adapters/lambda-logger';
import { buildRuntime, type Runtime, readEnv } from './app/runtime';
import { type DestinationEnv, syncAndReport } from './app/sync-run';

export const syncInputSchema = z.object({
  trigger: z.string().optional(),
  segment: z.string().optional(),
  dryRun: z.boolean().optional(),
  forceReplace: z.boolean().optional(),
  iteration: z.number().int().nonnegative().optional(),
  /** Set on the first invocation and carried through continuations: the lock owner. */
  runId: z.string().optional(),
});
export type SyncInput = z.infer<typeof syncInputSchema>;

const destEnv = z.looseObject({
  /** destination id → Secrets Manager secret id, set by the stack. */
  DESTINATION_SECRETS: z.string().optional(),
});

/** Leave this much of the Lambda's time for the checkpoint and the report. */
const SAFETY_MS = 90_000;
const MAX_ITERATIONS = 200;

let runtime: Runtime | undefined;

export async function handleSync(input: unknown, rt: Runtime, remainingMs: number, env = process.env) {
  const parsed = syncInputSchema.safeParse(input ?? {});
  if (!parsed.success)
    throw new Error(`sync input is not valid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const i = parsed.data;
  const iteration = (i.iteration ?? 0) + 1;
  const runId = i.runId ?? `sync-${rt.clock.now().toISOString()}-${Math.random().toString(36).slice(2, 8)}`;
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
    summary: report.audiences.map((a) => ({
      segment: a.segment,
      destination: a.destination,
      status: a.status,
      added: a.added,
      removed: a.removed,
    })),
  };
}

export const handler = async (input: unknown, context?: Context) => {
  runtime ??= buildRuntime();
  addLambdaContext(runtime.logger, context);
  return handleSync(input, runtime, context?.getRemainingTimeInMillis?.() ?? 14 * 60_000);
};
