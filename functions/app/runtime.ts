/**
 * Builds dependencies from the environment, once per cold start (Lambda) or once per CLI run.
 * Every variable is read through a zod schema that names what is missing.
 */
import { z } from 'zod';
import { dynamoClient, s3Client, sfnClient } from '../adapters/aws-clients';
import { loadConfigFile, parseAudienceConfig } from '../adapters/config-file';
import { DynamoContactStore } from '../adapters/dynamo-store';
import { stepFunctionsStarter } from '../adapters/fan-out-starter';
import { fileStaging } from '../adapters/file-staging';
import { createLambdaLogger } from '../adapters/lambda-logger';
import { RunMetrics } from '../adapters/metrics';
import { S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import type { PlatformRegistry } from '../core/platform';
import type { Clock, ContactStore, Logger, RowPool, RunFiles, RunStateStore, StagingArea } from '../core/ports';
import { PLATFORMS } from '../platforms/registry';
import type { FanOutStarter } from './ingest-object';

declare const __AUDIENCE_CONFIG__: string | undefined;

const MIB = 1024 * 1024;
const bytes = (name: string) =>
  z.string().regex(/^\d+$/, `${name} must be a whole number of bytes`).transform(Number).optional();

const baseEnv = z.object({
  TABLE_NAME: z.string().min(1, 'TABLE_NAME must name the contact table'),
  BUCKET_NAME: z.string().min(1, 'BUCKET_NAME must name the drop bucket'),
  AUDIENCE_CONFIG_FILE: z.string().optional(),
  /** The ingest fan-out state machine: files of FANOUT_BYTES or more are read by its workers (set by the stack). */
  FANOUT_STATE_MACHINE_ARN: z.string().optional(),
  FANOUT_BYTES: bytes('FANOUT_BYTES'),
  /** Target size of one chunk of a fanned-out file. */
  FANOUT_CHUNK_BYTES: bytes('FANOUT_CHUNK_BYTES'),
});

/** Default size from which a file is fanned out, and of its chunks. */
export const DEFAULT_FAN_OUT_BYTES = 256 * MIB;
export const DEFAULT_CHUNK_BYTES = 64 * MIB;

export function readEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.output<T> {
  const r = schema.safeParse(env);
  if (!r.success)
    throw new Error(
      `environment is not complete: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/** The config embedded in the bundle at synth time, or a file named by AUDIENCE_CONFIG_FILE (local runs). */
export function loadRuntimeConfig(file?: string): AudienceConfig {
  if (file) return loadConfigFile(file);
  if (typeof __AUDIENCE_CONFIG__ !== 'undefined' && __AUDIENCE_CONFIG__)
    return parseAudienceConfig(JSON.parse(__AUDIENCE_CONFIG__), 'embedded config');
  throw new Error('no audiences config: set AUDIENCE_CONFIG_FILE or deploy with the stack, which embeds it');
}

/** Clients are built in functions/adapters/aws-clients.ts; re-exported for the CLI and the local runner. */
export { s3Client };

// The clocks live in clock.ts (no AWS imports) so the CLI's validate can use them without loading the SDK.
import { realClock } from './clock';

export { clockAsOf, parseAsOf, realClock } from './clock';

export interface Runtime {
  config: AudienceConfig;
  platforms: PlatformRegistry;
  /** Where an ingest stages its changes until the file was read in full. */
  staging: () => Promise<StagingArea>;
  store: ContactStore;
  /** State of stepped runs (Step Functions): the same table as the store. */
  runState: RunStateStore;
  bucket: S3Bucket;
  logger: Logger;
  /** This invocation's metrics, flushed at its end (the ingest handler, the sync run). */
  metrics: RunMetrics;
  clock: Clock;
  /** Where big files are fanned out to the Step Functions ingest (the queue's ingest function only). */
  fanOut?: FanOutStarter;
  /** Target bytes of one chunk of a fanned-out file. */
  chunkBytes: number;
  /** A stepped run's files: `staging/<kind>/<run>/` in the drop bucket. */
  runFiles: (runId: string) => RunFiles;
  /** Worker threads reading the rows of an ingest (the ingest function on two vCPUs, a local run of big files). */
  rowPool?: RowPool;
}

/** Defaults are the functions' own: Powertools' Logger and EMF metrics on stdout. The CLI passes its own. */
export function buildRuntime(
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = createLambdaLogger(),
  clock: Clock = realClock,
  metrics: RunMetrics = new RunMetrics(),
): Runtime {
  const e = readEnv(baseEnv, env);
  const store = new DynamoContactStore(dynamoClient(), e.TABLE_NAME);
  const bucket = new S3Bucket(s3Client(), e.BUCKET_NAME);
  return {
    config: loadRuntimeConfig(e.AUDIENCE_CONFIG_FILE),
    platforms: PLATFORMS,
    // A run killed mid-file leaves its staging in /tmp, which the sandbox keeps: the next ingest removes it, and says so.
    staging: fileStaging(undefined, {
      onStale: (_folder, bytes) => logger.warn('stale_staging_removed', { bytes }),
    }),
    store,
    runState: store,
    bucket,
    logger,
    metrics,
    clock,
    fanOut: e.FANOUT_STATE_MACHINE_ARN
      ? stepFunctionsStarter(sfnClient(), e.FANOUT_STATE_MACHINE_ARN, e.FANOUT_BYTES ?? DEFAULT_FAN_OUT_BYTES, () =>
          clock.now(),
        )
      : undefined,
    chunkBytes: e.FANOUT_CHUNK_BYTES ?? DEFAULT_CHUNK_BYTES,
    runFiles: (runId) => bucket.runFiles(`staging/ingest/${runId}/`),
  };
}
