/**
 * The drop bucket: reading dropped objects as streams, writing reports, quarantining and deleting raw files.
 * Against s3rver set requestChecksumCalculation/responseChecksumValidation to WHEN_REQUIRED (stack.md gotcha 6).
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ReportSink, RunFiles } from '../core/ports';
import type { RangeSource } from '../reading/split';

export interface ObjectInfo {
  key: string;
  versionId?: string;
  etag?: string;
  lastModified?: Date;
  size?: number;
  metadata: Record<string, string>;
}

export class S3Bucket implements ReportSink {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async head(key: string): Promise<ObjectInfo> {
    const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return {
      key,
      versionId: out.VersionId,
      etag: out.ETag?.replace(/"/g, ''),
      lastModified: out.LastModified,
      size: out.ContentLength,
      metadata: out.Metadata ?? {},
    };
  }

  /** A byte source for the reader: each open() is a fresh GET stream (pinned to the version that was seen). */
  source(info: ObjectInfo): { name: string; open(): Promise<Readable> } {
    return {
      name: info.key.split('/').pop() ?? info.key,
      open: async () => {
        const out = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: info.key, VersionId: info.versionId }),
        );
        return out.Body as Readable;
      },
    };
  }

  /** The object version by byte range (a ranged GetObject each time), for the splitter and the chunk workers. */
  rangeSource(info: ObjectInfo): RangeSource {
    if (info.size === undefined) throw new Error(`the size of ${info.key} is unknown; HeadObject returned no length`);
    return {
      name: info.key.split('/').pop() ?? info.key,
      size: info.size,
      range: async (start, end) => {
        if (end <= start) return (async function* () {})();
        const out = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: info.key,
            VersionId: info.versionId,
            Range: `bytes=${start}-${end - 1}`,
          }),
        );
        return out.Body as Readable;
      },
    };
  }

  /**
   * A stepped run's files under `staging/<run>/`: written as multipart uploads, read back as streams. A file that is
   * not there reads as none (without s3:ListBucket S3 answers a missing key with 403, as for incoming/).
   */
  runFiles(prefix: string): RunFiles {
    const key = (k: string) => `${prefix}${k}`;
    const get = async (k: string): Promise<Readable | undefined> => {
      try {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key(k) }));
        return out.Body as Readable;
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if ((e as { name?: string }).name === 'NoSuchKey' || status === 404 || status === 403) return undefined;
        throw e;
      }
    };
    const bytesOf = async (body: Readable) => {
      const parts: Buffer[] = [];
      for await (const p of body) parts.push(p as Buffer);
      return Buffer.concat(parts);
    };
    return {
      writeLines: async (k, lines) => {
        const body = Readable.from(
          (async function* () {
            for await (const l of lines) yield `${l}\n`;
          })(),
        );
        await new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key: key(k), Body: body, ContentType: 'application/x-ndjson' },
          queueSize: 2,
          partSize: 8 * 1024 * 1024,
        }).done();
      },
      readLines: (k) => {
        const self = get;
        return (async function* () {
          const body = await self(k);
          if (!body) return;
          for await (const line of createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY }))
            if (line !== '') yield line;
        })();
      },
      putJson: async (k, value) => {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key(k),
            Body: JSON.stringify(value),
            ContentType: 'application/json',
          }),
        );
      },
      getJson: async <T>(k: string) => {
        const body = await get(k);
        return body ? (JSON.parse((await bytesOf(body)).toString('utf8')) as T) : undefined;
      },
      putBytes: async (k, bytes) => {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key(k), Body: bytes }));
      },
      getBytes: async (k) => {
        const body = await get(k);
        return body ? new Uint8Array(await bytesOf(body)) : undefined;
      },
      delete: async (keys) => {
        for (let i = 0; i < keys.length; i += 1000) {
          await this.client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: keys.slice(i, i + 1000).map((k) => ({ Key: key(k) })), Quiet: true },
            }),
          );
        }
      },
    };
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putText(key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
  }

  async putText(key: string, body: string, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  async putBytes(key: string, body: Buffer | string, metadata?: Record<string, string>): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, Metadata: metadata }));
  }

  /**
   * Moves a file that cannot be read to quarantine/ (it expires there by lifecycle): copies the version that was
   * seen (or, without one, the current version, whose id the copy reports) and deletes exactly that version.
   */
  async quarantine(source: Pick<ObjectInfo, 'key' | 'versionId'>): Promise<string> {
    const target = `quarantine/${source.key.replace(/^(incoming|erasure)\//, '')}`;
    const path = `${this.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
    const out = await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: target,
        CopySource: source.versionId ? `${path}?versionId=${encodeURIComponent(source.versionId)}` : path,
      }),
    );
    await this.delete({ key: source.key, versionId: source.versionId ?? out.CopySourceVersionId });
    return target;
  }

  /**
   * Deletes the object version that was read. The drop bucket is versioned: a delete without a VersionId would only
   * put a delete marker on top and keep the plaintext as a noncurrent version. Deleting by VersionId removes those
   * bytes for good and leaves no marker; a newer upload of the same key stays current and is ingested by its own
   * event. Without a VersionId (an unversioned bucket, s3rver) this is a plain delete.
   */
  async delete(info: Pick<ObjectInfo, 'key' | 'versionId'>): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: info.key, VersionId: info.versionId }));
  }
}
