/**
 * The drop bucket: reading dropped objects as streams, writing reports, quarantining and deleting raw files.
 * Against s3rver set requestChecksumCalculation/responseChecksumValidation to WHEN_REQUIRED (stack.md gotcha 6).
 */
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ReportSink } from '../core/ports';

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

  /** Moves a file that cannot be read to quarantine/ (it expires there by lifecycle). */
  async quarantine(key: string): Promise<string> {
    const target = `quarantine/${key.replace(/^(incoming|erasure)\//, '')}`;
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: target,
        CopySource: `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      }),
    );
    await this.delete(key);
    return target;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
