import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
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
});
