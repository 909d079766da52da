/**
 * The schemes that cost more than a digest: each takes the password bytes
 * and the stored value and says whether they match. Runs inside pool workers
 * (and, for the benchmark, on its own thread).
 */
import { isUtf8 } from 'node:buffer';
import { constantTimeEqual } from '../constant-time.js';
import { desCrypt } from './des-crypt.js';
import { md5crypt, parseMd5Crypt } from './md5crypt.js';
import { parsePhpass, phpass } from './phpass.js';
import { parseShaCrypt, shaCrypt } from './sha-crypt.js';

const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** Hundreds of microseconds: md5crypt, Apache apr1, DES. */
export type FastScheme = 'md5crypt' | 'des';
/** Milliseconds to tenths of a second. */
export type SlowScheme = 'sha-crypt' | 'bcrypt' | 'argon2' | 'phpass';
export type PooledScheme = FastScheme | SlowScheme;

export async function verifyPooled(scheme: PooledScheme, password: Buffer, stored: string): Promise<boolean> {
  switch (scheme) {
    case 'md5crypt': {
      const parsed = parseMd5Crypt(stored);
      return parsed !== undefined && constantTimeEqual(Buffer.from(md5crypt(password, parsed.salt, parsed.magic)), Buffer.from(stored));
    }
    case 'des':
      return constantTimeEqual(Buffer.from(desCrypt(password, stored)), Buffer.from(stored));
    case 'sha-crypt': {
      const parsed = parseShaCrypt(stored);
      return parsed !== undefined && constantTimeEqual(Buffer.from(shaCrypt(password, parsed)), Buffer.from(stored));
    }
    case 'phpass': {
      const parsed = parsePhpass(stored);
      return parsed !== undefined && constantTimeEqual(Buffer.from(phpass(password, parsed)), Buffer.from(stored));
    }
    case 'bcrypt': {
      // Loaded on first use: a worker that never sees bcrypt or Argon2 never loads WebAssembly or native code.
      const { bcryptVerify } = await import('hash-wasm');
      // hash-wasm takes raw bytes (bcryptjs only takes strings, and re-encodes them).
      // bcrypt uses at most 72 password bytes; every implementation ignores the rest.
      return bcryptVerify({ password: password.subarray(0, BCRYPT_MAX_PASSWORD_BYTES), hash: stored });
    }
    case 'argon2': {
      // The native binding is 3x faster but refuses bytes that are not UTF-8; hash-wasm takes any bytes.
      if (isUtf8(password)) return (await import('@node-rs/argon2')).verifySync(stored, password);
      const { argon2Verify } = await import('hash-wasm');
      return argon2Verify({ password, hash: stored });
    }
  }
}
