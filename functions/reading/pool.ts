/**
 * Worker threads for record chunks: the reading thread frames (entry.chunks()), a fixed pool of workers splits and
 * processes each chunk with a pure function, and the results come back in chunk order.
 *
 * The processing function lives in a module that both the pool's workers and the reading thread can import (so the
 * same code runs inline when `threads` is 0). It exports a {@link ChunkProcessor}: `init(jobInit)` is called once per
 * job in each worker (e.g. to compile a row mapper for one file), and the function it returns is applied to every
 * chunk of that job. Inputs and results cross threads by structured clone, so they must be plain data.
 *
 * ```ts
 * // my-processor.ts
 * export const processor: ChunkProcessor<{ header: string[] }, { rows: number }> = {
 *   init: (job) => (chunk) => ({ rows: splitChunk(chunk).rows }),
 * };
 * // caller
 * const pool = new RecordPool({ module: new URL('./my-processor.ts', import.meta.url), threads: 2 });
 * for await (const r of pool.map(entry.chunks(), { header: entry.header })) total += r.rows;
 * await pool.close();
 * ```
 *
 * Memory stays bounded: at most `inFlight` chunks at the workers (default 2 per thread, 8 with `helpInline`, which
 * adds at most 8 the calling thread processed) are read ahead of the results the caller
 * has consumed. A processor error rejects the iteration with that error; `close()` stops the workers.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RecordChunk } from './records';

/** A pure, serializable chunk processing function, made once per job (per worker). */
export interface ChunkProcessor<I, R> {
  init(job: I): (chunk: RecordChunk) => R;
}

export interface PoolOptions {
  /**
   * URL of the module exporting the processor (named export `processor` unless `exportName` says otherwise).
   * A `.ts` module works where tsx can load it (the workers are started with `--import tsx` then); a bundled
   * deployment points this at its bundled `.js` module.
   */
  module?: URL;
  exportName?: string;
  /** The processor itself, for `threads: 0` (then `module` is not needed and nothing is imported) and `helpInline`. */
  processor?: ChunkProcessor<unknown, unknown>;
  /**
   * The calling thread processes chunks too (with `processor`) while the oldest result is still on its way, so
   * `threads` workers and the caller share the work: on two cores one worker and the caller, without a third thread.
   */
  helpInline?: boolean;
  /** Worker threads; 0 processes every chunk inline, in the calling thread. Default: available cores. */
  threads?: number;
  /** Script the workers run (default: pool-worker next to this file); for bundled deployments. */
  workerScript?: URL;
  /**
   * The worker script serves the processor itself (`isPoolWorker(workerData)` → `servePool(processor)`, see
   * pool-serve.ts): a single-file bundle started again as its own worker. `module` is then not imported.
   */
  processorInScript?: boolean;
  /**
   * V8 heap limits of each worker (MB). A worker's live set is one chunk and its processor; without limits each
   * isolate grows its heap like a main thread would, and the threads' garbage adds up in the process's RSS.
   */
  resourceLimits?: { maxOldGenerationSizeMb?: number; maxYoungGenerationSizeMb?: number };
}

export interface MapOptions {
  /** Chunks at the workers ahead of the results consumed (default 2 per thread; 8 with `helpInline`). */
  inFlight?: number;
}

type ToWorker =
  | { type: 'job'; job: number; init: unknown }
  | { type: 'chunk'; job: number; seq: number; chunk: RecordChunk }
  | { type: 'end'; job: number };

type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; job: number; seq: number; result: unknown }
  | { type: 'error'; job: number; seq: number; message: string; stack?: string };

interface Slot {
  worker: Worker;
  busy: number;
  jobs: Set<number>;
  /** Its worker exited before it was ready (and was not replaced). */
  dead?: boolean;
}

/** Loads the processor export of a module. */
export async function loadProcessor<I, R>(module: URL, exportName = 'processor'): Promise<ChunkProcessor<I, R>> {
  const mod = (await import(module.href)) as Record<string, unknown>;
  const p = mod[exportName] as ChunkProcessor<I, R> | undefined;
  if (!p || typeof p.init !== 'function')
    throw new Error(`${module.href} has no ChunkProcessor export "${exportName}"`);
  return p;
}

