/**
 * Runs the ingest fan-out state machine (lib/constructs/ingest-fan-out.ts) in a test: the same states and
 * transitions, each task through the real ingest steps handler, the Distributed Maps' items with bounded concurrency
 * and a retry of a failed item. test/infra/stack.test.ts asserts that the deployed definition has these states.
 */
import type { Runtime } from '../../functions/app/runtime';
import { inParallel } from '../../functions/core/in-parallel';
import { handleIngestStep } from '../../functions/ingest-steps';

export interface IngestMachineRun {
  tasks: string[];
  final: Record<string, unknown>;
  failed?: string;
}

export async function runIngestMachine(
  rt: Runtime,
  input: { key: string; runId: string },
  opts: { maxConcurrency: number; itemAttempts?: number; beforeCommit?: () => Promise<void> },
): Promise<IngestMachineRun> {
  const tasks: string[] = [];
  const invoke = async (name: string, payload: Record<string, unknown>) => {
    tasks.push(name);
    return (await handleIngestStep(payload, rt)) as Record<string, unknown>;
  };
  const map = async (name: string, items: number[], payload: (i: number) => Record<string, unknown>) => {
    await inParallel(items, opts.maxConcurrency, async (item) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await invoke(`${name} ${item}`, payload(item));
          return;
        } catch (e) {
          if ((e as Error).name === 'LeaseLost' || attempt >= (opts.itemAttempts ?? 3)) throw e;
        }
      }
    });
  };
  let state: Record<string, unknown> = { ...input };
  for (let guard = 0; guard < 50; guard++) {
    state = await invoke('Plan', { step: 'plan', run: state });
    if (state.next === 'wait') continue;
    if (state.next === 'whole') return { tasks, final: await invoke('IngestWhole', { step: 'whole', run: state }) };
    if (state.next !== 'chunks') return { tasks, final: state };
    try {
      await map('StageChunk', state.chunks as number[], (chunk) => ({ step: 'stage', runId: state.runId, chunk }));
      await map('ApplyShard', state.shards as number[], (shard) => ({ step: 'apply', runId: state.runId, shard }));
    } catch (e) {
      const error = { Error: (e as Error).name, Cause: (e as Error).message };
      await invoke('Abort', { step: 'abort', run: { ...state, error } });
      return { tasks, final: state, failed: (e as Error).message };
    }
    await opts.beforeCommit?.();
    return { tasks, final: await invoke('Commit', { step: 'commit', run: state }) };
  }
  throw new Error('the ingest machine did not finish in 50 plans');
}
