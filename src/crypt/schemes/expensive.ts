/**
 * The schemes that cost milliseconds: each takes the password bytes and the
 * stored value and says whether they match. Runs inside pool workers only.
 */
import { isUtf8 } from 'node:buffer';
import { verifySync as argon2Verify } from '@node-rs/argon2';
import { argon2Verify as argon2VerifyWasm, bcryptVerify } from 'hash-wasm';
import { constantTimeEqual } from '../constant-time.js';
import { parsePhpass, phpass } from './phpass.js';
import { parseShaCrypt, shaCrypt } from './sha-crypt.js';

const BCRYPT_MAX_PASSWORD_BYTES = 72;

export type ExpensiveScheme = 'sha-crypt' | 'bcrypt' | 'argon2' | 'phpass';

export async function verifyExpensive(scheme: ExpensiveScheme, password: Buffer, stored: string): Promise<boolean> {
  switch (scheme) {
    case 'sha-crypt': {
      const parsed = parseShaCrypt(stored);
      return parsed !== undefined && constantTimeEqual(Buffer.from(shaCrypt(password, parsed)), Buffer.from(stored));
    }
    case 'phpass': {
      const parsed = parsePhpass(stored);
      return parsed !== undefined && constantTimeEqual(Buffer.from(phpass(password, parsed)), Buffer.from(stored));
    }
    case 'bcrypt':
      // hash-wasm takes raw bytes (bcryptjs only takes strings, and re-encodes them).
      // bcrypt uses at most 72 password bytes; every implementation ignores the rest.
      return bcryptVerify({ password: password.subarray(0, BCRYPT_MAX_PASSWORD_BYTES), hash: stored });
    case 'argon2':
      // The native binding is 3x faster but refuses bytes that are not UTF-8; hash-wasm takes any bytes.
      return isUtf8(password) ? argon2Verify(stored, password) : argon2VerifyWasm({ password, hash: stored });
  }
}
