import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RowEvent, readExport, splitChunk, splitRecord } from '../../../functions/reading';
import { bufferSource, readOne } from './helpers';
import { makeZip } from './zip-writer';

const CSV = [
  'email,name,zip',
  'a@x.io,Ann,1',
  '"b@x.io","B ""Bo""",2',
  '',
  ',,',
  'c@x.io,"multi',
  'line",3',
  'd@x.io,Dee',
  'e@x.io,"Ev"e,4,,',
  'f@x.io,\u0007Fay,5',
  '',
].join('\n');

async function viaBatches(chunkSize?: number) {
  for await (const entry of readExport(bufferSource('b.csv', CSV, chunkSize))) {
    const batches: RowEvent[][] = [];
    for await (const b of entry.batches()) batches.push(b);
    return { batches, stats: entry.stats };
  }
  throw new Error('no entry');
}

describe('entry.batches()', () => {
  it('hands on exactly the events of entry.rows, in arrays, with the same stats', async () => {
    const rows = await readOne(bufferSource('b.csv', CSV));
    for (const size of [undefined, 1, 5, 17]) {
      const { batches, stats } = await viaBatches(size);
      expect(batches.flat()).toEqual(rows.events);
      expect(batches.every((b) => b.length > 0)).toBe(true);
      expect(stats).toEqual(rows.stats);
    }
    expect(rows.events.map((e) => (e.kind === 'row' ? e.cells[0] : e.reason))).toEqual([
      'a@x.io',
      'b@x.io',
      'c@x.io',
      'column_count_mismatch',
      'e@x.io',
      'f@x.io',
    ]);
  });

  it('can be taken once, and not as well as rows', async () => {
    for await (const entry of readExport(bufferSource('b.csv', CSV))) {
      entry.batches();
      expect(() => entry.batches()).toThrow(/only be iterated once/);
      expect(() => entry.rows[Symbol.asyncIterator]()).toThrow(/only be iterated once/);
      expect(() => entry.chunks()).toThrow(/only be iterated once/);
    }
  });
});

describe('entry.chunks()', () => {
  it('cuts record-aligned chunks that split (after a structured clone) into the events of entry.rows', async () => {
    const rows = await readOne(bufferSource('b.csv', CSV));
    for (const records of [1, 2, 1000]) {
      for await (const entry of readExport(bufferSource('b.csv', CSV, 7))) {
        const events: RowEvent[] = [];
        const seqs: number[] = [];
        let blank = 0;
        for await (const chunk of entry.chunks({ records })) {
          seqs.push(chunk.seq);
          const r = splitChunk(structuredClone(chunk));
          events.push(...r.events);
          blank += r.blank;
        }
        expect(events).toEqual(rows.events);
        expect(seqs).toEqual(seqs.map((_, i) => i));
        expect(entry.stats.blankRecords + blank).toBe(rows.stats.blankRecords);
      }
    }
  });

  it('works on the entries of a zip', async () => {
    const zip = makeZip([
      { name: 'one.csv', data: Buffer.from(CSV) },
      { name: 'two.csv', data: Buffer.from('email\nz@x.io\n') },
    ]);
    const seen: string[] = [];
    for await (const entry of readExport(bufferSource('x.zip', zip, 100))) {
      if (entry.name === 'one.csv') {
        for await (const b of entry.batches()) for (const ev of b) if (ev.kind === 'row') seen.push(ev.cells[0]!);
      } else {
        for await (const c of entry.chunks())
          for (const ev of splitChunk(c).events) if (ev.kind === 'row') seen.push(ev.cells[0]!);
      }
    }
    expect(seen).toEqual(['a@x.io', 'b@x.io', 'c@x.io', 'e@x.io', 'f@x.io', 'z@x.io']);
  });
});

describe('splitRecord', () => {
  it('splits with csv-parse relax_quotes rules', () => {
    expect(splitRecord('a,b,,c,', ',')).toEqual(['a', 'b', '', 'c', '']);
    expect(splitRecord('"a,b","c""d",""', ',')).toEqual(['a,b', 'c"d', '']);
    expect(splitRecord('"ab"c,d', ',')).toEqual(['"ab"c', 'd']);
    expect(splitRecord('"a""b"x"y,z', ',')).toEqual(['"a"b"x"y', 'z']);
    expect(splitRecord('ab"c,"d', ',')).toEqual(['ab"c', 'd']);
    expect(splitRecord(' "a",b', ',')).toEqual([' "a"', 'b']);
    expect(splitRecord('"multi\nline";x', ';')).toEqual(['multi\nline', 'x']);
    expect(splitRecord('"a,",b', ',')).toEqual(['a,', 'b']);
    expect(splitRecord('"a,"b,c', ',')).toEqual(['"a,"b', 'c']);
    expect(splitRecord('x,"a,b', ',')).toEqual(['x', 'a,b']);
    expect(splitRecord('"a""b",', ',')).toEqual(['a"b', '']);
    expect(splitRecord('"a"b,', ',')).toEqual(['"a"b', '']);
  });

  it('cuts every record as the rules read one character at a time do', () => {
    const piece = fc.constantFrom('a', 'bc', ' ', '"', '""', ',', ';', '\t', '|', 'é', '\n', '"x, y"', '"""');
    const record = fc.array(piece, { maxLength: 24 }).map((t) => t.join(''));
    fc.assert(
      fc.property(record, fc.constantFrom(',', ';', '\t', '|'), (s, d) => {
        expect(splitRecord(s, d)).toEqual(splitByRules(s, d));
      }),
      { numRuns: 20_000 },
    );
  });
});

/** The splitting rules, one character at a time: what splitRecord is held to. */
function splitByRules(s: string, d: string): string[] {
  const cells: string[] = [];
  const n = s.length;
  let i = 0;
  for (;;) {
    if (s[i] !== '"') {
      let e = i;
      while (e < n && s[e] !== d) e++;
      cells.push(s.slice(i, e));
      if (e >= n) return cells;
      i = e + 1;
      continue;
    }
    let content = '';
    let j = i + 1;
    for (;;) {
      if (j >= n) {
        cells.push(content);
        return cells;
      }
      if (s[j] !== '"') {
        content += s[j++];
        continue;
      }
      if (s[j + 1] === '"') {
        content += '"';
        j += 2;
        continue;
      }
      if (j + 1 >= n) {
        cells.push(content);
        return cells;
      }
      if (s[j + 1] === d) {
        cells.push(content);
        i = j + 2;
        break;
      }
      let e = j;
      while (e < n && s[e] !== d) e++;
      cells.push(`"${content}${s.slice(j, e)}`);
      if (e >= n) return cells;
      i = e + 1;
      break;
    }
  }
}

describe('control characters before a quote', () => {
  it('confine the damage to their own record (the old csv-parse pipeline swallowed the records after it)', async () => {
    // Stripping U+0007 puts a quote at the start of the field: the reader frames on the raw text (the quote was
    // literal there), so the quote now opened by the stripped text runs to the end of that record only.
    const e = await readOne(bufferSource('c.csv', 'h1,h2\n\u0007"abc,def\nx,y\n'));
    expect(e.events).toEqual([
      { kind: 'error', line: 2, reason: 'column_count_mismatch', detail: 'expected 2 fields, found 1' },
      { kind: 'row', line: 3, cells: ['x', 'y'] },
    ]);
  });
});
