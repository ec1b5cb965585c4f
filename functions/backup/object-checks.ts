import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { ObjectRef } from '../core/backup-manifest';
import type { ObjectStore } from '../ports/object-store';
import { DigestStream } from '../shared/digest-stream';

/** Downloads an object to `path` (readable by this user only), hashing it on the way: its size and base64 SHA-256, to check before use. */
export async function downloadHashed(objects: ObjectStore, key: string, path: string): Promise<{ bytes: number; sha256: string }> {
  const measured = new DigestStream('sha256');
  await pipeline(await objects.getStream(key), measured, createWriteStream(path, { mode: 0o600 }));
  return { bytes: measured.bytes, sha256: measured.digest('base64') };
}

/**
 * Checks that every object exists with its recorded size and SHA-256. S3 keeps a full-object
 * SHA-256 for single-part uploads, which settles it without a download; multipart objects (whose
 * S3 checksum is a checksum of part checksums) and stores without checksums are read and hashed.
 * Returns one line per problem; empty means every object checks out.
 */
export async function checkObjects(objects: ObjectStore, refs: readonly ObjectRef[], concurrency = 4): Promise<string[]> {
  const problems: string[][] = [];
  let next = 0;
  const worker = async () => {
    while (next < refs.length) {
      const index = next++;
      problems[index] = await checkObject(objects, refs[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, refs.length) }, worker));
  return problems.flat();
}

async function checkObject(objects: ObjectStore, ref: ObjectRef): Promise<string[]> {
  const found = await objects.head(ref.key);
  if (!found) return [`${ref.key}: missing`];
  if (found.size !== ref.bytes) return [`${ref.key}: ${found.size} bytes, recorded ${ref.bytes} (truncated or replaced)`];
  if (found.checksumSha256 !== undefined && !found.checksumSha256.includes('-')) {
    return found.checksumSha256 === ref.sha256 ? [] : [`${ref.key}: SHA-256 ${found.checksumSha256}, recorded ${ref.sha256} (altered)`];
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of await objects.getStream(ref.key)) {
    hash.update(piece as Buffer);
    bytes += (piece as Buffer).length;
  }
  const sha256 = hash.digest('base64');
  if (bytes !== ref.bytes) return [`${ref.key}: read ${bytes} bytes, recorded ${ref.bytes} (truncated or replaced)`];
  return sha256 === ref.sha256 ? [] : [`${ref.key}: SHA-256 ${sha256}, recorded ${ref.sha256} (altered)`];
}
