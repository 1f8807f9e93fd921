/**
 * The sweep of stale stagings never fails the staging it runs for: a folder it may not remove (another user's, in a
 * shared /tmp with the sticky bit) is left where it is, and the new staging works.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';

const refused = new Set<string>();
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    rmSync: (path: fs.PathLike, options?: fs.RmOptions) => {
      if (refused.has(String(path)))
        throw Object.assign(new Error(`EPERM: operation not permitted, rm '${path}'`), { code: 'EPERM' });
      return real.rmSync(path, options);
    },
  };
});

const { fileStaging } = await import('../../../functions/adapters/file-staging');

let dir: string | undefined;
afterEach(() => {
  refused.clear();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

it('a stale staging it may not remove is skipped, the other stale one removed, and the new staging works', async () => {
  dir = fs.mkdtempSync(join(tmpdir(), 'staging-sweep-'));
  // Both of a process that had this pid and started at another time: stale.
  const notMine = join(dir, `audience-sync-stage-${process.pid}-1-Aa1Bb2`);
  const removable = join(dir, `audience-sync-stage-${process.pid}-1-Cc3Dd4`);
  for (const f of [notMine, removable]) {
    fs.mkdirSync(f);
    fs.writeFileSync(join(f, 'stage.jsonl'), 'x');
  }
  refused.add(notMine);
  const removed: string[] = [];
  const staging = await fileStaging(dir, { onStale: (f) => removed.push(f) })();
  expect(removed).toEqual([removable]);
  expect(fs.existsSync(notMine)).toBe(true);
  await staging.write(['{"t":"r"}']);
  const back: string[] = [];
  for await (const b of staging.batches()) back.push(...b);
  expect(back).toEqual(['{"t":"r"}']);
  await staging.dispose();
});
