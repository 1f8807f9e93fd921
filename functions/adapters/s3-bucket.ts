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