const isTs = (u: URL) => /\.[cm]?ts$/.test(u.pathname);

/** Chunks the calling thread may process ahead of the oldest worker result (with `helpInline`). */
const HELP_AHEAD = 8;

export class RecordPool {
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly options: PoolOptions;
  private nextJob = 1;
  private inline?: Promise<ChunkProcessor<unknown, unknown>>;
  private readonly waiting = new Map<string, { resolve(v: unknown): void; reject(e: Error): void }>();
  private ready!: Promise<void>;
  private closed = false;

  constructor(options: PoolOptions) {
    this.options = options;
    this.threads = Math.max(0, Math.floor(options.threads ?? availableParallelism()));
    if (options.processor) this.inline = Promise.resolve(options.processor);
    const module = options.module ?? (options.processorInScript ? options.workerScript : undefined);
    if (this.threads > 0 && module === undefined)
      throw new Error('a RecordPool with threads needs its processor module');
    if (module === undefined || this.threads === 0) {
      this.ready = Promise.resolve();
      return;
    }
    const script = options.workerScript ?? new URL(`./pool-worker${isTs(module) ? '.ts' : '.js'}`, import.meta.url);
    // Node 20 workers do not inherit module hooks: a TypeScript worker script is started through tsx's API.
    const entry = isTs(script) ? new URL('./pool-bootstrap.mjs', import.meta.url) : script;
    const workerData = {
      script: script.href,
      module: module.href,
      exportName: options.exportName ?? 'processor',
      processorInScript: options.processorInScript === true,
    };
    const spawn = () =>
      new Worker(entry, {
        workerData,
        ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
      });
    const readies: Promise<void>[] = [];
    for (let i = 0; i < this.threads; i++) {
      const slot: Slot = { worker: spawn(), busy: 0, jobs: new Set() };
      readies.push(this.watch(slot, spawn));
      this.slots.push(slot);
    }
    // Settles when every worker is ready or gone: a worker that never starts is marked dead, never awaited forever.
    this.ready = Promise.allSettled(readies).then(() => undefined);
  }

