import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import { DigestStream } from '../shared/digest-stream';
import { SANDBOX_DIR } from './sandbox-paths';

export interface LocalS3 {
  endpoint: string;
  client: S3Client;
  stop(): Promise<void>;
}

/** Where the sandbox's local S3 keeps its buckets, shared by every command run in this folder. */
export const SANDBOX_S3_DIR = join(SANDBOX_DIR, 's3');
export const SANDBOX_BACKUP_BUCKET = 'shardkeeper-backups';
export const SANDBOX_ARCHIVE_BUCKET = 'shardkeeper-archive';

/** Fixed credentials s3rver accepts; the local S3 listens on 127.0.0.1 only. */
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** An S3 client for a local S3 endpoint (path-style, as s3rver serves buckets). */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_CREDENTIALS });
}

/** An object as s3rver hands it to its store. */
interface IncomingObject {
  bucket: string;
  key: string;
  content: Readable | Buffer;
  metadata: Record<string, string>;
}

/** The parts of s3rver's filesystem store that storing an object uses. */
interface ObjectFiles {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: IncomingObject): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver writes an object over its file in place and answers the PUT before the file is complete,
 * so a read right after a PUT, or after an interrupted one, can see part of an object. S3 replaces
 * an object whole once its body has arrived: the body goes to a file of its own that is renamed
 * over the object when complete, and removed if the upload fails.
 */
function replaceObjectsWhole(store: ObjectFiles): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const partial = `${path}.${randomBytes(6).toString('hex')}.partial`;
    await mkdir(dirname(path), { recursive: true });
    const measured = new DigestStream('md5');
    try {
      await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, measured, createWriteStream(partial));
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    const md5 = measured.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: measured.bytes, md5 };
  };
}

/** Starts s3rver on 127.0.0.1, storing objects under `directory`, with the given buckets created. */
export async function startLocalS3(options: { directory: string; port?: number; buckets: string[] }): Promise<LocalS3> {
  const server = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', silent: true, directory: options.directory });
  replaceObjectsWhole((server as unknown as { store: ObjectFiles }).store);
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localS3Client(endpoint);
  for (const bucket of options.buckets) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if ((error as { name?: string }).name !== 'BucketAlreadyOwnedByYou' && (error as { name?: string }).name !== 'BucketAlreadyExists') throw error;
    }
  }
  return {
    endpoint,
    client,
    async stop() {
      client.destroy();
      await server.close();
    },
  };
}
