import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ObjectStore, PutOptions, StoredObject } from '../ports/object-store';
import { AppError } from '../shared/errors';

export interface S3ObjectStoreOptions {
  client: S3Client;
  bucket: string;
  /** SSE-KMS key for new objects; default: the bucket's default encryption. */
  kmsKeyId?: string;
  /** Multipart part size for putStream (S3 minimum 5 MiB). */
  partSizeBytes?: number;
  queueSize?: number;
}

const tagging = (tags: Record<string, string> | undefined) =>
  tags && Object.keys(tags).length > 0 ? new URLSearchParams(tags).toString() : undefined;

/** An ObjectStore over one S3 bucket; every single-part upload carries a SHA-256 checksum S3 verifies. */
export function createS3ObjectStore(options: S3ObjectStoreOptions): ObjectStore {
  const { client, bucket } = options;
  const encryption = options.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: options.kmsKeyId } : {};

  async function head(key: string): Promise<StoredObject | undefined> {
    try {
      const response = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
      return { key, size: response.ContentLength ?? 0, checksumSha256: response.ChecksumSHA256, metadata: response.Metadata ?? {} };
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey || (error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
  }

  return {
    async put(key: string, body: Buffer | string, put: PutOptions = {}): Promise<StoredObject> {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      const checksumSha256 = createHash('sha256').update(bytes).digest('base64');
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: bytes,
          ChecksumSHA256: checksumSha256,
          ContentType: put.contentType,
          Metadata: put.metadata,
          Tagging: tagging(put.tags),
          ...encryption,
        }),
      );
      return { key, size: bytes.length, checksumSha256, metadata: put.metadata ?? {} };
    },

    async putStream(key: string, body: Readable, put: PutOptions = {}): Promise<StoredObject> {
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: body, ContentType: put.contentType, Metadata: put.metadata, Tagging: tagging(put.tags), ...encryption },
        partSize: options.partSizeBytes ?? 8 * 1024 * 1024,
        queueSize: options.queueSize ?? 4,
        leavePartsOnError: false,
      });
      await upload.done();
      const stored = await head(key);
      if (!stored) throw new AppError(`upload of s3://${bucket}/${key} completed but the object is missing`);
      return stored;
    },

    head,

    async getBuffer(key: string): Promise<Buffer> {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await response.Body!.transformToByteArray());
    },

    async getStream(key: string): Promise<Readable> {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return response.Body as Readable;
    },

    async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) yield { key: object.Key!, size: object.Size ?? 0 };
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },

    async setTags(key: string, tags: Record<string, string>): Promise<void> {
      await client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) } }));
    },

    async delete(keys: string[]): Promise<void> {
      for (let start = 0; start < keys.length; start += 1000) {
        const batch = keys.slice(start, start + 1000);
        const response = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
        if (response.Errors?.length) {
          throw new AppError(`could not delete ${response.Errors.length} object(s) from s3://${bucket}: ${response.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`);
        }
      }
    },
  };
}
