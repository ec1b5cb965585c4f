import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
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

/** The parts of s3rver's filesystem store that storing, reading and deleting an object use. */
interface ObjectFiles {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: IncomingObject): Promise<{ size: number; md5: string }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<void>;
}

/** s3rver's error, which it answers with the error's own code and status. */
const S3Error = createRequire(import.meta.url)('s3rver/lib/models/error') as new (code: string, message: string) => Error;

/** The SHA-256 checksum a request sent (`x-amz-checksum-sha256`), whether it asked for the stored one, and that one once read. */
interface ChecksumContext {
  sent?: string;
  wanted: boolean;
  stored?: string;
}
const requestChecksums = new AsyncLocalStorage<ChecksumContext>();

/** The parts of a Koa context the checksum middleware uses. */
interface ChecksumRequest {
  status: number;
  get(header: string): string;
  set(header: string, value: string): void;
}

const checksumFile = (store: ObjectFiles, bucket: string, key: string) => store.getResourcePath(bucket, key, 'object.sha256');

/**
 * S3 checks a PUT's `x-amz-checksum-sha256` against the body it received, refuses a mismatch with
 * BadDigest, and returns the checksum on HEAD and GET when asked (`x-amz-checksum-mode: ENABLED`),
 * so a client can verify an upload without reading it back. s3rver ignores the header.
 */
function keepChecksums(server: { middleware: Array<(ctx: ChecksumRequest, next: () => Promise<void>) => Promise<void>> }, store: ObjectFiles): void {
  server.middleware.unshift(async (ctx, next) => {
    const context: ChecksumContext = { sent: ctx.get('x-amz-checksum-sha256') || undefined, wanted: ctx.get('x-amz-checksum-mode').toUpperCase() === 'ENABLED' };
    await requestChecksums.run(context, next);
    if (context.stored !== undefined && ctx.status === 200) ctx.set('x-amz-checksum-sha256', context.stored);
  });
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    const context = requestChecksums.getStore();
    if (context?.wanted) context.stored = await readFile(checksumFile(store, bucket, key), 'utf8').catch(() => undefined);
    return object;
  };
  const deleteObject = store.deleteObject.bind(store);
  store.deleteObject = async (bucket, key) => {
    await rm(checksumFile(store, bucket, key), { force: true });
    await deleteObject(bucket, key);
  };
}

/**
 * s3rver writes an object over its file in place and answers the PUT before the file is complete,
 * so a read right after a PUT, or after an interrupted one, can see part of an object. S3 replaces
 * an object whole once its body has arrived: the body goes to a file of its own that is renamed
 * over the object when complete, and removed if the upload fails or does not match its checksum.
 */
function replaceObjectsWhole(store: ObjectFiles): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const partial = `${path}.${randomBytes(6).toString('hex')}.partial`;
    const checksum = checksumFile(store, object.bucket, object.key);
    const sent = requestChecksums.getStore()?.sent;
    await mkdir(dirname(path), { recursive: true });
    const md5 = new DigestStream('md5');
    const sha256 = new DigestStream('sha256');
    try {
      await pipeline(Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content, md5, sha256, createWriteStream(partial));
      if (sent !== undefined && sent !== sha256.digest('base64')) throw new S3Error('BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
      // The old object's checksum goes first and the new one's last, so none is ever served with other bytes.
      await rm(checksum, { force: true });
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    if (sent !== undefined) await writeFile(checksum, sent);
    const etag = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, etag);
    return { size: md5.bytes, md5: etag };
  };
}

/** Starts s3rver on 127.0.0.1, storing objects under `directory`, with the given buckets created. */
export async function startLocalS3(options: { directory: string; port?: number; buckets: string[] }): Promise<LocalS3> {
  const server = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', silent: true, directory: options.directory });
  const store = (server as unknown as { store: ObjectFiles }).store;
  replaceObjectsWhole(store);
  keepChecksums(server as unknown as Parameters<typeof keepChecksums>[0], store);
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
