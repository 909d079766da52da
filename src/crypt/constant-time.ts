import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compare two secrets in time that depends on neither their contents nor
 * their lengths: both are reduced to SHA-256 digests of equal size first,
 * then compared with timingSafeEqual.
 */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB);
}
