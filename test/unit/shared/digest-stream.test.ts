import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DigestStream } from '../../../functions/shared/digest-stream';

describe('DigestStream', () => {
  it('passes every byte through unchanged while hashing and counting them', async () => {
    const pieces = [Buffer.from('first piece, '), Buffer.alloc(70_000, 7), Buffer.from('last')];
    const whole = Buffer.concat(pieces);
    const received: Buffer[] = [];
    const digest = new DigestStream('sha256');
    await pipeline(
      Readable.from(pieces),
      digest,
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          received.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(received).equals(whole)).toBe(true);
    expect(digest.bytes).toBe(whole.length);
    expect(digest.digest('base64')).toBe(createHash('sha256').update(whole).digest('base64'));
  });
});
