/**
 * Schemes that are one digest of the password, optionally salted: Dovecot's
 * {SHA}, {SSHA512}, {PLAIN-MD5}, ..., Courier authlib's {MD5}/{MD5RAW},
 * pam_mysql's hex modes, MySQL's PASSWORD(), Joomla 1.5 and pam_mysql's ssha.
 * One hash each: cheap enough for the event loop.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../constant-time.js';

export type DigestAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

const DIGEST_BYTES: Record<DigestAlgorithm, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

export type Encoding = 'hex' | 'base64';

/** Dovecot's rule for values without a .HEX/.B64 suffix: hex when the length says hex, else base64. */
export function guessEncoding(value: string, algorithm: DigestAlgorithm): Encoding {
  return value.length === DIGEST_BYTES[algorithm] * 2 && /^[0-9a-fA-F]+$/.test(value) ? 'hex' : 'base64';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode strictly; undefined when the value is not valid in that encoding. */
export function decode(value: string, encoding: Encoding): Buffer | undefined {
  if (encoding === 'hex') return /^(?:[0-9a-fA-F]{2})*$/.test(value) ? Buffer.from(value, 'hex') : undefined;
  return BASE64.test(value) && value.length % 4 === 0 ? Buffer.from(value, 'base64') : undefined;
}

function digest(algorithm: DigestAlgorithm, ...parts: Buffer[]): Buffer {
  const hasher = createHash(algorithm);
  for (const part of parts) hasher.update(part);
  return hasher.digest();
}

/**
 * Unsalted digest of the password, stored as `decoded`. Returns undefined when
 * `decoded` has the wrong size for the algorithm (a damaged value).
 */
export function checkDigest(algorithm: DigestAlgorithm, password: Buffer, decoded: Buffer): boolean | undefined {
  if (decoded.length !== DIGEST_BYTES[algorithm]) return undefined;
  return constantTimeEqual(digest(algorithm, password), decoded);
}

/** Salted digest: the stored bytes are digest(password + salt) followed by the salt. */
export function checkSaltedDigest(algorithm: DigestAlgorithm, password: Buffer, decoded: Buffer): boolean | undefined {
  const size = DIGEST_BYTES[algorithm];
  if (decoded.length <= size) return undefined;
  const salt = decoded.subarray(size);
  return constantTimeEqual(digest(algorithm, password, salt), decoded.subarray(0, size));
}

/** MySQL 4.1+ PASSWORD(): "*" and 40 hex digits of SHA1(SHA1(password)). */
export function checkMysql41(password: Buffer, stored: string): boolean | undefined {
  if (!/^\*[0-9A-Fa-f]{40}$/.test(stored)) return undefined;
  return constantTimeEqual(digest('sha1', digest('sha1', password)), Buffer.from(stored.slice(1), 'hex'));
}

/** Joomla 1.5: "hex(MD5(password + salt)):salt". */
export function checkJoomla15(password: Buffer, stored: string): boolean | undefined {
  const match = /^([0-9a-fA-F]{32}):(.+)$/s.exec(stored);
  if (!match) return undefined;
  return constantTimeEqual(digest('md5', password, Buffer.from(match[2]!, 'utf8')), Buffer.from(match[1]!, 'hex'));
}
