/**
 * The script every RecordPool worker runs: loads the processor module named in workerData, keeps one processing
 * function per job, and answers each chunk with its result (or its error), in the order received.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type ChunkProcessor, loadProcessor } from './pool';
import type { RecordChunk } from './records';

type Message =
  | { type: 'job'; job: number; init: unknown }
  | { type: 'chunk'; job: number; seq: number; chunk: RecordChunk }
  | { type: 'end'; job: number };

const port = parentPort;
if (!port) throw new Error('pool-worker runs in a worker thread');
const { module, exportName } = workerData as { module: string; exportName: string };
const processor: ChunkProcessor<unknown, unknown> = await loadProcessor(new URL(module), exportName);
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
