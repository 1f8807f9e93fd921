import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRowPool } from '../../functions/app/row-pool';
import { type Golden, productGolden, productValidate, productValidateReport } from './golden';
import { GOLDEN_INPUTS, goldenSource } from './inputs';

const fixture = (name: string): Golden =>
  JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'golden', `${name}.json`), 'utf8')) as Golden;

// The product's row pool with two worker threads (TypeScript workers, started through tsx).
const pool = createRowPool({ threads: 2 });
afterAll(() => pool?.close());

describe.each(Object.keys(GOLDEN_INPUTS))('golden: %s', (name) => {
  const golden = fixture(name);
  const { hashes: _h, digest: _d, ...counts } = golden;

  it('ingest keeps the same contacts and the same multiset of hashes', async () => {
    expect(await productGolden(goldenSource(name))).toEqual(golden);
  });

  it('validate reports the same counts, whatever the chunk size', async () => {
    expect(await productValidate(goldenSource(name))).toEqual(counts);
    expect(await productValidate(goldenSource(name, 997))).toEqual(counts);
  });

  it('rows read by worker threads give the same contacts, hashes and report', async () => {
    expect(await productGolden(goldenSource(name), pool)).toEqual(golden);
    // The whole report, not only the golden counts: warnings in order, rejected rows with their lines and columns.
    const inline = await productValidateReport(goldenSource(name));
    const pooled = await productValidateReport(goldenSource(name, 997), pool);
    expect(pooled).toEqual(inline);
    if (name.startsWith('meta')) expect(inline.rejectedRows.length).toBeGreaterThan(0);
  });
});
