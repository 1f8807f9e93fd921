import type { Readable } from 'node:stream';

/**
 * Pulls Buffers from a stream one chunk at a time, with push-back, so a sample can be read first and
 * the same bytes parsed again. `onBytes` sees every byte the stream produced (for size limits) and may throw.
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<unknown>;
  private readonly pushedBack: Buffer[] = [];
  private done = false;
  /** Bytes produced by the underlying stream so far. */
  bytesRead = 0;

  constructor(
    stream: NodeJS.ReadableStream | Readable,
    private readonly onBytes?: (total: number, chunk: Buffer) => void,
  ) {
    this.iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  /** Next chunk, or `null` at the end of the stream. */
  async next(): Promise<Buffer | null> {
    const back = this.pushedBack.pop();
    if (back !== undefined) return back;
    if (this.done) return null;
    const r = await this.iterator.next();
    if (r.done) {
      this.done = true;
      return null;
    }
    const v = r.value;
    const chunk = Buffer.isBuffer(v)
      ? v
      : typeof v === 'string'
        ? Buffer.from(v, 'utf8')
        : Buffer.from(v as Uint8Array);
    this.bytesRead += chunk.length;
    this.onBytes?.(this.bytesRead, chunk);
    return chunk;
  }

  /** Puts a chunk back; it is returned by the next `next()`. */
  unshift(chunk: Buffer): void {
    if (chunk.length > 0) this.pushedBack.push(chunk);
  }

  /**
   * Reads until at least `min` bytes are buffered or the stream ends, then keeps reading while `more(buf)`
   * says so and the buffer is under `max`. Returns the bytes read (they are consumed) and whether the stream ended.
   */
  async readSample(
    min: number,
    max: number,
    more: (buf: Buffer) => boolean = () => false,
  ): Promise<{ bytes: Buffer; ended: boolean }> {
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      if (size >= min) {
        const joined = Buffer.concat(parts, size);
        if (size >= max || !more(joined)) return { bytes: joined, ended: false };
      }
      const chunk = await this.next();
      if (chunk === null) return { bytes: Buffer.concat(parts, size), ended: true };
      parts.push(chunk);
      size += chunk.length;
    }
  }

  /** Stops the underlying stream (destroys it). Safe to call twice. */
  async close(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.iterator.return?.();
  }
}
