/**
 * Bundles the pool worker and the validate processor into plain ESM files (bench/.data/workers/), as a deployment
 * would: workers then start without tsx compiling TypeScript in every thread (which costs ~100 MB and a second each).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface WorkerBundle {
  workerScript: URL;
  module: URL;
}

export async function bundleValidateWorkers(outdir = join(ROOT, 'bench', '.data', 'workers')): Promise<WorkerBundle> {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: {
      'pool-worker': join(ROOT, 'functions', 'reading', 'pool-worker.ts'),
      'validate-processor': join(ROOT, 'bench', 'validate-processor.ts'),
    },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return {
    workerScript: pathToFileURL(join(outdir, 'pool-worker.mjs')),
    module: pathToFileURL(join(outdir, 'validate-processor.mjs')),
  };
}
