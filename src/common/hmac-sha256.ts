/**
 * HMAC-SHA256 under one fixed key, for digests computed on every login.
 *
 * `createHmac` builds a stream object and sets the key up again on every
 * call (and OpenSSL 3 looks the digest up again): on the `-c` hot path that
 * was a seventh of the daemon's own time per login. HMAC is two plain hashes
 * (RFC 2104): SHA-256 of the key padded and XORed with 0x36, followed by the
 * message, then SHA-256 of the key XORed with 0x5c followed by that inner
 * hash. Both padded keys are made once; each digest is two one-shot hashes
 * (`crypto.hash`, no object). The result is HMAC-SHA256, byte for byte
 * (test/unit/hmac-sha256.test.ts compares it with `createHmac`).
 *
 * The message is copied beside the inner padded key in a buffer kept for the
 * purpose, and wiped from it before `digest` returns: the messages are
 * passwords.
 */
import { hash } from 'node:crypto';

/** SHA-256's block: a longer key would be hashed first, which no caller needs. */
const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;
/** Messages up to this long reuse one buffer; longer ones get a buffer of their own (also wiped). */
const KEPT_MESSAGE_BYTES = 1024;

export class HmacSha256 {
  /** The inner padded key, then room for a message. */
  readonly #inner = Buffer.alloc(BLOCK_BYTES + KEPT_MESSAGE_BYTES);
  /** The outer padded key, then the inner hash. */
  readonly #outer = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES);

  constructor(key: Buffer) {
    if (key.length > BLOCK_BYTES) throw new RangeError(`an HMAC-SHA256 key of more than ${BLOCK_BYTES} bytes must be hashed first`);
    for (let i = 0; i < BLOCK_BYTES; i += 1) {
      const byte = i < key.length ? key[i]! : 0;
      this.#inner[i] = byte ^ 0x36;
      this.#outer[i] = byte ^ 0x5c;
    }
  }

  /** HMAC-SHA256 of `message`, one latin1 character per byte. */
  digest(message: Buffer): string {
    const inner = message.length <= KEPT_MESSAGE_BYTES ? this.#inner : Buffer.alloc(BLOCK_BYTES + message.length);
    if (inner !== this.#inner) this.#inner.copy(inner, 0, 0, BLOCK_BYTES);
    const end = BLOCK_BYTES + message.length;
    message.copy(inner, BLOCK_BYTES);
    try {
      hash('sha256', inner.subarray(0, end), 'buffer').copy(this.#outer, BLOCK_BYTES);
    } finally {
      inner.fill(0, BLOCK_BYTES, end);
    }
    return hash('sha256', this.#outer, 'binary'); // 'binary' is latin1: one character per byte
  }
}
