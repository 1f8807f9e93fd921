/**
 * The ingest's chunk processor for worker threads: a chunk of unsplit records in, its rows split, mapped,
 * normalized and hashed as the reading thread would read them (core/row-chunks.ts), one outcome out.
 */
import { compactIndexFromBytes } from '../core/compact-index';
import { serializeRecord } from '../core/contact-content';
import { type ChunkOutcome, chunkReader, type RowJob } from '../core/row-chunks';
import { PLATFORMS } from '../platforms/registry';
import type { ChunkProcessor } from '../reading/pool';
import { splitChunk } from '../reading/records';

export const processor: ChunkProcessor<RowJob, ChunkOutcome> = {
  init(job) {
    const read = chunkReader(job, PLATFORMS, serializeRecord, compactIndexFromBytes);
    return (chunk) => {
      return read(splitChunk(chunk).events);
    };
  },
};
