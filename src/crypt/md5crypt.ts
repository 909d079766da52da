/**
 * md5crypt (Poul-Henning Kamp's "$1$") and Apache's "$apr1$", which is the
 * same algorithm with another magic string. PostfixAdmin's old default, and
 * the hash of the classic pam_mysql crypt=1 set-up.
 */
import { createHash } from 'node:crypto';
import { encode24 } from './crypt-base64.js';

export type Md5CryptMagic = '$1$' | '$apr1$';

/** md5crypt uses at most eight salt characters and ignores the rest. */
const MAX_SALT_LENGTH = 8;
const ROUNDS = 1000;

function md5(...parts: Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** The full crypt string for `password` with `salt`, e.g. "$1$saltsalt$hash". */
export function md5crypt(password: Buffer, salt: string, magic: Md5CryptMagic = '$1$'): string {
  const saltText = salt.slice(0, MAX_SALT_LENGTH);
  const saltBytes = Buffer.from(saltText, 'latin1');
  const magicBytes = Buffer.from(magic, 'latin1');

  const alternate = md5(password, saltBytes, password);
  const context = createHash('md5').update(password).update(magicBytes).update(saltBytes);
  for (let remaining = password.length; remaining > 0; remaining -= 16) {
    context.update(alternate.subarray(0, Math.min(16, remaining)));
  }
  const zero = Buffer.from([0]);
  const first = password.subarray(0, 1);
  for (let bits = password.length; bits > 0; bits >>>= 1) {
    context.update(bits & 1 ? zero : first);
  }
  let digest = context.digest();

  // 1000 rounds that mix password, salt and digest in a fixed pattern, to slow guessing down.
  for (let round = 0; round < ROUNDS; round += 1) {
    const hash = createHash('md5');
    hash.update(round & 1 ? password : digest);
    if (round % 3) hash.update(saltBytes);
    if (round % 7) hash.update(password);
    hash.update(round & 1 ? digest : password);
    digest = hash.digest();
  }

  const d = digest;
  const encoded =
    encode24((d[0]! << 16) | (d[6]! << 8) | d[12]!, 4) +
    encode24((d[1]! << 16) | (d[7]! << 8) | d[13]!, 4) +
    encode24((d[2]! << 16) | (d[8]! << 8) | d[14]!, 4) +
    encode24((d[3]! << 16) | (d[9]! << 8) | d[15]!, 4) +
    encode24((d[4]! << 16) | (d[10]! << 8) | d[5]!, 4) +
    encode24(d[11]!, 2);
  return `${magic}${saltText}$${encoded}`;
}

export interface ParsedMd5Crypt {
  readonly magic: Md5CryptMagic;
  readonly salt: string;
}

/** Salt characters allowed by crypt(3); anything else means the stored value is damaged. */
const SALT_PATTERN = /^[./0-9A-Za-z]{0,8}$/;
const HASH_PATTERN = /^[./0-9A-Za-z]{22}$/;

/** Split a stored "$1$salt$hash" or "$apr1$salt$hash"; undefined when it is not well formed. */
export function parseMd5Crypt(stored: string): ParsedMd5Crypt | undefined {
  const magic: Md5CryptMagic | undefined = stored.startsWith('$1$') ? '$1$' : stored.startsWith('$apr1$') ? '$apr1$' : undefined;
  if (magic === undefined) return undefined;
  const rest = stored.slice(magic.length);
  const dollar = rest.indexOf('$');
  if (dollar < 0) return undefined;
  const salt = rest.slice(0, dollar);
  const hash = rest.slice(dollar + 1);
  if (!SALT_PATTERN.test(salt) || !HASH_PATTERN.test(hash)) return undefined;
  return { magic, salt };
}
