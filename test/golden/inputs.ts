/** The generated exports the golden test reads: deterministic, so their golden values never move. */
import { makeRowWriter, metaExportText, SHOPIFY_HEADER } from '../../bench/generate';
import type { ByteSource } from '../../functions/reading';
import { bufferSource } from '../unit/reading/helpers';

export const GOLDEN_ROWS = 20_000;

let meta: Buffer | undefined;
let shopify: Buffer | undefined;

/** Every Meta key, eight countries' phones in mixed forms, and every reading recovery path (see HOSTILE_RECORDS). */
export function metaKeysFile(): Buffer {
  meta ??= Buffer.from(metaExportText(GOLDEN_ROWS), 'utf8');
  return meta;
}

/** The bench's Shopify customers export, 20,000 rows. */
export function shopifyFile(): Buffer {
  if (!shopify) {
    const row = makeRowWriter();
    const parts = [`${SHOPIFY_HEADER.join(',')}\n`];
    for (let i = 0; i < GOLDEN_ROWS; i++) parts.push(row(i));
    shopify = Buffer.from(parts.join(''), 'utf8');
  }
  return shopify;
}

export const GOLDEN_INPUTS: Record<string, () => Buffer> = {
  'meta-keys-20k': metaKeysFile,
  'shopify-20k': shopifyFile,
};

export function goldenSource(name: string, chunkSize?: number): () => ByteSource {
  const file = GOLDEN_INPUTS[name];
  if (!file) throw new Error(`unknown golden input ${name}`);
  return () => bufferSource(`${name}.csv`, file(), chunkSize);
}
