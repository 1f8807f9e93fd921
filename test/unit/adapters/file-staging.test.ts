/**
 * Staging on disk gives back every line written, in order and unchanged (lines are gathered before they are written
 * and split again on reading), and leaves nothing behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileStaging } from '../../../functions/adapters/file-staging';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function roundTrip(lines: string[]): Promise<{ back: string[]; left: number }> {
  dir = mkdtempSync(join(tmpdir(), 'staging-test-'));
  const staging = await fileStaging(dir)();
  // Written in batches of every size from one line to hundreds, as ingest writes a batch of rows' lines at a time.
  for (let at = 0, size = 1; at < lines.length; at += size, size = (size % 700) + 1)
    await staging.write(lines.slice(at, at + size));
  const back: string[] = [];
  for await (const batch of staging.batches()) for (const l of batch) back.push(l);
  await staging.dispose();
  return { back, left: readdirSync(dir).length };
}

describe('fileStaging', () => {
  it('reads back every line in order: JSON with escaped breaks, non-ASCII, lines longer than a read', async () => {
    const lines = [
      JSON.stringify({ t: 'r', c: 'a', r: { note: 'two\nlines\r\n', name: 'Zoë 🌍', sep: '\u2028' } }),
      'x'.repeat(3 << 20),
      JSON.stringify({ t: 'b', ids: ['é'.repeat(700_000)] }),
      ...Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ t: 'r', c: String(i), r: { i } })),
      '{"t":"s","ids":[]}',
    ];
    const { back, left } = await roundTrip(lines);
    expect(back.length).toBe(lines.length);
    expect(back).toEqual(lines);
    expect(left).toBe(0);
  });

  it('an empty staging reads back nothing and is removed', async () => {
    const { back, left } = await roundTrip([]);
    expect(back).toEqual([]);
    expect(left).toBe(0);
  });

  it('a line written after the lines were read back is refused, not lost', async () => {
    dir = mkdtempSync(join(tmpdir(), 'staging-test-'));
    const staging = await fileStaging(dir)();
    await staging.write(['{"t":"r","c":"a"}']);
    const back: string[] = [];
    for await (const batch of staging.batches()) for (const l of batch) back.push(l);
    await expect(staging.write(['{"t":"r","c":"b"}'])).rejects.toThrow(/after its lines were read back/);
    expect(back).toEqual(['{"t":"r","c":"a"}']);
    await staging.dispose();
  });

  it('dispose without reading removes the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'staging-test-'));
    const staging = await fileStaging(dir)();
    await staging.write(['{"t":"r"}']);
    await staging.dispose();
    expect(existsSync(dir) && readdirSync(dir).length).toBe(0);
  });
});
