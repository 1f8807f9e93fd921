/** A chunk processor for the pool tests: first cells of each row, tagged with the job's label. */
import type { ChunkProcessor } from '../../../functions/reading/pool';
import { splitChunk } from '../../../functions/reading/records';

export interface Init {
  label: string;
  /** Throw on the chunk with this seq. */
  failAt?: number;
}

export const processor: ChunkProcessor<Init, { seq: number; label: string; firsts: string[]; errors: number }> = {
  init(job) {
    if (job.label === 'bad-init') throw new Error('init refused');
    return (chunk) => {
      if (chunk.seq === job.failAt) throw new Error(`chunk ${chunk.seq} refused`);
      const r = splitChunk(chunk);
      return {
        seq: chunk.seq,
        label: job.label,
        firsts: r.events.flatMap((e) => (e.kind === 'row' ? [e.cells[0] as string] : [])),
        errors: r.errors,
      };
    };
  },
};
