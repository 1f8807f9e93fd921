/**
 * Repeats of a person are found however far apart they are: the duplicate check stages records in small groups (their
 * index slots loaded together), so repeats inside a group, across a group's edge and thousands of rows later must
 * all count the same, in one thread and in worker threads, validating and ingesting.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createRowPool } from '../../functions/app/row-pool';
import { bufferSource } from '../unit/reading/helpers';
import { productIngest, productValidateReport } from './golden';

const pool = createRowPool({ threads: 2 });
afterAll(() => pool?.close());

/** 6,000 rows: person i, then repeats of earlier people at distances 1, 31, 32, 33, 64, 511, 512 and 4,000 rows. */
function exportWithRepeats(): { csv: string; repeats: number; people: number } {
  const lines = ['Email,First Name,Last Name'];
  const people = new Set<number>();
  let repeats = 0;
  const distances = [1, 31, 32, 33, 64, 511, 512, 4000];
  for (let row = 0; row < 6000; row++) {
    const d = distances[row % 97] ?? 0;
    // Every 97th row starting at a distance slot repeats the person `d` rows back (when there is one).
    const person = d > 0 && row >= d ? row - d : row;
    if (people.has(person)) repeats++;
    people.add(person);
    lines.push(`Person.${person}@Example.com,Ann,Lee`);
  }
  return { csv: `${lines.join('\n')}\n`, repeats, people: people.size };
}

describe('repeats of a person, near and far', () => {
  const { csv, repeats, people } = exportWithRepeats();
  const source = (chunk?: number) => () => bufferSource('repeats.csv', csv, chunk);

  it('are counted once each when validating, inline and in worker threads, whatever the read size', async () => {
    expect(repeats).toBeGreaterThan(400);
    for (const chunk of [undefined, 997]) {
      const inline = await productValidateReport(source(chunk));
      expect({ accepted: inline.accepted, merged: inline.merged }).toEqual({ accepted: 6000, merged: repeats });
      const pooled = await productValidateReport(source(chunk), pool);
      expect(pooled.merged).toBe(repeats);
    }
  });

  it('are stored as one contact each when ingesting, inline and in worker threads', async () => {
    for (const rowPool of [undefined, pool]) {
      const { report, records: stored } = await productIngest(source(997), rowPool);
      expect({ merged: report.merged, written: report.written }).toEqual({ merged: repeats, written: people });
      expect(new Set(stored.map((r) => r.cid)).size).toBe(people);
      expect(stored.length).toBe(people);
    }
  });
});
