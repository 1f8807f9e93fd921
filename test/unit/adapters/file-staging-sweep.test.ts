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
    // Another user's folder in a sticky /tmp: this process may neither move nor remove it.
    renameSync: (from: fs.PathLike, to: fs.PathLike) => {
      if (refused.has(String(from)))
        throw Object.assign(new Error(`EPERM: operation not permitted, rename '${from}'`), { code: 'EPERM' });
      return real.renameSync(from, to);
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
  // Both named before folders carried their owner, unchanged for two hours: stale.
  const notMine = join(dir, 'audience-sync-stage-Aa1Bb2');
  const removable = join(dir, 'audience-sync-stage-Cc3Dd4');
  for (const f of [notMine, removable]) {
    fs.mkdirSync(f);
    fs.writeFileSync(join(f, 'stage.jsonl'), 'x');
    // By the file system's clock, which the sweep reads ages against (the suite also runs with a faked one).
    const twoHoursAgo = (fs.statSync(join(f, 'stage.jsonl')).mtimeMs - 2 * 3600_000) / 1000;
    fs.utimesSync(join(f, 'stage.jsonl'), twoHoursAgo, twoHoursAgo);
    fs.utimesSync(f, twoHoursAgo, twoHoursAgo);
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
