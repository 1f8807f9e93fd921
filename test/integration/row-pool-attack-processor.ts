/**
 * The product's row processor (functions/app/row-processor.ts), with two ways to fail on a marker in a chunk's text,
 * for row-pool-attack.test.ts: `THROW-IN-WORKER` throws (a processor exception), `EXIT-THIS-WORKER` ends the worker
 * thread (a crash: what an out-of-memory kill does).
 */
import { processor as real } from '../../functions/app/row-processor';
import type { ChunkProcessor } from '../../functions/reading/pool';
import type { RecordChunk } from '../../functions/reading/records';

export const processor: ChunkProcessor<unknown, unknown> = {
  init(job) {
    const read = real.init(job as Parameters<typeof real.init>[0]);
    return (chunk: RecordChunk) => {
      if (chunk.text.includes('THROW-IN-WORKER')) throw new Error('processor failed on a chunk');
      if (chunk.text.includes('EXIT-THIS-WORKER')) process.exit(7);
      return read(chunk);
    };
  },
};
