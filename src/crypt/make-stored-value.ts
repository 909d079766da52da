/**
 * The other direction: a stored value for a new password, for
 * "saslauthd-mysql hash". Only schemes worth choosing today, plus md5crypt,
 * which every old chain (pam_mysql crypt=1, PostfixAdmin md5crypt) reads.
 * Salts come from the system's CSPRNG.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CRYPT_ALPHABET } from './crypt-base64.js';
import { md5crypt } from './schemes/md5crypt.js';
import { shaCrypt } from './schemes/sha-crypt.js';

export const HASH_SCHEMES = ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'ARGON2I', 'MD5-CRYPT', 'SSHA512', 'SSHA256'] as const;
export type HashScheme = (typeof HASH_SCHEMES)[number];

/** Values that only Dovecot-style readers understand: they carry their {SCHEME} prefix always. */
const PREFIX_REQUIRED: ReadonlySet<HashScheme> = new Set(['SSHA512', 'SSHA256']);
/** What crypt(3) (pam_mysql crypt=1, the old chain) can read, when written without a prefix. */
const CRYPT_READABLE: ReadonlySet<HashScheme> = new Set(['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'MD5-CRYPT']);

export interface MakeOptions {
  /** Write Dovecot's {SCHEME} prefix (PostfixAdmin's dovecot: encryption does). */
  readonly prefix?: boolean;
  /** sha-crypt rounds (1000..999999999; default 5000, written out only when not the default). */
  readonly rounds?: number;
  /** bcrypt cost (4..31, default 10). */
  readonly cost?: number;
}

const BCRYPT_MAX_PASSWORD_BYTES = 72;

function cryptSalt(length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (byte) => CRYPT_ALPHABET[byte & 63]).join('');
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
  switch (scheme) {
    case 'MD5-CRYPT':
      return md5crypt(password, cryptSalt(8));
    case 'SHA256-CRYPT':
    case 'SHA512-CRYPT': {
      const rounds = options.rounds ?? 5000;
      if (!Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999) throw new RangeError('rounds must be a whole number from 1000 to 999999999');
      return shaCrypt(password, { id: scheme === 'SHA256-CRYPT' ? '5' : '6', rounds, roundsGiven: rounds !== 5000, salt: cryptSalt(16) });
    }
    case 'BLF-CRYPT': {
      const cost = options.cost ?? 10;
      if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('cost must be a whole number from 4 to 31');
      if (password.length > BCRYPT_MAX_PASSWORD_BYTES) throw new RangeError(`bcrypt reads only the first ${BCRYPT_MAX_PASSWORD_BYTES} bytes of a password; choose another scheme for longer ones`);
      const { bcrypt } = await import('hash-wasm');
      const encoded = await bcrypt({ password, salt: randomBytes(16), costFactor: cost, outputType: 'encoded' });
      // hash-wasm writes $2a$; $2b$ is the same algorithm under the name libxcrypt and OpenBSD write today.
      return encoded.replace(/^\$2a\$/, '$2b$');
    }
    case 'ARGON2ID':
    case 'ARGON2I': {
      const { argon2id, argon2i } = await import('hash-wasm');
      // OWASP's minimum for Argon2id (19 MiB, 2 passes); the same parameters for Argon2i.
      const make = scheme === 'ARGON2ID' ? argon2id : argon2i;
      return make({ password, salt: randomBytes(16), parallelism: 1, iterations: 2, memorySize: 19_456, hashLength: 32, outputType: 'encoded' });
    }
    case 'SSHA512':
    case 'SSHA256': {
      const salt = randomBytes(16);
      const digest = createHash(scheme === 'SSHA512' ? 'sha512' : 'sha256').update(password).update(salt).digest();
      return Buffer.concat([digest, salt]).toString('base64');
    }
  }
}
