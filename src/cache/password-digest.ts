/**
 * Keyed digests of passwords for the caches: HMAC-SHA256 under a random key
 * made when the process starts and never stored. Unlike saslauthd's plain
 * MD5, a digest is useless outside this process, and digests are compared in
 * constant time.
 *
 * A digest is kept as a 32-character latin1 string, not a Buffer: a cache
 * holds one to three of them per user, and a small Buffer costs several times
 * its 32 bytes (a typed array, an ArrayBuffer and a separate allocation), which
 * the heap then grows against (docs/BENCHMARKS.md, peak memory).
 */
import { randomBytes } from 'node:crypto';
import { HmacSha256 } from '../common/hmac-sha256.js';

/** HMAC-SHA256 of a password, one latin1 character per byte. */
export type Digest = string;

/** Equal digests, in time that does not depend on where they differ. */
export function sameDigest(a: Digest, b: Digest): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i += 1) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

export class PasswordDigester {
  readonly #hmac = new HmacSha256(randomBytes(32));
  /**
   * The digest of each request's password, by the buffer it arrived in: the
   * -c cache, the verified and the rejected cache may each look at one
   * password, and a login then computes one HMAC, not three. The buffer
   * stays unchanged until its request's answer is sent (then it is wiped and
   * no cache asks again); the entry goes with the buffer.
   */
  readonly #ofBuffer = new WeakMap<Buffer, Digest>();

  digest(password: Buffer): Digest {
    let digest = this.#ofBuffer.get(password);
    if (digest === undefined) {
      digest = this.#hmac.digest(password);
      this.#ofBuffer.set(password, digest);
    }
    return digest;
  }

  matches(password: Buffer, digest: Digest): boolean {
    return sameDigest(this.digest(password), digest);
  }

  /** One request's password, digested at most once, and only if a cache asks. */
  once(password: Buffer): PasswordDigest {
    return new PasswordDigest(this, password);
  }
}

/**
 * Two caches may look at the same password in one request (the verified
 * cache, then the rejected one): this keeps it to one HMAC, and to none when
 * neither cache knows the user.
 */
export class PasswordDigest {
  readonly #digester: PasswordDigester;
  readonly #password: Buffer;
  #value: Digest | undefined;

  constructor(digester: PasswordDigester, password: Buffer) {
    this.#digester = digester;
    this.#password = password;
  }

  get value(): Digest {
    return (this.#value ??= this.#digester.digest(this.#password));
  }

  equals(digest: Digest): boolean {
    return sameDigest(this.value, digest);
  }
}
