/**
 * Staging on local disk (the ingest Lambda's /tmp): what one drop will change, written while the file is read and
 * applied once it was read in full. Lines hold hashes and attributes only, as the table does; the file is deleted in
 * every case when the ingest ends.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StagingArea } from '../core/ports';

export function fileStaging(dir = tmpdir()): () => Promise<StagingArea> {
  return async () => {
    const folder = mkdtempSync(join(dir, 'audience-sync-stage-'));
    const path = join(folder, 'stage.jsonl');
    const out = createWriteStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
    let open = true;
    const closed = () =>
      new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    return {
      write: async (line) => {
        if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
      },
      lines: async function* () {
        if (open) {
          open = false;
          await closed();
        }
        const rl = createInterface({
          input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }),
          crlfDelay: Number.POSITIVE_INFINITY,
        });
        for await (const line of rl) if (line !== '') yield line;
      },
      dispose: async () => {
        if (open) {
          open = false;
          await closed().catch(() => undefined);
        }
        rmSync(folder, { recursive: true, force: true });
      },
    };
  };
}
