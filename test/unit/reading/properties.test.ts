import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bufferSource, readOne } from './helpers';

const cellChars = fc.constantFrom('a', 'Z', ' ', ',', ';', '"', '\n', 'é', '😀', '\t', "'");
const cell = fc.array(cellChars, { maxLength: 8 }).map((cs) => cs.join(''));
const row = fc.tuple(cell, cell, cell);

/** RFC 4180 writer: quote a cell when it holds a delimiter, quote or newline (or starts with a quote). */
function toCsv(rows: string[][], eol: string): string {
  const q = (c: string) => (/[",\n\r]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c);
  return `h1,h2,h3${eol}${rows.map((r) => r.map(q).join(',')).join(eol)}${eol}`;
}

describe('reading properties', () => {
  it('round-trips any well-formed CSV, whatever the line ending and chunk size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 20 }),
        fc.constantFrom('\n', '\r\n'),
        fc.integer({ min: 1, max: 64 }),
        async (rows, eol, chunk) => {
          const e = await readOne(bufferSource('p.csv', toCsv(rows, eol), chunk));
          const expected = rows.filter((r) => r.some((c) => c.trim() !== ''));
          expect(e.errors).toEqual([]);
          expect(e.delimiter).toBe(',');
          expect(e.rows).toEqual(expected);
        },
      ),
      { numRuns: Number(process.env.READING_PROPERTY_RUNS ?? 300) },
    );
  });

  it('reads garbage rows without throwing (or finds no header), in line order, whatever the chunking', async () => {
    const garbage = fc
      .array(fc.constantFrom('a', ',', '"', '""', '\n', '\r\n', '\r', ' ', 'é'), { maxLength: 80 })
      .map((p) => p.join(''));
    await fc.assert(
      fc.asyncProperty(garbage, fc.integer({ min: 1, max: 9 }), async (body, chunk) => {
        const text = `h1,h2,h3\n${body}`;
        const read = (size?: number) => readOne(bufferSource('g.csv', text, size), { maxRecordLines: 4 });
        const whole = await read().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
        if (whole instanceof Error) {
          // Tiny garbage samples can make a garbage line look more like the header than the header does.
          expect(whole).toMatchObject({ reason: 'no_header' });
          await expect(read(chunk)).rejects.toMatchObject({ reason: 'no_header' });
          return;
        }
        const lines = whole.events.map((ev) => ev.line);
        expect(lines).toEqual([...lines].sort((a, b) => a - b));
        expect(new Set(lines).size).toBe(lines.length);
        const physical = text.split(/\r\n|\r|\n/).length;
        for (const ev of whole.events) {
          expect(ev.line).toBeGreaterThan(whole.headerLine);
          expect(ev.line).toBeLessThanOrEqual(physical);
          if (ev.kind === 'row') expect(ev.cells).toHaveLength(whole.header.length);
        }
        if (whole.headerLine === 1) {
          // Nothing is lost silently: every line with a letter is covered by the row or the error that read it.
          const covered = new Set<number>();
          for (const ev of whole.events) {
            const span = ev.kind === 'row' ? ev.cells.join('').split('\n').length : 1;
            for (let l = ev.line; l < ev.line + span; l++) covered.add(l);
          }
          text.split(/\r\n|\r|\n/).forEach((content, i) => {
            if (i > 0 && /[aé]/.test(content)) expect(covered.has(i + 1), `line ${i + 1} is accounted for`).toBe(true);
          });
        }
        const chunked = await read(chunk);
        expect(chunked.events).toEqual(whole.events);
      }),
      { numRuns: Number(process.env.READING_PROPERTY_RUNS ?? 300) },
    );
  });
});
