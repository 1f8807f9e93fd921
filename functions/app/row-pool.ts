/**
 * A RowPool over worker threads (reading/pool.ts) running the ingest's chunk processor (row-processor.ts), and how
 * many threads a machine should use for it.
 */
import { availableParallelism } from 'node:os';
import type { RowPool } from '../core/ports';
import type { ChunkOutcome, RowJob } from '../core/row-chunks';
import { type ChunkProcessor, RecordPool } from '../reading/pool';
import { type RecordChunk, splitChunk } from '../reading/records';
import { processor as rowProcessor } from './row-processor';

export interface RowPoolOptions {
  threads: number;
  /**
   * The script the workers run. Default: the pool's worker loading `row-processor` (development, tests, a bundle
   * with both files). A single-file bundle (the ingest Lambda) passes its own URL with `processorInScript`.
   */
  workerScript?: URL;
  processorInScript?: boolean;
  /** The processor module (default: row-processor next to this file). */
  module?: URL;
  /** The calling thread reads chunks too while it waits for the workers (default true; see RecordPool). */
  helpInline?: boolean;
}

export interface ClosableRowPool extends RowPool {
  readonly threads: number;
  close(): Promise<void>;
}

/**
 * Worker threads to read rows with on this machine: one fewer than its cores (three at most), the reading thread reading rows too
 * while it waits for them (`helpInline`), so on two cores one worker and the reading thread share the rows without a
 * third thread competing for them (faster, and one isolate less: ~35 MB). None on one core.
 * `AUDIENCE_SYNC_THREADS` overrides it (0: read every row in the reading thread).
 */
export function rowThreads(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const set = env.AUDIENCE_SYNC_THREADS;
  if (set !== undefined && set.trim() !== '') {
    const n = Number(set);
    if (!Number.isInteger(n) || n < 0 || n > 64)
      throw new Error(`AUDIENCE_SYNC_THREADS must be a whole number from 0 to 64, got ${JSON.stringify(set)}`);
    return n;
  }
  // At most three: each worker is an isolate of ~40 MB, and reading (one thread) feeds three at most.
  return cores >= 2 ? Math.min(cores - 1, 3) : 0;
}

/** Files smaller than this are read in one thread: starting the workers (~0.3 s) would cost more than they save. */
export const POOL_MIN_BYTES = 16 * 1024 * 1024;

/** A pool of `threads` workers (none: undefined, and ingest reads every row in its own thread). */
export function createRowPool(options: RowPoolOptions): ClosableRowPool | undefined {
  if (options.threads <= 0) return undefined;
  const ts = import.meta.url.endsWith('.ts');
  const pool = new RecordPool({
    module: options.processorInScript
      ? undefined
      : (options.module ?? new URL(`./row-processor${ts ? '.ts' : '.js'}`, import.meta.url)),
    threads: options.threads,
    workerScript: options.workerScript,
    processorInScript: options.processorInScript,
    processor: rowProcessor as ChunkProcessor<unknown, unknown>,
    helpInline: options.helpInline ?? true,
    // A worker holds a job's mapper and a few chunks: bounded heaps keep the threads' garbage out of the RSS.
    resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 16 },
  });
  return {
    threads: pool.threads,
    split: (chunk) => splitChunk(chunk as RecordChunk).events,
    map: (chunks, job: RowJob) => pool.map<RowJob, ChunkOutcome>(chunks as AsyncIterable<RecordChunk>, job),
    close: () => pool.close(),
  };
}
