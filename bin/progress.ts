/**
 * Progress on long work, for a person at a terminal (cli-progress, drawn on stderr): bytes read and rows/s while an
 * export is read, batches sent and rate-limit waits while a sync runs. Only when both stdout and stderr are TTYs:
 * piped, redirected or in CI nothing is drawn and the output is exactly what it is without it.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import cliProgress from 'cli-progress';
import type { SourceEntry } from '../functions/core/ingest';
import type { BatchMember, Clock, Destination } from '../functions/core/ports';
import { readExport } from '../functions/reading';
import { isInteractive } from './tty';

const bytes = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
const count = (n: number) => Math.round(n).toLocaleString('en-US');

type Source = { name: string; open(): Promise<Readable> };

export class TerminalProgress {
  private readonly bars: cliProgress.MultiBar;

  constructor(stream: NodeJS.WritableStream = process.stderr) {
    this.bars = new cliProgress.MultiBar(
      {
        stream: stream as NodeJS.WriteStream,
        format: '{label} {bar} {detail}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        fps: 8,
        forceRedraw: true,
        // Drawn only where the caller decided a person watches (see forTerminal).
        noTTYOutput: true,
        notTTYSchedule: 250,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  /** A progress display when a person watches this process, else undefined (and nothing changes). */
  static forTerminal(): TerminalProgress | undefined {
    return isInteractive(process.stdout) && isInteractive(process.stderr) ? new TerminalProgress() : undefined;
  }

  /** Reads an export as readExport does, counting bytes (of `size`, when known) and rows as they are read. */
  read(label: string, source: Source, size: number | undefined): AsyncIterable<SourceEntry> {
    const bar = this.bars.create(size || 1, 0, { label, detail: 'opening…' });
    const started = Date.now();
    let read = 0;
    let rows = 0;
    let seconds = 0;
    let done = false;
    const draw = () => {
      if (!done) seconds = Math.max(0.001, (Date.now() - started) / 1000);
      const stored = this.stored ? ` · ${count(this.stored)} contacts written` : '';
      bar.update(Math.min(read, size || read), {
        label,
        detail: `${bytes(read)}${size ? ` of ${bytes(size)}` : ''} · ${count(rows)} rows · ${count(rows / seconds)} rows/s${stored}`,
      });
    };
    // Writes to the store after the file was read show on this file's line.
    this.stored = 0;
    this.redraw = draw;
    const counted: Source = {
      name: source.name,
      open: async () => {
        const body = await source.open();
        // Each open reads the file again from the start (a zip is opened more than once).
        read = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            read += chunk.length;
            draw();
            done(null, chunk);
          },
        });
        return pipeline(body, counter, () => {});
      },
    };
    const entries = readExport(counted);
    const bars = this.bars;
    return (async function* () {
      try {
        for await (const entry of entries) {
          const inner = entry.rows;
          yield {
            ...entry,
            rows: (async function* () {
              for await (const row of inner) {
                rows++;
                if ((rows & 1023) === 0) draw();
                yield row;
              }
            })(),
            // Records read as chunks for worker threads: counted as they are framed.
            chunks: (options?: Parameters<typeof entry.chunks>[0]) =>
              (async function* () {
                for await (const chunk of entry.chunks(options)) {
                  rows += chunk.ends.length;
                  draw();
                  yield chunk;
                }
              })(),
            // Ingest reads by batches when an entry has them: counted as they are read.
            batches: () =>
              (async function* () {
                for await (const batch of entry.batches()) {
                  rows += batch.length;
                  draw();
                  yield batch;
                }
              })(),
          };
        }
      } finally {
        // The bar stays, with its final numbers (rows/s of the reading itself).
        draw();
        done = true;
        bar.stop();
        bars.update();
      }
    })();
  }

  private stored = 0;
  private redraw?: () => void;

  /** A store whose contact writes count on the line of the file being ingested. */
  store<S extends { putContacts(records: unknown[], hashes: string[]): Promise<number> }>(store: S): S {
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'putContacts')
          return async (records: unknown[], hashes: string[]) => {
            const n = await v.call(target, records, hashes);
            this.stored += records.length;
            this.redraw?.();
            return n;
          };
        return v.bind(target);
      },
    });
  }

  private syncBar?: cliProgress.SingleBar;
  private batches = 0;
  private people = 0;

  private syncLine(wait?: string) {
    this.syncBar ??= this.bars.create(0, 0, { label: 'sync', detail: '' }, { format: '{label}: {detail}' });
    this.syncBar.update(0, {
      label: 'sync',
      detail: `${count(this.batches)} batches sent (${count(this.people)} people)${wait ? ` · ${wait}` : ''}`,
    });
  }

  /** A destination whose add/remove/replace calls count as sent batches. */
  destination(id: string, d: Destination | undefined): Destination | undefined {
    if (!d) return d;
    const sent = async <T>(call: () => Promise<T>, batch: BatchMember[]) => {
      this.syncLine(`${id}: sending ${count(batch.length)}`);
      const out = await call();
      this.batches++;
      this.people += batch.length;
      this.syncLine();
      return out;
    };
    return new Proxy(d, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'add' || prop === 'remove' || prop === 'replace')
          return (audience: unknown, batch: BatchMember[], ...rest: unknown[]) =>
            sent(() => v.call(target, audience, batch, ...rest), batch);
        return v.bind(target);
      },
    });
  }

  /** A clock whose waits (rate-limit pauses, backoff) show how long they last. */
  clock(c: Clock): Clock {
    return {
      now: () => c.now(),
      sleep: async (ms) => {
        if (ms >= 1000) this.syncLine(`waiting ${Math.round(ms / 1000)} s (platform rate limit or retry)`);
        await c.sleep(ms);
        this.syncLine();
      },
    };
  }

  /** Draws the final numbers and gives the terminal back (cursor shown); safe to call more than once. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.update();
    this.bars.stop();
  }

  private stopped = false;
}
