import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Golden, productGolden, productValidate } from './golden';
import { GOLDEN_INPUTS, goldenSource } from './inputs';

const fixture = (name: string): Golden =>
  JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'golden', `${name}.json`), 'utf8')) as Golden;

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
});
