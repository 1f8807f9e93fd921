/**
 * The deployed ingest function is one bundled file; its row pool's workers start that same file, which then only
 * serves rows (functions/ingest.ts). This bundles the handler as the stack bundles it (esbuild, ESM, the house's
 * banner and options) and reads a generated export through a pool started from the bundle: the report must equal the
 * one read in this thread. Catches a worker entry that the bundle lacks, a module that cannot load in a worker, or
 * a processor that is not the one the handler uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRowPool } from '../../functions/app/row-pool';
import { ESM_REQUIRE_BANNER } from '../../lib/constructs/house-function';
import { productValidateReport } from '../golden/golden';
import { goldenSource } from '../golden/inputs';

let dir: string;
let bundle: URL;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'as-bundle-'));
  await build({
    entryPoints: [join(process.cwd(), 'functions', 'ingest.ts')],
    outfile: join(dir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20', // the stack targets node24 (its runtime); this machine runs Node 20
    mainFields: ['module', 'main'],
    minify: true,
    banner: { js: ESM_REQUIRE_BANNER },
    define: { __AUDIENCE_CONFIG__: JSON.stringify(JSON.stringify({ version: 1 })) },
    logLevel: 'error',
  });
  bundle = pathToFileURL(join(dir, 'index.mjs'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the bundled ingest function as its own row workers', () => {
  it('reads an export through workers started from the bundle, as this thread reads it', async () => {
    const pool = createRowPool({ threads: 2, workerScript: bundle, processorInScript: true });
    try {
      const inline = await productValidateReport(goldenSource('meta-keys-20k'));
      const pooled = await productValidateReport(goldenSource('meta-keys-20k'), pool);
      expect(pooled).toEqual(inline);
      expect(inline.rows).toBeGreaterThan(19_000);
    } finally {
      await pool?.close();
    }
  }, 120_000);
});
