/**
 * Staging on local disk (the ingest Lambda's /tmp): what one drop will change, written while the file is read and
 * applied once it was read in full. Lines hold hashes and attributes only, as the table does; the file is deleted in
 * every case when the ingest ends.
 *
 * Lines are gathered and written some 256 KiB at a time (one write of a million small strings cost more than the
 * rows' own JSON), and read back a megabyte at a time, split on newlines: a staged line is JSON, whose strings
 * escape every line break, so a newline always ends a line.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StagingArea } from '../core/ports';

/** Characters gathered before they are written. */
const WRITE_CHARS = 1 << 18;

export function fileStaging(dir = tmpdir()): () => Promise<StagingArea> {
  return async () => {
    const folder = mkdtempSync(join(dir, 'audience-sync-stage-'));
    const path = join(folder, 'stage.jsonl');
    const out = createWriteStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
    let open = true;
    let gathered: string[] = [];
    let gatheredChars = 0;
    const flush = async () => {
      if (gathered.length === 0) return;
      const text = `${gathered.join('\n')}\n`;
      gathered = [];
      gatheredChars = 0;
      if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
    };
    const close = async () => {
      open = false;
      await flush();
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    };
    return {
      write: async (lines) => {
        // A line after the read-back would never reach the file: a caller's bug, said at once, not a lost line.
        if (!open) throw new Error('staging was written after its lines were read back');
        for (const line of lines) {
          gathered.push(line);
          gatheredChars += line.length + 1;
        }
        if (gatheredChars >= WRITE_CHARS) await flush();
      },
      batches: async function* () {
        if (open) await close();
        let rest = '';
        for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
          const text = rest === '' ? (chunk as string) : rest + (chunk as string);
          const batch: string[] = [];
          let from = 0;
          for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
            if (nl > from) batch.push(text.slice(from, nl));
            from = nl + 1;
          }
          rest = text.slice(from);
          if (batch.length) yield batch;
        }
        if (rest !== '') yield [rest];
      },
      dispose: async () => {
        if (open) await close().catch(() => undefined);
        rmSync(folder, { recursive: true, force: true });
      },
    };
  };
}
