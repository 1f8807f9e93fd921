/**
 * Records the golden values of every generated input into test/fixtures/golden/<name>.json.
 *   npx tsx test/golden/record.ts
 * Run only when a change is MEANT to change results (and say so in the commit): the golden test exists to show that
 * speed never does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { productGolden } from './golden';
import { GOLDEN_INPUTS, goldenSource } from './inputs';

const dir = join(process.cwd(), 'test', 'fixtures', 'golden');
mkdirSync(dir, { recursive: true });
for (const name of Object.keys(GOLDEN_INPUTS)) {
  const g = await productGolden(goldenSource(name));
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(g, null, 2)}\n`);
  process.stdout.write(`${name}: rows ${g.rows}, accepted ${g.accepted}, rejected ${g.rejected}, ${g.hashes} hashes\n`);
}
