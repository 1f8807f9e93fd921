/**
 * `audience-sync validate` must start light: nothing the CLI imports statically may reach the AWS SDK, the Meta SDK
 * or the embedded S3/DynamoDB servers; commands that need them import them when they run. Checked on the module
 * graph esbuild builds (static imports only: dynamic ones become separate chunks).
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

it('the CLI loads no SDK and no embedded server before a command asks for one', async () => {
  const result = await build({
    entryPoints: [join(process.cwd(), 'bin', 'cli.ts')],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    outdir: join(process.cwd(), 'out', 'cli-startup-check'),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = result.metafile.outputs;
  const entry = Object.keys(outputs).find((k) => outputs[k]?.entryPoint?.endsWith('bin/cli.ts'));
  expect(entry).toBeDefined();
  // Everything loaded at start-up: the entry chunk and the chunks it imports statically, transitively.
  const loaded = new Set<string>();
  const visit = (out: string) => {
    if (loaded.has(out)) return;
    loaded.add(out);
    for (const i of outputs[out]?.imports ?? []) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entry as string);
  const inputs = [...loaded].flatMap((o) => Object.keys(outputs[o]?.inputs ?? {}));
  const heavy = inputs.filter((p) =>
    /node_modules\/(@aws-sdk|@smithy|facebook-nodejs-business-sdk|dynalite|s3rver)\//.test(p),
  );
  expect(heavy).toEqual([]);
  expect(inputs.some((p) => p.includes('functions/core/ingest.ts'))).toBe(true);
});
