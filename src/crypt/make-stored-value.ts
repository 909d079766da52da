/**
 * The other direction: a stored value for a new password, for
 * "saslauthd-mysql hash". Only schemes worth choosing today, plus md5crypt,
 * which every old chain (pam_mysql crypt=1, PostfixAdmin md5crypt) reads.
 * Salts come from the system's CSPRNG.
 */
import { createHash, randomBytes } from 'node:crypto';
import { generateCryptString, type GenerateOptions } from './schemes/crypt-strings.js';

export const HASH_SCHEMES = ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I', 'MD5-CRYPT', 'SSHA512', 'SSHA256'] as const;
export type HashScheme = (typeof HASH_SCHEMES)[number];

/** Values that only Dovecot-style readers understand: they carry their {SCHEME} prefix always. */
const PREFIX_REQUIRED: ReadonlySet<HashScheme> = new Set(['SSHA512', 'SSHA256']);
/** What crypt(3) (pam_mysql crypt=1, the old chain) can read, when written without a prefix. */
const CRYPT_READABLE: ReadonlySet<HashScheme> = new Set(['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'MD5-CRYPT']);

export interface MakeOptions extends GenerateOptions {
  /** Write Dovecot's {SCHEME} prefix (PostfixAdmin's dovecot: encryption does). */
  readonly prefix?: boolean;
}

/** Whether the old chain (crypt(3) through pam_mysql crypt=1) reads this value: for the rollback advice. */
export function readableByCrypt3(scheme: HashScheme, options: MakeOptions): boolean {
  return CRYPT_READABLE.has(scheme) && !options.prefix;
}

export async function makeStoredValue(scheme: HashScheme, password: Buffer, options: MakeOptions = {}): Promise<string> {
  const value = await bareValue(scheme, password, options);
  return options.prefix || PREFIX_REQUIRED.has(scheme) ? `{${scheme}}${value}` : value;
}

async function bareValue(scheme: HashScheme, password: Buffer, options: MakeOptions): Promise<string> {
  if (scheme === 'SSHA512' || scheme === 'SSHA256') {
    const salt = randomBytes(16);
    const digest = createHash(scheme === 'SSHA512' ? 'sha512' : 'sha256').update(password).update(salt).digest();
    return Buffer.concat([digest, salt]).toString('base64');
  }
  return generateCryptString(scheme, password, options);
}
