/**
 * The message loop of a RecordPool worker: one processing function per job, one answer per chunk (its result or
 * its error), in the order received. `pool-worker.ts` runs it with the processor module named in workerData; a
 * single-file bundle (the ingest Lambda) runs it from its own entry when started as a pool worker
 * (`isPoolWorker(workerData)`), with the processor it already holds.
 */
import { parentPort } from 'node:worker_threads';
import type { ChunkProcessor } from './pool';
import type { RecordChunk } from './records';

type Message =
  | { type: 'job'; job: number; init: unknown }
  | { type: 'chunk'; job: number; seq: number; chunk: RecordChunk }
  | { type: 'end'; job: number };

/** True in a worker thread a RecordPool started with `processorInScript` (the script serves its own processor). */
export function isPoolWorker(data: unknown): boolean {
  return (
    typeof data === 'object' && data !== null && (data as { processorInScript?: unknown }).processorInScript === true
  );
}

export function servePool(processor: ChunkProcessor<unknown, unknown>): void {
  const port = parentPort;
  if (!port) throw new Error('a pool worker runs in a worker thread');
  const jobs = new Map<number, { fn?: (chunk: RecordChunk) => unknown; error?: Error }>();
  port.on('message', (m: Message) => {
    if (m.type === 'job') {
      try {
        jobs.set(m.job, { fn: processor.init(m.init) });
      } catch (e) {
        jobs.set(m.job, { error: e as Error });
      }
      return;
    }
    if (m.type === 'end') {
      jobs.delete(m.job);
      return;
    }
    const job = jobs.get(m.job);
    try {
      if (!job) throw new Error(`pool worker: no job ${m.job}`);
      if (job.error) throw job.error;
      port.postMessage({
        type: 'result',
        job: m.job,
        seq: m.seq,
        result: (job.fn as (c: RecordChunk) => unknown)(m.chunk),
      });
    } catch (e) {
      const err = e as Error;
      port.postMessage({ type: 'error', job: m.job, seq: m.seq, message: err.message ?? String(e), stack: err.stack });
    }
  });
  port.postMessage({ type: 'ready' });
}
