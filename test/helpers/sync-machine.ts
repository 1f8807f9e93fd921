/**
 * Runs the nightly sync state machine (lib/constructs/sync-schedule.ts) in a test: the same states and transitions,
 * each Lambda task through the real handler, the Distributed Maps' items with bounded concurrency and a retry of a
 * failed item, waits skipped on the test clock. test/infra/stack.test.ts asserts that the deployed definition has
 * these very states.
 */
import type { Runtime } from '../../functions/app/runtime';
import { inParallel } from '../../functions/core/in-parallel';
import { handleSyncStep } from '../../functions/sync';

export interface MachineRun {
  /** Every task the machine ran, in order: `Plan`, `RemoveGroup 3`, `Decide`, … */
  tasks: string[];
  final: Record<string, unknown>;
  failed?: string;
}

export async function runSyncMachine(
  rt: Runtime,
  env: NodeJS.ProcessEnv,
  input: Record<string, unknown>,
  opts: {
    maxConcurrency: number;
    remainingMs?: number | (() => number);
    /** Attempts per Map item (the item's Retry: the first try and two retries). */
    itemAttempts?: number;
    advance?: (seconds: number) => void;
  },
): Promise<MachineRun> {
  const tasks: string[] = [];
  const remaining = () => (typeof opts.remainingMs === 'function' ? opts.remainingMs() : (opts.remainingMs ?? 600_000));
  const invoke = async (name: string, payload: Record<string, unknown>) => {
    tasks.push(name);
    return (await handleSyncStep(payload, rt, remaining(), env)) as Record<string, unknown>;
  };
  const map = async (pass: 'remove' | 'add', state: Record<string, unknown>) => {
    const groups = state.groups as number[];
    await inParallel(groups, opts.maxConcurrency, async (group) => {
      const item = { step: pass, runId: state.runId, iteration: state.iteration, group };
      for (let attempt = 1; ; attempt++) {
        try {
          // The item processor's own loop: invoke, and again while the group says it is not done.
          for (;;) {
            const out = await invoke(`${pass === 'remove' ? 'Remove' : 'Add'}Group ${group}`, item);
            if (out.done === true) return;
            opts.advance?.(1);
          }
        } catch (e) {
          if ((e as Error).name === 'LeaseLost' || attempt >= (opts.itemAttempts ?? 3)) throw e;
        }
      }
    });
  };
  let state: Record<string, unknown> = { ...input };
  for (let guard = 0; guard < 100; guard++) {
    state = await invoke('Plan', { step: 'plan', run: state });
    if (state.next === 'done') return { tasks, final: state };
    if (state.next === 'wait') {
      opts.advance?.(state.waitSeconds as number);
      continue;
    }
    try {
      await map('remove', state);
      state = await invoke('Decide', { step: 'decide', run: state });
      await map('add', state);
    } catch (e) {
      await invoke('Abort', { step: 'abort', run: state });
      return { tasks, final: state, failed: (e as Error).message };
    }
    state = await invoke('Finish', { step: 'finish', run: state });
    if (state.done === true) return { tasks, final: state };
    opts.advance?.((state.waitSeconds as number | undefined) ?? 1);
  }
  throw new Error('the sync machine did not finish in 100 iterations');
}
