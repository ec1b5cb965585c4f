import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import S3rver from 's3rver';
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

/** Starts s3rver on 127.0.0.1, storing objects under `directory`, with the given buckets created. */
export async function startLocalS3(options: { directory: string; port?: number; buckets: string[] }): Promise<LocalS3> {
  const server = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', silent: true, directory: options.directory });
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
