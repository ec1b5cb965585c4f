import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3ObjectStore } from '../../../functions/adapters/s3-object-store';
import { startLocalS3, type LocalS3 } from '../../../functions/local/local-s3';
import type { ObjectStore } from '../../../functions/ports/object-store';

describe('S3 object store against a local S3', () => {
  const directory = mkdtempSync(join(tmpdir(), 'sk-s3-'));
  let s3: LocalS3;
  let store: ObjectStore;

  beforeAll(async () => {
    s3 = await startLocalS3({ directory, buckets: ['sk-test-bucket'] });
    store = createS3ObjectStore({ client: s3.client, bucket: 'sk-test-bucket', partSizeBytes: 5 * 1024 * 1024 });
  });
  afterAll(async () => {
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it('stores an object with its SHA-256 and metadata and reads it back', async () => {
    const stored = await store.put('a/b.txt', 'hello shards', { metadata: { rows: '2' }, contentType: 'text/plain' });
    expect(stored).toMatchObject({ key: 'a/b.txt', size: 12, checksumSha256: createHash('sha256').update('hello shards').digest('base64') });
    expect((await store.getBuffer('a/b.txt')).toString()).toBe('hello shards');
    expect(await store.head('a/b.txt')).toMatchObject({ size: 12, metadata: { rows: '2' } });
  });

  it('replaces an object\'s tags, which lifecycle rules follow', async () => {
    await store.put('tagged/chunk.sql.gz', 'rows', { tags: { 'sk-retention': 'daily', 'sk-kind': 'logical' } });
    await store.setTags('tagged/chunk.sql.gz', { 'sk-retention': 'monthly', 'sk-kind': 'logical' });
    const { TagSet } = await s3.client.send(new GetObjectTaggingCommand({ Bucket: 'sk-test-bucket', Key: 'tagged/chunk.sql.gz' }));
    expect(Object.fromEntries((TagSet ?? []).map((tag) => [tag.Key, tag.Value]))).toEqual({ 'sk-retention': 'monthly', 'sk-kind': 'logical' });
  });

  it('streams a large body as a multipart upload', async () => {
    const body = Buffer.alloc(11 * 1024 * 1024, 7);
    const stored = await store.putStream('big/object.bin', Readable.from([body.subarray(0, 6_000_000), body.subarray(6_000_000)]));
    expect(stored.size).toBe(body.length);
    const back = await store.getBuffer('big/object.bin');
    expect(back.equals(body)).toBe(true);
  });

  it('lists by prefix, deletes, and reports a missing object as undefined', async () => {
    await store.put('list/1', '1');
    await store.put('list/2', '2');
    const keys: string[] = [];
    for await (const object of store.list('list/')) keys.push(object.key);
    expect(keys.sort()).toEqual(['list/1', 'list/2']);
    await store.delete(keys);
    expect(await store.head('list/1')).toBeUndefined();
  });
});
