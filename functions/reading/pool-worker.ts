/**
 * The script a RecordPool worker runs by default: loads the processor module named in workerData and serves it
 * (pool-serve.ts).
 */
import { workerData } from 'node:worker_threads';
import { loadProcessor } from './pool';
import { servePool } from './pool-serve';

const { module, exportName } = workerData as { module: string; exportName: string };
servePool(await loadProcessor(new URL(module), exportName));
