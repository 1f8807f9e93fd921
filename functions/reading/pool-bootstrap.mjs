// Starts a RecordPool worker whose script is TypeScript (development, tests, the bench): Node 20 workers do not
// inherit the parent's module hooks, so tsx is registered here first. Bundled deployments start their .js directly.
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
await import(workerData.script);
