/**
 * md5crypt (Poul-Henning Kamp's "$1$") and Apache's "$apr1$", which is the
 * same algorithm with another magic string. PostfixAdmin's old default, and
 * the hash of the classic pam_mysql crypt=1 set-up.
 */
import { encode24 } from '../crypt-base64.js';
import { Md5Scratch, md5Into } from './md5-block.js';

export type Md5CryptMagic = '$1$' | '$apr1$';

/** md5crypt uses at most eight salt characters and ignores the rest. */
const MAX_SALT_LENGTH = 8;
const ROUNDS = 1000;

/** Room for the longest MD5 input: the set-up's 2 x 256-byte password + "$apr1$" + salt + bit pattern. */
const SCRATCH = new Md5Scratch(2 * 256 + 6 + 8 + 9);
const DIGEST = new Uint8Array(16);

/** The full crypt string for `password` with `salt`, e.g. "$1$saltsalt$hash". */
export function md5crypt(password: Buffer, salt: string, magic: Md5CryptMagic = '$1$'): string {
  const saltText = salt.slice(0, MAX_SALT_LENGTH);
  const saltBytes = Buffer.from(saltText, 'latin1');
  const bytes = SCRATCH.bytes;
  if (password.length * 2 + magic.length + saltBytes.length + 9 > SCRATCH.capacity) {
    throw new RangeError('password too long for md5crypt');
  }

  // alternate = MD5(password + salt + password)
  let length = 0;
  bytes.set(password, length); length += password.length;
  bytes.set(saltBytes, length); length += saltBytes.length;
  bytes.set(password, length); length += password.length;
  md5Into(SCRATCH, length, DIGEST);
  const alternate = Uint8Array.from(DIGEST);

  // initial = MD5(password + magic + salt + alternate repeated to the password's length + a bit pattern)
  length = 0;
  bytes.set(password, length); length += password.length;
  for (let i = 0; i < magic.length; i += 1) bytes[length++] = magic.charCodeAt(i);
  bytes.set(saltBytes, length); length += saltBytes.length;
  for (let remaining = password.length; remaining > 0; remaining -= 16) {
    const take = Math.min(16, remaining);
    bytes.set(alternate.subarray(0, take), length); length += take;
  }
  for (let bits = password.length; bits > 0; bits >>>= 1) bytes[length++] = bits & 1 ? 0 : password[0]!;
  md5Into(SCRATCH, length, DIGEST);

  // 1000 rounds that mix password, salt and digest in a fixed pattern, to slow guessing down.
  for (let round = 0; round < ROUNDS; round += 1) {
    length = 0;
    if (round & 1) { bytes.set(password, length); length += password.length; }
    else { bytes.set(DIGEST, length); length += 16; }
    if (round % 3) { bytes.set(saltBytes, length); length += saltBytes.length; }
    if (round % 7) { bytes.set(password, length); length += password.length; }
    if (round & 1) { bytes.set(DIGEST, length); length += 16; }
    else { bytes.set(password, length); length += password.length; }
    md5Into(SCRATCH, length, DIGEST);
  }

  const d = DIGEST;
  const encoded =
    encode24((d[0]! << 16) | (d[6]! << 8) | d[12]!, 4) +
    encode24((d[1]! << 16) | (d[7]! << 8) | d[13]!, 4) +
    encode24((d[2]! << 16) | (d[8]! << 8) | d[14]!, 4) +
    encode24((d[3]! << 16) | (d[9]! << 8) | d[15]!, 4) +
    encode24((d[4]! << 16) | (d[10]! << 8) | d[5]!, 4) +
    encode24(d[11]!, 2);
  bytes.fill(0);
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
