/**
 * Keyed digests of passwords for the caches: HMAC-SHA256 under a random key
 * made when the process starts and never stored. Unlike saslauthd's plain
 * MD5, a digest is useless outside this process, and equal digests are
 * compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export class PasswordDigester {
  readonly #key = randomBytes(32);

  digest(password: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(password).digest();
  }

  matches(password: Buffer, digest: Buffer): boolean {
    return timingSafeEqual(this.digest(password), digest);
  }
}
