/**
 * Ingest reads an entry by batches when it offers them (the reader's Entry.batches()), sampling the first rows
 * through a cursor: the report must be the one reading the same rows one by one gives, wherever the batches end.
 */
import { describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../../functions/adapters/config-file';
import { memoryLogger } from '../../../functions/adapters/logger';
import { type IngestReport, ingestExport, type RowEvent, type SourceEntry } from '../../../functions/core/ingest';
import { PLATFORMS } from '../../../functions/platforms/registry';

const config = parseAudienceConfig({ version: 1, destinations: { meta: { platform: 'meta' } } });

function entry(header: string[], events: RowEvent[], batchSize?: number): SourceEntry {
  const e: SourceEntry = {
    name: 'list.csv',
    encoding: 'utf-8',
    delimiter: ',',
    header,
    headerLine: 1,
    rows: (async function* () {
      yield* events;
    })(),
  };
  if (batchSize !== undefined)
    e.batches = async function* () {
      for (let i = 0; i < events.length; i += batchSize) yield events.slice(i, i + batchSize);
    };
  return e;
}

async function validate(e: SourceEntry): Promise<IngestReport> {
  return ingestExport(
    {
      list: 'news',
      kind: 'snapshot',
      source: 'incoming/news/list.csv#v1',
      exportedAt: '2026-01-01T00:00:00.000Z',
      exportedAtFrom: 'metadata',
      entries: (async function* () {
        yield e;
      })(),
    },
    config,
    { platforms: PLATFORMS, logger: memoryLogger(), now: () => new Date('2026-01-02T00:00:00Z') },
  );
}

const rows = (n: number, cells: (i: number) => string[]): RowEvent[] =>
  Array.from({ length: n }, (_, i) =>
    i % 97 === 5
      ? { kind: 'error', line: i + 2, reason: 'broken_quoting' }
      : { kind: 'row', line: i + 2, cells: cells(i) },
  );

describe('ingest by batches', () => {
  // Slash dates that stay ambiguous for 600 rows: the day/month read-ahead runs past the 200-row sample.
  const dated = rows(900, (i) => [
    `p${i}@example.com`,
    i < 600 ? `0${1 + (i % 9)}/0${1 + (i % 9)}/2024` : '25/03/2024',
    i % 3 === 0 ? '+49 30 1234567' : '',
  ]);
  const headerless = rows(450, (i) => [`q${i}@example.com`, `Name${i % 7}`]);

  it.each([1, 3, 199, 200, 201, 599, 600, 1000])('batches of %i give the report rows one by one give', async (size) => {
    const header = ['Email', 'Signup Date', 'Phone'];
    const byBatch = await validate(entry(header, dated, size));
    expect(byBatch).toEqual(await validate(entry(header, dated)));
    expect(byBatch.rows).toBe(900);
    expect(byBatch.accepted).toBeGreaterThan(800);
    // A header-less file: its first line is a person, replayed as data before the batches.
    const first = ['first@example.com', 'Ann'];
    const headless = await validate(entry(first, headerless, size));
    expect(headless).toEqual(await validate(entry(first, headerless)));
    expect(headless.rows).toBe(451);
  });
});
