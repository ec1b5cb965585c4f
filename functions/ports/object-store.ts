import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  size: number;
  /** Base64 SHA-256 of the whole object as S3 reports it (full-object checksum), when known. */
  checksumSha256?: string;
  metadata: Record<string, string>;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** Tags drive lifecycle rules (e.g. backup tier, retention class). */
  tags?: Record<string, string>;
}

/**
 * An S3 bucket (or a local S3 in the sandbox), scoped to one bucket. Uploads are verified by
 * checksum; `putStream` uses multipart upload for large bodies.
 */
export interface ObjectStore {
  put(key: string, body: Buffer | string, options?: PutOptions): Promise<StoredObject>;
  putStream(key: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  head(key: string): Promise<StoredObject | undefined>;
  getBuffer(key: string): Promise<Buffer>;
  getStream(key: string): Promise<Readable>;
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  delete(keys: string[]): Promise<void>;
  /** Replaces an object's tags (lifecycle rules follow the new ones). */
  setTags(key: string, tags: Record<string, string>): Promise<void>;
}
