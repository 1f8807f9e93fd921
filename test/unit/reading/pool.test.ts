import { afterAll, describe, expect, it } from 'vitest';
import { readExport } from '../../../functions/reading';
import { RecordPool } from '../../../functions/reading/pool';
import { bufferSource } from './helpers';
import { type Init, processor } from './pool-processor';

const PAD = 'x'.repeat(60);
const MODULE = new URL('./pool-processor.ts', import.meta.url);
const rowsText = (n: number, tag = 'r') =>
  `email,name\n${Array.from({ length: n }, (_, i) => (i % 97 === 5 ? `"broken\n${tag}${i},${PAD}\n` : `${tag}${i},${PAD}\n`)).join('')}`;

async function run(pool: RecordPool, text: string, init: Init, records = 50) {
  const out: Array<{ seq: number; label: string; firsts: string[] }> = [];
  for await (const entry of readExport(bufferSource('p.csv', text, 333)))
    for await (const r of pool.map<Init, { seq: number; label: string; firsts: string[] }>(
      entry.chunks({ records }),
      init,
    ))
      out.push(r);
  return out;
}

const pool = new RecordPool({ module: MODULE, threads: 2 });
const inline = new RecordPool({ module: MODULE, threads: 0 });
afterAll(async () => {
  await pool.close();
  await inline.close();
});

describe('RecordPool', () => {
  it('returns the results in chunk order, the same as inline processing', async () => {
    const text = rowsText(3000);
    const threaded = await run(pool, text, { label: 'a' }, 37);
    const local = await run(inline, text, { label: 'a' }, 37);
    expect(threaded).toEqual(local);
    expect(threaded.map((r) => r.seq)).toEqual(threaded.map((_, i) => i));
    expect(threaded.length).toBeGreaterThan(10);
    const firsts = threaded.flatMap((r) => r.firsts);
    expect(firsts.length).toBeGreaterThan(2900);
    expect(firsts.slice(0, 3)).toEqual(['r0', 'r1', 'r2']);
  });

  it('keeps concurrent jobs apart (each with its own init)', async () => {
    const [a, b] = await Promise.all([
      run(pool, rowsText(500, 'a'), { label: 'A' }),
      run(pool, rowsText(700, 'b'), { label: 'B' }),
    ]);
    expect(a.every((r) => r.label === 'A' && r.firsts.every((f) => f.startsWith('a')))).toBe(true);
    expect(b.every((r) => r.label === 'B' && r.firsts.every((f) => f.startsWith('b')))).toBe(true);
  });

  it('rejects with the processor error, and stays usable', async () => {
    await expect(run(pool, rowsText(2000), { label: 'x', failAt: 3 })).rejects.toThrow('chunk 3 refused');
    await expect(run(pool, rowsText(200), { label: 'bad-init' })).rejects.toThrow('init refused');
    expect((await run(pool, rowsText(100), { label: 'ok' })).length).toBeGreaterThan(0);
  });

  it('stops reading when the caller breaks off', async () => {
    for await (const entry of readExport(bufferSource('p.csv', rowsText(5000)))) {
      let n = 0;
      for await (const _ of pool.map(entry.chunks({ records: 10 }), { label: 'b' })) if (++n === 2) break;
      expect(n).toBe(2);
    }
  });

  it('with helpInline, the calling thread processes chunks too and the results stay in chunk order', async () => {
    let byCaller = 0;
    const counted: typeof processor = {
      init(job) {
        const fn = processor.init(job);
        return (chunk) => {
          byCaller++;
          return fn(chunk);
        };
      },
    };
    const helped = new RecordPool({ module: MODULE, threads: 1, processor: counted as never, helpInline: true });
    try {
      const text = rowsText(6000);
      const mixed = await run(helped, text, { label: 'h' }, 25);
      const local = await run(inline, text, { label: 'h' }, 25);
      expect(mixed).toEqual(local);
      expect(mixed.map((r) => r.seq)).toEqual(mixed.map((_, i) => i));
      // Both threads did some of it.
      expect(byCaller).toBeGreaterThan(0);
      expect(byCaller).toBeLessThan(mixed.length);
    } finally {
      await helped.close();
    }
  });

  it('a chunk that fails in the calling thread fails in its turn, after every result before it', async () => {
    const helped = new RecordPool({ module: MODULE, threads: 1, processor, helpInline: true });
    try {
      for (const failAt of [3, 40, 90]) {
        const got: number[] = [];
        let error: Error | undefined;
        try {
          for await (const entry of readExport(bufferSource('p.csv', rowsText(6000), 333)))
            for await (const r of helped.map<Init, { seq: number }>(entry.chunks({ records: 25 }), {
              label: 'f',
              failAt,
            }))
              got.push(r.seq);
        } catch (e) {
          error = e as Error;
        }
        expect(error?.message).toBe(`chunk ${failAt} refused`);
        expect(got).toEqual(Array.from({ length: failAt }, (_, i) => i));
      }
    } finally {
      await helped.close();
    }
  });

  it('workers that never start: the calling thread reads with the processor, or the map fails at once', async () => {
    const exits = new URL('./pool-exits.mjs', import.meta.url);
    const local = await run(inline, rowsText(500), { label: 'x' }, 50);
    const withProcessor = new RecordPool({ module: MODULE, workerScript: exits, threads: 1, processor });
    const without = new RecordPool({ module: MODULE, workerScript: exits, threads: 1 });
    try {
      expect(await run(withProcessor, rowsText(500), { label: 'x' }, 50)).toEqual(local);
      await expect(run(without, rowsText(500), { label: 'x' }, 50)).rejects.toThrow('no pool worker could be started');
    } finally {
      await withProcessor.close();
      await without.close();
    }
  });
});