  /**
   * Listens to a slot's worker; resolves once it is ready. A worker that exits after it was ready (a crash, an
   * out-of-memory kill) fails what was waiting and is replaced in its slot, so a pool kept for a process's life (the
   * ingest function's) goes on reading the next files instead of sending them to a dead thread.
   */
  private watch(slot: Slot, spawn: () => Worker): Promise<void> {
    const { worker } = slot;
    let ready = false;
    worker.on('error', (e) => this.failAll(e));
    let notReady: (e: Error) => void = () => {};
    worker.on('exit', (code) => {
      if (this.closed) return;
      const e = new Error(`a pool worker exited with code ${code}`);
      this.failAll(e);
      if (!ready) {
        // It never started (a script that does not serve, a module that does not load): not replaced, and the
        // pool reads in the calling thread once no worker is left (see map).
        slot.dead = true;
        notReady(e);
        return;
      }
      slot.worker = spawn();
      slot.busy = 0;
      slot.jobs = new Set();
      this.watch(slot, spawn).catch(() => undefined);
    });
    return new Promise<void>((resolve, reject) => {
      notReady = reject;
      worker.once('error', reject);
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          worker.off('error', reject);
          resolve();
          return;
        }
        this.settle(slot, m);
      });
    });
  }

  /** Processes `chunks` with the processor initialised by `init`; yields the results in chunk order. */
  async *map<I, R>(chunks: AsyncIterable<RecordChunk>, init: I, options: MapOptions = {}): AsyncGenerator<R> {
    if (this.closed) throw new Error('the pool is closed');
    if (this.threads === 0) {
      this.inline ??= loadProcessor(this.options.module as URL, this.options.exportName);
      const fn = ((await this.inline) as ChunkProcessor<I, R>).init(init);
      for await (const chunk of chunks) yield fn(chunk);
      return;
    }
    await this.ready;
    if (!this.slots.some((s) => !s.dead)) {
      // No worker could be started: the same processor in this thread, if the pool has one, rather than no reading.
      const local = this.options.processor as ChunkProcessor<I, R> | undefined;
      if (!local) throw new Error('no pool worker could be started');
      const fn = local.init(init);
      for await (const chunk of chunks) yield fn(chunk);
      return;
    }
    const job = this.nextJob++;
    const inFlight = Math.max(1, options.inFlight ?? this.threads * (this.options.helpInline ? 8 : 2));
    // Results in chunk order: a worker's (on its way until `settled`) or one this thread made while it waited.
    const pending: Array<{ result: Promise<R>; settled: boolean; worker: boolean }> = [];
    let atWorkers = 0;
    const helper = this.options.helpInline ? this.options.processor : undefined;
    let help: ((chunk: RecordChunk) => R) | undefined;
    const used = new Set<Slot>();
    const source = chunks[Symbol.asyncIterator]();
    let done = false;
    let sent = 0;
    try {
      for (;;) {
        while (!done && atWorkers < inFlight) {
          const n = await source.next();
          if (n.done) {
            done = true;
            break;
          }
          const slot = this.pick();
          if (!slot.jobs.has(job)) {
            slot.jobs.add(job);
            used.add(slot);
            slot.worker.postMessage({ type: 'job', job, init } satisfies ToWorker);
          }
          const entry = { result: this.send<R>(slot, job, sent++, n.value), settled: false, worker: true };
          // Rejections are seen when this result's turn comes; until then they must not count as unhandled.
          entry.result.then(
            () => {
              entry.settled = true;
            },
            () => {
              entry.settled = true;
            },
          );
          pending.push(entry);
          atWorkers++;
        }
        // While the oldest result is still on its way, this thread processes the next chunks itself (a bounded
        // number ahead): on two cores, one worker and this thread share the rows without a third thread competing.
        while (
          helper &&
          !done &&
          pending.length > 0 &&
          !pending[0]?.settled &&
          pending.length < inFlight + HELP_AHEAD
        ) {
          const n = await source.next();
          if (n.done) {
            done = true;
            break;
          }
          help ??= (helper as ChunkProcessor<I, R>).init(init);
          let result: Promise<R>;
          try {
            result = Promise.resolve(help(n.value));
          } catch (e) {
            // Thrown in its turn, after the results before it, as a worker's error would be.
            result = Promise.reject(e);
            result.catch(() => undefined);
          }
          pending.push({ result, settled: true, worker: false });
        }
        const next = pending.shift();
        if (next === undefined) return;
        if (next.worker) atWorkers--;
        yield await next.result;
      }
    } finally {
      if (!done) await source.return?.();
      // Results still pending (an early break or an error) are awaited so no worker keeps a job's state.
      await Promise.allSettled(pending.map((e) => e.result));
      for (const slot of used) {
        slot.jobs.delete(job);
        slot.worker.postMessage({ type: 'end', job } satisfies ToWorker);
      }
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.failAll(new Error('the pool was closed'));
  }

  private pick(): Slot {
    let best = this.slots[0] as Slot;
    for (const s of this.slots) if (best.dead || (!s.dead && s.busy < best.busy)) best = s;
    return best;
  }

  private send<R>(slot: Slot, job: number, seq: number, chunk: RecordChunk): Promise<R> {
    // A chunk for a stopped worker would never be answered: the pool was closed (while in use), or a worker died.
    if (this.closed) return Promise.reject(new Error('the pool was closed'));
    if (slot.dead) return Promise.reject(new Error('a pool worker could not be started'));
    slot.busy++;
    return new Promise<R>((resolve, reject) => {
      this.waiting.set(`${job}:${seq}`, { resolve: resolve as (v: unknown) => void, reject });
      const transfer = [chunk.ends.buffer, chunk.lines.buffer].filter(
        (b, i, all): b is ArrayBuffer => b instanceof ArrayBuffer && all.indexOf(b) === i,
      );
      slot.worker.postMessage({ type: 'chunk', job, seq, chunk } satisfies ToWorker, transfer);
    });
  }

  private settle(slot: Slot, m: Exclude<FromWorker, { type: 'ready' }>): void {
    slot.busy--;
    const key = `${m.job}:${m.seq}`;
    const w = this.waiting.get(key);
    if (!w) return;
    this.waiting.delete(key);
    if (m.type === 'result') w.resolve(m.result);
    else {
      const e = new Error(m.message);
      if (m.stack) e.stack = m.stack;
      w.reject(e);
    }
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
