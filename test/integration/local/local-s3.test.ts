import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../../functions/local/local-s3';

const BUCKET = 'local-s3-test';

describe('local S3', () => {
  let directory: string;
  let s3: LocalS3;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'sk-local-s3-'));
    s3 = await startLocalS3({ directory, buckets: [BUCKET] });
  });
  afterAll(async () => {
    await s3.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  const get = async (key: string) => Buffer.from(await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  const partialFiles = () => readdirSync(join(directory, BUCKET), { recursive: true }).filter((name) => String(name).endsWith('.partial'));

  it('serves every object whole right after its PUT, new or replaced', async () => {
    for (let round = 0; round < 12; round++) {
      const key = `object-${round % 3}`;
      const body = randomBytes((1 + (round % 4)) * 1_048_576);
      await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength).toBe(body.length);
      expect((await get(key)).equals(body)).toBe(true);
    }
  });

  it('keeps the previous object when an upload replacing it is cut off', async () => {
    const previous = randomBytes(1_048_576);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'cut-off', Body: previous }));

    // Four MiB announced, one sent, then the connection is dropped.
    await new Promise<void>((resolve) => {
      const upload = request(new URL(`${s3.endpoint}/${BUCKET}/cut-off`), { method: 'PUT', headers: { 'content-length': 4 * 1_048_576 } });
      upload.on('error', () => resolve());
      upload.write(randomBytes(1_048_576), () => setTimeout(() => upload.destroy(), 200));
    });
    for (const deadline = Date.now() + 5_000; partialFiles().length > 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));

    expect(partialFiles()).toEqual([]);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'cut-off' }))).ContentLength).toBe(previous.length);
    expect((await get('cut-off')).equals(previous)).toBe(true);
  });

  const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('base64');
  const checksumOf = async (key: string) => (await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }))).ChecksumSHA256;

  it('returns the SHA-256 a PUT carried on HEAD and GET when asked, and none once the object is replaced without one', async () => {
    const body = randomBytes(65_536);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'checked', Body: body, ChecksumSHA256: sha256(body) }));
    expect(await checksumOf('checked')).toBe(sha256(body));
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'checked' }))).ChecksumSHA256).toBeUndefined();
    const read = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'checked', ChecksumMode: 'ENABLED' }));
    expect(read.ChecksumSHA256).toBe(sha256(body));
    expect(Buffer.from(await read.Body!.transformToByteArray()).equals(body)).toBe(true);

    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'checked', Body: randomBytes(1_024) }));
    expect(await checksumOf('checked')).toBeUndefined();
  });

  it('refuses a PUT whose body does not match its SHA-256 and keeps the previous object', async () => {
    const previous = randomBytes(65_536);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mismatch', Body: previous, ChecksumSHA256: sha256(previous) }));

    const other = randomBytes(65_536);
    await expect(s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'mismatch', Body: other, ChecksumSHA256: sha256(previous) }))).rejects.toMatchObject({
      name: 'BadDigest',
      $metadata: { httpStatusCode: 400 },
    });
    expect((await get('mismatch')).equals(previous)).toBe(true);
    expect(await checksumOf('mismatch')).toBe(sha256(previous));
    expect(partialFiles()).toEqual([]);
  });

  it('deletes an object with its checksum', async () => {
    const body = randomBytes(1_024);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'gone/object', Body: body, ChecksumSHA256: sha256(body) }));
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'gone/object' }));
    expect(readdirSync(join(directory, BUCKET), { recursive: true }).filter((name) => String(name).startsWith('gone'))).toEqual([]);
  });
});
