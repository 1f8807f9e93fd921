/**
 * `npm start` runs `--as-of` the samples' export day, so the demo's date rules see the same "now" whatever today is
 * (the whole suite is also run two years ahead under faketime by ../tools/fresh-check and can be by hand).
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runLocal } from '../../bin/local/run-local';
import { parseAsOf } from '../../functions/app/runtime';
import { SAMPLES_AS_OF } from '../helpers/harness';

it('evaluates the demo as of the samples’ export day, not today', async () => {
  const work = mkdtempSync(join(tmpdir(), 'as-demo-date-'));
  cpSync(join(process.cwd(), 'samples'), join(work, 'samples'), { recursive: true });
  const r = await runLocal({
    input: join(work, 'samples'),
    out: join(work, 'out'),
    state: join(work, 'state'),
    config: join(process.cwd(), 'config', 'audiences.example.yaml'),
    asOf: SAMPLES_AS_OF,
    print: () => {},
  });
  const drift = Date.parse(r.sync.startedAt) - Date.parse(SAMPLES_AS_OF);
  expect(drift).toBeGreaterThanOrEqual(0);
  expect(drift).toBeLessThan(10 * 60_000);
  // Date rules still select people as of that day.
  expect(r.sync.segments.find((s) => s.id === 'engaged-90d')?.eligible).toBeGreaterThan(0);
}, 120_000);

it('refuses an --as-of that is not a date, in one line', () => {
  expect(() => parseAsOf('last tuesday')).toThrow(/^--as-of "last tuesday" is not a date; write it as YYYY-MM-DD/);
  expect(parseAsOf('2026-11-20').now().toISOString().slice(0, 10)).toBe('2026-11-20');
});
