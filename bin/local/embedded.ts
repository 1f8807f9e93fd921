/**
 * Embedded S3 and DynamoDB protocol servers (s3rver, dynalite) on loopback, in this process.
 * With a state directory they persist, so a second local run sees the first run's contacts and audiences.
 */
import type { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { ensureTable } from '../../functions/adapters/dynamo-store';
import { s3Client } from '../../functions/app/runtime';
import { decodeKey } from '../../functions/ingest';
import { lockStateFolder } from './state-lock';

export interface S3EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
}

export interface EmbeddedAws {
  bucket: string;
  table: string;
  /** Environment for handlers: endpoints, dummy credentials, table and bucket names. */
  env: Record<string, string>;
  /** S3 event records emitted by s3rver since the last drain, with keys encoded as S3 encodes them. */
  drainEvents(): S3EventRecord[];
  close(): Promise<void>;
}

const ENV_KEYS = [
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'TABLE_NAME',
  'BUCKET_NAME',
] as const;

/**
 * A key as S3 writes it into event notifications: URL-encoded (UTF-8) with spaces as `+` and `/` kept, so a literal
 * `+` arrives as `%2B` and `%` as `%25` (the encoding of application/x-www-form-urlencoded, as Java's URLEncoder
 * does it). s3rver puts the raw key into its events instead; local runs re-encode it so the ingest handler decodes
 * local and cloud events alike.
 */
export function encodeS3EventKey(key: string): string {
  return key
    .split('/')
    .map((part) =>
      encodeURIComponent(part)
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
        .replace(/%20/g, '+'),
    )
    .join('/');
}

interface CopyCtx {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Starts both servers; `stateDir` undefined = in memory. Sets process.env so SDK clients find them.
 * A state folder is locked for this run until close(): a second run on it fails at once with a CliError (exit 3)
 * naming the pid that has it.
 */
export async function startEmbeddedAws(
  stateDir?: string,
  opts: { bucket?: string; table?: string } = {},
): Promise<EmbeddedAws> {
  const lock = stateDir ? lockStateFolder(stateDir) : undefined;
  try {
    const aws = await startServers(stateDir, opts);
    return {
      ...aws,
      close: async () => {
        try {
          await aws.close();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (e) {
    lock?.release();
    throw e;
  }
}

async function startServers(stateDir: string | undefined, opts: { bucket?: string; table?: string }) {
  const bucket = opts.bucket ?? 'audience-sync-local';
  const table = opts.table ?? 'audience-sync-contacts';
  // s3rver's default directory is shared by every instance on the machine: always give it its own.
  const s3Dir = stateDir ? join(stateDir, 's3') : mkdtempSync(join(tmpdir(), 'audience-sync-s3-'));
  mkdirSync(s3Dir, { recursive: true });
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3Dir, resetOnClose: !stateDir });
  // s3rver reads x-amz-copy-source with decodeURI, which leaves %2B, %23, %26, … encoded: a copy of `a+b.csv`
  // (quarantine) would miss its source. S3 decodes the whole header; re-encode it so decodeURI yields the real key.
  (
    s3 as unknown as { middleware: Array<(ctx: CopyCtx, next: () => Promise<void>) => Promise<void>> }
  ).middleware.unshift((ctx, next) => {
    const source = ctx.headers['x-amz-copy-source'];
    if (typeof source === 'string') {
      const [path = '', version] = source.split('?versionId=');
      try {
        ctx.headers['x-amz-copy-source'] =
          `${encodeURI(decodeURIComponent(path))}${version ? `?versionId=${version}` : ''}`;
      } catch {
        // Not valid encoding: s3rver answers it as S3 would (no such key).
      }
    }
    return next();
  });
  const events: S3EventRecord[] = [];
  (s3 as unknown as EventEmitter).on('event', (e: { Records: S3EventRecord[] }) => {
    for (const r of e.Records) events.push(r);
  });
  const s3Addr = await s3.run();
  const ddb = dynalite({ path: stateDir ? join(stateDir, 'dynamo') : undefined, createTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    ddb.once('error', reject);
    ddb.listen(0, '127.0.0.1', () => resolve());
  });
  const ddbPort = (ddb.address() as AddressInfo).port;
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Addr.port}`,
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${ddbPort}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    TABLE_NAME: table,
    BUCKET_NAME: bucket,
  };
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const s3c = s3Client();
  try {
    await s3c.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3c.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  const ddbClient = new DynamoDBClient({});
  await ensureTable(ddbClient, table);
  ddbClient.destroy();
  s3c.destroy();
  return {
    bucket,
    table,
    env,
    // Like the bucket notification in the stack: only ObjectCreated under incoming/ and erasure/ reach the queue.
    drainEvents: () =>
      events
        .splice(0)
        .map((e) => ({ ...e, s3: { ...e.s3, object: { ...e.s3.object, key: encodeS3EventKey(e.s3.object.key) } } }))
        .filter(
          (e) => e.eventName.startsWith('ObjectCreated') && /^(incoming|erasure)\//.test(decodeKey(e.s3.object.key)),
        ),
    close: async () => {
      await s3.close();
      await new Promise<void>((r) => ddb.close(() => r()));
      if (!stateDir) rmSync(s3Dir, { recursive: true, force: true });
      for (const k of ENV_KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    },
  };
}

/** Wraps S3 event records as the SQS messages the ingest queue would deliver. */
export function asSqsEvent(records: S3EventRecord[]) {
  return {
    Records: records.map((r, i) => ({
      messageId: `local-${Date.now()}-${i}`,
      receiptHandle: 'local',
      body: JSON.stringify({ Records: [r] }),
      attributes: { ApproximateReceiveCount: '1' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:local:000000000000:ingest',
      awsRegion: 'us-east-1',
    })),
  } as unknown as import('aws-lambda').SQSEvent;
}
