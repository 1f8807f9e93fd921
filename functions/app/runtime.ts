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
import { createLogger } from '../adapters/logger';
import { S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import type { PlatformRegistry } from '../core/platform';
import type { Clock, ContactStore, Logger, RunFiles, RunStateStore, StagingArea } from '../core/ports';
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

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * A clock that starts at `asOf` and runs at real speed from there: `local --as-of` evaluates date rules (and every
 * other "now") as of the day the bundled samples were exported, so the demo shows the same sizes on any date,
 * while leases and waits still see time pass.
 */
export function clockAsOf(asOf: Date): Clock {
  const offset = asOf.getTime() - Date.now();
  return { now: () => new Date(Date.now() + offset), sleep: realClock.sleep };
}

/** Parses an `--as-of` value (ISO date or timestamp) into a clock, or says in one line what is wrong. */
export function parseAsOf(value: string | undefined): Clock {
  if (value === undefined || value === '') return realClock;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t))
    throw new Error(`--as-of ${JSON.stringify(value)} is not a date; write it as YYYY-MM-DD or an ISO timestamp`);
  return clockAsOf(new Date(t));
}

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
  clock: Clock;
  /** Where big files are fanned out to the Step Functions ingest (the queue's ingest function only). */
  fanOut?: FanOutStarter;
  /** Target bytes of one chunk of a fanned-out file. */
  chunkBytes: number;
  /** A stepped run's files: `staging/<kind>/<run>/` in the drop bucket. */
  runFiles: (runId: string) => RunFiles;
}

export function buildRuntime(
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = createLogger(),
  clock: Clock = realClock,
): Runtime {
  const e = readEnv(baseEnv, env);
  const store = new DynamoContactStore(dynamoClient(), e.TABLE_NAME);
  const bucket = new S3Bucket(s3Client(), e.BUCKET_NAME);
  return {
    config: loadRuntimeConfig(e.AUDIENCE_CONFIG_FILE),
    platforms: PLATFORMS,
    staging: fileStaging(),
    store,
    runState: store,
    bucket,
    logger,
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
