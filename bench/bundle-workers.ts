/**
 * Bundles the bench as a deployment would bundle the product (esbuild, plain ESM): the case runner
 * (bench/worker.ts), the pool worker and the ingest's row processor, into bench/.data/build/. Cases then measure the
 * code's own memory, not tsx compiling TypeScript in every process and thread (~55 MB a process).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchBuild {
  runner: string;
  env: Record<string, string>;
}

export async function bundleBench(outdir = join(ROOT, 'bench', '.data', 'build')): Promise<BenchBuild> {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: {
      worker: join(ROOT, 'bench', 'worker.ts'),
      'pool-worker': join(ROOT, 'functions', 'reading', 'pool-worker.ts'),
      'row-processor': join(ROOT, 'functions', 'app', 'row-processor.ts'),
    },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Dynamic imports (the store and sync cases' AWS and Meta code) become chunks loaded only by those cases.
    splitting: true,
    target: 'node20',
    // Linked source maps: bench/profile-top.ts maps profiled frames back to their source files.
    sourcemap: 'linked',
    // The store and sync cases' SDKs and servers load from node_modules, as they are (and only in those cases).
    external: ['esbuild', '@aws-sdk/*', '@smithy/*', 'dynalite', 's3rver', 'facebook-nodejs-business-sdk'],
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return {
    runner: join(outdir, 'worker.mjs'),
    env: {
      BENCH_SIDECAR: join(ROOT, 'bench', 'aws-sidecar.ts'),
      BENCH_POOL_WORKER: pathToFileURL(join(outdir, 'pool-worker.mjs')).href,
      BENCH_ROW_PROCESSOR: pathToFileURL(join(outdir, 'row-processor.mjs')).href,
    },
  };
}
