/** A drop bucket + contact table in memory, and helpers to drop files through the real ingest handler. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse } from 'aws-lambda';
import { asSqsEvent, type EmbeddedAws, startEmbeddedAws } from '../../bin/local/embedded';
import { memoryLogger } from '../../functions/adapters/logger';
import { memoryMetrics, type RunMetrics } from '../../functions/adapters/metrics';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import { buildRuntime, type Runtime, s3Client } from '../../functions/app/runtime';
import { handleIngestEvent } from '../../functions/ingest';

export interface Pipeline {
  aws: EmbeddedAws;
  s3: S3Client;
  rt: Runtime;
  logger: ReturnType<typeof memoryLogger>;
  /** The EMF lines the handlers flushed (one per set of dimensions and invocation). */
  metrics: RunMetrics;
  /** Puts an object and feeds its S3 event through the ingest handler. */
  drop(
    key: string,
    body: Buffer | string,
    exportedAt?: string,
  ): Promise<{ outcomes: Array<{ key: string; outcome: ObjectOutcome }>; response: SQSBatchResponse }>;
  listKeys(prefix: string): Promise<string[]>;
  readJson(key: string): Promise<Record<string, unknown>>;
  readText(key: string): Promise<string>;
  close(): Promise<void>;
}

let seq = 0;

export async function startPipeline(configYaml: string): Promise<Pipeline> {
  const dir = mkdtempSync(join(tmpdir(), 'as-pipe-'));
  const configFile = join(dir, 'audiences.yaml');
  writeFileSync(configFile, configYaml);
  const aws = await startEmbeddedAws(undefined, { table: `pipe-${process.pid}-${++seq}` });
  const s3 = s3Client();
  const logger = memoryLogger();
  const metrics = memoryMetrics();
  const rt = buildRuntime({ ...process.env, AUDIENCE_CONFIG_FILE: configFile }, logger, undefined, metrics);
  const readText = async (key: string) => {
    const obj = await s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
    return obj.Body!.transformToString();
  };
  return {
    aws,
    s3,
    rt,
    logger,
    metrics,
    drop: async (key, body, exportedAt) => {
      await s3.send(
        new PutObjectCommand({
          Bucket: aws.bucket,
          Key: key,
          Body: body,
          Metadata: exportedAt ? { 'exported-at': exportedAt } : undefined,
        }),
      );
      const outcomes: Array<{ key: string; outcome: ObjectOutcome }> = [];
      const response = await handleIngestEvent(asSqsEvent(aws.drainEvents()), rt, (k, outcome) =>
        outcomes.push({ key: k, outcome }),
      );
      return { outcomes, response };
    },
    listKeys: async (prefix) => {
      const out = await s3.send(new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((c) => c.Key!);
    },
    readJson: async (key) => JSON.parse(await readText(key)),
    readText,
    close: async () => {
      s3.destroy();
      await aws.close();
    },
  };
}
