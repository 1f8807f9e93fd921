/**
 * Ingest steps Lambda: the tasks of the ingest fan-out state machine (lib/constructs/ingest-fan-out.ts), one step per
 * invocation — plan, stage (a chunk), apply (a cid shard), commit, abort, whole (a file that is not split).
 * The queue's ingest function starts the state machine for files of FANOUT_BYTES or more.
 */
import { z } from 'zod';
import {
  abortFanOut,
  applyShard,
  commitFanOut,
  type FanOutDeps,
  ingestWholeStep,
  planFanOut,
  stageChunk,
} from './app/ingest-fanout';
import type { ObjectOutcome } from './app/ingest-object';
import { buildRuntime, type Runtime } from './app/runtime';

/** The state machine's state between steps: the object, the run, and (after plan) its chunks and shards. */
const runSchema = z.object({
  key: z.string().min(1),
  runId: z.string().min(1),
  next: z.string().optional(),
  chunks: z.array(z.number().int().nonnegative()).optional(),
  shards: z.array(z.number().int().nonnegative()).optional(),
  waitSeconds: z.number().optional(),
  outcome: z.unknown().optional(),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

const stepSchema = z.discriminatedUnion('step', [
  z.object({ step: z.enum(['plan', 'whole', 'commit', 'abort']), run: runSchema }),
  z.object({ step: z.literal('stage'), runId: z.string().min(1), chunk: z.number().int().nonnegative() }),
  z.object({ step: z.literal('apply'), runId: z.string().min(1), shard: z.number().int().nonnegative() }),
]);

let runtime: Runtime | undefined;

/** An outcome without the report's rejected rows (the state machine's state stays small; reports are in S3). */
const brief = (o: ObjectOutcome) =>
  o.kind === 'ingested'
    ? { kind: o.kind, reportKey: o.reportKey, status: o.report.status, rows: o.report.rows, written: o.report.written }
    : o;

export async function handleIngestStep(input: unknown, rt: Runtime) {
  const parsed = stepSchema.safeParse(input);
  if (!parsed.success)
    throw new Error(`ingest step input is not valid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const i = parsed.data;
  const deps: FanOutDeps = { ...rt, now: () => rt.clock.now() };
  switch (i.step) {
    case 'stage':
      await stageChunk(deps, i);
      return { done: true };
    case 'apply':
      await applyShard(deps, i);
      return { done: true };
    case 'plan': {
      const plan = await planFanOut(deps, i.run);
      return {
        key: i.run.key,
        runId: i.run.runId,
        next: plan.next,
        ...(plan.next === 'chunks' ? { chunks: plan.chunks, shards: plan.shards } : {}),
        ...(plan.next === 'wait' ? { waitSeconds: plan.waitSeconds } : {}),
        ...(plan.next === 'done' ? { outcome: brief(plan.outcome) } : {}),
      };
    }
    case 'whole':
      return { key: i.run.key, runId: i.run.runId, next: 'done', outcome: brief(await ingestWholeStep(deps, i.run)) };
    case 'commit':
      return { key: i.run.key, runId: i.run.runId, next: 'done', outcome: brief(await commitFanOut(deps, i.run)) };
    case 'abort':
      await abortFanOut(deps, { runId: i.run.runId, error: i.run.error?.Cause ?? i.run.error?.Error });
      return { key: i.run.key, runId: i.run.runId, next: 'failed' };
  }
}

export const handler = async (input: unknown) => {
  runtime ??= buildRuntime();
  return handleIngestStep(input, runtime);
};
