import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VALIDATE_PROCESSOR, validateEntries } from '../../bench/validate-pipeline';
import { readExport } from '../../functions/reading';
import { RecordPool } from '../../functions/reading/pool';
import {
  GOLDEN_NOW,
  type Golden,
  goldenConfig,
  multisetDigest,
  productGolden,
  productValidate,
  productValidateReport,
  reportPart,
} from './golden';
import { GOLDEN_INPUTS, goldenSource } from './inputs';

const fixture = (name: string): Golden =>
  JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'golden', `${name}.json`), 'utf8')) as Golden;

const pools = {
  inline: new RecordPool({ module: VALIDATE_PROCESSOR, threads: 0 }),
  '2 workers': new RecordPool({ module: VALIDATE_PROCESSOR, threads: 2 }),
};
afterAll(async () => {
  await Promise.all(Object.values(pools).map((p) => p.close()));
});

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

  it.each(Object.keys(pools) as Array<keyof typeof pools>)(
    'the chunked validate pipeline (%s) gives the same counts, hashes and rejected rows',
    async (which) => {
      const { report, keyLines } = await validateEntries(readExport(goldenSource(name)()), {
        pool: pools[which],
        config: goldenConfig(),
        list: 'golden',
        now: GOLDEN_NOW,
        chunkRecords: 700,
        collectKeys: true,
      });
      expect({ ...reportPart(report), hashes: keyLines?.length, digest: multisetDigest(keyLines ?? []) }).toEqual(
        golden,
      );
      const product = await productValidateReport(goldenSource(name));
      expect(report.rejectedRows).toEqual(product.rejectedRows);
      expect(report.suppressed).toEqual(product.suppressed);
      expect(report.consent).toEqual(product.consent);
    },
  );
});
