import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** A pass-through stream that hashes and counts the bytes flowing through it. */
export class DigestStream extends Transform {
  bytes = 0;
  private readonly hash: Hash;

  constructor(algorithm: 'sha256' | 'md5') {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  /** The hash of everything that passed; call once, after the stream has ended. */
  digest(encoding: 'hex' | 'base64'): string {
    return this.hash.digest(encoding);
  }
}
